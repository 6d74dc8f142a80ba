#!/usr/bin/env bash
# Install everything coledger needs into ./.venv and ./node_modules (idempotent, non-interactive).
# Python >= 3.11 and Node.js >= 20 are required; Node/npm come from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "[install] Node.js not found; installing Debian's nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

node_major="$(node --version | sed -E 's/^v([0-9]+).*/\1/')"
if [ "${node_major:-0}" -lt 20 ]; then
  echo "[install] warning: Node.js $(node --version) found; the locked npm packages (Hardhat 2, solc-js) need Node >= 20" >&2
fi
echo "[install] Python packages into ./.venv (first time: about a minute)" >&2

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
# PYTHONWARNINGS: setuptools' "Editable installation" notice (a framed warning about folder
# names, harmless here) alarmed first-time users; real errors still fail the install.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
  | { grep -v -i -E "^warning: location|is ignored" || true; }

# `npm install` (not `npm ci`): npm 11's lock omits the other platforms' optional anvil and cast
# binaries, which `npm ci` then reports as out of sync. The lock still pins every version
# installed (package.json names exact versions), and a second run leaves the lock unchanged.
# The real-clients test stage needs ethers, viem and cast besides solc, Hardhat and anvil.
npm_missing=0
for pkg in solc hardhat @foundry-rs/anvil @foundry-rs/cast ethers viem; do
  [ -d "node_modules/$pkg" ] || npm_missing=1
done
if [ "$npm_missing" = 1 ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
echo "[install] ok: $(.venv/bin/python --version), node $(node --version), $(.venv/bin/coledger --help >/dev/null && echo coledger CLI ready)"

#!/usr/bin/env bash
# Install, then run the whole test suite: on the embedded node, then the chain-portable tests on
# anvil (the same contract and client tests against a second backend), then the Hardhat compile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PYTHONUNBUFFERED=1

echo "== lint (ruff) =="
.venv/bin/ruff check .

echo "== pytest on the embedded node =="
.venv/bin/python -m pytest -q tests "$@"

echo "== chain-portable tests on anvil (all but the embedded node's own: node, e2e, audit) =="
COLEDGER_TEST_CHAIN=anvil .venv/bin/python -m pytest -q tests \
  --ignore=tests/node --ignore=tests/e2e --ignore=tests/audit "$@"

echo "== hardhat compile (offline, solc-js) =="
npx --no-install hardhat compile --quiet

#!/usr/bin/env bash
# Install, then run the whole test suite: on the embedded node, then the chain-portable tests on
# anvil (the same contract and client tests against a second backend), then the Hardhat compile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PYTHONUNBUFFERED=1

# The arbitrator's case page is tested in headless Chromium (Debian's package); install it when
# missing and apt is usable, and then insist the browser test runs rather than skips.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[test] installing Debian's chromium for the case-page browser test" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
      || echo "[test] warning: chromium could not be installed; the browser test will be skipped" >&2
  fi
fi
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  export COLEDGER_REQUIRE_BROWSER=1
fi

# CometBFT (pinned, built with Go on first use into ./.tools) and its ABCI bindings, before any
# test: the network stages run under it, and one embedded-stage test drives the ABCI app on a
# full disk.
echo "== CometBFT toolchain =="
if ! command -v go >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[test] Go not found; installing Debian's golang-go to build CometBFT" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi
.venv/bin/python -m node.cometbft.toolchain

echo "== lint (ruff) =="
.venv/bin/ruff check .

echo "== pytest on the embedded node =="
.venv/bin/python -m pytest -q tests --ignore=tests/network --ignore=tests/cometbft \
  --ignore=tests/clients "$@"

# ethers v6, viem, Foundry's cast and Hardhat 2 (npm, pinned in package.json) with their default
# fees against the embedded node as a process: deploy, every transaction type, events by polling,
# access lists, overrides, block receipts, a non-member refused.
echo "== real clients (ethers, viem, cast, Hardhat) on the embedded node =="
.venv/bin/python -m pytest -q tests/clients "$@"

echo "== chain-portable tests on anvil (all but the embedded node's own: node, e2e, audit, clients) =="
COLEDGER_TEST_CHAIN=anvil .venv/bin/python -m pytest -q tests \
  --ignore=tests/node --ignore=tests/e2e --ignore=tests/audit --ignore=tests/clients \
  --ignore=tests/network --ignore=tests/cometbft "$@"

# The consortium network: CometBFT under the node as its ABCI application, 4 validators as
# processes on their own loopback addresses.
echo "== consortium network: CometBFT engine, ABCI server, 4-validator consistency and faults =="
.venv/bin/python -m pytest -q tests/cometbft tests/network "$@"

echo "== chain-portable tests on the 4-validator network (one module or more per domain) =="
COLEDGER_TEST_CHAIN=network .venv/bin/python -m pytest -q \
  tests/contracts/test_consortium.py tests/lending/test_origination.py tests/flows/test_flows_e2e.py \
  tests/evidence_chain tests/api/test_server_e2e.py tests/client/test_pipeline.py "$@"

echo "== hardhat compile (offline, solc-js) =="
npx --no-install hardhat compile --quiet

#!/usr/bin/env bash
# The main job: install, then run the embedded private chain node with the demo consortium.
# First start deploys the Consortium and creates encrypted keystores under the data dir;
# later starts resume the same chain. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/coledger node start --data-dir "${COLEDGER_DATA_DIR:-./coledger-data}" "$@"

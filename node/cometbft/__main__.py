"""``python -m node.cometbft --home DIR``: run one consortium validator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..errors import NodeError
from .toolchain import ToolchainError, ensure_cometbft
from .validator import Validator, ValidatorOptions

__all__ = ["main", "run_validator"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m node.cometbft",
                                description="one coledger consortium validator (app + CometBFT)")
    p.add_argument("--home", required=True, type=Path,
                   help="validator home created by `coledger network init`")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def _wrong_app_hash_from() -> int | None:
    """Test-only fault switch (never set in production): $COLEDGER_TEST_WRONG_APP_HASH_FROM."""
    raw = os.environ.get("COLEDGER_TEST_WRONG_APP_HASH_FROM", "")
    return int(raw) if raw else None


def run_validator(home: Path, stock_evm: bool = False) -> int:
    """Start the validator in ``home`` and serve until stopped; the process exit code."""
    try:
        binary = ensure_cometbft(lambda line: print(line, file=sys.stderr, flush=True))
    except ToolchainError as exc:
        print(f"cannot start validator: {exc}", file=sys.stderr)
        return 1
    try:
        validator = Validator(ValidatorOptions(home=home.resolve(), cometbft=binary,
                                               wrong_app_hash_from=_wrong_app_hash_from(),
                                               stock_evm=stock_evm))
        validator.start()
    except (NodeError, ValueError, OSError) as exc:
        print(f"cannot start validator: {exc}", file=sys.stderr)
        return 1
    assert validator.node is not None
    print(f"coledger validator {validator.spec.moniker} serving JSON-RPC at {validator.node.url} "
          f"(chain {validator.genesis.chain_id}, ledger at block "
          f"{validator.node.core.head.block_number})", flush=True)
    code = validator.serve_forever()
    if code:
        print(f"validator stopped: {validator.failure}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_validator(args.home,
                         stock_evm=os.environ.get("COLEDGER_STOCK_EVM", "") not in ("", "0"))


if __name__ == "__main__":
    sys.exit(main())

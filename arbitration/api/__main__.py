"""`python -m arbitration.api [--host H] [--port P]`: settings from `COLEDGER_API_*` variables.

The same as `coledger api start`; the tests use it to run the API as a real process.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from client.errors import CoLedgerError

from .server import run
from .settings import ApiSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arbitration.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    try:
        settings = ApiSettings()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as exc:
        print(f"invalid COLEDGER_API_* settings:\n{exc}", file=sys.stderr)
        return 2
    try:
        run(settings, args.host, args.port)
    except CoLedgerError as exc:  # e.g. InsecureFileError: a readable signer password file
        print(f"cannot start the arbitration API: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

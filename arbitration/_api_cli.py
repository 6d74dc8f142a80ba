"""`coledger api token|get|content`: use the arbitration API with a locally held member key.

Kept apart from `arbitration/cli.py` (which registers it) so each module stays small. The key
never leaves the machine: the challenge is signed here and sealed content is decrypted here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client.config import DataDir
from client.keys import Keystore, demo_password

from .api_client import ApiClient
from .vault import id_hex

__all__ = ["register_api_client_commands"]


def _client(args: argparse.Namespace) -> ApiClient:
    directory = DataDir(args.data_dir).keystore
    account = Keystore(directory, demo_password(directory)).load(args.signer)
    return ApiClient(args.url, account)


def _write_new(path: Path, data: bytes) -> None:
    """Write `data` to a file that must not exist yet (mode 0600: it may be evidence)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _token(args: argparse.Namespace) -> int:
    print(_client(args).token())
    return 0


def _readable(body: bytes) -> bytes:
    """A JSON answer indented for a person (``--out`` keeps the exact bytes); anything else as is."""
    try:
        return (json.dumps(json.loads(body), indent=2, ensure_ascii=False) + "\n").encode()
    except (ValueError, UnicodeDecodeError):
        return body if body.endswith(b"\n") else body + b"\n"


def _get(args: argparse.Namespace) -> int:
    body = _client(args).get(args.path)
    if args.out is None:
        sys.stdout.buffer.write(_readable(body))
    else:
        _write_new(args.out, body)
        print(f"{len(body)} bytes written to {args.out}")
    return 0


def _content(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise ValueError(f"{args.out} exists; choose a new --out file")
    got = _client(args).fetch_verified_content(bytes.fromhex(id_hex(args.evidence_id)), args.rpc)
    _write_new(args.out, got.plaintext)
    print(f"evidence 0x{got.evidence_id.hex()} ({got.media_type}): {len(got.plaintext)} bytes written to {args.out}")
    print("  decrypted locally; plaintext sha256 + sm3 and ciphertext sha256 match the anchored record;"
          " inclusion proof verified")
    print("  anchor found on " + args.rpc if got.anchor_checked else "  anchor not checked on a chain (add --rpc URL)")
    return 0


def register_api_client_commands(actions: Any, guard: Callable[[Callable[[argparse.Namespace], int]],
                                                               Callable[[argparse.Namespace], int]],
                                 default_data_dir: Path, default_port: int) -> None:
    """Add `token`, `get` and `content` under `coledger api`."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=f"http://127.0.0.1:{default_port}", help="the API's base URL")
        p.add_argument("--data-dir", type=Path, default=default_data_dir, help="keys in DATA_DIR/keystore")
        p.add_argument("--as", dest="signer", required=True, help="keystore name of the member's key")

    p = actions.add_parser("token", help="sign in (challenge signed locally) and print a bearer token")
    common(p)
    p.set_defaults(func=guard(_token))
    p = actions.add_parser("get", help="GET an API path with a fresh token (e.g. /cases/1/bundle)")
    common(p)
    p.add_argument("path", help="API path starting with /, e.g. /loans/1/evidence")
    p.add_argument("--out", type=Path, help="write the body to this new file instead of stdout")
    p.set_defaults(func=guard(_get))
    p = actions.add_parser("content", help="download one item sealed, decrypt and verify it locally")
    common(p)
    p.add_argument("evidence_id")
    p.add_argument("--out", type=Path, required=True, help="new file for the plaintext")
    p.add_argument("--rpc", help="also check the item's anchor on this chain's JSON-RPC")
    p.set_defaults(func=guard(_content))

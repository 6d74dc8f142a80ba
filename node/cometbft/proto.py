"""The generated CometBFT protobuf modules, imported from the pinned bindings directory.

Why a module of its own: the bindings are generated at first use (see `toolchain`), not
installed, so their directory has to be put on sys.path before `tendermint.*` can be imported.
Doing that once here gives the rest of the package plain names (`abci.RequestInfo`) and one
clear error, with the command that fixes it, when the bindings were never generated.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from node.cometbft.toolchain import BINDINGS_MARKER, ToolchainError, bindings_dir

__all__ = [
    "BindingsNotGeneratedError",
    "abci",
    "block_pb2",
    "canonical_pb2",
    "crypto_pb2",
    "params_pb2",
    "proof_pb2",
    "types_pb2",
    "validator_pb2",
    "version_pb2",
]


class BindingsNotGeneratedError(ToolchainError, ImportError):
    """The protobuf bindings for the pinned CometBFT are missing; they are generated, not shipped."""


def _add_bindings_to_path() -> None:
    directory = bindings_dir()
    if not (directory / BINDINGS_MARKER).is_file():
        raise BindingsNotGeneratedError(
            f"CometBFT protobuf bindings are not generated in {directory}; run: python -m node.cometbft.toolchain"
        )
    entry = str(directory)
    if entry not in sys.path:
        # First on the path: the generated `tendermint` package must win over any same-named one.
        sys.path.insert(0, entry)


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


if TYPE_CHECKING:  # mypy sees the generated .pyi stubs when the bindings dir is on MYPYPATH
    from tendermint.abci import types_pb2 as abci
    from tendermint.crypto import keys_pb2 as crypto_pb2
    from tendermint.crypto import proof_pb2
    from tendermint.types import block_pb2, canonical_pb2, params_pb2, types_pb2, validator_pb2
    from tendermint.version import types_pb2 as version_pb2
else:
    _add_bindings_to_path()
    abci = _load("tendermint.abci.types_pb2")
    types_pb2 = _load("tendermint.types.types_pb2")
    crypto_pb2 = _load("tendermint.crypto.keys_pb2")
    proof_pb2 = _load("tendermint.crypto.proof_pb2")
    version_pb2 = _load("tendermint.version.types_pb2")
    params_pb2 = _load("tendermint.types.params_pb2")
    canonical_pb2 = _load("tendermint.types.canonical_pb2")
    block_pb2 = _load("tendermint.types.block_pb2")
    validator_pb2 = _load("tendermint.types.validator_pb2")

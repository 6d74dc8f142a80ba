"""Refuse to start on a data dir whose chain store is gone (issue 13, defect 2).

Why: the node builds a genesis whenever its store is empty, which is right on a first start and
disastrous later — an emptied or deleted ``chain.sqlite`` would be replaced by a new chain, and the
Consortium redeployed at the same address, with nothing said. A deployment record is written only
after a chain served the deployment, so its presence means a chain must be there. The check only
reads (``os.stat``): when it refuses, nothing in the data dir is created or changed.
"""

from __future__ import annotations

import os

from client.config import DataDir
from client.errors import ChainStoreMissingError

__all__ = ["CHAIN_STORE", "require_chain_if_deployed"]

#: The embedded node's store inside ``DATA_DIR/chain`` (see ``node.core.ChainCore``).
CHAIN_STORE = "chain.sqlite"


def require_chain_if_deployed(data: DataDir) -> None:
    """Raise `ChainStoreMissingError` when ``data`` has a deployment record but no chain store
    (missing, or 0 bytes); a data dir without a deployment record passes (a first start)."""
    if not data.deployment.is_file():
        return
    store = data.chain / CHAIN_STORE
    has = f"a deployment record ({data.deployment.name})"
    if data.keystore.is_dir() and any(data.keystore.glob("*.json")):
        has += f" and keystores ({data.keystore})"
    try:
        size = os.stat(store).st_size
    except FileNotFoundError:
        raise ChainStoreMissingError(str(data.root), str(store), "is missing", has) from None
    if size == 0:
        raise ChainStoreMissingError(str(data.root), str(store), "is empty (0 bytes)", has)

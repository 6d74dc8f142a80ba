"""JSON-RPC methods that read a block's transactions by position, and a block's receipts.

Why a mixin of its own: ``node/rpc.py`` holds the envelope and the core methods; these are the
index-based reads the common tools expect (ethers' ``getBlock(..).getTransaction(i)``, viem's
``getTransaction({blockNumber, index})``, ``eth_getBlockReceipts`` for indexers) and only read
committed rows, like every other read.
"""

from __future__ import annotations

import json
from typing import Any

from ._params import fixed, params, quantity
from .errors import InvalidParamsError
from .serialize import hexint

__all__ = ["BlockIndexMethods"]


class BlockIndexMethods:
    """Mixed into :class:`node.rpc.Dispatcher` (which supplies ``node``, ``_block_number``)."""

    node: Any

    def _block_number(self, tag: Any, what: str = "block", hash_ok: bool = False) -> int:
        raise NotImplementedError  # provided by the Dispatcher

    def _number_of_hash(self, block_hash: Any) -> int | None:
        row = self.node.reader().execute(
            "SELECT number FROM blocks WHERE hash=?", (fixed(block_hash, 32, "block hash"),)
        ).fetchone()
        if row is None or int(row[0]) > self.node.core.head.block_number:
            return None
        return int(row[0])

    def _number_of_tag(self, tag: Any) -> int | None:
        try:
            return self._block_number(tag)
        except InvalidParamsError:
            if isinstance(tag, str) and tag.startswith("0x"):
                return None  # a future block: null, like geth
            raise

    def _tx_at(self, number: int | None, index: Any) -> Any:
        i = quantity(index, "index")
        if number is None:
            return None
        row = self.node.reader().execute(
            "SELECT tx_json FROM txs WHERE block_number=? AND idx=?", (number, i)).fetchone()
        return None if row is None else json.loads(row[0])

    def _rpc_eth_getTransactionByBlockNumberAndIndex(self, p: Any) -> Any:
        tag, index = params(p, 2, 2, "eth_getTransactionByBlockNumberAndIndex")
        return self._tx_at(self._number_of_tag(tag), index)

    def _rpc_eth_getTransactionByBlockHashAndIndex(self, p: Any) -> Any:
        block_hash, index = params(p, 2, 2, "eth_getTransactionByBlockHashAndIndex")
        return self._tx_at(self._number_of_hash(block_hash), index)

    def _rpc_eth_getBlockTransactionCountByHash(self, p: Any) -> Any:
        (block_hash,) = params(p, 1, 1, "eth_getBlockTransactionCountByHash")
        number = self._number_of_hash(block_hash)
        if number is None:
            return None
        (count,) = self.node.reader().execute(
            "SELECT COUNT(*) FROM txs WHERE block_number=?", (number,)).fetchone()
        return hexint(int(count))

    def _rpc_eth_getBlockReceipts(self, p: Any) -> Any:
        """Every receipt of a block, in order (null for a block the node does not have)."""
        (tag,) = params(p, 1, 1, "eth_getBlockReceipts")
        if isinstance(tag, str) and len(tag) == 66:
            number = self._number_of_hash(tag)
        elif isinstance(tag, dict) and "blockHash" in tag:
            number = self._number_of_hash(tag["blockHash"])
        else:
            number = self._number_of_tag(tag)
        if number is None:
            return None
        rows = self.node.reader().execute(
            "SELECT receipt_json FROM txs WHERE block_number=? ORDER BY idx", (number,)).fetchall()
        return [json.loads(r[0]) for r in rows]

"""JSON-RPC 2.0 method dispatch (transport-independent).

Why separate from the HTTP server: the dispatcher turns one decoded JSON value (object
or batch array) into the response value, mapping every failure to a JSON-RPC error with
a code and a message that names what was wrong; the node never crashes on input.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth_utils import decode_hex, encode_hex, to_checksum_address

from ._guard import MAX_JSON_DEPTH, json_too_deep
from .core import ZERO_ADDRESS, AccessList, CallRequest
from .errors import (
    InternalRpcError,
    InvalidParamsError,
    InvalidRequestError,
    LimitExceededError,
    MethodNotFoundError,
    ParseError,
    RpcError,
    TransactionRejectedError,
)
from .serialize import hexint, tx_json

if TYPE_CHECKING:
    from .node import EmbeddedNode

__all__ = ["Dispatcher", "CLIENT_VERSION"]

log = logging.getLogger("coledger.node.rpc")

CLIENT_VERSION = "coledger-node/0.1.0/py-evm-prague"

# ---- parameter parsing -------------------------------------------------------------


_MAX_QUANTITY = 2**256 - 1


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidParamsError(f"{what}: expected a hex quantity, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidParamsError(f"{what}: negative quantity")
        if value > _MAX_QUANTITY:
            raise InvalidParamsError(f"{what}: quantity exceeds 2**256 - 1")
        return value
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) > 2:
        if len(value) > 2 + 128:  # never parse (or echo) an absurdly long string
            raise InvalidParamsError(f"{what}: hex quantity of {len(value) - 2} digits is too long")
        try:
            n = int(value, 16)
        except ValueError:
            pass
        else:
            if n > _MAX_QUANTITY:
                raise InvalidParamsError(f"{what}: quantity exceeds 2**256 - 1")
            return n
    raise InvalidParamsError(f"{what}: expected a hex quantity like 0x1a, got {str(value)[:80]!r}")


def _data(value: Any, what: str) -> bytes:
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            return decode_hex(value)
        except Exception:
            pass
    raise InvalidParamsError(f"{what}: expected 0x-prefixed hex bytes, got {str(value)[:80]!r}")


def _fixed(value: Any, size: int, what: str) -> bytes:
    raw = _data(value, what)
    if len(raw) != size:
        raise InvalidParamsError(f"{what}: expected {size} bytes, got {len(raw)}")
    return raw


def _address(value: Any, what: str = "address") -> bytes:
    return _fixed(value, 20, what)


def _access_list(value: Any) -> AccessList:
    """An EIP-2930 list ``[{"address": ..., "storageKeys": [32-byte hex, ...]}, ...]``."""
    if not isinstance(value, list):
        raise InvalidParamsError("accessList: expected an array of {address, storageKeys}")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) - {"address", "storageKeys"}:
            raise InvalidParamsError(
                f"accessList[{i}]: expected an object with address and storageKeys only")
        keys = entry.get("storageKeys") or []
        if not isinstance(keys, list):
            raise InvalidParamsError(f"accessList[{i}].storageKeys: expected an array")
        slots = tuple(int.from_bytes(_fixed(k, 32, f"accessList[{i}].storageKeys[{j}]"), "big")
                      for j, k in enumerate(keys))
        out.append((_address(entry.get("address"), f"accessList[{i}].address"), slots))
    return tuple(out)


def _params(params: Any, low: int, high: int, method: str) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParamsError(f"{method}: params must be an array")
    if not low <= len(params) <= high:
        raise InvalidParamsError(
            f"{method}: expected {low}..{high} params, got {len(params)}"
            if low != high else f"{method}: expected {low} params, got {len(params)}"
        )
    return params + [None] * (high - len(params))


class Dispatcher:
    """Maps method names to handlers bound to one :class:`EmbeddedNode`."""

    def __init__(self, node: EmbeddedNode) -> None:
        self.node = node
        self.core = node.core
        self.config = node.config
        self._filters: dict[str, dict[str, Any]] = {}
        self._filter_ids = itertools.count(1)
        self._filters_lock = threading.Lock()
        self.methods: dict[str, Callable[[list[Any] | None], Any]] = {
            name[len("_rpc_"):]: getattr(self, name)
            for name in dir(self)
            if name.startswith("_rpc_") and callable(getattr(self, name))
        }

    # ---- envelope ---------------------------------------------------------------
    def handle_body(self, body: bytes) -> Any:
        """Decode a request body and return the response value (None = no response)."""
        if json_too_deep(body):  # before the recursive C decoder sees it (issue 12, defect 1)
            return _error(None, ParseError(
                f"parse error: JSON nesting deeper than {MAX_JSON_DEPTH} levels"))
        try:
            request = json.loads(body)
        except json.JSONDecodeError as exc:
            return _error(None, ParseError(f"parse error: request body is not JSON ({exc})"))
        except (ValueError, UnicodeDecodeError):  # e.g. an integer literal of 5,000 digits
            return _error(None, ParseError(
                "parse error: request body is not JSON (bad encoding or a number too long)"))
        if isinstance(request, list):
            if not request:
                return _error(None, InvalidRequestError("invalid request: empty batch"))
            if len(request) > 10_000:
                return _error(None, InvalidRequestError("invalid request: batch > 10000"))
            return self._handle_batch(request) or None
        return self.handle_one(request)

    def _handle_batch(self, items: list[Any]) -> list[dict[str, Any]]:
        """Answer a batch in order; consecutive well-formed ``eth_sendRawTransaction`` requests
        go to the producer together (:meth:`BlockProducer.submit_many`), so a consensus engine
        can take them in one round trip instead of one per transaction."""
        out: list[dict[str, Any]] = []
        i = 0
        while i < len(items):
            run: list[tuple[Any, bool, bytes]] = []
            while i + len(run) < len(items):
                raw = _raw_transaction_request(items[i + len(run)])
                if raw is None:
                    break
                item = items[i + len(run)]
                run.append((item.get("id"), "id" in item, raw))
            if len(run) < 2:
                answer = self.handle_one(items[i])
                i += 1
                if answer is not None:
                    out.append(answer)
                continue
            i += len(run)
            try:
                results = self.node.producer.submit_many([raw for _, _, raw in run])
            except Exception:  # never crash on input; the words go to the log only
                log.exception("internal error in eth_sendRawTransaction (batch)")
                results = [InternalRpcError("internal error in eth_sendRawTransaction; see the "
                                            "node log")] * len(run)
            for (rid, has_id, _), result in zip(run, results, strict=True):
                if isinstance(result, RpcError):
                    out.append(_error(rid, result))
                elif has_id:
                    out.append({"jsonrpc": "2.0", "id": rid, "result": encode_hex(result)})
        return out

    def handle_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(None, InvalidRequestError("invalid request: expected a JSON object"))
        rid = request.get("id")
        if request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            return _error(rid, InvalidRequestError(
                "invalid request: need jsonrpc '2.0' and a string method"))
        method = request["method"]
        handler = self.methods.get(method)
        try:
            if handler is None:
                raise MethodNotFoundError(
                    f"the method {_echo(method)} does not exist/is not available")
            params = request.get("params")
            if params is not None and not isinstance(params, list):
                raise InvalidParamsError(
                    f"{method}: params must be an array (by-name params are not supported)")
            result = handler(params)
        except RpcError as exc:
            return _error(rid, exc)
        except Exception:  # never crash on input; the interpreter's words go to the log only
            log.exception("internal error in %s", method)
            return _error(rid, InternalRpcError(f"internal error in {method}; see the node log"))
        if "id" not in request:
            return None
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    # ---- helpers ----------------------------------------------------------------
    def _block_number(self, tag: Any, what: str = "block") -> int:
        head = self.core.head.block_number
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        if isinstance(tag, dict):
            if "blockNumber" in tag:
                return self._block_number(tag["blockNumber"], what)
            if "blockHash" in tag:
                row = self.node.reader().execute(
                    "SELECT number FROM blocks WHERE hash=?",
                    (_fixed(tag["blockHash"], 32, "blockHash"),)).fetchone()
                if row is None:
                    raise InvalidParamsError(f"{what}: unknown block hash {tag['blockHash']}")
                return int(row[0])
        n = _quantity(tag, what)
        if n > head:
            raise InvalidParamsError(f"{what}: block {n} is beyond the head {head}")
        return n

    def _published(self, block_number_hex: str) -> bool:
        """Whether a committed row's block is already the head or below it.

        The sealer commits a block to SQLite, then publishes it as the head; rows are read
        without the core lock, so a transaction or receipt can be read in between. Until it is
        published it is served as pending (no receipt yet), so a client never holds a block
        number that "latest", eth_getLogs or eth_getBlockByNumber do not know yet.
        """
        return int(block_number_hex, 16) <= self.core.head.block_number

    def _state_block(self, tag: Any) -> int | None:
        n = self._block_number(tag)
        return None if n == self.core.head.block_number else n

    def _block_obj(self, row: Any, full: bool) -> dict[str, Any] | None:
        if row is None:
            return None
        block: dict[str, Any] = json.loads(row[0])
        if full and block["transactions"]:
            rows = self.node.reader().execute(
                "SELECT tx_json FROM txs WHERE block_number=? ORDER BY idx",
                (int(block["number"], 16),)).fetchall()
            block["transactions"] = [json.loads(r[0]) for r in rows]
        return block

    def _call_request(self, obj: Any, method: str) -> CallRequest:
        if not isinstance(obj, dict):
            raise InvalidParamsError(f"{method}: first param must be a transaction object")
        sender = _address(obj["from"], "from") if obj.get("from") else ZERO_ADDRESS
        to = _address(obj["to"], "to") if obj.get("to") else None
        data_field = obj.get("input", obj.get("data"))
        data = _data(data_field, "data") if data_field is not None else b""
        value = _quantity(obj["value"], "value") if obj.get("value") is not None else 0
        gas = _quantity(obj["gas"], "gas") if obj.get("gas") is not None else None
        access_list = _access_list(obj["accessList"]) if obj.get("accessList") is not None else ()
        return CallRequest(sender, to, value, data, gas, access_list)

    # ---- identity ----------------------------------------------------------------
    def _rpc_eth_chainId(self, params: Any) -> str:
        return hexint(self.config.chain_id)

    def _rpc_net_version(self, params: Any) -> str:
        return str(self.config.chain_id)

    def _rpc_net_listening(self, params: Any) -> bool:
        return True

    def _rpc_net_peerCount(self, params: Any) -> str:
        return hexint(self.node.producer.peer_count())

    def _rpc_web3_clientVersion(self, params: Any) -> str:
        return CLIENT_VERSION

    def _rpc_eth_syncing(self, params: Any) -> Any:
        return self.node.producer.syncing()

    def _rpc_eth_mining(self, params: Any) -> bool:
        return True

    def _rpc_eth_accounts(self, params: Any) -> list[str]:
        return []

    def _rpc_eth_coinbase(self, params: Any) -> str:
        return self.node.producer.coinbase

    def _rpc_eth_gasPrice(self, params: Any) -> str:
        return "0x0"

    def _rpc_eth_maxPriorityFeePerGas(self, params: Any) -> str:
        return "0x0"

    def _rpc_eth_blobBaseFee(self, params: Any) -> str:
        return "0x1"

    def _rpc_eth_feeHistory(self, params: Any) -> dict[str, Any]:
        count_p, newest_p, pct = _params(params, 2, 3, "eth_feeHistory")
        count = min(_quantity(count_p, "blockCount"), 1024)
        newest = self._block_number(newest_p, "newestBlock")
        oldest = max(0, newest - count + 1)
        n = newest - oldest + 1 if count else 0
        rows = self.node.reader().execute(
            "SELECT json FROM blocks WHERE number BETWEEN ? AND ? ORDER BY number",
            (oldest, newest)).fetchall()
        ratios = []
        for r in rows[:n]:
            b = json.loads(r[0])
            ratios.append(int(b["gasUsed"], 16) / int(b["gasLimit"], 16))
        percentiles = pct if isinstance(pct, list) else []
        out: dict[str, Any] = {
            "oldestBlock": hexint(oldest),
            "baseFeePerGas": ["0x0"] * (n + 1) if n else [],
            "gasUsedRatio": ratios,
            "baseFeePerBlobGas": ["0x1"] * (n + 1) if n else [],
            "blobGasUsedRatio": [0.0] * n,
        }
        if percentiles:
            out["reward"] = [["0x0"] * len(percentiles) for _ in range(n)]
        return out

    # ---- blocks ------------------------------------------------------------------
    def _rpc_eth_blockNumber(self, params: Any) -> str:
        return hexint(self.core.head.block_number)

    def _rpc_eth_getBlockByNumber(self, params: Any) -> Any:
        tag, full = _params(params, 1, 2, "eth_getBlockByNumber")
        try:
            n = self._block_number(tag)
        except InvalidParamsError:
            if isinstance(tag, str) and tag.startswith("0x"):
                return None  # unknown future block -> null like geth
            raise
        row = self.node.reader().execute(
            "SELECT json FROM blocks WHERE number=?", (n,)).fetchone()
        return self._block_obj(row, bool(full))

    def _rpc_eth_getBlockByHash(self, params: Any) -> Any:
        h, full = _params(params, 1, 2, "eth_getBlockByHash")
        row = self.node.reader().execute(
            "SELECT json FROM blocks WHERE hash=?", (_fixed(h, 32, "block hash"),)).fetchone()
        return self._block_obj(row, bool(full))

    def _rpc_eth_getBlockTransactionCountByNumber(self, params: Any) -> Any:
        block = self._rpc_eth_getBlockByNumber([_params(params, 1, 1, "count")[0], False])
        return None if block is None else hexint(len(block["transactions"]))

    def _rpc_coledger_getBlockSeal(self, params: Any) -> Any:
        (tag,) = _params(params, 1, 1, "coledger_getBlockSeal")
        n = self._block_number(tag)
        row = self.node.reader().execute(
            "SELECT hash, signer, signature FROM seals WHERE number=?", (n,)).fetchone()
        if row is None:
            return None
        return {"blockNumber": hexint(n), "blockHash": encode_hex(row[0]), "signer": row[1],
                "signature": encode_hex(row[2])}

    # ---- transactions ------------------------------------------------------------
    def _rpc_eth_getTransactionByHash(self, params: Any) -> Any:
        (h,) = _params(params, 1, 1, "eth_getTransactionByHash")
        tx_hash = _fixed(h, 32, "transaction hash")
        row = self.node.reader().execute(
            "SELECT tx_json FROM txs WHERE hash=?", (tx_hash,)).fetchone()
        if row is not None:
            tx = json.loads(row[0])
            if not self._published(tx["blockNumber"]):  # committed, not yet the head: still pending
                tx.update(blockHash=None, blockNumber=None, transactionIndex=None)
            return tx
        ptx = self.node.producer.pending_transaction(tx_hash)
        if ptx is not None:
            return tx_json(ptx.tx, ptx.sender, None, None, None)
        return None

    def _rpc_eth_getTransactionReceipt(self, params: Any) -> Any:
        (h,) = _params(params, 1, 1, "eth_getTransactionReceipt")
        row = self.node.reader().execute(
            "SELECT receipt_json FROM txs WHERE hash=?",
            (_fixed(h, 32, "transaction hash"),)).fetchone()
        if row is None:
            return None
        receipt = json.loads(row[0])
        return receipt if self._published(receipt["blockNumber"]) else None

    def _rpc_eth_getTransactionCount(self, params: Any) -> str:
        addr_p, tag = _params(params, 1, 2, "eth_getTransactionCount")
        addr = _address(addr_p)
        if tag == "pending":
            return hexint(self.node.producer.pending_nonce(addr))
        n = self._state_block(tag)
        if n is None:
            return hexint(self.core.state_nonce(addr))
        with self.core.lock:
            return hexint(self.core.state_at(n).get_nonce(addr))

    def _rpc_eth_sendRawTransaction(self, params: Any) -> str:
        (raw_p,) = _params(params, 1, 1, "eth_sendRawTransaction")
        raw = _data(raw_p, "raw transaction")
        return encode_hex(self.node.producer.submit(raw))

    def _rpc_eth_sendTransaction(self, params: Any) -> Any:
        raise TransactionRejectedError(
            "eth_sendTransaction is not supported: keys never reach the node; sign locally "
            "and use eth_sendRawTransaction"
        )

    def _rpc_eth_sign(self, params: Any) -> Any:
        raise TransactionRejectedError("eth_sign is not supported: keys never reach the node")

    def _rpc_eth_signTransaction(self, params: Any) -> Any:
        raise TransactionRejectedError(
            "eth_signTransaction is not supported: keys never reach the node")

    # ---- state -------------------------------------------------------------------
    def _rpc_eth_getBalance(self, params: Any) -> str:
        addr, tag = _params(params, 1, 2, "eth_getBalance")
        return hexint(self.core.balance(_address(addr), self._state_block(tag)))

    def _rpc_eth_getCode(self, params: Any) -> str:
        addr, tag = _params(params, 1, 2, "eth_getCode")
        return encode_hex(self.core.code(_address(addr), self._state_block(tag)))

    def _rpc_eth_getStorageAt(self, params: Any) -> str:
        addr, slot, tag = _params(params, 2, 3, "eth_getStorageAt")
        value = self.core.storage(_address(addr), _quantity(slot, "slot"),
                                  self._state_block(tag))
        return encode_hex(value.to_bytes(32, "big"))

    def _rpc_eth_call(self, params: Any) -> str:
        obj, tag, *_ = _params(params, 1, 3, "eth_call")
        req = self._call_request(obj, "eth_call")
        return encode_hex(self.core.call(req, self._state_block(tag)))

    def _rpc_eth_estimateGas(self, params: Any) -> str:
        obj, tag, *_ = _params(params, 1, 3, "eth_estimateGas")
        req = self._call_request(obj, "eth_estimateGas")
        return hexint(self.core.estimate_gas(req, self._state_block(tag)))

    # ---- logs and filters ----------------------------------------------------------
    def _query_logs(self, crit: Any, default_from: int | None = None) -> list[Any]:
        if not isinstance(crit, dict):
            raise InvalidParamsError("eth_getLogs: filter must be an object")
        head = self.core.head.block_number
        if crit.get("blockHash") is not None:
            if crit.get("fromBlock") is not None or crit.get("toBlock") is not None:
                raise InvalidParamsError("eth_getLogs: blockHash excludes fromBlock/toBlock")
            lo = hi = self._block_number({"blockHash": crit["blockHash"]})
        else:
            lo = (self._block_number(crit["fromBlock"], "fromBlock")
                  if crit.get("fromBlock") is not None else
                  (default_from if default_from is not None else head))
            hi = (self._block_number(crit["toBlock"], "toBlock")
                  if crit.get("toBlock") is not None else head)
        if hi < lo:
            return []
        if hi - lo + 1 > self.config.max_log_block_range:
            raise LimitExceededError(
                f"eth_getLogs: block range {lo}..{hi} spans {hi - lo + 1} blocks, "
                f"more than the limit {self.config.max_log_block_range}; narrow the range"
            )
        where = ["block_number BETWEEN ? AND ?"]
        args: list[Any] = [lo, hi]
        addr = crit.get("address")
        if addr is not None:
            addrs = addr if isinstance(addr, list) else [addr]
            if addrs:
                where.append(f"address IN ({','.join('?' * len(addrs))})")
                args.extend(_address(a) for a in addrs)
        topics = crit.get("topics") or []
        if not isinstance(topics, list) or len(topics) > 4:
            raise InvalidParamsError("eth_getLogs: topics must be an array of at most 4")
        for i, t in enumerate(topics):
            if t is None:
                continue
            alts = t if isinstance(t, list) else [t]
            if not alts:
                continue
            if any(a is None for a in alts):
                continue  # null inside an OR-list matches anything
            where.append(f"topic{i} IN ({','.join('?' * len(alts))})")
            args.extend(_fixed(a, 32, f"topic {i}") for a in alts)
        limit = self.config.max_log_results
        rows = self.node.reader().execute(
            "SELECT json FROM logs WHERE " + " AND ".join(where)
            + " ORDER BY block_number, log_index LIMIT ?", (*args, limit + 1)).fetchall()
        if len(rows) > limit:
            raise LimitExceededError(
                f"eth_getLogs: query returns more than {limit} logs; narrow the block range "
                f"or add address/topic filters"
            )
        return [json.loads(r[0]) for r in rows]

    def _rpc_eth_getLogs(self, params: Any) -> list[Any]:
        (crit,) = _params(params, 1, 1, "eth_getLogs")
        return self._query_logs(crit)

    def _new_filter(self, kind: str, crit: Any) -> str:
        with self._filters_lock:
            fid = hex(next(self._filter_ids))
            self._filters[fid] = {"kind": kind, "crit": crit,
                                  "last": self.core.head.block_number}
            return fid

    def _rpc_eth_newFilter(self, params: Any) -> str:
        (crit,) = _params(params, 1, 1, "eth_newFilter")
        if not isinstance(crit, dict):
            raise InvalidParamsError("eth_newFilter: filter must be an object")
        self._query_logs({**crit, "fromBlock": "latest", "toBlock": "latest"})  # validate
        return self._new_filter("logs", crit)

    def _rpc_eth_newBlockFilter(self, params: Any) -> str:
        return self._new_filter("blocks", None)

    def _rpc_eth_uninstallFilter(self, params: Any) -> bool:
        (fid,) = _params(params, 1, 1, "eth_uninstallFilter")
        with self._filters_lock:
            return self._filters.pop(str(fid), None) is not None

    def _filter(self, fid: Any) -> dict[str, Any]:
        f = self._filters.get(str(fid))
        if f is None:
            raise InvalidParamsError(f"filter not found: {_echo(fid)}")
        return f

    def _rpc_eth_getFilterChanges(self, params: Any) -> list[Any]:
        (fid,) = _params(params, 1, 1, "eth_getFilterChanges")
        with self._filters_lock:
            f = self._filter(fid)
            head = self.core.head.block_number
            lo, f["last"] = f["last"] + 1, head
        if lo > head:
            return []
        if f["kind"] == "blocks":
            rows = self.node.reader().execute(
                "SELECT hash FROM blocks WHERE number BETWEEN ? AND ? ORDER BY number",
                (lo, head)).fetchall()
            return [encode_hex(r[0]) for r in rows]
        crit = dict(f["crit"])
        start = lo
        if crit.get("fromBlock") not in (None, "latest", "pending", "earliest"):
            start = max(lo, self._block_number(crit["fromBlock"]))
        crit["fromBlock"], crit["toBlock"] = hexint(start), hexint(head)
        if crit.get("toBlock") and f["crit"].get("toBlock") not in (None, "latest", "pending"):
            crit["toBlock"] = hexint(min(head, self._block_number(f["crit"]["toBlock"])))
        return self._query_logs(crit)

    def _rpc_eth_getFilterLogs(self, params: Any) -> list[Any]:
        (fid,) = _params(params, 1, 1, "eth_getFilterLogs")
        f = self._filter(fid)
        if f["kind"] != "logs":
            raise InvalidParamsError(f"filter {fid} is not a log filter")
        return self._query_logs(f["crit"])

    # ---- dev time controls (the producer says whether they exist) --------------------
    def _rpc_evm_increaseTime(self, params: Any) -> int:
        (secs,) = _params(params, 1, 1, "evm_increaseTime")
        seconds = secs if isinstance(secs, int) and not isinstance(secs, bool) else \
            _quantity(secs, "seconds")
        if seconds < 0:
            raise InvalidParamsError("evm_increaseTime: seconds must be >= 0")
        return self.node.producer.increase_time(seconds)

    def _rpc_evm_setNextBlockTimestamp(self, params: Any) -> bool:
        (ts,) = _params(params, 1, 1, "evm_setNextBlockTimestamp")
        self.node.producer.set_next_timestamp(_quantity(ts, "timestamp"))
        return True

    def _rpc_evm_mine(self, params: Any) -> str:
        number = self.node.producer.mine()
        return hexint(number) if number is not None else "0x0"

    # ---- node identity ---------------------------------------------------------------
    def _rpc_coledger_nodeInfo(self, params: Any) -> dict[str, Any]:
        """How this node produces blocks (solo sealer or CometBFT validator) and its chain."""
        return {"chainId": hexint(self.config.chain_id), "clientVersion": CLIENT_VERSION,
                **self.node.producer.info()}


def _raw_transaction_request(item: Any) -> bytes | None:
    """The raw transaction of a well-formed ``eth_sendRawTransaction`` request, else None (the
    request is then answered on its own, with its precise error)."""
    if not (isinstance(item, dict) and item.get("jsonrpc") == "2.0"
            and item.get("method") == "eth_sendRawTransaction"):
        return None
    params = item.get("params")
    if not (isinstance(params, list) and len(params) == 1):
        return None
    try:
        return _data(params[0], "raw transaction")
    except InvalidParamsError:
        return None


def _echo(value: Any, limit: int = 80) -> str:
    """A client's value quoted in an error message, cut short: an answer never grows with the
    size of what was sent."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _error(rid: Any, exc: RpcError) -> dict[str, Any]:
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        err["data"] = exc.data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


def checksum(addr: bytes) -> str:
    return to_checksum_address(addr)

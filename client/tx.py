"""The transaction pipeline: sign locally, manage nonces, submit, wait, decode failures.

Why a pipeline of our own instead of web3.py's `transact()`: the node has no unlocked accounts,
institutions keep many transactions in flight (a local nonce counter, not one RPC per nonce),
and a node restart drops its mempool — the pipeline keeps every signed raw transaction until its
receipt arrives and resubmits the *same bytes* (same nonce, same hash), which the chain can apply
at most once. Reverts are caught at gas estimation, before anything is sent, and decoded into
`ContractRevert` with the Solidity error's name and arguments.

Receipts come two ways: `wait_many` gives web3's formatted receipts (AttributeDict, checksummed
addresses, HexBytes everywhere); `wait_many_raw` gives `RawReceipt`s — status, gas used, block and
the logs exactly as the node's JSON has them — for hot paths whose receipts carry hundreds of logs,
where web3's per-field formatting is most of the client's time (fund-flow batches: ~550 logs per
250-flow receipt).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.method_formatters import receipt_formatter
from web3.datastructures import AttributeDict
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxReceipt

from client.errors import (
    AdmissionRejected,
    CoLedgerValueError,
    RpcError,
    TransactionFailed,
    TransactionTimeout,
)
from client.revert import decode_revert

__all__ = ["Call", "RawReceipt", "SentTransaction", "TransactionPipeline", "ADMISSION_REJECTED_CODE"]

ADMISSION_REJECTED_CODE = -32003
_FEE_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Call:
    """One contract interaction to sign: target (None = create), calldata, value, optional gas."""

    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None
    label: str = ""


@dataclass
class SentTransaction:
    """A signed transaction accepted by the node; kept until its receipt is seen."""

    tx_hash: str
    nonce: int
    raw: bytes
    call: Call
    sent_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class RawReceipt:
    """A receipt parsed no further than a hot path needs. `logs` are the node's JSON objects
    (lower-case hex strings: `address`, `topics`, `data`, `logIndex`, ...), untouched."""

    tx_hash: str
    status: int
    gas_used: int
    block_number: int
    logs: list[dict[str, Any]]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RawReceipt:
        return cls(str(raw["transactionHash"]), int(raw["status"], 16), int(raw["gasUsed"], 16),
                   int(raw["blockNumber"], 16), raw.get("logs") or [])


class TransactionPipeline:
    """Sends one account's transactions. Thread-safe; many may be in flight at once."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        gas_margin: float = 1.25,
        gas_extra: int = 20_000,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.1,
        resend_after: float = 3.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = to_checksum_address(account.address)
        self.gas_margin = gas_margin
        self.gas_extra = gas_extra
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.resend_after = resend_after
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self._chain_id: int | None = None
        self._fees: dict[str, int] = {}
        self._fees_at = 0.0

    # -- preparing ---------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _fee_fields(self) -> dict[str, int]:
        now = time.monotonic()
        if not self._fees or now - self._fees_at > _FEE_REFRESH_SECONDS:
            latest = self.w3.eth.get_block("latest")
            base = latest.get("baseFeePerGas")
            if base is None:
                self._fees = {"gasPrice": int(self.w3.eth.gas_price)}
            else:
                tip = int(self.w3.eth.max_priority_fee)
                self._fees = {"maxFeePerGas": 2 * int(base) + tip, "maxPriorityFeePerGas": tip}
            self._fees_at = now
        return dict(self._fees)

    def estimate_gas(self, call: Call) -> int:
        """Gas for `call` with the safety margin; a revert raises the decoded `ContractRevert`."""
        params: dict[str, Any] = {"from": self.address, "data": HexBytes(call.data)}
        if call.to is not None:
            params["to"] = to_checksum_address(call.to)
        if call.value:
            params["value"] = call.value
        try:
            estimate = int(self.w3.eth.estimate_gas(params))  # type: ignore[arg-type]
        except (ContractCustomError, ContractPanicError, ContractLogicError) as exc:
            raise decode_revert(_revert_data(exc), call.label or None) from exc
        except Web3RPCError as exc:
            raise _rpc_error(exc) from exc
        return int(estimate * self.gas_margin) + self.gas_extra

    def _sign(self, call: Call, nonce: int, gas: int) -> SentTransaction:
        tx: dict[str, Any] = {
            "nonce": nonce,
            "gas": gas,
            "value": call.value,
            "data": HexBytes(call.data),
            "chainId": self.chain_id,
            **self._fee_fields(),
        }
        if call.to is not None:
            tx["to"] = to_checksum_address(call.to)
        signed = self.account.sign_transaction(tx)
        return SentTransaction(
            tx_hash="0x" + bytes(signed.hash).hex(), nonce=nonce, raw=bytes(signed.raw_transaction),
            call=call,
        )

    def _reserve_nonce(self) -> int:
        if self._next_nonce is None:
            self._next_nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce

    def resync_nonce(self) -> None:
        """Forget the local nonce counter; the next send asks the node (after a rejection)."""
        with self._lock:
            self._next_nonce = None

    # -- sending -----------------------------------------------------------------------------

    def send(self, call: Call) -> SentTransaction:
        """Estimate (unless `call.gas`), sign and submit one transaction; returns without waiting."""
        gas = call.gas if call.gas is not None else self.estimate_gas(call)
        with self._lock:
            nonce = self._reserve_nonce()
            sent = self._sign(call, nonce, gas)
            try:
                self.w3.eth.send_raw_transaction(sent.raw)
            except Web3RPCError as exc:
                self._next_nonce = None  # the nonce was not consumed; re-read it next time
                raise _rpc_error(exc) from exc
        return sent

    def send_many(self, calls: Sequence[Call]) -> list[SentTransaction]:
        """Sign `calls` with consecutive nonces and submit them in one JSON-RPC batch.

        Every call must carry `gas` (estimate one representative call first): estimating each
        call against head state would be wrong for calls that depend on earlier ones in the batch.
        """
        if not calls:
            return []
        missing = [c.label or str(i) for i, c in enumerate(calls) if c.gas is None]
        if missing:
            raise CoLedgerValueError(f"send_many needs an explicit gas for every call: {missing}")
        with self._lock:
            signed = [self._sign(c, self._reserve_nonce(), int(c.gas or 0)) for c in calls]
            responses = self.w3.provider.make_batch_request(  # type: ignore[attr-defined]
                [("eth_sendRawTransaction", ["0x" + s.raw.hex()]) for s in signed]
            )
            if isinstance(responses, dict):
                self._next_nonce = None
                raise _error_from_response(responses)
            failures = [r for r in responses if "error" in r]
            if failures:
                self._next_nonce = None
                first = _error_from_response(failures[0])
                accepted = len(responses) - len(failures)
                raise RpcError(first.code, f"{accepted} of {len(responses)} accepted; "
                               f"first rejection: {first.rpc_message}", first.data) from first
        return signed

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, sent: SentTransaction, timeout: float | None = None) -> TxReceipt:
        """Block until `sent` has a receipt; raise the decoded revert if it failed."""
        return self.wait_many([sent], timeout)[0]

    def wait_many(
        self, sent: Sequence[SentTransaction], timeout: float | None = None
    ) -> list[TxReceipt]:
        """Receipts for all of `sent` (in order), polling in JSON-RPC batches.

        A transaction the node no longer knows (it restarted and lost its mempool) is resubmitted
        with its original bytes; the nonce makes a second application impossible.
        """
        receipts = self._await(sent, timeout, self._fetch_receipts)
        for s, receipt in zip(sent, receipts, strict=True):
            if receipt["status"] != 1:
                raise self._explain_failure(s, int(receipt["blockNumber"]), receipt.get("gasUsed"))
        return receipts

    def wait_many_raw(
        self, sent: Sequence[SentTransaction], timeout: float | None = None
    ) -> list[RawReceipt]:
        """`wait_many` without web3's receipt formatting: the same polling, resubmission and
        failure decoding (a status-0 receipt raises its `ContractRevert`), but each receipt is a
        `RawReceipt` over the node's JSON."""
        receipts = [RawReceipt.from_json(r) for r in self._await(sent, timeout, self._fetch_raw)]
        for s, receipt in zip(sent, receipts, strict=True):
            if receipt.status != 1:
                raise self._explain_failure(s, receipt.block_number, receipt.gas_used)
        return receipts

    def _await(self, sent: Sequence[SentTransaction], timeout: float | None,
               fetch: Callable[[Sequence[SentTransaction]], list[Any]]) -> list[Any]:
        """Poll `fetch` (receipt or None per transaction) until every one of `sent` has a receipt."""
        limit = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        receipts: dict[str, Any] = {}
        last_check = time.monotonic()
        interval = min(0.005, self.poll_interval)  # back off from 5 ms: local blocks come fast
        while True:
            todo = [s for s in sent if s.tx_hash not in receipts]
            if not todo:
                break
            for s, receipt in zip(todo, fetch(todo), strict=True):
                if receipt is not None:
                    receipts[s.tx_hash] = receipt
            if len(receipts) == len(sent):
                break
            now = time.monotonic()
            if now > deadline:
                first = next(s for s in sent if s.tx_hash not in receipts)
                raise TransactionTimeout(first.tx_hash, limit)
            if now - last_check > self.resend_after:
                self._resubmit_unknown([s for s in sent if s.tx_hash not in receipts])
                last_check = now
            time.sleep(interval)
            interval = min(interval * 2, self.poll_interval)
        return [receipts[s.tx_hash] for s in sent]

    def transact(self, call: Call) -> TxReceipt:
        """Send and wait: the common path for one governance or domain action."""
        return self.wait(self.send(call))

    def _fetch_receipts(self, todo: Sequence[SentTransaction]) -> list[TxReceipt | None]:
        if len(todo) == 1:
            try:
                return [self.w3.eth.get_transaction_receipt(todo[0].tx_hash)]  # type: ignore[arg-type]
            except TransactionNotFound:
                return [None]
        return [_format_receipt(r) for r in self._fetch_raw(todo)]

    def _fetch_raw(self, todo: Sequence[SentTransaction]) -> list[dict[str, Any] | None]:
        """The node's receipt JSON (None: not yet) per transaction, in JSON-RPC batches of 500."""
        out: list[dict[str, Any] | None] = []
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            responses = self.w3.provider.make_batch_request(  # type: ignore[attr-defined]
                [("eth_getTransactionReceipt", [s.tx_hash]) for s in chunk]
            )
            if isinstance(responses, dict):
                raise _error_from_response(responses)
            out.extend(r.get("result") for r in responses)
        return out

    def _resubmit_unknown(self, waiting: Sequence[SentTransaction]) -> None:
        for s in waiting:
            try:
                self.w3.eth.get_transaction(s.tx_hash)  # type: ignore[arg-type]
                continue
            except TransactionNotFound:
                pass
            try:
                self.w3.eth.send_raw_transaction(s.raw)
            except Web3RPCError:
                # "nonce too low" / "already known": it was applied or is pending — keep polling.
                continue

    def _explain_failure(self, sent: SentTransaction, block_number: int, used: Any) -> Exception:
        """Re-run a failed transaction as a call on the state before its block to get the reason."""
        params: dict[str, Any] = {"from": self.address, "data": HexBytes(sent.call.data),
                                  "value": sent.call.value}
        if sent.call.to is not None:
            params["to"] = to_checksum_address(sent.call.to)
        block = max(block_number - 1, 0)
        try:
            self.w3.eth.call(params, block)  # type: ignore[arg-type]
        except (ContractCustomError, ContractPanicError, ContractLogicError) as exc:
            revert = decode_revert(_revert_data(exc), sent.call.label or None)
            if revert.name is not None:
                return revert
        except Web3RPCError:
            pass
        return TransactionFailed(sent.tx_hash, f"status 0 (gas used {used}; reason not recoverable)")


def _format_receipt(raw: Any) -> TxReceipt | None:
    """Apply web3's receipt formatting to a raw batch result (AttributeDict, ints, HexBytes)."""
    if raw is None:
        return None
    return AttributeDict.recursive(receipt_formatter(raw))  # type: ignore[no-any-return]


def _revert_data(exc: Exception) -> str | bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return data
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return None


def _error_from_response(response: Any) -> RpcError:
    error = response.get("error") or {}
    code = int(error.get("code", -32603))
    message = str(error.get("message", "unknown error"))
    cls = AdmissionRejected if code == ADMISSION_REJECTED_CODE else RpcError
    return cls(code, message, error.get("data"))


def _rpc_error(exc: Web3RPCError) -> RpcError:
    response = exc.rpc_response or {}
    if "error" in response:
        return _error_from_response(response)
    return RpcError(-32603, str(exc))

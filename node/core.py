"""Chain core: the only code that touches py-evm, always under one lock.

Why one lock: py-evm objects are not thread-safe and the store's pending overlay belongs
to the block being built; building a block, committing it and every state read happen
while holding :attr:`ChainCore.lock`, so readers never observe a half-built block.

Why two phases (:meth:`ChainCore.build_block` then :meth:`ChainCore.commit_draft`): the solo
sealer builds and commits in one go, but a CometBFT application executes a block in
FinalizeBlock and persists it only at Commit. The core knows neither: it executes what it is
given at the time and coinbase it is given, and makes a draft durable when told to. Between
the phases the draft lives in the store's pending overlay; state reads keep using the
published head (content-addressed trie nodes make the overlay invisible to them).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError, encode_hex, to_checksum_address

from ._private import private_dir
from .authorizations import authorities_of
from .errors import CallFundsError, CallGasError, ExecutionRevertedError, InvalidParamsError, NodeError, StoreError
from .evm import (
    chain_class,
    genesis_header_params,
    genesis_state,
    load_or_create_genesis,
)
from .fastevm import fast_chain_class
from .integrity import StoreCheck, check_head, check_structure
from .mempool import PendingTx
from .serialize import block_json, receipt_json, tx_json
from .store import SideWrite, SqliteStore
from .trie import install_fast_trie, install_node_cache

__all__ = ["AccessList", "BlockDraft", "ChainCore", "SealResult", "CallRequest", "BlockSeal"]

log = logging.getLogger("coledger.node.core")

ZERO_ADDRESS = b"\x00" * 20


@dataclass(frozen=True)
class BlockSeal:
    """A solo validator's signature over a block hash, stored beside the block."""

    signer: str
    signature: bytes


@dataclass
class BlockDraft:
    """A block executed into the store's pending overlay, not yet durable.

    ``dropped``: transactions invalid at execution (py-evm refused them); ``deferred``: not
    executed because the block's gas or an earlier excluded nonce of the same sender stopped
    them (a mempool may retry those in a later block).
    """

    block: BlockAPI
    txs: list[SignedTransactionAPI]
    senders: list[bytes]
    receipts: list[Any]
    dropped: list[tuple[bytes, str]] = field(default_factory=list)
    deferred: list[tuple[bytes, str]] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.block.number)

    @property
    def header(self) -> BlockHeaderAPI:
        return self.block.header


@dataclass
class SealResult:
    """What one sealed (and durably committed) block contained."""

    number: int
    block_hash: bytes
    included: list[bytes] = field(default_factory=list)
    dropped: list[tuple[bytes, str]] = field(default_factory=list)
    log_addresses: set[bytes] = field(default_factory=set)
    new_nonces: dict[bytes, int] = field(default_factory=dict)


#: an EIP-2930 access list as py-evm takes it: (address, storage slots) pairs
AccessList = tuple[tuple[bytes, tuple[int, ...]], ...]


@dataclass(frozen=True)
class CallRequest:
    """A parsed eth_call / eth_estimateGas object.

    ``access_list``: executed as an EIP-2930 transaction when not empty, so the list's
    intrinsic cost is paid and its entries are warm, exactly as when the signed transaction
    carrying it is mined (an estimate without it is too low whenever the list costs more than
    it saves, and the transaction then runs out of gas).
    """

    sender: bytes
    to: bytes | None
    value: int
    data: bytes
    gas: int | None
    access_list: AccessList = ()
    #: eth_call's third parameter (node.overrides), applied to the call's throwaway state
    overrides: tuple[Any, ...] = ()
    #: EIP-7702 authorizations (py-evm ``Authorization``): executed as a type-4 transaction
    authorizations: tuple[Any, ...] = ()


class _BadTransaction(NodeError):
    """Internal: executing this transaction broke the block build; drop it and retry."""

    def __init__(self, tx_hash: bytes, reason: str) -> None:
        super().__init__(reason)
        self.tx_hash = tx_hash
        self.reason = reason


class ChainCore:
    """Owns the store, the py-evm chain and the published head."""

    def __init__(
        self,
        data_dir: Path,
        chain_id: int,
        gas_limit: int,
        alloc: dict[str, dict[str, Any]] | None = None,
        fast_evm: bool = True,
        check_store: bool = True,
    ) -> None:
        install_fast_trie()
        install_node_cache()
        self.lock = threading.RLock()
        self.data_dir = Path(data_dir)
        private_dir(self.data_dir)
        self.chain_id = chain_id
        self.gas_limit = gas_limit
        self.genesis = load_or_create_genesis(self.data_dir, chain_id, gas_limit, alloc)
        self.store = SqliteStore(self.data_dir / "chain.sqlite")
        try:
            self._open_chain(fast_evm, check_store)
        except BaseException:
            self.store.close()
            raise
        self._draft: BlockDraft | None = None
        self._nonces: dict[bytes, int] = {}

    def _open_chain(self, fast_evm: bool, check_store: bool) -> None:
        """Check the store (a damaged one is refused, never served), then load or create the chain."""
        if not check_store:
            log.warning("store check skipped (check_store=False): %s is served unchecked",
                        self.store.path)
        # before py-evm reads anything
        structure_seconds = check_structure(self.store) if check_store else 0.0
        # the node executes with the fast opcode loop; the auditor replays with chain_class
        self._chain_cls = fast_chain_class(self.chain_id) if fast_evm else chain_class(self.chain_id)
        self._db = AtomicDB(self.store)
        if self.store.get_meta("genesis_hash") is None:
            self._create_genesis()
        self.chain: MiningChain = self._chain_cls(self._db)
        self.head: BlockHeaderAPI = self.chain.get_canonical_head()
        stored = self.store.get_meta("genesis_hash")
        if stored != encode_hex(self.chain.get_canonical_block_header_by_number(0).hash):
            raise StoreError("genesis hash in meta does not match the stored chain")
        if not check_store:
            self.start_check = StoreCheck(int(self.head.block_number), 0, 0.0, 0.0)
            return
        self.start_check = check_head(
            self.store, int(self.head.block_number), self.head.hash, self.head.state_root,
            structure_seconds)
        log.info("store check passed: %d blocks, %d transactions (quick_check %.3f s, head walk %.3f s)",
                 self.start_check.head + 1, self.start_check.transactions,
                 self.start_check.quick_check_seconds, self.start_check.walk_seconds)

    # ---- genesis ----------------------------------------------------------------
    def _create_genesis(self) -> None:
        chain = self._chain_cls.from_genesis(
            self._db, genesis_header_params(self.genesis), genesis_state(self.genesis)
        )
        block = chain.get_canonical_block_by_number(0)
        rows = self._block_rows(block, [], [], [], None)
        rows.append(SqliteStore.meta_write({
            "genesis_hash": encode_hex(block.hash),
            "genesis": self.genesis.to_json(),
            "chain_id": str(self.chain_id),
        }))
        self.store.commit_block(rows)

    # ---- state reads ------------------------------------------------------------
    def header_at(self, number: int | None) -> BlockHeaderAPI:
        """Header of block ``number`` (None = head); caller holds the lock."""
        if number is None or number == self.head.block_number:
            return self.head
        if number < 0 or number > self.head.block_number:
            raise InvalidParamsError(
                f"block {number} does not exist (head is {self.head.block_number})"
            )
        return self.chain.get_canonical_block_header_by_number(number)

    def state_at(self, number: int | None = None) -> Any:
        return self.chain.get_vm(self.header_at(number)).state

    def state_nonce(self, address: bytes) -> int:
        """Head nonce, cached; the sealer refreshes the cache for every block's senders."""
        n = self._nonces.get(address)
        if n is None:
            with self.lock:
                n = self.state_at().get_nonce(address)
                self._nonces[address] = n
        return n

    def balance(self, address: bytes, number: int | None = None) -> int:
        with self.lock:
            return int(self.state_at(number).get_balance(address))

    def code(self, address: bytes, number: int | None = None) -> bytes:
        with self.lock:
            return bytes(self.state_at(number).get_code(address))

    def storage(self, address: bytes, slot: int, number: int | None = None) -> int:
        with self.lock:
            return int(self.state_at(number).get_storage(address, slot))

    # ---- execution without a block ------------------------------------------------
    def _spoof(self, req: CallRequest, gas: int, header: BlockHeaderAPI) -> SpoofTransaction:
        vm = self.chain.get_vm(header)
        nonce = vm.state.get_nonce(req.sender)
        for o in req.overrides:  # the call runs as if the sender had this nonce
            if o.address == req.sender and o.nonce is not None:
                nonce = o.nonce
        unsigned: Any
        if req.authorizations:
            unsigned = vm.get_transaction_builder().new_unsigned_set_code_transaction(
                self.chain_id, nonce, 0, 0, gas, req.to or b"", req.value, req.data,
                req.access_list, req.authorizations)
        elif req.access_list:
            unsigned = vm.get_transaction_builder().new_unsigned_access_list_transaction(
                self.chain_id, nonce, 0, gas, req.to or b"", req.value, req.data, req.access_list)
        else:
            unsigned = vm.create_unsigned_transaction(
                nonce=nonce, gas_price=0, gas=gas, to=req.to or b"", value=req.value,
                data=req.data)
        return SpoofTransaction(unsigned, from_=req.sender)

    def _execute(self, req: CallRequest, gas: int, header: BlockHeaderAPI,
                 prepare: Callable[[Any], None] | None = None) -> Any:
        """Run ``req`` on a throwaway state of ``header`` (reverted after); ``prepare`` may
        instrument that state first (eth_createAccessList records warm marks)."""
        vm = self.chain.get_vm(header)
        state = vm.state
        if prepare is not None:
            prepare(state)
        tx = self._spoof(req, gas, header)
        _check_intrinsic(req, gas, tx.intrinsic_gas, self.gas_limit)
        snapshot = state.snapshot()
        if req.overrides:
            from .overrides import apply_overrides  # node.overrides parses with node._params,
            apply_overrides(state, req.overrides)  # which imports this module
        balance = state.get_balance(req.sender)
        if req.value > balance:
            state.revert(snapshot)
            raise CallFundsError(f"value: insufficient funds: {checksum(req.sender)} has "
                                 f"{balance}, the call sends {req.value}")
        try:
            return state.apply_transaction(tx)
        except ValidationError as exc:  # checked above; py-evm's words go to the log only
            log.warning("py-evm refused a call: %s", exc)
            raise InvalidParamsError("call is invalid: refused before execution (see the node "
                                     "log)") from exc
        finally:
            state.revert(snapshot)

    def call(self, req: CallRequest, number: int | None = None) -> bytes:
        """eth_call: output bytes, or ExecutionRevertedError carrying the revert data."""
        with self.lock:
            header = self.header_at(number)
            gas = min(req.gas or self.gas_limit, self.gas_limit)
            comp = self._execute(req, gas, header)
        if comp.is_error:
            raise _revert_error(comp)
        return bytes(comp.output)

    def static_call(self, to: bytes, data: bytes, gas: int = 5_000_000) -> tuple[bool, bytes]:
        """Call from address zero on head state; (success, output). Used by admission.

        ``gas`` is for execution: the calldata's intrinsic cost is added on top, so that the
        answer never depends on the payload's size (admission of a large-calldata transaction
        must be the same whether or not a cached decision exists -- on a network, every
        validator must decide alike)."""
        zeros = data.count(0)
        gas += 21_000 + 4 * zeros + 16 * (len(data) - zeros)
        with self.lock:
            comp = self._execute(CallRequest(ZERO_ADDRESS, to, 0, data, gas), gas, self.head)
        return (not comp.is_error, bytes(comp.output))

    def estimate_gas(self, req: CallRequest, number: int | None = None) -> int:
        """Smallest gas limit for which the transaction succeeds (binary search)."""
        with self.lock:
            header = self.header_at(number)
            hi = min(req.gas or self.gas_limit, self.gas_limit)
            comp = self._execute(req, hi, header)
            if comp.is_error:
                raise _revert_error(comp)
            tx = self._spoof(req, hi, header)
            lo = tx.intrinsic_gas + comp.get_gas_used() - 1
            # the first estimate (gas used) is usually enough; search only if not
            lo = max(lo, tx.intrinsic_gas - 1)
            candidate = lo + 1
            if not self._execute(req, candidate, header).is_error:
                return candidate
            lo = candidate
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._execute(req, mid, header).is_error:
                    lo = mid
                else:
                    hi = mid
            return hi

    # ---- block production ---------------------------------------------------------
    @property
    def has_draft(self) -> bool:
        """True between :meth:`build_block` and :meth:`commit_draft` / :meth:`abandon_draft`."""
        return self._draft is not None

    def build_block(
        self,
        candidates: Sequence[PendingTx],
        timestamp: int,
        coinbase: bytes,
        allow_empty: bool,
    ) -> BlockDraft | None:
        """Execute ``candidates`` in order into a draft block on top of the head.

        Deterministic in its inputs (head state, candidates, timestamp, coinbase): every
        validator of a network builds the same block. Invalid transactions never crash the
        build; they are reported in the draft. Returns None (and leaves no draft) when nothing
        was executable and ``allow_empty`` is false.
        """
        with self.lock:
            if self._draft is not None:
                raise NodeError(f"block {self._draft.number} is still a draft: commit or abandon it")
            dropped: list[tuple[bytes, str]] = []
            remaining = list(candidates)
            for _attempt in range(len(candidates) + 2):
                try:
                    draft = self._execute_block(remaining, dropped, timestamp, coinbase)
                except _BadTransaction as bad:
                    self._reset_overlay()
                    log.warning("dropping transaction %s: %s", encode_hex(bad.tx_hash), bad.reason)
                    dropped.append((bad.tx_hash, bad.reason))
                    remaining = [p for p in remaining if p.hash != bad.tx_hash]
                    continue
                except BaseException:
                    self._reset_overlay()
                    raise
                if not draft.txs and not allow_empty:
                    self._reset_overlay()
                    return None
                self._draft = draft
                return draft
            raise NodeError("block build did not converge")

    def commit_draft(
        self, seal: BlockSeal | None = None, meta: dict[str, str] | None = None
    ) -> SealResult:
        """Make the draft durable (one SQLite transaction with its rows and ``meta``), then
        publish it as the head. On a failed commit the draft is gone and the head unchanged."""
        with self.lock:
            draft = self._draft
            if draft is None:
                raise NodeError("no draft block to commit")
            self._draft = None
            block = draft.block
            try:
                rows = self._block_rows(block, draft.txs, draft.senders, draft.receipts, seal)
                rows.append(SqliteStore.meta_write({"head": str(block.number), **(meta or {})}))
                self.store.commit_block(rows)
            except BaseException:
                self._reset_overlay()
                raise
            # durable from here on: publish
            self.head = block.header
            self.chain.header = self.chain.create_header_from_parent(block.header)
            result = SealResult(number=block.number, block_hash=block.hash,
                                dropped=list(draft.dropped))
            result.included = [tx.hash for tx in draft.txs]
            for tx, sender in zip(draft.txs, draft.senders, strict=True):
                result.new_nonces[sender] = tx.nonce + 1
            delegating = [a for tx in draft.txs if tx.type_id == 4 for a in authorities_of(tx)]
            if delegating:  # EIP-7702 authorities' nonces moved too: read them back
                head_state = self.state_at()
                for authority in delegating:
                    result.new_nonces[authority] = int(head_state.get_nonce(authority))
            for receipt in draft.receipts:
                for lg in receipt.logs:
                    result.log_addresses.add(lg.address)
            self._nonces.update(result.new_nonces)
            return result

    def abandon_draft(self) -> None:
        """Forget the draft (its writes are only in the overlay); the head is unchanged."""
        with self.lock:
            if self._draft is not None:
                self._draft = None
                self._reset_overlay()

    def _reset_overlay(self) -> None:
        self.store.discard()
        self.chain = self._chain_cls(self._db)

    def _execute_block(
        self, candidates: list[PendingTx], dropped: list[tuple[bytes, str]], timestamp: int,
        coinbase: bytes,
    ) -> BlockDraft:
        parent = self.head
        header = self.chain.create_header_from_parent(
            parent, timestamp=max(timestamp, parent.timestamp + 1), coinbase=coinbase
        )
        vm = self.chain.get_vm(header)
        txs: list[SignedTransactionAPI] = []
        senders: list[bytes] = []
        receipts = []
        deferred: list[tuple[bytes, str]] = []
        blocked: dict[bytes, str] = {}
        result_header = header
        for ptx in candidates:
            if ptx.sender in blocked:
                deferred.append((ptx.hash, blocked[ptx.sender]))
                continue
            tx = ptx.tx
            if result_header.gas_used + tx.gas > result_header.gas_limit:
                # later nonces of this sender cannot go either
                why = (f"transaction gas {tx.gas} does not fit the block "
                       f"({result_header.gas_used} of {result_header.gas_limit} used)")
                blocked[ptx.sender] = f"an earlier transaction of the sender was left out: {why}"
                deferred.append((ptx.hash, why))
                continue
            try:
                receipt, _comp = vm.apply_transaction(result_header, tx)
            except ValidationError as exc:
                dropped.append((ptx.hash, str(exc)))
                blocked[ptx.sender] = f"an earlier transaction of the sender was invalid: {exc}"
                continue
            except Exception as exc:  # unexpected: state may be dirty -> rebuild
                raise _BadTransaction(ptx.hash, f"{type(exc).__name__}: {exc}") from exc
            result_header = vm.add_receipt_to_header(result_header, receipt)
            result_header = vm.increment_blob_gas_used(result_header, tx)
            txs.append(tx)
            senders.append(ptx.sender)
            receipts.append(receipt)
        block = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), result_header, txs, receipts
        )
        block = vm.mine_block(block).block
        self.chain.validate_block(block)  # header vs parent: gas, base fee, time
        self.chain.chaindb.persist_block(block)
        return BlockDraft(block, txs, senders, receipts, list(dropped), deferred)

    def _block_rows(
        self,
        block: BlockAPI,
        txs: list[SignedTransactionAPI],
        senders: list[bytes],
        receipts: list[Any],
        seal: BlockSeal | None,
    ) -> list[SideWrite]:
        number, bhash, timestamp = block.number, block.hash, block.header.timestamp
        tx_rows = []
        log_rows = []
        prev_cumulative = 0
        log_index = 0
        for i, (tx, sender, receipt) in enumerate(zip(txs, senders, receipts, strict=True)):
            gas_used = receipt.gas_used - prev_cumulative
            prev_cumulative = receipt.gas_used
            rj, logs = receipt_json(tx, sender, receipt, gas_used, bhash, number, i, log_index,
                                    timestamp)
            log_texts = []
            for lg, raw in zip(logs, receipt.logs, strict=True):
                topics = [t.to_bytes(32, "big") for t in raw.topics] + [None] * 4
                text = json.dumps(lg)
                log_texts.append(text)
                log_rows.append((number, log_index, bytes(raw.address), *topics[:4], text))
                log_index += 1
            tx_rows.append((tx.hash, number, i, json.dumps(tx_json(tx, sender, bhash, number, i, timestamp)),
                            _receipt_text(rj, log_texts)))
        rows: list[SideWrite] = [
            ("INSERT OR REPLACE INTO blocks (number, hash, json) VALUES (?, ?, ?)",
             [(number, bhash, json.dumps(block_json(block)))]),
        ]
        if tx_rows:
            rows.append(("INSERT OR REPLACE INTO txs (hash, block_number, idx, tx_json, "
                         "receipt_json) VALUES (?, ?, ?, ?, ?)", tx_rows))
        if log_rows:
            rows.append(("INSERT OR REPLACE INTO logs (block_number, log_index, address, topic0,"
                         " topic1, topic2, topic3, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         log_rows))
        if seal is not None:
            rows.append(("INSERT OR REPLACE INTO seals (number, hash, signer, signature) "
                         "VALUES (?, ?, ?, ?)", [(number, bhash, seal.signer, seal.signature)]))
        return rows

    def close(self) -> None:
        with self.lock:
            self.store.close()


def _check_intrinsic(req: CallRequest, gas: int, intrinsic: int, gas_limit: int) -> None:
    """Refuse a call whose gas cannot cover its intrinsic cost before py-evm sees it (py-evm
    would say "Message.gas cannot be negative", which names nothing the caller sent)."""
    if gas >= intrinsic:
        return
    if req.gas is not None and req.gas < gas_limit:
        raise CallGasError(f"gas: intrinsic gas too low: needs {intrinsic}, has {req.gas}")
    raise CallGasError(f"data: intrinsic gas too low: needs {intrinsic}, more than the block gas "
                       f"limit {gas_limit}")


def _revert_error(comp: Any) -> ExecutionRevertedError:
    """geth convention: code 3, "execution reverted", data = 0x revert bytes."""
    err = comp.error
    output = bytes(comp.output) if comp.output else b""
    from eth.exceptions import Revert

    if isinstance(err, Revert):
        data = output or (bytes(err.args[0]) if err.args and isinstance(err.args[0], bytes)
                          else b"")
        return ExecutionRevertedError(_revert_message(data), data=encode_hex(data))
    return ExecutionRevertedError(f"execution failed: {type(err).__name__}: {err}",
                                  data=encode_hex(b""))


def _revert_message(data: bytes) -> str:
    """geth: "execution reverted: <reason>" when the data is Error(string)."""
    if data[:4] == bytes.fromhex("08c379a0"):
        try:
            from eth_abi import decode

            (reason,) = decode(["string"], data[4:])
            return f"execution reverted: {reason}"
        except Exception:
            pass
    return "execution reverted"


def checksum(address: bytes) -> str:
    return to_checksum_address(address)


def _receipt_text(receipt: dict[str, Any], log_texts: list[str]) -> str:
    """The receipt's JSON text, its logs spliced in as already-rendered texts.

    Each log's JSON is rendered once (it is also its own row for eth_getLogs) instead of a
    second time inside the receipt: a batch transaction carries hundreds of logs.
    """
    head = json.dumps({k: v for k, v in receipt.items() if k != "logs"})
    return f'{head[:-1]}, "logs": [{", ".join(log_texts)}]}}'

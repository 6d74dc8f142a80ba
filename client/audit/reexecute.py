"""Re-execute served blocks on a fresh py-evm chain and compare every committed value.

Per block, in py-evm's own import order (``VM.import_block``): header from the parent we
rebuilt plus the served *inputs* only (coinbase, timestamp, gas limit, extra data,
prevRandao/mixHash, nonce, parent beacon root); ``block_preprocessing``; each transaction
rebuilt from its signed fields and applied; the transaction and receipt roots from the
auditor's own one-pass trie builder (:mod:`client.audit._trie`, pinned byte for byte to
py-evm's ``HexaryTrie``; never the node's builder); ``block_postprocessing``; finalization;
py-evm's block validation.  Then every derived value is compared with what the node served;
the first difference is a :class:`Divergence`.

Where the replay departs from py-evm's ``import_block`` it computes the same values with less
work: the roots come from :mod:`client.audit._trie` rather than 2,000 ``HexaryTrie`` inserts
a block; packing and finalizing run on the block *without* its transaction list (they only
read the header, and py-evm deep-copies every transaction on each ``block.copy``), the list
being attached once to the final block for validation; and that validation is py-evm's
``validate_block`` step by step, with the transaction root checked against our own builder
instead of being rebuilt by py-evm a second time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import eth.db.trie
import eth.vm.base
import rlp
from coincurve import PublicKey
from eth._utils.address import generate_contract_address
from eth._utils.db import get_parent_header
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.constants import MAX_UNCLES
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth_typing import Address
from eth_utils import ValidationError, decode_hex, encode_hex, keccak
from trie.hexary import HexaryTrie

from client.audit._trie import ordered_trie_root
from client.audit.errors import AuditError
from client.audit.fetch import ServedBlock
from client.audit.transactions import TransactionRebuildError, rebuild_transaction

__all__ = ["Divergence", "BlockOutcome", "Reexecutor", "require_pyevm_trie"]


@dataclass
class Divergence:
    """The first value that differs: recomputed (``expected``) vs ``served``."""

    block: int
    field: str
    expected: str
    served: str
    message: str
    block_hash: str | None = None
    tx_index: int | None = None
    tx_hash: str | None = None
    header_level: bool = True  # False: only served receipt/tx JSON differs, header agrees

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BlockOutcome:
    """Result of one re-executed block."""

    number: int
    header: BlockHeaderAPI | None
    transactions: int
    gas_used: int
    divergences: list[Divergence]
    seal_checked: bool


def require_pyevm_trie() -> None:
    """Refuse to run in a process where the node's fast trie patch replaced py-evm's."""
    if eth.vm.base.make_trie_root_and_nodes is not (  # type: ignore[attr-defined]
            eth.db.trie.make_trie_root_and_nodes) or HexaryTrie.get_node.__module__ != "trie.hexary":
        raise AuditError(
            "py-evm's trie code is patched in this process (node.trie.install_fast_trie / "
            "install_node_cache); "
            "run the replay in a process that does not host a node")


def recover_seal_signer(block_hash: bytes, signature: bytes) -> str:
    """Lower-case address whose key made ``signature`` (65 bytes, r || s || v with v in
    {0, 1}) over the 32-byte ``block_hash`` itself: the coledger seal (DESIGN), recovered
    here rather than with the node's code.  ValueError if it is malformed or recovers no key."""
    if len(signature) != 65:
        raise ValueError(f"seal signature must be 65 bytes, got {len(signature)}")
    try:
        public = PublicKey.from_signature_and_message(signature, block_hash, hasher=None)
    except Exception as exc:  # coincurve: bad recovery id, r/s out of range, no point
        raise ValueError(f"seal signature does not recover: {exc}") from exc
    return encode_hex(keccak(public.format(compressed=False)[1:])[12:])


def _hx(value: Any) -> str:
    return str(value).lower() if value is not None else "null"


def _int(value: Any) -> int | None:
    try:
        return int(str(value), 16)
    except (TypeError, ValueError):
        return None


class Reexecutor:
    """Owns the replay chain (genesis already built) and its verified head."""

    def __init__(self, chain: MiningChain, head: BlockHeaderAPI, check_seals: bool = True) -> None:
        require_pyevm_trie()
        self.chain = chain
        self.head = head
        self.check_seals = check_seals

    # ---- one block -------------------------------------------------------------------
    def replay(self, served: ServedBlock) -> BlockOutcome:
        """Re-execute ``served`` on top of :attr:`head`; advance the head if it matches."""
        n, sb = served.number, served.block
        served_hash = _hx(sb.get("hash"))
        found: list[Divergence] = []

        def diverge(field: str, expected: Any, got: Any, message: str,
                    tx_index: int | None = None, tx_hash: str | None = None,
                    header_level: bool = True) -> None:
            found.append(Divergence(n, field, _hx(expected), _hx(got), message, served_hash,
                                    tx_index, tx_hash, header_level))

        def outcome(header: BlockHeaderAPI | None, txs: int = 0, gas: int = 0,
                    sealed: bool = False) -> BlockOutcome:
            return BlockOutcome(n, header, txs, gas, found, sealed)

        parent = self.head
        if _hx(sb.get("parentHash")) != encode_hex(parent.hash):
            diverge("parentHash", encode_hex(parent.hash), sb.get("parentHash"),
                    f"block {n} does not extend the replayed block {n - 1}")
            return outcome(None)
        try:
            header = self._header(parent, sb)
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            diverge("header", "a valid coledger header", "invalid",
                    f"block {n} header inputs are invalid: {exc}")
            return outcome(None)

        vm: Any = self.chain.get_vm(header)
        builder = vm.get_transaction_builder()
        txs: list[SignedTransactionAPI] = []
        for i, tx_json in enumerate(sb["transactions"]):
            served_tx_hash = _hx(tx_json.get("hash"))
            try:
                tx = rebuild_transaction(tx_json, builder)
            except TransactionRebuildError as exc:
                diverge("transaction", "a signed transaction", "malformed fields",
                        f"transaction {i} of block {n} cannot be rebuilt: {exc}", i,
                        served_tx_hash)
                return outcome(None)
            if encode_hex(tx.hash) != served_tx_hash:
                diverge("transaction.hash", encode_hex(tx.hash), served_tx_hash,
                        f"transaction {i} of block {n} does not hash to its served hash",
                        i, served_tx_hash)
                return outcome(None)
            txs.append(tx)

        block = vm.get_block()
        vm.block_preprocessing(block)
        result_header = header
        receipts: list[ReceiptAPI] = []
        previous_cumulative = 0
        for i, tx in enumerate(txs):
            tx_json, receipt_json = sb["transactions"][i], served.receipts[i]
            tx_hash = encode_hex(tx.hash)
            try:
                receipt, _computation = vm.apply_transaction(result_header, tx)
            except ValidationError as exc:
                diverge("transaction", "a valid transaction", "invalid",
                        f"transaction {i} of block {n} ({tx_hash}) is invalid on the replayed "
                        f"state: {exc}", i, tx_hash)
                return outcome(None)
            result_header = vm.add_receipt_to_header(result_header, receipt)
            if get_total_blob_gas(tx):  # else py-evm's increment is a copy of an equal header
                result_header = vm.increment_blob_gas_used(result_header, tx)
            receipts.append(receipt)
            sender = tx.sender
            self._compare_receipt(n, i, tx, sender, receipt, previous_cumulative, tx_json,
                                  receipt_json, diverge)
            previous_cumulative = receipt.gas_used

        # VM.set_block_transactions_and_withdrawals, with the auditor's own trie builder and
        # the transaction list held aside until finalization is done (see the module doc)
        tx_root, tx_nodes = ordered_trie_root([tx.encode() for tx in txs])
        vm.chaindb.persist_trie_data_dict(tx_nodes)
        receipt_root, receipt_nodes = ordered_trie_root([r.encode() for r in receipts])
        vm.chaindb.persist_trie_data_dict(receipt_nodes)
        filled = vm.get_block().copy(header=result_header.copy(transaction_root=tx_root,
                                                             receipt_root=receipt_root))
        processed = self._postprocess(vm, filled, receipts)
        packed: BlockAPI = vm.finalize_block(vm.pack_block(processed)).block
        fh = packed.header
        final = type(packed)(fh, transactions=txs, uncles=packed.uncles,
                             withdrawals=getattr(packed, "withdrawals", None))
        self._compare_header(n, fh, sb, diverge)
        if not any(d.header_level for d in found):
            try:
                self._validate_block(vm, final, tx_root)
            except ValidationError as exc:
                diverge("header", "a valid block", "invalid",
                        f"block {n} fails py-evm's block validation: {exc}")
        sealed = False
        if not any(d.header_level for d in found):
            sealed = self._check_seal(n, fh, served.seal, diverge)
        if any(d.header_level for d in found):
            return outcome(None, len(txs), fh.gas_used)
        self.chain.chaindb.persist_header(fh)
        self.head = fh
        return outcome(fh, len(txs), fh.gas_used, sealed)

    # ---- pieces ----------------------------------------------------------------------
    @staticmethod
    def _validate_block(vm: Any, block: BlockAPI, tx_root: bytes) -> None:
        """py-evm's ``validate_block`` (base VM, then Cancun's blob checks), step by step.

        The one difference: the transaction root is checked against the auditor's own builder
        (``tx_root``, computed from ``block.transactions``) instead of py-evm rebuilding the
        same trie with ``HexaryTrie`` a second time.
        """
        if not isinstance(block, vm.get_block_class()):
            raise ValidationError(f"This vm ({vm!r}) is not equipped to validate {block!r}")
        header = block.header
        vm.validate_header(header, get_parent_header(header, vm.chaindb))
        if tx_root != header.transaction_root:
            raise ValidationError(f"Block's transaction_root ({header.transaction_root!r}) "
                                  f"does not match expected value: {tx_root!r}")
        if len(block.uncles) > MAX_UNCLES:
            raise ValidationError(f"Blocks may have a maximum of {MAX_UNCLES} uncles.  "
                                  f"Found {len(block.uncles)}.")
        if not vm.chaindb.exists(header.state_root):
            if not vm.state.make_state_root() == header.state_root:
                raise ValidationError("`state_root` does not match or was not found in the db.\n"
                                      f"- state_root: {header.state_root!r}")
        if keccak(rlp.encode(block.uncles)) != header.uncles_hash:
            raise ValidationError("`uncles_hash` and block `uncles` do not match.")
        if hasattr(vm, "validate_block_blobs"):
            vm.validate_block_blobs(block)

    @staticmethod
    def _postprocess(vm: Any, block: BlockAPI, receipts: list[ReceiptAPI]) -> BlockAPI:
        """py-evm's ``block_postprocessing`` (EIP-7685 requests), without re-reading receipts.

        Prague's deposit step re-decodes every receipt from the trie just to look for logs of
        the deposit contract; when our in-memory receipts have none, that step contributes
        only an empty deposit request, which the requests hash skips — so the other steps are
        run exactly as py-evm runs them.  Any deposit-contract log takes py-evm's full path.
        """
        if not hasattr(vm, "process_deposit_request_data"):
            return vm.block_postprocessing(block)  # type: ignore[no-any-return]
        from eth.vm.forks.prague.constants import DEPOSIT_CONTRACT_ADDRESS, DEPOSIT_REQUEST_TYPE

        if any(log.address == DEPOSIT_CONTRACT_ADDRESS for r in receipts for log in r.logs):
            return vm.block_postprocessing(block)  # type: ignore[no-any-return]
        block.block_requests.append(DEPOSIT_REQUEST_TYPE)
        vm.process_withdrawal_request_data(block)
        vm.process_consolidation_request_data(block)
        return vm.compute_requests_hash(block)  # type: ignore[no-any-return]

    def _header(self, parent: BlockHeaderAPI, sb: dict[str, Any]) -> BlockHeaderAPI:
        """Header from our parent plus the served block-producer inputs (nothing derived)."""
        params: dict[str, Any] = {
            "coinbase": decode_hex(sb["miner"]),
            "timestamp": int(sb["timestamp"], 16),
            "gas_limit": int(sb["gasLimit"], 16),
            "extra_data": decode_hex(sb.get("extraData", "0x")),
        }
        if sb.get("mixHash") is not None:
            params["mix_hash"] = decode_hex(sb["mixHash"])
        if sb.get("nonce") is not None:
            params["nonce"] = decode_hex(sb["nonce"])
        if sb.get("parentBeaconBlockRoot") is not None:
            params["parent_beacon_block_root"] = decode_hex(sb["parentBeaconBlockRoot"])
        return self.chain.create_header_from_parent(parent, **params)

    def _compare_receipt(self, n: int, i: int, tx: SignedTransactionAPI, sender: bytes,
                         receipt: ReceiptAPI, previous_cumulative: int,
                         tx_json: dict[str, Any], rj: dict[str, Any], diverge: Any) -> None:
        tx_hash = encode_hex(tx.hash)
        where = f"transaction {i} of block {n} ({tx_hash})"

        def check(field: str, expected: Any, got: Any, what: str) -> bool:
            if _hx(expected) != _hx(got):
                diverge(field, expected, got, f"{where}: {what}", i, tx_hash, False)
                return False
            return True

        check("transaction.from", encode_hex(sender), tx_json.get("from"),
              "served sender is not the signer")
        check("receipt.transactionHash", tx_hash, rj.get("transactionHash"),
              "receipt belongs to another transaction")
        status = 1 if receipt.state_root == b"\x01" else 0
        check("receipt.status", hex(status), rj.get("status"), "status differs")
        check("receipt.cumulativeGasUsed", hex(receipt.gas_used), rj.get("cumulativeGasUsed"),
              "cumulative gas used differs")
        check("receipt.gasUsed", hex(receipt.gas_used - previous_cumulative), rj.get("gasUsed"),
              "gas used differs")
        contract = (encode_hex(generate_contract_address(Address(sender), tx.nonce))
                    if not tx.to else None)
        check("receipt.contractAddress", contract, rj.get("contractAddress"),
              "contract address differs")
        served_logs = rj.get("logs")
        if not isinstance(served_logs, list) or len(served_logs) != len(receipt.logs):
            check("receipt.logs.length", hex(len(receipt.logs)),
                  hex(len(served_logs)) if isinstance(served_logs, list) else None,
                  "number of logs differs")
            return
        for k, (log, sl) in enumerate(zip(receipt.logs, served_logs, strict=True)):
            if not (check(f"receipt.logs[{k}].address", encode_hex(log.address),
                          sl.get("address"), f"log {k} address differs")
                    and check(f"receipt.logs[{k}].topics",
                              ",".join(encode_hex(t.to_bytes(32, "big")) for t in log.topics),
                              ",".join(str(t) for t in sl.get("topics", [])),
                              f"log {k} topics differ")
                    and check(f"receipt.logs[{k}].data", encode_hex(log.data), sl.get("data"),
                              f"log {k} data differs")):
                return
        check("receipt.logsBloom", encode_hex(int(receipt.bloom).to_bytes(256, "big")),
              rj.get("logsBloom"), "logs bloom differs")

    def _compare_header(self, n: int, h: BlockHeaderAPI, sb: dict[str, Any],
                        diverge: Any) -> None:
        fields: list[tuple[str, Any]] = [
            ("gasUsed", hex(h.gas_used)),
            ("transactionsRoot", encode_hex(h.transaction_root)),
            ("receiptsRoot", encode_hex(h.receipt_root)),
            ("logsBloom", encode_hex(int(h.bloom).to_bytes(256, "big"))),
            ("stateRoot", encode_hex(h.state_root)),
            ("baseFeePerGas", hex(getattr(h, "base_fee_per_gas", 0))),
            ("sha3Uncles", encode_hex(h.uncles_hash)),
            ("difficulty", hex(h.difficulty)),
        ]
        for attr, key, enc in (
            ("withdrawals_root", "withdrawalsRoot", encode_hex),
            ("blob_gas_used", "blobGasUsed", hex),
            ("excess_blob_gas", "excessBlobGas", hex),
            ("requests_hash", "requestsHash", encode_hex),
        ):
            if hasattr(h, attr) and key in sb:
                fields.append((key, enc(getattr(h, attr))))
        fields.append(("hash", encode_hex(h.hash)))
        for key, expected in fields:
            got = sb.get(key)
            if key in ("gasUsed", "baseFeePerGas", "difficulty", "blobGasUsed", "excessBlobGas"):
                got_int = _int(got)
                got = hex(got_int) if got_int is not None else got
            if _hx(expected) != _hx(got):
                diverge(key, expected, got, f"block {n}: {key} differs (recomputed vs served)")
                return

    def _check_seal(self, n: int, h: BlockHeaderAPI, seal: dict[str, Any] | None,
                    diverge: Any) -> bool:
        if not self.check_seals:
            return False
        coinbase = encode_hex(h.coinbase)
        if seal is None:
            diverge("seal", f"a seal by {coinbase}", None, f"block {n} has no validator seal")
            return False
        try:
            signer = recover_seal_signer(h.hash, bytes(decode_hex(str(seal.get("signature")))))
        except ValueError as exc:
            diverge("seal", f"a seal by {coinbase}", seal.get("signature"),
                    f"block {n} seal is malformed: {exc}")
            return False
        if signer != coinbase:
            diverge("seal", coinbase, signer,
                    f"block {n} seal recovers to {signer}, not to the block's coinbase")
            return False
        return True

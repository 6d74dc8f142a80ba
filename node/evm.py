"""The coledger chain definition: py-evm Prague from block 0 with free gas.

Why a public module: the auditor's replay (client/) re-executes every block in a fresh
py-evm and must use *exactly* this VM configuration and genesis, so both the node and
the replay build their chain with :func:`chain_class` and :func:`genesis_header_params`.

Gas is free on this consortium chain (like Besu free-gas networks or FISCO BCOS): the
base fee per gas is 0 in genesis and every block, a transaction's offered price or tip is
never charged (:class:`ColedgerState`), but gas is still metered and bounded by a constant
per-block gas limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    TransactionContextAPI,
    WithdrawalAPI,
)
from eth.chains.base import MiningChain
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.homestead.validation import validate_homestead_transaction
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth_typing import Address
from eth_utils import ValidationError, decode_hex, encode_hex, to_canonical_address

from ._private import write_private
from .errors import GenesisMismatchError
from .precompiles import COLEDGER_PRECOMPILES
from .trie import ordered_trie_root_and_nodes

__all__ = [
    "ColedgerComputation",
    "ColedgerState",
    "ColedgerVM",
    "GenesisSpec",
    "chain_class",
    "genesis_header_params",
    "genesis_state",
    "load_or_create_genesis",
]

_GENESIS_FILE = "genesis.json"


def _free_gas_header_from_parent(
    parent_header: BlockHeaderAPI | None, **header_params: Any
) -> BlockHeaderAPI:
    """Prague header with base fee forced to 0 and the gas limit kept from the parent."""
    header_params.pop("base_fee_per_gas", None)
    if "gas_limit" not in header_params and parent_header is not None:
        header_params["gas_limit"] = parent_header.gas_limit
    header = PragueVM.create_header_from_parent(parent_header, **header_params)
    return header.copy(base_fee_per_gas=0)


class ColedgerComputation(PragueComputation):
    """Prague's computation plus coledger's precompiles (:mod:`node.precompiles`).

    Why a class of its own: every executor (the node's fast loop subclasses it, stock py-evm and
    the auditor's replay use it directly) must see the same precompiles, or they would disagree.
    """

    _precompiles = {**PragueComputation.get_precompiles(), **COLEDGER_PRECOMPILES}


class ColedgerState(PragueState):
    """Prague's state with coledger's fee rule: fees are offered, never charged.

    Why: the native coin means nothing on this chain (members hold none), yet ethers, viem,
    cast and Hardhat add a priority fee even when ``eth_maxPriorityFeePerGas`` says 0 (alloy's
    floor is 1 wei), and py-evm would then refuse the sender's "insufficient funds". Charging
    nothing whatever the transaction offers lets every tool's defaults work without handing
    out coin (so no account, member or not, ever gets any): the price fields are kept in the
    signed transaction, but the effective gas price is 0 — nothing is bought, refunded or paid
    to the coinbase, and GASPRICE reads 0. The rule is consensus: the node, the CometBFT
    application and the auditor's replay all execute with this class.
    """

    computation_class = ColedgerComputation

    def get_gas_price(self, transaction: SignedTransactionAPI) -> int:
        """What the sender pays per gas: always 0."""
        return 0

    def get_tip(self, transaction: SignedTransactionAPI) -> int:
        """What the coinbase earns per gas: always 0."""
        return 0

    def get_transaction_context(
        self, transaction: SignedTransactionAPI
    ) -> TransactionContextAPI:
        """GASPRICE and the refund both use the price actually paid: 0."""
        return self.get_transaction_context_class()(gas_price=0, origin=transaction.sender)

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        """Homestead's checks (signature ``s``; balance covers value, as the price is 0; nonce);
        London's and Cancun's fee-cap balance checks are what this rule removes. Blob
        transactions (which the node never admits) stay invalid."""
        if transaction.type_id == BLOB_TX_TYPE:
            raise ValidationError("blob transactions are not supported on coledger")
        validate_homestead_transaction(self, transaction)


class ColedgerVM(PragueVM):
    """PragueVM whose base fee is always zero and whose gas limit never changes."""

    fork = "coledger-prague"
    _state_class = ColedgerState
    create_header_from_parent = staticmethod(_free_gas_header_from_parent)  # type: ignore

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        """Same result as py-evm's, with the one-pass trie builder (much faster)."""
        tx_root, tx_nodes = ordered_trie_root_and_nodes([t.encode() for t in transactions])
        self.chaindb.persist_trie_data_dict(tx_nodes)
        receipt_root, receipt_nodes = ordered_trie_root_and_nodes(
            [r.encode() for r in receipts]
        )
        self.chaindb.persist_trie_data_dict(receipt_nodes)
        block_fields: dict[str, Any] = {"transactions": transactions}
        header_fields: dict[str, Any] = {"transaction_root": tx_root, "receipt_root": receipt_root}
        if withdrawals:
            w_root, w_nodes = ordered_trie_root_and_nodes([w.encode() for w in withdrawals])
            self.chaindb.persist_trie_data_dict(w_nodes)
            block_fields["withdrawals"] = withdrawals
            header_fields["withdrawals_root"] = w_root
        block_fields["header"] = new_header.copy(**header_fields)
        return base_block.copy(**block_fields)

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        """Replace London's EIP-1559 rules: constant gas limit, zero base fee."""
        if header.gas_limit != parent_header.gas_limit:
            raise ValidationError(
                f"block gas limit must stay {parent_header.gas_limit}, got {header.gas_limit}"
            )
        if getattr(header, "base_fee_per_gas", 0) != 0:
            raise ValidationError(
                f"base fee per gas must be 0 on coledger, got {header.base_fee_per_gas}"
            )


def chain_class(chain_id: int) -> type[MiningChain]:
    """The MiningChain class for ``chain_id``: ColedgerVM from block 0."""
    return MiningChain.configure(  # type: ignore[no-any-return]
        __name__="ColedgerChain",
        vm_configuration=((0, ColedgerVM),),
        chain_id=chain_id,
    )


@dataclass(frozen=True)
class GenesisSpec:
    """Genesis parameters persisted in ``DATA/genesis.json`` and reused on restart."""

    chain_id: int
    gas_limit: int
    timestamp: int
    extra_data: str = "0x"
    coinbase: str = "0x" + "00" * 20
    alloc: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GenesisSpec:
        raw = json.loads(text)
        return cls(
            chain_id=int(raw["chain_id"]),
            gas_limit=int(raw["gas_limit"]),
            timestamp=int(raw["timestamp"]),
            extra_data=str(raw.get("extra_data", "0x")),
            coinbase=str(raw.get("coinbase", "0x" + "00" * 20)),
            alloc=dict(raw.get("alloc", {})),
        )


def genesis_header_params(spec: GenesisSpec) -> dict[str, Any]:
    """Header params for ``chain.from_genesis`` (post-merge constants, base fee 0)."""
    return {
        "coinbase": to_canonical_address(spec.coinbase),
        "difficulty": 0,
        "gas_limit": spec.gas_limit,
        "timestamp": spec.timestamp,
        "extra_data": decode_hex(spec.extra_data),
        "nonce": b"\x00" * 8,
        "base_fee_per_gas": 0,
    }


def genesis_state(spec: GenesisSpec) -> dict[Address, dict[str, Any]]:
    """py-evm genesis state dict from the optional alloc (balance/nonce/code/storage)."""
    state: dict[Address, dict[str, Any]] = {}
    for addr, acct in spec.alloc.items():
        storage = {int(k, 0): int(v, 0) for k, v in acct.get("storage", {}).items()}
        state[to_canonical_address(addr)] = {
            "balance": int(acct.get("balance", 0)),
            "nonce": int(acct.get("nonce", 0)),
            "code": decode_hex(acct.get("code", "0x")),
            "storage": storage,
        }
    return state


def load_or_create_genesis(
    data_dir: Path,
    chain_id: int,
    gas_limit: int,
    alloc: dict[str, dict[str, Any]] | None = None,
) -> GenesisSpec:
    """Read ``genesis.json`` or write it on first start; refuse a mismatching config."""
    path = Path(data_dir) / _GENESIS_FILE
    if path.exists():
        spec = GenesisSpec.from_json(path.read_text())
        if spec.chain_id != chain_id:
            raise GenesisMismatchError(
                f"data dir {data_dir} holds chain id {spec.chain_id}, configured {chain_id}"
            )
        if spec.gas_limit != gas_limit:
            raise GenesisMismatchError(
                f"data dir {data_dir} holds block gas limit {spec.gas_limit}, "
                f"configured {gas_limit} (the gas limit is fixed at genesis)"
            )
        return spec
    spec = GenesisSpec(
        chain_id=chain_id,
        gas_limit=gas_limit,
        timestamp=int(time.time()),
        extra_data=encode_hex(b"coledger"),
        alloc=dict(alloc or {}),
    )
    write_private(path, spec.to_json().encode())
    return spec

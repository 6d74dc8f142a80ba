"""The one deterministic validity rule for the transactions of a proposed block.

PrepareProposal keeps what passes it, ProcessProposal rejects a proposal with anything that
fails it, and FinalizeBlock executes only what passes it (reporting the rest with its reason
code) — so a correct proposer never sees its proposal rejected, and every validator executes
exactly the same transactions. Its inputs are the block's bytes and the committed head state
only: decoding and signature, admission by the Consortium, funds, the exact per-sender nonce
sequence from the state nonce, and the block's total gas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eth_utils import to_checksum_address

from ..errors import NonceTooHighError, NonceTooLowError, RpcError, TransactionGasError
from ..mempool import PendingTx

__all__ = ["Verdict", "check_block_transactions"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One transaction of a block: valid (``ptx``) or refused (``error``)."""

    ptx: PendingTx | None
    error: RpcError | None

    @property
    def valid(self) -> bool:
        return self.error is None


def check_block_transactions(
    txs: Sequence[bytes],
    decode: Callable[[bytes], PendingTx],
    admit: Callable[[PendingTx], None],
    state_nonce: Callable[[bytes], int],
    gas_limit: int,
) -> list[Verdict]:
    """A verdict per transaction, in order. Call with the chain lock held (head state)."""
    expected: dict[bytes, int] = {}
    gas = 0
    out: list[Verdict] = []
    for raw in txs:
        try:
            ptx = decode(raw)
            admit(ptx)
        except RpcError as exc:
            out.append(Verdict(None, exc))
            continue
        sender = ptx.sender
        want = expected.get(sender)
        if want is None:
            want = state_nonce(sender)
        if ptx.nonce != want:
            cls = NonceTooLowError if ptx.nonce < want else NonceTooHighError
            out.append(Verdict(ptx, cls(
                f"nonce {ptx.nonce} of sender {to_checksum_address(sender)} out of sequence in the "
                f"block: expected {want}")))
            continue
        if gas + ptx.tx.gas > gas_limit:
            out.append(Verdict(ptx, TransactionGasError(
                f"block gas limit {gas_limit} reached: {gas} used, transaction wants {ptx.tx.gas}")))
            continue
        expected[sender] = want + 1
        gas += ptx.tx.gas
        out.append(Verdict(ptx, None))
    return out

"""A real chain store built in process: N blocks of signed value transfers, sealed and closed.

Used by the start-time integrity tests (which then damage the file) and by
``scripts/bench_start_check.py`` (which times the check on thousands of blocks).
"""

from __future__ import annotations

import time
from pathlib import Path

from eth_account import Account
from eth_utils import to_checksum_address

from node.core import ChainCore
from node.evm import ColedgerVM
from node.mempool import PendingTx

CHAIN_ID = 1337
GAS_LIMIT = 30_000_000
SENDER = Account.from_key(b"\x11" * 32)
COINBASE = b"\x22" * 20


def build_chain(chain_dir: Path, blocks: int, txs_per_block: int) -> tuple[int, int]:
    """Seal ``blocks`` blocks after genesis into ``chain_dir``; (head number, transactions)."""
    alloc = {SENDER.address: {"balance": 10**30}}
    core = ChainCore(chain_dir, CHAIN_ID, GAS_LIMIT, alloc=alloc)
    builder = ColedgerVM.get_transaction_builder()
    nonce = core.state_nonce(bytes.fromhex(SENDER.address[2:]))
    timestamp = int(time.time())
    try:
        for b in range(blocks):
            pending = []
            for _ in range(txs_per_block):
                signed = SENDER.sign_transaction({
                    "chainId": CHAIN_ID, "nonce": nonce, "to": to_checksum_address(f"0x{nonce + 1:040x}"), "value": 1,
                    "gas": 21_000, "gasPrice": 1})
                tx = builder.decode(bytes(signed.raw_transaction))
                pending.append(PendingTx(tx=tx, sender=tx.sender, hash=tx.hash))
                nonce += 1
            draft = core.build_block(pending, timestamp + b + 1, COINBASE, allow_empty=True)
            assert draft is not None and len(draft.txs) == txs_per_block, draft and draft.dropped
            core.commit_draft()
        return int(core.head.block_number), nonce
    finally:
        core.close()

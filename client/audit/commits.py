"""On a consortium network: every replayed block was decided by more than 2/3 of the validators.

Why here, beside re-execution: a CometBFT commit signs a header, and the header carries the app
hash of the block before it — the commitment to the state, transactions and receipts roots that
the auditor recomputes itself. So a verified commit on block N+1 plus our own re-execution of
block N proves that 2/3+ of the validator set agreed on exactly what we recomputed. The set comes
from the network's genesis file the auditor holds, never from the node; the CometBFT header chain
is checked link by link, and each Ethereum block's time and coinbase against its header (the
evidence timestamps that arbitration relies on are these BFT times).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI
from eth.constants import BLANK_ROOT_HASH
from eth_utils import encode_hex, to_canonical_address

from client.audit.errors import AuditError
from client.audit.reexecute import Divergence
from client.bft import (
    BftError,
    CommitVerificationError,
    SignedHeader,
    ValidatorSet,
    ValidatorSetError,
    verify_signed_header,
)
from client.bft.errors import MalformedProofError
from client.bft.validators import validator_set_from_json
from node.cometbft.apphash import app_hash
from node.validator_events import changes_in_logs, updates_of

__all__ = ["CommitAuditor", "load_network_genesis"]


def load_network_genesis(path: Path, served_genesis_hash: str) -> tuple[ValidatorSet, bytes]:
    """The genesis validator set of the network whose CometBFT ``genesis.json`` is at ``path``
    and its Consortium's address (the bootstrap's first contract), after checking that this
    genesis makes the chain the node serves (same Ethereum genesis hash)."""
    import json

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read the network genesis {path}: {exc}") from exc
    try:
        vset = validator_set_from_json(doc, str(path))
    except ValidatorSetError as exc:
        raise AuditError(str(exc)) from exc
    ledger = (doc.get("app_state") or {}).get("coledger") if isinstance(doc, dict) else None
    theirs = ledger.get("ethereum_genesis_hash") if isinstance(ledger, dict) else None
    if not isinstance(theirs, str):
        raise AuditError(f"{path} is not a coledger network genesis (no app_state.coledger)")
    if theirs.lower() != served_genesis_hash.lower():
        raise AuditError(
            f"{path} is the genesis of another chain: it makes Ethereum genesis {theirs}, the "
            f"node serves {served_genesis_hash}")
    try:
        bootstrap = to_canonical_address(str(ledger["bootstrap"]))
    except (KeyError, ValueError) as exc:
        raise AuditError(f"{path}: app_state.coledger.bootstrap is not an address") from exc
    return vset, generate_contract_address(bootstrap, 0)


@dataclass
class CommitAuditor:
    """Checks block after block; keeps what the next block's header must link to, and the
    validator set of every coming height as governance changes it."""

    vset: ValidatorSet  # the genesis set
    source: str  # where the set came from, for the report
    consortium: bytes = b""  # the Consortium, whose validator events change the set
    #: (first height, set) in height order: the set that signs each height from then on
    schedule: list[tuple[int, ValidatorSet]] = field(default_factory=list)
    set_changes: list[dict[str, Any]] = field(default_factory=list)
    prev_block_hash: bytes = b""  # CometBFT block id hash of the previous height
    own_app_hash: bytes = b""  # app hash after the previous block, from our re-execution
    checked: int = 0
    app_hash_proven_through: int = 0
    min_signed_power: int | None = None
    min_signed_of: int | None = None  # the total power of the set at that block
    last_tx_block: int = 0  # the last block whose own app hash changed the state
    absent: dict[str, int] = field(default_factory=dict)  # validator -> blocks it did not sign

    def start(self, header: BlockHeaderAPI, chaindb: Any, signed: dict[str, Any] | None) -> None:
        """Begin after the re-executed ``header`` (genesis, or a checkpoint's block whose
        signed header is ``signed``)."""
        walk = header
        while walk.block_number > 0 and walk.transaction_root == BLANK_ROOT_HASH:
            walk = chaindb.get_block_header_by_hash(walk.parent_hash)
        self.own_app_hash = app_hash(walk)
        self.last_tx_block = walk.block_number
        self.app_hash_proven_through = max(0, header.block_number - 1)
        if header.block_number == 0:
            self.prev_block_hash = b""
            return
        try:
            sh = SignedHeader.from_json(signed)
            verify_signed_header(sh, self.set_at(header.block_number),
                                 self.set_at(header.block_number + 1))
        except BftError as exc:
            raise AuditError(f"resuming after block {header.block_number}: {exc}") from exc
        self.prev_block_hash = sh.block_hash

    def set_at(self, height: int) -> ValidatorSet:
        """The validator set that signs ``height``: genesis, then each governance change from
        two heights after the block that made it (CometBFT's rule)."""
        current = self.vset
        for first, vset in self.schedule:
            if first > height:
                break
            current = vset
        return current

    def _apply_changes(self, number: int, receipts: list[dict[str, Any]]) -> None:
        logs = []
        for receipt in receipts:
            for lg in receipt.get("logs") or []:
                try:
                    logs.append((bytes.fromhex(str(lg["address"])[2:]),
                                 [bytes.fromhex(str(t)[2:]) for t in lg.get("topics") or []],
                                 bytes.fromhex(str(lg.get("data", "0x"))[2:])))
                except (KeyError, ValueError):
                    continue  # not a well-formed log; re-execution compared every log already
        changes = changes_in_logs(logs, self.consortium)
        if not changes:
            return
        names = {c.consensus_key: f"member {c.member_id}" for c in changes}
        updates = [(key, power, names[key]) for key, power in updates_of(changes)]
        effective = number + 2
        new_set = self.set_at(effective).updated(updates)
        self.schedule = [(h, v) for h, v in self.schedule if h < effective]
        self.schedule.append((effective, new_set))
        self.set_changes.append({
            "block": number, "effective_from": effective,
            "updates": [{"key": base64.b64encode(k).decode(), "power": p} for k, p, _ in updates],
            "validators": len(new_set.validators), "total_power": new_set.total_power})

    def state_json(self) -> dict[str, Any]:
        """What a resumed replay needs (saved beside the checkpoint)."""
        return {"schedule": [[h, v.to_json()] for h, v in self.schedule],
                "set_changes": self.set_changes}

    def load_state(self, doc: dict[str, Any]) -> None:
        self.schedule = [(int(h), validator_set_from_json(v, "checkpoint validator set"))
                         for h, v in doc.get("schedule", [])]
        self.set_changes = list(doc.get("set_changes", []))

    def check(self, number: int, served_block: dict[str, Any], signed: Any,
              header: BlockHeaderAPI, parent_timestamp: int,
              receipts: list[dict[str, Any]]) -> list[Divergence]:
        """Verify block ``number``'s commit and its links to our re-execution; the divergences."""
        served_hash = str(served_block.get("hash"))

        def diverge(field_name: str, expected: Any, got: Any, message: str) -> list[Divergence]:
            return [Divergence(number, field_name, str(expected), str(got), message, served_hash)]

        if not isinstance(signed, dict):
            return diverge("commit", "a CometBFT signed header", signed,
                           f"block {number}: the node serves no CometBFT commit for it")
        try:
            sh = SignedHeader.from_json(signed)
            if sh.height != number:
                raise MalformedProofError(f"block {number}: the node served the commit of "
                                          f"height {sh.height}")
            vset = self.set_at(number)
            result = verify_signed_header(sh, vset, self.set_at(number + 1))
        except ValidatorSetError as exc:
            return diverge("validators_hash", self.set_at(number).hash().hex().upper(),
                           "another set", str(exc))
        except CommitVerificationError as exc:
            return diverge("commit", "> 2/3 of the voting power, valid signatures", "not so",
                           str(exc))
        except BftError as exc:
            return diverge("cometbft_header", "a header the commit signs", "not so", str(exc))
        if sh.last_block_hash != self.prev_block_hash:
            return diverge("cometbft_last_block_id", self.prev_block_hash.hex().upper(),
                           sh.last_block_hash.hex().upper(),
                           f"block {number}: its CometBFT header does not link to the verified "
                           f"block {number - 1}")
        if sh.app_hash != self.own_app_hash:
            return diverge("app_hash", self.own_app_hash.hex().upper(), sh.app_hash.hex().upper(),
                           f"block {number}: the validators signed an app hash for block "
                           f"{number - 1} that is not the one its re-execution gives")
        expected_ts = max(sh.time.seconds, parent_timestamp + 1)
        if header.timestamp != expected_ts:
            return diverge("timestamp", expected_ts, header.timestamp,
                           f"block {number}: its time is not the BFT time the validators signed "
                           f"(max(floor(BFT time), parent + 1))")
        if bytes(header.coinbase) != sh.proposer_address:
            return diverge("miner", encode_hex(sh.proposer_address), encode_hex(header.coinbase),
                           f"block {number}: its coinbase is not the proposer the validators "
                           f"signed")
        self.prev_block_hash = sh.block_hash
        self.app_hash_proven_through = number - 1
        if header.transaction_root != BLANK_ROOT_HASH:
            self.own_app_hash = app_hash(header)
            self.last_tx_block = number
        self.checked += 1
        if self.min_signed_power is None or (
                result.signed_power * (self.min_signed_of or 1)
                < self.min_signed_power * result.total_power):
            self.min_signed_power, self.min_signed_of = result.signed_power, result.total_power
        for v in vset.validators:
            who = v.name or v.address_hex
            if who not in result.signers:
                self.absent[who] = self.absent.get(who, 0) + 1
        self._apply_changes(number, receipts)
        return []

    def summary(self, head: int) -> dict[str, Any]:
        # blocks after the last one with transactions change nothing: their app hash is its
        proven = head if self.last_tx_block <= self.app_hash_proven_through else (
            self.app_hash_proven_through)
        return {
            "checked": self.checked,
            "validator_set_from": self.source,
            "chain_id": self.vset.chain_id,
            "validators": [v.name or v.address_hex for v in self.vset.validators],
            "total_power": self.vset.total_power,
            "validator_set_changes": self.set_changes,
            "validators_at_head": [v.name or v.address_hex for v in self.set_at(head).validators],
            "min_signed_power": self.min_signed_power,
            "min_signed_of": self.min_signed_of,
            "blocks_not_signed_by": dict(sorted(self.absent.items())),
            "app_hash_proven_through": proven,
            "note": None if proven >= head else (
                f"the app hash of block {self.last_tx_block} is in the header of block "
                f"{self.last_tx_block + 1}, which was not replayed (not made yet, or beyond "
                f"--to-block)"),
        }

"""Governance events -> CometBFT validator updates -> the auditor's validator set per height."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from client.audit.commits import CommitAuditor
from client.bft.validators import validator_set_from_json
from node.validator_events import (
    VALIDATOR_ADDED,
    VALIDATOR_POWER_CHANGED,
    VALIDATOR_REMOVED,
    changes_in_logs,
    updates_of,
)

CONSORTIUM = bytes.fromhex("11" * 20)
VECTORS = json.loads((Path(__file__).parent / "vectors" / "cometbft-v0.38.26.json").read_text())
GENESIS = validator_set_from_json(VECTORS["genesis"], "vectors")


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _added(key: bytes, member: int, power: int, node: bytes) -> tuple[bytes, list[bytes], bytes]:
    return CONSORTIUM, [VALIDATOR_ADDED, key, _word(member)], _word(power) + node.ljust(32, b"\0")


def _removed(key: bytes, member: int) -> tuple[bytes, list[bytes], bytes]:
    return CONSORTIUM, [VALIDATOR_REMOVED, key, _word(member)], b""


def _power(key: bytes, member: int, power: int) -> tuple[bytes, list[bytes], bytes]:
    return CONSORTIUM, [VALIDATOR_POWER_CHANGED, key, _word(member)], _word(power)


def test_each_event_kind_decodes_and_other_contracts_are_ignored() -> None:
    k1, k2 = b"\x01" * 32, b"\x02" * 32
    logs = [_added(k1, 5, 10, b"\xaa" * 20), _power(k1, 5, 7), _removed(k2, 3),
            (bytes.fromhex("22" * 20), [VALIDATOR_ADDED, k2, _word(1)], _word(9) + b"\0" * 32)]
    changes = changes_in_logs(logs, CONSORTIUM)
    assert [(c.consensus_key, c.member_id, c.power) for c in changes] == [
        (k1, 5, 10), (k1, 5, 7), (k2, 3, 0)]
    assert changes[0].node_id == b"\xaa" * 20
    # topics as py-evm gives them (ints) decode the same
    as_ints = [(a, [int.from_bytes(t, "big") for t in topics], d) for a, topics, d in logs]
    assert changes_in_logs(as_ints, CONSORTIUM) == changes


def test_updates_keep_the_last_change_of_a_key_sorted_by_key() -> None:
    k1, k2 = b"\x09" * 32, b"\x01" * 32
    changes = changes_in_logs([_added(k1, 1, 10, b"\x01" * 20), _added(k2, 2, 10, b"\x02" * 20),
                               _removed(k1, 1)], CONSORTIUM)
    assert updates_of(changes) == [(k2, 10), (k1, 0)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30)), max_size=12))
def test_updates_match_a_model_of_last_writer_wins(ops: list[tuple[int, int]]) -> None:
    keys = [bytes([i + 1]) * 32 for i in range(6)]
    logs = [(_removed(keys[k], 1) if p == 0 else _power(keys[k], 1, p)) for k, p in ops]
    model: dict[bytes, int] = {}
    for k, p in ops:
        model[keys[k]] = p
    updates = updates_of(changes_in_logs(logs, CONSORTIUM))
    assert updates == sorted(model.items())
    assert len({k for k, _ in updates}) == len(updates)  # never two updates of one key


def test_the_auditor_applies_a_change_two_heights_after_its_block() -> None:
    auditor = CommitAuditor(GENESIS, "vectors", CONSORTIUM)
    new_key = b"\x07" * 32
    log = _added(new_key, 9, 10, b"\x07" * 20)
    receipt = {"logs": [{"address": "0x" + log[0].hex(), "topics": ["0x" + t.hex() for t in log[1]],
                         "data": "0x" + log[2].hex()}]}
    auditor._apply_changes(20, [receipt])
    assert auditor.set_at(21) == GENESIS
    assert len(auditor.set_at(22).validators) == 5 and auditor.set_at(22).total_power == 50
    assert auditor.set_at(22).hash() != GENESIS.hash()
    removed = GENESIS.validators[0].pub_key
    r = _removed(removed, 2)
    auditor._apply_changes(30, [{"logs": [{"address": "0x" + r[0].hex(),
                                           "topics": ["0x" + t.hex() for t in r[1]], "data": "0x"}]}])
    assert auditor.set_at(31).total_power == 50 and auditor.set_at(32).total_power == 40
    assert removed not in {v.pub_key for v in auditor.set_at(32).validators}
    restored = CommitAuditor(GENESIS, "vectors", CONSORTIUM)
    restored.load_state(json.loads(json.dumps(auditor.state_json())))
    assert [restored.set_at(h) for h in (21, 22, 32)] == [auditor.set_at(h) for h in (21, 22, 32)]

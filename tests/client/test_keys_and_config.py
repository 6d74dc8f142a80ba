"""Keystores and the consortium config: round trips, and bad input named clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.config import DEMO_CONFIG, load_consortium_config
from client.consortium import Role
from client.errors import ConfigError, KeystoreError
from client.keys import Keystore, demo_password


def test_keystore_round_trip_recovers_the_same_key(tmp_path: Path) -> None:
    created = Keystore(tmp_path, "pw").create("lead-bank")
    loaded = Keystore(tmp_path, "pw").load("lead-bank")
    assert loaded.address == created.address and loaded.key == created.key
    assert (tmp_path / "lead-bank.json").stat().st_mode & 0o777 == 0o600
    assert created.key.hex() not in (tmp_path / "lead-bank.json").read_text()


def test_keystore_wrong_password_is_a_keystore_error(tmp_path: Path) -> None:
    Keystore(tmp_path, "right").create("partner-a")
    with pytest.raises(KeystoreError, match="cannot decrypt key 'partner-a'"):
        Keystore(tmp_path, "wrong").load("partner-a")


def test_keystore_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    store = Keystore(tmp_path, "pw")
    store.create("auditor")
    with pytest.raises(KeystoreError, match="already exists"):
        store.create("auditor")
    with pytest.raises(KeystoreError, match="bad key name"):
        store.create("../escape")


def test_demo_password_prefers_environment_then_persists_a_generated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLEDGER_KEYSTORE_PASSWORD", raising=False)
    first = demo_password(tmp_path)
    assert first == demo_password(tmp_path) and len(first) >= 24
    assert (tmp_path / "password").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("COLEDGER_KEYSTORE_PASSWORD", "from-env")
    assert demo_password(tmp_path) == "from-env"


def test_demo_config_has_lead_bank_two_partners_arbitrator_auditor() -> None:
    config = load_consortium_config(DEMO_CONFIG)
    roles = [m.roles for m in config.members]
    assert sum(Role.LEAD_BANK in r for r in roles) == 1
    assert sum(Role.PARTNER in r for r in roles) == 2
    assert sum(Role.ARBITRATOR in r for r in roles) == 1
    assert sum(Role.AUDITOR in r for r in roles) == 1
    assert 1 <= config.threshold <= sum(Role.GOVERNOR in r for r in roles)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(threshold=9), "threshold 9 must be between 1"),
        (lambda c: c.pop("members"), "missing field 'members'"),
        (lambda c: c["members"][0].update(roles=["banker"]), "unknown role 'banker'"),
        (lambda c: c.update(bootstrap="nobody"), "bootstrap key 'nobody' is no member's key"),
        (lambda c: c.update(chain_id=-1), "chain_id"),
        (lambda c: c["members"][1].update(key="operator"), "a key is used by two members"),
    ],
)
def test_bad_consortium_config_names_what_is_wrong(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    raw = json.loads(DEMO_CONFIG.read_text())
    change(raw)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=message):
        load_consortium_config(path)

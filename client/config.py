"""The consortium configuration file (founding charter of a chain) and the data-dir layout."""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.consortium import Role
from client.errors import CoLedgerValueError, ConfigError, DataDirWriteError
from client.private_files import write_private

__all__ = [
    "DEMO_CONFIG",
    "ConsortiumConfig",
    "DataDir",
    "MemberConfig",
    "load_consortium_config",
]

DEMO_CONFIG = Path(__file__).resolve().parent / "demo_consortium.json"


@dataclass(frozen=True)
class MemberConfig:
    name: str
    key: str  # keystore name
    roles: frozenset[Role]


@dataclass(frozen=True)
class ConsortiumConfig:
    chain_id: int
    block_period: float
    threshold: int
    proposal_lifetime: int
    validator: str
    bootstrap: str
    members: tuple[MemberConfig, ...]


@dataclass(frozen=True)
class DataDir:
    """Where one institution's (or the demo's) node keeps everything."""

    root: Path

    @property
    def keystore(self) -> Path:
        return self.root / "keystore"

    @property
    def chain(self) -> Path:
        return self.root / "chain"

    @property
    def config(self) -> Path:
        return self.root / "consortium.json"

    @property
    def deployment(self) -> Path:
        return self.root / "deployment.json"

    def read_deployment(self) -> dict[str, Any]:
        if not self.deployment.is_file():
            raise ConfigError(
                f"no deployment record at {self.deployment}; start the node first "
                f"(`coledger node start --data-dir {self.root}`) or pass --consortium ADDRESS"
            )
        return dict(json.loads(self.deployment.read_text()))

    def write_deployment(self, record: dict[str, Any]) -> None:
        """Replace the deployment record atomically (0600; a failed write leaves the old record
        and no temporary file, e.g. on a full disk)."""
        self.write_file(self.deployment,
                        (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())

    def write_file(self, path: Path, data: bytes) -> None:
        """Write one of the data dir's files through :func:`write_private`; an OS error becomes a
        :class:`DataDirWriteError` naming the file (and a full disk as such)."""
        try:
            write_private(path, data)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise DataDirWriteError(str(path), exc.strerror or str(exc), full) from exc


def load_consortium_config(path: Path) -> ConsortiumConfig:
    """Parse and validate a consortium config; every problem names the field that is wrong."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"consortium config {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"consortium config {path} is not valid JSON: {exc}") from exc
    try:
        members = tuple(
            MemberConfig(
                name=_text(m, "name"),
                key=_text(m, "key"),
                roles=frozenset(Role.parse(r) for r in m["roles"]),
            )
            for m in raw["members"]
        )
        config = ConsortiumConfig(
            chain_id=_positive(raw, "chain_id"),
            block_period=float(raw.get("block_period_seconds", 1.0)),
            threshold=_positive(raw, "threshold"),
            proposal_lifetime=_positive(raw, "proposal_lifetime_seconds"),
            validator=_text(raw, "validator"),
            bootstrap=_text(raw, "bootstrap"),
            members=members,
        )
    except KeyError as exc:
        raise ConfigError(f"consortium config {path}: missing field {exc.args[0]!r}") from exc
    except (CoLedgerValueError, TypeError, ValueError) as exc:
        raise ConfigError(f"consortium config {path}: {exc}") from exc
    _check(config, path)
    return config


def _check(config: ConsortiumConfig, path: Path) -> None:
    keys = [m.key for m in config.members]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"consortium config {path}: a key is used by two members")
    governors = sum(1 for m in config.members if Role.GOVERNOR in m.roles)
    if not 1 <= config.threshold <= governors:
        raise ConfigError(
            f"consortium config {path}: threshold {config.threshold} must be between 1 and the "
            f"number of governors ({governors})"
        )
    if config.bootstrap not in keys:
        raise ConfigError(f"consortium config {path}: bootstrap key {config.bootstrap!r} is no member's key")
    bootstrap = next(m for m in config.members if m.key == config.bootstrap)
    if Role.OPERATOR not in bootstrap.roles:
        raise ConfigError(
            f"consortium config {path}: the bootstrap member must hold the operator role "
            "(it deploys the contracts)"
        )
    if config.validator in keys:
        raise ConfigError(f"consortium config {path}: the validator key must not be a member key")
    if config.block_period < 0:
        raise ConfigError(f"consortium config {path}: block_period_seconds is negative")


def _text(raw: dict[str, Any], field: str) -> str:
    value = raw[field]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {field!r} must be a non-empty string, got {value!r}")
    return value


def _positive(raw: dict[str, Any], field: str) -> int:
    value = raw[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"field {field!r} must be a positive integer, got {value!r}")
    return value

"""`coledger node backup` / `node restore`: a data dir in one archive, taken while the node serves.

Why this shape: copying ``chain.sqlite`` with ``cp`` while the node writes gives a file whose
pages come from different blocks (and misses what is still in its ``-wal``). SQLite's online
backup API copies the database as of one read transaction, in one step, while the node keeps
sealing (WAL readers never block the writer). Every SQLite database of the data dir (the chain
store, the evidence index and access log) is copied that way; every other regular file
(keystores and their password file, the consortium config, the deployment record, genesis.json,
evidence files) is copied as is. The copies are staged in a private temporary directory, the
chain store snapshot is put through the full store check (:mod:`node.store_check`; a damaged
store is not worth a backup), and the archive is written 0600 under a temporary name, then linked
to its final name (never over an existing file).

Archive (tar, gzip): ``coledger-backup/manifest.json`` first (format, version, the snapshot's head
block and hash, and every file's path, size and SHA-256), then ``coledger-backup/data/<path>``.
A restore trusts nothing in it: it reads the manifest, accepts only regular files at the paths it
names (relative, no ``..``), checks each size and hash while writing the file 0600 into a 0700
staging directory beside the target, runs the full store check on the restored chain, and only
then renames the staging directory into place. A target that exists and is not empty is refused
before anything is read or written.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from client.config import DataDir
from client.datadir_check import CHAIN_STORE
from client.errors import BackupArchiveError, BackupError, RestoreRefusedError
from client.private_files import PRIVATE_FILE_MODE, ensure_private_dir

__all__ = ["BackupResult", "RestoreResult", "backup_data_dir", "restore_data_dir"]

FORMAT = "coledger-backup"
VERSION = 1
_ROOT = "coledger-backup"
_MANIFEST = f"{_ROOT}/manifest.json"
_DATA = f"{_ROOT}/data/"
_CHAIN = f"chain/{CHAIN_STORE}"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("-wal", "-shm", "-journal")
_MAX_MANIFEST = 16 * 1024 * 1024
_CHUNK = 1 << 20

#: Runs the full store check on a snapshot: (ok, head, head hash, why not ok).
StoreChecker = Callable[[Path], tuple[bool, int | None, str | None, str]]


@dataclass(frozen=True)
class BackupResult:
    """What went into an archive."""

    archive: Path
    files: int
    bytes: int
    head: int | None
    head_hash: str | None
    checked: bool
    seconds: float
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore re-created."""

    data_dir: Path
    files: int
    head: int | None
    head_hash: str | None
    checked: bool
    seconds: float


def full_check(store: Path) -> tuple[bool, int | None, str | None, str]:
    """The node's full store check (`coledger node check`) on ``store``."""
    from node.store_check import StoreCheckError, check_store  # the node is needed only here

    try:
        report = check_store(store)
    except StoreCheckError as exc:
        return False, None, None, str(exc)
    if report.ok:
        return True, report.head, report.head_hash, ""
    failure = report.first_failure
    why = (f"block {failure.block}: {failure.what}: {failure.detail}" if failure is not None
           else f"SQLite integrity_check: {'; '.join(report.sqlite_integrity[:3])}")
    return False, report.head, report.head_hash, why


# ---- backup -------------------------------------------------------------------------------------

def backup_data_dir(data_dir: Path, out: Path, *, check: StoreChecker | None = full_check) -> BackupResult:
    """Write an archive of ``data_dir`` to ``out`` (see the module docstring); the node may be running."""
    started = time.perf_counter()
    data = DataDir(Path(data_dir))
    out = Path(out)
    store = data.chain / CHAIN_STORE
    if (data.root / "node.json").is_file() or (data.root / "cometbft").is_dir():
        raise BackupError(f"{data.root} is a network validator's home: its CometBFT data cannot be "
                          "snapshot this way; a damaged validator re-syncs from the other validators")
    if not store.is_file() or store.stat().st_size == 0:
        raise BackupError(f"{data.root} has no chain store ({store} is missing or empty); nothing to back up")
    if out.exists() or out.is_symlink():
        raise BackupError(f"{out} exists; a backup never overwrites a file: choose another name")
    if not out.parent.is_dir():
        raise BackupError(f"the directory of {out} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=".coledger-backup-", dir=out.parent))  # 0700
    try:
        entries, skipped = _stage(data.root, staging)
        head = head_hash = None
        if check is not None:
            ok, head, head_hash, why = check(staging / _CHAIN)
            if not ok:
                raise BackupError(f"the chain store {store} fails the store check ({why}); it is not "
                                  f"backed up: run `coledger node check --data-dir {data.root}`")
        else:
            head, head_hash = _head_of(staging / _CHAIN)
        manifest = {
            "format": FORMAT, "version": VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": str(data.root.resolve()), "head": head, "head_hash": head_hash,
            "checked": check is not None, "files": entries,
        }
        _write_archive(out, staging, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BackupResult(out, len(entries), sum(e["size"] for e in entries), head, head_hash,
                        check is not None, round(time.perf_counter() - started, 3), skipped)


def _source_files(root: Path) -> Iterator[tuple[str, Path | None, str]]:
    """(relative path, file or None when skipped, why skipped) of the data dir, sorted."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if (Path(directory) / d).is_symlink()]):
            path = Path(directory) / name
            rel = path.relative_to(root).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                yield rel, None, "a symbolic link"
            elif not stat.S_ISREG(mode):
                yield rel, None, "not a regular file"
            elif name.endswith(_SIDECARS) and (path.parent / _strip_sidecar(name)).is_file():
                continue  # a database's WAL/shared memory/journal: in the database's snapshot
            elif name.endswith(".tmp"):
                yield rel, None, "an unfinished write (.tmp)"
            else:
                yield rel, path, ""


def _strip_sidecar(name: str) -> str:
    for suffix in _SIDECARS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _stage(root: Path, staging: Path) -> tuple[list[dict[str, Any]], list[str]]:
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    for rel, source, why in _source_files(root):
        if source is None:
            skipped.append(f"{rel} ({why})")
            continue
        target = staging / rel
        ensure_private_dir(target.parent)
        if _is_sqlite(source):
            _sqlite_snapshot(source, target)
        else:
            with source.open("rb") as src, _create_private(target) as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        entries.append({"path": rel, "size": target.stat().st_size, "sha256": _sha256(target)})
    if not any(e["path"] == _CHAIN for e in entries):
        raise BackupError(f"{root / _CHAIN} vanished during the backup")
    return entries, skipped


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy the database as of one read transaction (online backup API, a single step), as a
    self-contained rollback-journal file (no -wal needed to read it)."""
    _create_private(target).close()
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # pages=-1: everything in one step, one consistent snapshot
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot snapshot {source}: {exc}") from exc


def _head_of(store: Path) -> tuple[int | None, str | None]:
    conn = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT b.number, b.hash FROM blocks b ORDER BY b.number DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None, None
    finally:
        conn.close()
    return (None, None) if row is None else (int(row[0]), "0x" + bytes(row[1]).hex())


def _write_archive(out: Path, staging: Path, manifest: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)  # 0600
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as tar:
                text = json.dumps(manifest, indent=1, sort_keys=True).encode()
                tar.addfile(_member(_MANIFEST, len(text)), _BytesReader(text))
                for entry in manifest["files"]:
                    with (staging / entry["path"]).open("rb") as f:
                        tar.addfile(_member(_DATA + entry["path"], entry["size"]), f)
            raw.flush()
            os.fsync(raw.fileno())
        try:
            os.link(tmp, out)  # fails if ``out`` appeared meanwhile: never overwrite
        except FileExistsError:
            raise BackupError(f"{out} appeared during the backup; not overwritten") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, PRIVATE_FILE_MODE, int(time.time())
    return info


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        out, self._at = self._data[self._at:end], min(end, len(self._data))
        return out


# ---- restore ------------------------------------------------------------------------------------

def restore_data_dir(archive: Path, data_dir: Path, *, check: StoreChecker | None = full_check) -> RestoreResult:
    """Re-create a data dir at ``data_dir`` (absent or empty) from ``archive``; see the module docstring."""
    started = time.perf_counter()
    target = Path(data_dir)
    _require_empty(target)
    archive = Path(archive)
    if not archive.is_file():
        raise BackupArchiveError(f"no backup archive at {archive}")
    parent = target.absolute().parent
    ensure_private_dir(parent, tighten=False)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=parent))  # 0700
    try:
        manifest = _extract(archive, staging)
        head, head_hash = manifest.get("head"), manifest.get("head_hash")
        if check is not None:
            ok, head, head_hash, why = check(staging / _CHAIN)
            if not ok:
                raise BackupArchiveError(f"the chain store in {archive} fails the store check ({why}); "
                                         "nothing was restored")
            if manifest.get("head") is not None and manifest["head"] != head:
                raise BackupArchiveError(f"{archive}'s manifest names head {manifest['head']}, its chain "
                                         f"store's head is {head}; nothing was restored")
        _require_empty(target)  # again: something may have appeared while extracting
        if target.is_dir():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreResult(target, len(manifest["files"]), head, head_hash, check is not None,
                         round(time.perf_counter() - started, 3))


def _require_empty(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise RestoreRefusedError(str(target), ["(it is not a directory)"])
    if target.is_dir():
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir())
        if found:
            raise RestoreRefusedError(str(target), found)


def _extract(archive: Path, staging: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            manifest = _read_manifest(tar, archive)
            expected = {e["path"]: e for e in manifest["files"]}
            free = shutil.disk_usage(staging).free
            needed = sum(e["size"] for e in expected.values())
            if needed > free:
                raise BackupArchiveError(f"{archive} needs {needed:,} bytes, {free:,} are free beside "
                                         "the target; nothing was restored")
            done: set[str] = set()
            while (member := tar.next()) is not None:  # after the manifest
                rel = member.name[len(_DATA):] if member.name.startswith(_DATA) else None
                entry = expected.get(rel) if rel is not None else None
                if rel is None or entry is None or rel in done:
                    raise BackupArchiveError(f"{archive} holds {member.name!r}, which its manifest does "
                                             "not list (or lists once); nothing was restored")
                if not member.isreg() or member.size != entry["size"]:
                    raise BackupArchiveError(f"{archive}: {member.name} is not the regular file of "
                                             f"{entry['size']} bytes its manifest lists")
                _extract_file(tar, member, staging / rel, entry, archive)
                done.add(rel)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupArchiveError(f"{archive} is not a readable coledger backup ({exc}); nothing was "
                                 "restored") from exc
    missing = sorted(set(expected) - done)
    if missing:
        raise BackupArchiveError(f"{archive} lacks {', '.join(missing[:3])} listed in its manifest "
                                 "(truncated?); nothing was restored")
    return manifest


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != _MANIFEST or not first.isreg() or first.size > _MAX_MANIFEST:
        raise BackupArchiveError(f"{archive} is not a coledger backup (it does not start with "
                                 f"{_MANIFEST}); nothing was restored")
    f = tar.extractfile(first)
    assert f is not None  # a regular member
    try:
        manifest = json.loads(f.read())
    except ValueError as exc:
        raise BackupArchiveError(f"{archive}: its manifest is not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupArchiveError(f"{archive} is not a coledger backup (manifest format)")
    if manifest.get("version") != VERSION:
        raise BackupArchiveError(f"{archive} is a version {manifest.get('version')!r} backup; this "
                                 f"coledger reads version {VERSION}")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(_valid_entry(e) for e in files):
        raise BackupArchiveError(f"{archive}: its manifest's file list is malformed (a path outside "
                                 "the data dir, a bad size or hash)")
    if _CHAIN not in {e["path"] for e in files}:
        raise BackupArchiveError(f"{archive} holds no {_CHAIN}; nothing was restored")
    return manifest


def _valid_entry(entry: Any) -> bool:
    if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("size"), int) and entry["size"] >= 0
            and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64):
        return False
    path = entry["path"]
    parts = PurePosixPath(path).parts
    return (bool(parts) and not path.startswith("/") and "\x00" not in path and "\\" not in path
            and all(p not in ("", ".", "..") for p in parts) and PurePosixPath(*parts).as_posix() == path)


def _extract_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, entry: dict[str, Any],
                  archive: Path) -> None:
    ensure_private_dir(target.parent)
    src = tar.extractfile(member)
    assert src is not None
    digest = hashlib.sha256()
    written = 0
    with _create_private(target) as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > entry["size"]:
                break
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    if written != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise BackupArchiveError(f"{archive}: {entry['path']} does not match its manifest (size or "
                                 "SHA-256): the archive was altered or damaged; nothing was restored")


def _create_private(path: Path) -> IO[bytes]:
    """A new file, 0600 from its first byte (never an existing one)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "wb")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


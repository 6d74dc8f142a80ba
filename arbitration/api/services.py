"""The long-lived objects behind the routes, built once from `ApiSettings` by `create_app`.

Why a container: routes reach everything through `Annotated` dependencies (`deps.py`); tests
and `server.run` build one `Services` and hand it to the app. Threads:
- the index syncer (`SyncedIndex.start`) follows the chain every `sync_interval` seconds;
- the access-log anchorer (`access_log.Anchorer`) when a signer key is configured.

`EvidenceIndex` opens one SQLite connection per thread (FastAPI runs sync routes on a thread
pool; WAL lets them read while the syncer writes); `SyncedIndex` serializes every `sync()` behind
one lock and coalesces the on-demand syncs of concurrent requests.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from client.connection import connect
from client.consortium import ConsortiumClient
from client.contracts import bind
from client.evidence_chain import ArbitrationCasesClient, EvidenceRegistryClient
from client.private_files import ensure_private_dir, require_owner_only
from client.tx import TransactionPipeline

from ..index import EvidenceIndex
from ..vault import EvidenceVault
from .access_log import AccessLog, Anchorer
from .cache import PageCache
from .security import ChallengeStore, RoleCache, TokenCodec
from .settings import ApiSettings

__all__ = ["Services", "SyncedIndex", "ChainHead", "BlockNotReachedError", "LoanAccess", "build_services"]

log = logging.getLogger("arbitration.api")
_REQUIRED = ("Consortium", "LoanLedger", "EvidenceRegistry", "ArbitrationCases")
_LOAN_MISS_SECONDS = 2.0
_READER_KEY_SECONDS = 5.0


class ChainHead:
    """`eth_blockNumber` for the sync-on-read check, as cheaply as the endpoint allows.

    Why not `w3.eth.block_number`: web3's provider stack costs ~0.6 ms of CPU per call, the raw
    request over one kept-alive connection ~0.1 ms; the check runs before every data read. Only
    plain http(s) URLs without credentials take the raw path; anything else goes through web3.
    Not thread-safe: `SyncedIndex` calls it under its lock.
    """

    _BODY = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'

    def __init__(self, w3: Web3, url: str, timeout: float = 10.0) -> None:
        self._w3 = w3
        parts = urlsplit(url)
        raw = parts.scheme in ("http", "https") and parts.hostname is not None and not parts.username
        self._target = (parts.scheme, parts.hostname or "", parts.port, parts.path or "/") if raw else None
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def number(self) -> int:
        if self._target is None:
            return int(self._w3.eth.block_number)
        try:
            return self._ask()
        except (OSError, http.client.HTTPException):  # a stale kept-alive connection: one fresh attempt
            self.close()
            return self._ask()

    def _ask(self) -> int:
        assert self._target is not None
        scheme, host, port, path = self._target
        if self._conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            self._conn = cls(host, port, timeout=self._timeout)
        self._conn.request("POST", path, self._BODY, {"Content-Type": "application/json"})
        reply = self._conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise OSError(f"eth_blockNumber: HTTP {reply.status}")
        doc = json.loads(body)
        result = doc.get("result") if isinstance(doc, dict) else None
        if not isinstance(result, str):
            raise OSError(f"eth_blockNumber failed: {doc.get('error') if isinstance(doc, dict) else doc!r}")
        return int(result, 16)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class BlockNotReachedError(Exception):
    """`fresh(min_block)`: the chain (or the index) has not reached the block the caller named."""

    def __init__(self, wanted: int, reached: int) -> None:
        super().__init__(f"the index has reached block {reached}, not {wanted}")
        self.wanted = wanted
        self.reached = reached


class SyncedIndex:
    """The `EvidenceIndex`, its background syncer and on-demand syncs.

    `version` counts the syncs that changed the index (new blocks, items, cases, events, resolved
    problems): a cache of answers computed from the index is valid while `version` and `cursor`
    stay the same (`PageCache`).
    """

    def __init__(self, settings: ApiSettings, w3: Web3, contracts: dict[str, str], vault: EvidenceVault) -> None:
        self._path = settings.index_path
        self._w3 = w3
        self._contracts = contracts
        self._vault = vault
        self._interval = settings.sync_interval
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._checked = 0.0
        self._sync_on_read = settings.sync_on_read
        self._head = ChainHead(w3, settings.rpc_url)
        self.version = 0
        self.last_error: str | None = None
        ensure_private_dir(settings.index_path.parent, tighten=False)
        # Opened now: a bad path, schema or another deployment's index fails at start.
        self._index = EvidenceIndex(str(self._path), w3, contracts, vault)

    def get(self) -> EvidenceIndex:
        return self._index

    def sync(self) -> int:
        with self._sync_lock:
            return self._sync_locked()

    def _sync_locked(self) -> int:
        self._checked = time.monotonic()  # reads the head itself: it answers whoever arrived before
        before = self._index.cursor
        try:
            found = self.get().sync()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.version += 1  # a failed sync may have committed some ranges
            raise
        self.last_error = None
        stats = self._index.last_sync
        if stats is None or self._index.cursor != before or any(
                (stats.items, stats.duplicates, stats.problems, stats.events, stats.cases)):
            self.version += 1
        return found

    def fresh(self, min_block: int | None = None) -> EvidenceIndex:
        """The index, brought up to a chain head read after this call began (read-your-writes: a
        client that saw its transaction mined finds it here). Cheap when nothing happened — one
        eth_blockNumber, compared with the index cursor — and concurrent callers coalesce onto one
        check: whoever waited for the lock uses a check that began after it arrived. A failing chain
        is not the caller's problem: the answer then comes from the index as is (retried anchors and
        vault manifests are the background syncer's job).

        `min_block`: the caller needs the index at that block at least (it saw its transaction
        mined there); synced on demand even with `sync_on_read` off, `BlockNotReachedError` if the
        chain is not there yet."""
        if self._sync_on_read:
            arrived = time.monotonic()
            with self._sync_lock:
                if self._checked < arrived:
                    self._checked = time.monotonic()
                    try:
                        if self._head.number() > self._index.cursor:
                            self._sync_locked()
                    except Exception as exc:  # noqa: BLE001
                        log.warning("on-demand index sync failed: %s", exc)
        if min_block is not None and self._index.cursor < min_block:
            with self._sync_lock:
                if self._index.cursor < min_block:
                    try:
                        self._sync_locked()
                    except Exception as exc:  # noqa: BLE001
                        log.warning("on-demand index sync failed: %s", exc)
            reached = self._index.cursor
            if reached < min_block:
                raise BlockNotReachedError(min_block, reached)
        return self.get()

    def start(self) -> None:
        if self._thread is not None:
            return
        stop = self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(stop,), name="index-syncer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread.is_alive():
            thread.join(timeout=30)

    def close(self) -> None:
        self.stop()
        with self._sync_lock:
            self._head.close()
        self._index.close()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - the chain may be restarting; keep trying
                log.warning("index sync failed: %s", exc)
            stop.wait(self._interval)


class LoanAccess:
    """Loan leads from the LoanLedger (immutable once a loan exists: cached for good)."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._lead: dict[int, int] = {}
        self._missing: dict[int, float] = {}

    def lead_member(self, loan_id: int) -> int | None:
        """The loan's lead member id, or None if the ledger has no such loan."""
        with self._lock:
            if loan_id in self._lead:
                return self._lead[loan_id]
            missed = self._missing.get(loan_id)
        if missed is not None and time.monotonic() - missed < _LOAN_MISS_SECONDS:
            return None
        try:
            view = self._ledger.functions.loan(loan_id).call()
        except (ContractLogicError, BadFunctionCallOutput):  # LoanLedgerUnknownLoan: no such loan
            with self._lock:
                if len(self._missing) > 10_000:
                    self._missing.clear()
                self._missing[loan_id] = time.monotonic()
            return None
        lead = int(view[8])  # LoanView.leadMemberId
        with self._lock:
            self._lead[loan_id] = lead
        return lead


class ReaderKeys:
    """Members' X25519 reader keys registered on chain (cached a few seconds)."""

    def __init__(self, registry: EvidenceRegistryClient) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bytes | None]] = {}

    def of(self, address: str) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(address)
        if hit is not None and now - hit[0] < _READER_KEY_SECONDS:
            return hit[1]
        key = self._registry.reader_key(address)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[address] = (now, key)
        return key


@dataclass
class Services:
    settings: ApiSettings
    w3: Web3
    chain_id: int
    contracts: dict[str, str]
    consortium: ConsortiumClient
    registry: EvidenceRegistryClient
    cases: ArbitrationCasesClient
    ledger: Any
    vault: EvidenceVault
    index: SyncedIndex
    access_log: AccessLog
    anchorer: Anchorer | None
    challenges: ChallengeStore
    tokens: TokenCodec
    roles: RoleCache
    loans: LoanAccess
    reader_keys: ReaderKeys
    pages: PageCache
    signer: LocalAccount | None = None

    def start(self) -> None:
        """Start the background threads (the app's lifespan; a second start is a no-op)."""
        self.index.start()
        if self.anchorer is not None:
            self.anchorer.start()

    def stop(self) -> None:
        """Stop the threads and anchor what the last interval collected; `start` may follow again."""
        self.index.stop()
        if self.anchorer is not None:
            self.anchorer.stop()
            try:
                self.anchorer.anchor_pending()
            except Exception:  # noqa: BLE001
                log.exception("final access-log anchoring failed")

    def close(self) -> None:
        """Stop, then close the index and the access log (the process is done with them)."""
        self.stop()
        self.index.close()
        self.access_log.close()


def _load_signer(settings: ApiSettings) -> LocalAccount | None:
    """The Operator key that anchors the access log, or None when none is configured.

    A password file others can read gives them the Operator key: the API refuses to start on one
    (`InsecureFileError` naming the file and `chmod 600`) before anything is opened or served.
    """
    if settings.signer_keyfile is None or settings.signer_password_file is None:
        return None
    require_owner_only(settings.signer_password_file, "signer password file")
    password = settings.signer_password_file.read_text().strip()
    encrypted = settings.signer_keyfile.read_text()
    account: LocalAccount = Account.from_key(Account.decrypt(encrypted, password))
    return account


def build_services(settings: ApiSettings, w3: Web3 | None = None) -> Services:
    """Connect to the chain, open the vault, index and access log (nothing runs until `start`)."""
    signer = _load_signer(settings)  # first: an exposed password refuses the start, touching nothing
    contracts = settings.contracts()
    missing = [name for name in _REQUIRED if name not in contracts]
    if missing:
        raise ValueError(f"deployment file {settings.deployment_file} lacks {', '.join(missing)}")
    w3 = w3 or connect(settings.rpc_url)
    pipeline = TransactionPipeline(w3, signer) if signer is not None else None
    cases = ArbitrationCasesClient(w3, contracts["ArbitrationCases"], pipeline)
    vault = EvidenceVault(settings.vault_dir)
    access_log = AccessLog(settings.access_log_file)
    chain_id = int(w3.eth.chain_id)
    consortium = ConsortiumClient(w3, contracts["Consortium"])
    registry = EvidenceRegistryClient(w3, contracts["EvidenceRegistry"])
    ledger = bind(w3, "LoanLedger", contracts["LoanLedger"])
    return Services(
        settings=settings,
        w3=w3,
        chain_id=chain_id,
        contracts=contracts,
        consortium=consortium,
        registry=registry,
        cases=cases,
        ledger=ledger,
        vault=vault,
        index=SyncedIndex(settings, w3, contracts, vault),
        access_log=access_log,
        anchorer=Anchorer(access_log, cases, settings.anchor_interval) if pipeline is not None else None,
        challenges=ChallengeStore(settings.challenge_ttl, settings.max_challenges, chain_id),
        tokens=TokenCodec(settings.token_secret.get_secret_value().encode(), settings.token_ttl),
        roles=RoleCache(consortium, settings.role_cache_seconds),
        loans=LoanAccess(ledger),
        reader_keys=ReaderKeys(registry),
        pages=PageCache(settings.page_cache_bytes),
        signer=signer,
    )

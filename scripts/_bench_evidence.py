"""Helpers of bench_api: a chain with the lending suite and the evidence contracts, a book of real
loans, a 100k-item evidence vault anchored in Merkle batches, and a small keep-alive HTTP load
generator (open loop at a fixed rate, closed loop with N clients).

Nothing here is imported by the product or the tests; it builds throw-away worlds in a temporary
directory and every process it starts is handed back to the caller to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _bench_rpc import free_port
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from arbitration.merkle import MerkleTree
from arbitration.record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from arbitration.vault import EvidenceVault, ItemMeta
from client.commitments import sign_commitment
from client.consortium import CharterMember, ConsortiumClient, Role, deploy_consortium
from client.evidence_chain import EvidenceRegistryClient, deploy_evidence_registry
from client.lending import LendingClient
from client.products import weloan_terms
from client.suite import deploy_evidence, deploy_lending
from client.tx import Call, RawReceipt, SentTransaction, TransactionPipeline

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
BATCH = 256
PRINCIPAL = 3_000_000  # fen, under the WeLoan single-draw cap

__all__ = [
    "ANVIL", "BATCH", "ROOT", "LoadResult", "Proc", "World", "anchor_pipelined", "build_vault", "check_samples",
    "closed_loop", "cpu_seconds", "deploy_world", "make_records", "no_fsync", "open_book", "open_loop", "pct",
    "pipelined", "start_chain", "stop", "throwaway_registry",
]


# ------------------------------------------------------------------------------------ processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def stop(proc: Proc, timeout: float = 30.0) -> None:
    """Terminate one process we started (SIGTERM, then SIGKILL after `timeout`)."""
    if proc.popen.poll() is not None:
        return
    proc.popen.terminate()
    try:
        proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait(timeout=10)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_for_rpc(url: str, proc: Proc, timeout: float = 60.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if w3.is_connected():
                return w3
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {_tail(proc.log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} at {url} did not answer within {timeout} s")
        time.sleep(0.05)


def start_chain(kind: str, workdir: Path, operator: LocalAccount, started: list[Proc]) -> tuple[Web3, str]:
    """The embedded node (`python -m node`, durable, block period 0, admission by the Consortium the
    operator deploys first) or anvil; the process is appended to `started` before anything can fail."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / f"{kind}.log"
    if kind == "embedded":
        key_file = workdir / "validator.key"
        key_file.write_text(os.urandom(32).hex())
        cmd = [sys.executable, "-m", "node", "--data-dir", str(workdir / "node"), "--port", str(port),
               "--chain-id", "1337", "--block-period", "0", "--bootstrap-address", operator.address,
               "--validator-key-file", str(key_file)]
    elif kind == "anvil":
        if not ANVIL.exists():
            raise SystemExit("node_modules/.bin/anvil is missing (npm ci)")
        cmd = [str(ANVIL), "--port", str(port), "--base-fee", "0", "--gas-price", "0", "--hardfork", "prague",
               "--silent"]
    else:
        raise SystemExit(f"unknown chain {kind!r} (embedded or anvil)")
    with log.open("wb") as out:
        proc = Proc(kind, subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log)
    started.append(proc)
    return wait_for_rpc(url, proc), url


# ------------------------------------------------------------------------------------ the world


@dataclass
class World:
    w3: Web3
    url: str
    operator: LocalAccount
    lead: LocalAccount
    partner: LocalAccount
    auditor: LocalAccount
    contracts: dict[str, str]
    lead_pipe: TransactionPipeline
    registry: EvidenceRegistryClient
    loans: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def deploy_world(w3: Web3, url: str, operator: LocalAccount, chain: str) -> World:
    """Consortium (operator/governor, lead bank, partner, auditor), the lending suite, the evidence
    contracts and one WeLoan-style product led by the lead bank."""
    lead, partner, auditor = Account.create(), Account.create(), Account.create()
    if chain == "anvil":
        for key in (operator, lead, partner, auditor):
            w3.provider.make_request("anvil_setBalance", [key.address, hex(10**24)])  # type: ignore[arg-type]
    op = TransactionPipeline(w3, operator)
    charter = [CharterMember("Operator", operator.address, frozenset({Role.OPERATOR, Role.GOVERNOR})),
               CharterMember("Lead Bank", lead.address, frozenset({Role.LEAD_BANK})),
               CharterMember("Partner Bank", partner.address, frozenset({Role.PARTNER})),
               CharterMember("Auditor", auditor.address, frozenset({Role.AUDITOR}))]
    consortium, _ = deploy_consortium(op, charter, threshold=1, proposal_lifetime=86_400)
    governance = ConsortiumClient(w3, consortium, op)
    lending, _ = deploy_lending(op, consortium)
    evidence = deploy_evidence(op, consortium, lending.LoanLedger)
    lead_pipe = TransactionPipeline(w3, lead)
    bank = LendingClient(w3, lending, lead_pipe)
    lead_id, partner_id = governance.member_id_of(lead.address), governance.member_id_of(partner.address)
    governance.propose_call(lending.ProductCatalog, bank.define_product_call(weloan_terms(lead_id, [partner_id])))
    contracts = {"Consortium": consortium, **lending.as_dict(), **evidence.as_dict()}
    world = World(w3, url, operator, lead, partner, auditor, contracts, lead_pipe,
                  EvidenceRegistryClient(w3, evidence.EvidenceRegistry, lead_pipe))
    world.extra.update(bank=bank, product=bank.product_count(), partner_id=partner_id, lead_id=lead_id,
                       op=op, consortium=consortium)
    return world


def throwaway_registry(world: World) -> EvidenceRegistryClient:
    """A second EvidenceRegistry (same Consortium) for the anchoring throughput runs: its batches
    have no vault manifests and must not reach the API's index."""
    address = deploy_evidence_registry(world.extra["op"], world.extra["consortium"])
    return EvidenceRegistryClient(world.w3, address, world.lead_pipe)


def pipelined(pipe: TransactionPipeline, calls: Sequence[Call], chunk: int = 32, window: int = 2,
              raw: bool = False) -> list[Any]:
    """Send `calls` in JSON-RPC batches of `chunk` (`send_many`), keeping `window` batches in flight;
    the receipts in call order (`RawReceipt`s if `raw`). The embedded node refuses nonces more than
    64 ahead of the sender's next one (`--max-nonce-gap`): keep chunk x window <= 64."""
    out: list[Any] = []
    flight: list[list[SentTransaction]] = []

    def settle() -> None:
        sent = flight.pop(0)
        out.extend(pipe.wait_many_raw(sent) if raw else pipe.wait_many(sent))

    for start in range(0, len(calls), chunk):
        flight.append(pipe.send_many(calls[start:start + chunk]))
        if len(flight) >= window:
            settle()
    while flight:
        settle()
    return out


def open_book(world: World, loans: int, progress: Callable[[str], None]) -> float:
    """`loans` disbursed co-loans of the lead bank (credit line, drawdown, the partner's EIP-712
    commitment, disbursement), all pipelined; their LoanLedger ids go to `world.loans`. Returns seconds."""
    t0 = time.perf_counter()
    bank: LendingClient = world.extra["bank"]
    pipe, product, partner_id = world.lead_pipe, world.extra["product"], world.extra["partner_id"]
    lines_address = world.contracts["CreditLines"]
    model = keccak(text="bench-api model v1")

    def call(fn: str, args: list[Any], gas: int) -> Call:
        return Call(lines_address, bank.call_data(bank.lines, fn, args), gas=gas, label=fn)

    borrowers = [keccak(text=f"bench-api-borrower-{i}") for i in range(loans)]
    first = call("openLine", [product, borrowers[0], 10_000_000, 3, model], 0)
    gas_line = pipe.estimate_gas(Call(first.to, first.data, label="openLine"))
    receipts = pipelined(pipe, [call("openLine", [product, b, 10_000_000, 3, model], gas_line) for b in borrowers])
    line_ids = [int(bank.lines.events.LineOpened().process_receipt(r, errors=DISCARD)[0]["args"]["lineId"])
                for r in receipts]
    progress(f"{loans} credit lines opened")
    receipts = pipelined(pipe, [call("proposeDrawdown", [line, PRINCIPAL, 10], 300_000) for line in line_ids])
    chain_id = int(world.w3.eth.chain_id)
    disburse = []
    for r in receipts:
        e = bank.lines.events.DrawdownProposed().process_receipt(r, errors=DISCARD)[0]["args"]
        parts = {int(p["memberId"]): int(p["amount"]) for p in e["parts"]}
        sig = sign_commitment(world.partner, chain_id, lines_address, int(e["drawdownId"]), partner_id,
                              parts[partner_id], 2**40)
        disburse.append(call("disburse", [int(e["drawdownId"]), [sig.deadline], [sig.signature]], 500_000))
    progress(f"{loans} drawdowns proposed, partner commitments signed")
    receipts = pipelined(pipe, disburse)
    opened = [int(bank.ledger.events.LoanOpened().process_receipt(r, errors=DISCARD)[0]["args"]["loanId"])
              for r in receipts]
    world.loans = opened
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------ evidence


def make_records(items: int, loans: Sequence[int], seed: int = 7) -> list[tuple[EvidenceRecord, bytes]]:
    """`items` records over `loans`, hash-chained per loan in list order, each with a small random
    stand-in ciphertext (the list endpoint never reads blobs) whose SHA-256 the record carries."""
    rng = random.Random(seed)
    heads: dict[int, bytes] = {}
    out = []
    for _ in range(items):
        loan = loans[rng.randrange(len(loans))]
        blob = rng.randbytes(48)
        r = EvidenceRecord(rng.randbytes(32), EvidenceKind(rng.randrange(9)), loan.to_bytes(32, "big"),
                           rng.randbytes(32), rng.randbytes(32), hashlib.sha256(blob).digest(),
                           heads.get(loan, GENESIS_PREV))
        heads[loan] = r.item_hash()
        out.append((r, blob))
    return out


@contextlib.contextmanager
def no_fsync() -> Iterator[None]:
    """Vault writes without per-file fsync (set-up only: durability costs ~12 ms per item here)."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def build_vault(vault: EvidenceVault, records: Sequence[tuple[EvidenceRecord, bytes]], submitter: str,
                threads: int = 4) -> list[tuple[bytes, int]]:
    """Every record (with its blob) into `vault`, and a manifest per batch of `BATCH` consecutive
    records; returns the batches' (root, size) in order."""
    meta = ItemMeta(submitter, "application/octet-stream", "bench_api synthetic evidence")

    def put(chunk: Sequence[tuple[EvidenceRecord, bytes]]) -> None:
        for r, blob in chunk:
            vault.put_item(r, blob, [], meta)

    step = 1_000
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, [records[i:i + step] for i in range(0, len(records), step)]))
    batches = []
    for start in range(0, len(records), BATCH):
        chunk = [r for r, _ in records[start:start + BATCH]]
        root = MerkleTree([r.item_hash() for r in chunk]).root
        vault.put_batch(root, len(chunk), [r.evidence_id for r in chunk])
        batches.append((root, len(chunk)))
    return batches


def anchor_pipelined(registry: EvidenceRegistryClient, batches: Sequence[tuple[bytes, int]],
                     chunk: int = 32, window: int = 2) -> tuple[float, list[RawReceipt]]:
    """`anchorBatch` of every (root, size), pipelined; (seconds, raw receipts)."""
    pipe = registry.pipeline
    assert pipe is not None
    gas = pipe.estimate_gas(registry.anchor_batch_call(*batches[0]))
    calls = [Call(c.to, c.data, gas=gas, label=c.label) for c in (registry.anchor_batch_call(*b) for b in batches)]
    t0 = time.perf_counter()
    receipts = pipelined(pipe, calls, chunk=chunk, window=window, raw=True)
    return time.perf_counter() - t0, receipts


# ------------------------------------------------------------------------------------ HTTP load


class _Conn:
    """One HTTP/1.1 keep-alive connection: a GET, the whole response read (Content-Length or chunked)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = 0

    @classmethod
    async def open(cls, host: str, port: int) -> _Conn:
        reader, writer = await asyncio.open_connection(host, port, limit=2**22)
        return cls(reader, writer)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def request(self, raw: bytes) -> tuple[int, bytes, bool]:
        """(status, body, keep the connection?)"""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.used += 1
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.read()
            return status, body, False
        return status, body, headers.get("connection", "").lower() != "close"


class _Pool:
    """Keep-alive connections, most recently used first (so few stay hot). One idle longer than
    `max_idle` is dropped rather than reused (uvicorn closes them after 5 s); a request on a reused
    connection the server closed meanwhile is retried once on a fresh connection."""

    def __init__(self, host: str, port: int, max_idle: float = 4.0) -> None:
        self.host, self.port = host, port
        self.max_idle = max_idle
        self.idle: list[tuple[float, _Conn]] = []
        self.opened = 0
        self.retries = 0

    async def _new(self) -> _Conn:
        self.opened += 1
        return await _Conn.open(self.host, self.port)

    async def warm(self, n: int) -> None:
        now = time.monotonic()
        for _ in range(n):
            self.idle.append((now, await self._new()))

    async def _take(self) -> _Conn:
        now = time.monotonic()
        while self.idle:
            since, conn = self.idle.pop()
            if now - since < self.max_idle:
                return conn
            conn.close()
        return await self._new()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        conn = await self._take()
        for attempt in (0, 1):
            reused = conn.used > 0
            try:
                status, body, keep = await conn.request(raw)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                conn.close()
                if reused and attempt == 0 and not getattr(exc, "partial", b""):
                    self.retries += 1
                    conn = await self._new()
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if keep:
                self.idle.append((time.monotonic(), conn))
            else:
                conn.close()
            return status, body
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, conn in self.idle:
            conn.close()
        self.idle.clear()


def _raw_get(path: str, host: str, port: int, token: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Accept: application/json\r\nUser-Agent: coledger-bench-api\r\n\r\n").encode()


@dataclass
class LoadResult:
    sent: int
    ok: int
    errors: dict[str, int]
    latencies: list[float]  # seconds, successful requests, sorted
    seconds: float  # first scheduled send -> last completion
    samples: list[tuple[str, bytes]]
    connections: int
    retries: int
    lag_max: float = 0.0  # open loop: worst delay between a scheduled time and the actual send
    series: list[tuple[float, float]] = field(default_factory=list)  # open loop: (due offset, latency) s

    def slow(self, threshold: float) -> tuple[int, int]:
        """Requests slower than `threshold` seconds (failed ones included) and the distinct seconds
        of the run they were due in: a few bursts (stalls) or slowness throughout."""
        slow = [t for t, lat in self.series if lat > threshold]
        return len(slow), len({int(t) for t in slow})

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def pct(self, q: float) -> float:
        return pct(self.latencies, q)


def pct(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def _error_name(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__


async def _open_loop(host: str, port: int, token: str, paths: Sequence[str], rate: float, timeout: float,
                     sample_every: int, conns: int) -> LoadResult:
    loop = asyncio.get_running_loop()
    pool = _Pool(host, port)
    await pool.warm(conns)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: list[tuple[str, bytes]] = []
    series: list[tuple[float, float]] = []
    raws = [_raw_get(p, host, port, token) for p in paths]
    last_done = [0.0]
    lag = [0.0]

    async def one(i: int, scheduled: float) -> None:
        lag[0] = max(lag[0], loop.time() - scheduled)
        try:
            status, body = await asyncio.wait_for(pool.request(raws[i]), timeout)
        except Exception as exc:  # noqa: BLE001 - counted, the run goes on
            errors[_error_name(exc)] = errors.get(_error_name(exc), 0) + 1
            series.append((scheduled - start, float("inf")))
            return
        done = loop.time()
        series.append((scheduled - start, done - scheduled))
        last_done[0] = max(last_done[0], done)
        if status != 200:
            errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
            return
        latencies.append(done - scheduled)  # from the scheduled send: no coordinated omission
        if i % sample_every == 0:
            samples.append((paths[i], body))

    start = loop.time() + 0.05
    tasks = []
    for i in range(len(paths)):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, at)))
    await asyncio.gather(*tasks)
    pool.close()
    latencies.sort()
    return LoadResult(len(paths), len(latencies), errors, latencies, max(last_done[0] - start, 1e-9), samples,
                      pool.opened, pool.retries, lag[0], series)


def open_loop(host: str, port: int, token: str, paths: Sequence[str], rate: float, timeout: float = 10.0,
              sample_every: int = 50, conns: int = 16) -> LoadResult:
    """GET every path, the i-th sent at start + i/rate whatever the previous ones do (open loop);
    latency runs from that scheduled time to the last byte of the response."""
    return asyncio.run(_open_loop(host, port, token, paths, rate, timeout, sample_every, conns))


async def _closed_loop(host: str, port: int, token: str, pick: Callable[[], str | None], clients: int, duration: float,
                       timeout: float) -> LoadResult:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    pools = [_Pool(host, port) for _ in range(clients)]
    for p in pools:
        await p.warm(1)
    start = loop.time()
    end = start + duration
    sent = [0]

    async def client(pool: _Pool) -> None:
        while loop.time() < end:
            path = pick()
            if path is None:
                break
            raw = _raw_get(path, host, port, token)
            t0 = loop.time()
            sent[0] += 1
            try:
                status, _ = await asyncio.wait_for(pool.request(raw), timeout)
            except Exception as exc:  # noqa: BLE001
                errors[_error_name(exc)] = errors.get(_error_name(exc), 0) + 1
                continue
            if status != 200:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
                continue
            latencies.append(loop.time() - t0)

    await asyncio.gather(*(client(p) for p in pools))
    seconds = loop.time() - start
    for p in pools:
        p.close()
    latencies.sort()
    return LoadResult(sent[0], len(latencies), errors, latencies, seconds, [], sum(p.opened for p in pools),
                      sum(p.retries for p in pools))


def closed_loop(host: str, port: int, token: str, pick: Callable[[], str | None], clients: int, duration: float,
                timeout: float = 10.0) -> LoadResult:
    """`clients` connections each sending its next GET (`pick()`; None = done) as soon as the previous
    answer is in, for at most `duration` seconds."""
    return asyncio.run(_closed_loop(host, port, token, pick, clients, duration, timeout))


def check_samples(samples: Sequence[tuple[str, bytes]]) -> tuple[int, float]:
    """Every sampled body parses, names its loan and lists items; (checked, mean items per page)."""
    counts = []
    for path, body in samples:
        doc = json.loads(body)
        loan = int(path.split("/")[2])
        if doc.get("loan_id") != loan or not isinstance(doc.get("items"), list) or not doc["items"]:
            raise RuntimeError(f"unexpected body for {path}: {body[:300]!r}")
        if any(it["loan_id"] != loan or not it["chain_link_ok"] for it in doc["items"]):
            raise RuntimeError(f"an item of {path} belongs to another loan or breaks its hash chain")
        counts.append(len(doc["items"]))
    return len(counts), (sum(counts) / len(counts) if counts else 0.0)

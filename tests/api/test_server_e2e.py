"""The API as a real uvicorn process (`python -m arbitration.api`) against the embedded node:
sign in, read, download, and watch the access log get anchored on chain by the operator key."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbitration.api.security import TokenCodec
from arbitration.bundle import verify_bundle
from arbitration.proofs import read_case_zip
from arbitration.sealing import WrappedKey, open_sealed
from client.evidence_chain import ArbitrationCasesClient
from tests.api._world import TOKEN_SECRET, World, sign_in_message
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(world: World, request: pytest.FixtureRequest) -> Iterator[str]:
    """`python -m arbitration.api` with its own index and access log (per test module), anchoring."""
    tag = request.module.__name__.rsplit(".", 1)[-1]
    port = free_port()
    env = {**os.environ, **world.api_env(tag, signer=True), "PYTHONUNBUFFERED": "1"}
    log_path = world.root / f"{tag}-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "arbitration.api", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log_path)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"API at {url} not healthy within {timeout} s: {log_path.read_text()[-3000:]}")


def _login(url: str, account: Any, set_cookie: bool = False) -> httpx.Response:
    c = httpx.post(f"{url}/auth/challenge", json={"address": account.address}).json()
    return httpx.post(f"{url}/auth/token", json={"address": account.address, "nonce": c["nonce"],
                                                 "signature": sign_in_message(account, c["message"]),
                                                 "set_cookie": set_cookie})


def _raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def test_an_arbitrator_works_a_case_and_every_read_is_anchored_on_chain(server: str, world: World) -> None:
    r = _login(server, world.arbitrator.account)
    assert r.status_code == 200, r.text
    api = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {r.json()['access_token']}"}, timeout=30)
    assert [c["case_id"] for c in api.get("/cases").json()["cases"]] == [world.case_a]
    items = api.get(f"/loans/{world.loan_a}/evidence").json()["items"]
    assert len(items) == 4 and all(i["chain_link_ok"] for i in items)
    reader = world.submitters["arbitrator"].reader_key
    for item in items:
        eid = bytes.fromhex(item["evidence_id"][2:])
        body = api.get(f"/evidence/{item['evidence_id']}/content").json()
        wk = body["wrapped_key"]
        wrapped = WrappedKey(*(bytes.fromhex(wk[k][2:]) for k in ("reader", "case_id", "sealed")))
        assert open_sealed(base64.b64decode(body["ciphertext"]), eid, wrapped, reader) == world.plaintexts[eid]
    z = read_case_zip(api.get(f"/cases/{world.case_a}/bundle").content)
    assert verify_bundle(z.bundle, ciphertexts=z.ciphertexts).items == 4
    view = api.get(f"/cases/{world.case_a}").json()["access_log"]
    assert view["entries"] == 5 and view["anchoring"] is True
    cases = ArbitrationCasesClient(world.w3, world.cases)
    deadline = time.monotonic() + 20
    while cases.case(world.case_a).access_log_entries < 5 and time.monotonic() < deadline:
        time.sleep(0.25)
    on_chain = cases.case(world.case_a)
    assert (hx(on_chain.access_log_head), on_chain.access_log_entries) == (view["head"], 5)
    deadline = time.monotonic() + 10
    while api.get(f"/cases/{world.case_a}").json()["access_log"]["anchored_entries"] < 5:
        assert time.monotonic() < deadline, "the index never saw the AccessLogAnchored event"
        time.sleep(0.25)
    anchored = api.get(f"/cases/{world.case_a}").json()["access_log"]
    assert anchored["anchored_head"] == anchored["head"]
    events = [e for e in cases.events(0) if type(e).__name__ == "AccessLogAnchored" and e.case_id == world.case_a]
    assert events[-1].operator == world.operator.address


def test_the_case_page_works_with_the_sign_in_cookie(server: str, world: World) -> None:
    r = _login(server, world.arbitrator.account, set_cookie=True)
    assert "HttpOnly" in r.headers["set-cookie"]
    browser = httpx.Client(base_url=server, cookies=r.cookies, timeout=30)
    page = browser.get(f"/cases/{world.case_a}/page")
    assert page.status_code == 200 and "Hash chain link" in page.text
    link = f"/evidence/{hx(world.items_a[0])}/content"
    assert link in page.text and browser.get(link).status_code == 200
    assert browser.get(f"/cases/{world.case_a}/bundle").headers["content-type"] == "application/zip"
    assert browser.post("/evidence/upload", json={}).status_code == 401  # the cookie never authorizes a POST


def test_the_real_server_refuses_attacks_with_problems(server: str, world: World) -> None:
    expired, _ = TokenCodec(TOKEN_SECRET.encode(), 300, clock=lambda: time.time() - 400).issue(
        world.arbitrator.address)
    forged, _ = TokenCodec(b"an attacker's own secret, long enough", 300).issue(world.arbitrator.address)
    bodies = set()
    for token in (expired, forged, "garbage"):
        r = httpx.get(f"{server}/cases", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        bodies.add(r.content)
    assert len(bodies) == 1
    lead = _login(server, world.env.lead.account).json()["access_token"]
    partner = _login(server, world.env.partner1.account)
    assert partner.status_code == 200
    page = httpx.get(f"{server}/cases/{world.case_a}/page", headers={"Authorization": f"Bearer {lead}"})
    assert page.status_code == 403  # not an arbitrator
    arb2 = _login(server, world.arbitrator2.account).json()["access_token"]
    other = httpx.get(f"{server}/cases/{world.case_a}/page", headers={"Authorization": f"Bearer {arb2}"})
    nothing = httpx.get(f"{server}/cases/99999/page", headers={"Authorization": f"Bearer {arb2}"})
    assert other.status_code == 404 and other.content == nothing.content  # not assigned = no such case
    raw = _raw(server, b"GET /evidence/..%2F..%2F..%2Fetc%2Fpasswd/content HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer " + lead.encode() + b"\r\nConnection: close\r\n\r\n")
    assert raw.split(b"\r\n", 1)[0] in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 422 Unprocessable Entity")
    assert b"application/problem+json" in raw and b"root:" not in raw
    dotted = _raw(server, b"GET /evidence/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert dotted.startswith(b"HTTP/1.1 404") and b"root:" not in dotted
    too_big = _raw(server, b"POST /evidence/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + lead.encode()
                   + b"\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n{")
    assert too_big.startswith(b"HTTP/1.1 413") and b"payload-too-large" in too_big
    limit = 8 * 1024 * 1024
    chunked = httpx.post(f"{server}/evidence/upload", headers={"Authorization": f"Bearer {lead}",
                                                               "Content-Type": "application/json"},
                         content=iter([b"{"] + [b" " * 1_048_576] * 9 + [b"}"]), timeout=60)
    assert chunked.status_code == 413 and chunked.json()["limit"] == limit
    c = httpx.post(f"{server}/auth/challenge", json={"address": world.env.lead.address}).json()
    sig = sign_in_message(world.env.lead.account, c["message"])
    request = {"address": world.env.lead.address, "nonce": c["nonce"], "signature": sig}
    assert httpx.post(f"{server}/auth/token", json=request).status_code == 200
    assert httpx.post(f"{server}/auth/token", json=request).status_code == 401  # replayed


def test_coledger_api_start_serves_a_data_dir(world: World, tmp_path: Path) -> None:
    """`coledger api start --data-dir D --rpc URL` (the CLI plugin) serves D's deployment and vault."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "deployment.json").write_text(world.deployment.read_text())
    (data / "evidence").symlink_to(world.vault_dir)
    port = free_port()
    coledger = Path(sys.executable).with_name("coledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLEDGER_API_")}
    env["COLEDGER_API_TOKEN_SECRET"] = TOKEN_SECRET
    env["COLEDGER_API_INDEX_PATH"] = str(tmp_path / "index.sqlite3")
    log_path = tmp_path / "cli.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(coledger), "api", "start", "--data-dir", str(data), "--rpc", world.env.chain.url,
                                 "--port", str(port)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log_path)
        token = _login(url, world.arbitrator2.account).json()["access_token"]
        cases = httpx.get(f"{url}/cases", headers={"Authorization": f"Bearer {token}"}).json()["cases"]
        assert [c["case_id"] for c in cases] == [world.case_b]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "arbitration API on http://127.0.0.1" in log_path.read_text()


def test_the_server_refuses_to_start_with_a_placeholder_secret(world: World) -> None:
    env = {**os.environ, **world.api_env("placeholder"), "COLEDGER_API_TOKEN_SECRET": "changethis" * 4}
    done = subprocess.run([sys.executable, "-m", "arbitration.api", "--port", str(free_port())], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "token_secret looks like a placeholder" in done.stderr


def test_a_depth_bomb_does_not_kill_the_api_process(server: str) -> None:
    """80,000 levels of `[` used to segfault uvicorn in the C JSON decoder (issue 13, defect 4)."""
    for path, depth in (("/evidence/upload", 80_000), ("/auth/challenge", 60_000), ("/auth/token", 60_000)):
        r = httpx.post(f"{server}{path}", content=b"[" * depth, headers={"Content-Type": "application/json"},
                       timeout=60)
        assert r.status_code == 400 and r.json()["type"] == "urn:coledger:problem:json-too-deep"
    assert httpx.get(f"{server}/healthz", timeout=10).status_code == 200

"""Bad input and attacks, in process: traversal ids, tampered blobs, uploads (too large, forged,
conflicting), unknown routes and methods, and an unexpected crash — all as problem documents."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arbitration.record import EvidenceKind, EvidenceRecord
from arbitration.sealing import generate_reader_key, load_public_key, seal
from client.evidence_chain import EvidenceRegistryClient
from tests.api._world import World
from tests.api.conftest import bearer, login

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def tokens(client: TestClient, world: World) -> dict[str, dict[str, str]]:
    env = world.env
    return {name: bearer(login(client, account)) for name, account in {
        "arbitrator": world.arbitrator.account, "lead": env.lead.account, "other_lead": env.other_lead.account,
        "auditor": env.auditor.account}.items()}


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    return dict(r.json())


class VaultSpy:
    """Wraps the app's vault and records every method called on it."""

    def __init__(self, vault: Any) -> None:
        self.vault = vault
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.vault, name)


@pytest.fixture
def vault_spy(client: TestClient) -> Iterator[VaultSpy]:
    services = client.app.state.services  # type: ignore[attr-defined]
    spy = VaultSpy(services.vault)
    services.vault = spy
    try:
        yield spy
    finally:
        services.vault = spy.vault


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/evidence/..%2F..%2F..%2Fetc%2Fpasswd",
    "/evidence/..%2F..%2Fvault%2Frecords/content",
    "/evidence/%2e%2e/content",
    "/evidence/" + "../" * 8 + "etc/passwd",
    "/evidence/0x" + "zz" * 32,
    "/evidence/0x" + "ab" * 31,
    "/evidence/0x" + "ab" * 33 + "/content",
    "/evidence/" + "ab" * 32 + "%00/proof",
    "/evidence/" + "ab" * 32 + "%2F..%2F..%2Fx/content",
    "/cases/..%2F1",
    "/cases/1%2F..%2F2/bundle",
    "/cases/-1",
    "/cases/0x01",
    "/cases/" + "9" * 100,
    "/loans/0/evidence",
    "/loans/18446744073709551616/evidence",
    "/loans/..%2F1/timeline",
])
def test_traversal_and_malformed_ids_are_404_or_422_problems_without_touching_the_vault(
    client: TestClient, tokens: dict[str, Any], vault_spy: VaultSpy, path: str
) -> None:
    r = client.get(path, headers=tokens["arbitrator"])
    assert r.status_code in (404, 422), (path, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    assert "passwd" not in r.text and "root:" not in r.text
    assert vault_spy.calls == []


# --- tampered blob ---------------------------------------------------------------------------------


def test_a_tampered_blob_is_reported_as_a_hash_mismatch_and_never_served(
    client: TestClient, world: World, tokens: dict[str, Any]
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    eid = world.items_c[0]
    record = services.vault.record(eid)
    path = services.vault.blobs.path_of(record.blob)
    original = path.read_bytes()
    _, logged = services.access_log.head(0)
    path.chmod(0o644)
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        r = client.get(f"/evidence/{hx(eid)}/content", headers=tokens["lead"])
        body = _problem(r, 409)
        assert body["type"] == "urn:coledger:problem:evidence-blob-hash-mismatch"
        assert body["title"] == "Evidence blob hash mismatch"
        assert "evidence blob hash mismatch" in body["detail"] and record.blob in body["detail"]
        assert "ciphertext" not in body and base64.b64encode(original[:16]).decode()[:12] not in r.text
        assert services.access_log.head(0)[1] == logged  # nothing was read, nothing is logged
        meta = client.get(f"/evidence/{hx(eid)}", headers=tokens["lead"])
        assert meta.status_code == 200  # metadata is still served: it comes from the chain
    finally:
        path.write_bytes(original)
    assert client.get(f"/evidence/{hx(eid)}/content", headers=tokens["lead"]).status_code == 200


def test_the_case_page_marks_a_tampered_blob_and_the_bundle_refuses_it(
    client: TestClient, world: World, tokens: dict[str, Any]
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    eid = world.items_a[1]
    path = services.vault.blobs.path_of(services.vault.record(eid).blob)
    original = path.read_bytes()
    path.chmod(0o644)
    try:
        path.write_bytes(b"\x01" + os.urandom(len(original) - 1))
        page = client.get(f"/cases/{world.case_a}/page", headers=tokens["arbitrator"]).text
        assert page.count('<span class="bad">MISMATCH</span>') == 1
        bundle = client.get(f"/cases/{world.case_a}/bundle", headers=tokens["arbitrator"])
        assert _problem(bundle, 409)["type"] == "urn:coledger:problem:evidence-blob-hash-mismatch"
    finally:
        path.write_bytes(original)


def test_a_corrupt_or_rewritten_vault_record_is_a_409_problem(client: TestClient, world: World,
                                                              tokens: dict[str, Any]) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    eid = world.items_c[0]
    path = services.vault.root / "records" / f"{eid.hex()}.json"
    original = path.read_bytes()
    path.chmod(0o644)
    try:
        path.write_bytes(b"{not json")
        for suffix in ("", "/content"):
            body = _problem(client.get(f"/evidence/{hx(eid)}{suffix}", headers=tokens["lead"]), 409)
            assert body["type"] == "urn:coledger:problem:evidence-vault-corrupt"
            assert str(services.vault.root) not in body["detail"]
        # a well-formed record rewritten to point at another item's blob (blob and ciphertext hash both
        # changed, so the vault itself is consistent): the hash anchored on chain catches it
        other = services.vault.record(world.items_a[0]).blob
        mine = services_record_blob = original.decode().split('"blob":"')[1].split('"')[0]
        path.write_text(original.decode().replace(mine, other))
        assert services.vault.record(eid).blob == other != services_record_blob
        body = _problem(client.get(f"/evidence/{hx(eid)}/content", headers=tokens["lead"]), 409)
        assert body["type"] == "urn:coledger:problem:evidence-blob-hash-mismatch"
    finally:
        path.write_bytes(original)
    assert client.get(f"/evidence/{hx(eid)}/content", headers=tokens["lead"]).status_code == 200


# --- uploads ---------------------------------------------------------------------------------------


def _envelope(loan: int, content: bytes, readers: list[Any], kind: str = "collection_log") -> tuple[dict[str, Any],
                                                                                                    EvidenceRecord]:
    eid = os.urandom(32)
    sealed = seal(content, eid, readers)
    record = EvidenceRecord(eid, EvidenceKind.from_json_name(kind), loan.to_bytes(32, "big"), sealed.digests.sha256,
                            sealed.digests.sm3, sealed.digests.ciphertext_sha256, os.urandom(32))
    env = {
        "record": {"evidence_id": hx(eid), "kind": kind, "loan_id": hx(record.loan_id), "sha256": hx(record.sha256),
                   "sm3": hx(record.sm3), "ciphertext_sha256": hx(record.ciphertext_sha256), "prev": hx(record.prev)},
        "ciphertext": base64.b64encode(sealed.blob).decode(),
        "wrapped_keys": [{"reader": hx(w.reader), "case_id": hx(w.case_id), "sealed": hx(w.sealed)}
                         for w in sealed.wrapped_keys],
        "media_type": "text/plain",
        "collected": "call recording transcript",
    }
    return env, record


def test_a_lead_bank_uploads_a_sealed_item_anchors_it_and_reads_it_back(
    client: TestClient, world: World, tokens: dict[str, Any]
) -> None:
    lead = world.submitters["lead"]
    env, record = _envelope(world.loan_c, b"collection call log", [load_public_key(lead.reader_public)])
    r = client.post("/evidence/upload", json=env, headers=tokens["lead"])
    assert r.status_code == 201, r.text
    assert r.json() == {"evidence_id": env["record"]["evidence_id"], "item_hash": hx(record.item_hash()),
                        "ciphertext_sha256": hx(record.ciphertext_sha256),
                        "size": len(base64.b64decode(env["ciphertext"])), "anchored": False}
    assert client.post("/evidence/upload", json=env, headers=tokens["lead"]).status_code == 201  # idempotent
    registry = EvidenceRegistryClient(world.w3, world.registry, world.env.lead.pipeline)
    registry.anchor_item(record.evidence_id, record.loan_id, int(record.kind), record.sha256, record.sm3,
                         record.ciphertext_sha256, record.prev)
    again = client.post("/evidence/upload", json=env, headers=tokens["lead"])
    assert again.status_code == 201 and again.json()["anchored"] is True
    got = client.get(f"/evidence/{hx(record.evidence_id)}", headers=tokens["lead"]).json()
    assert got["collected"] == "call recording transcript" and got["chain_link_ok"] is False  # random prev
    content = client.get(f"/evidence/{hx(record.evidence_id)}/content", headers=tokens["lead"])
    assert content.status_code == 200
    other = dict(env, ciphertext=base64.b64encode(b"\x01" + os.urandom(60)).decode())
    other["record"] = dict(env["record"], ciphertext_sha256=hx(hashlib.sha256(base64.b64decode(
        other["ciphertext"])).digest()))
    conflict = _problem(client.post("/evidence/upload", json=other, headers=tokens["lead"]), 409)
    assert conflict["type"] == "urn:coledger:problem:evidence-conflict"


def test_content_without_a_key_for_the_caller_is_403(client: TestClient, world: World,
                                                     tokens: dict[str, Any]) -> None:
    stranger = generate_reader_key().public_key()
    env, record = _envelope(world.loan_c, b"sealed for someone else", [stranger])
    assert client.post("/evidence/upload", json=env, headers=tokens["lead"]).status_code == 201
    EvidenceRegistryClient(world.w3, world.registry, world.env.lead.pipeline).anchor_item(
        record.evidence_id, record.loan_id, int(record.kind), record.sha256, record.sm3, record.ciphertext_sha256,
        record.prev)
    body = _problem(client.get(f"/evidence/{hx(record.evidence_id)}/content", headers=tokens["lead"]), 403)
    assert body["detail"] == "no data key of this item is wrapped for your reader key"


def test_uploads_are_refused_for_other_roles_other_loans_and_bad_envelopes(
    client: TestClient, world: World, tokens: dict[str, Any]
) -> None:
    reader = load_public_key(world.submitters["lead"].reader_public)
    env, _ = _envelope(world.loan_c, b"x", [reader])
    assert _problem(client.post("/evidence/upload", json=env, headers=tokens["auditor"]), 403)["status"] == 403
    assert _problem(client.post("/evidence/upload", json=env, headers=tokens["arbitrator"]), 403)["status"] == 403
    not_mine, _ = _envelope(world.loan_b, b"x", [reader])
    assert _problem(client.post("/evidence/upload", json=not_mine, headers=tokens["lead"]), 404)["status"] == 404
    bad_b64 = dict(env, ciphertext="%%%not base64%%%")
    assert _problem(client.post("/evidence/upload", json=bad_b64, headers=tokens["lead"]), 422)["detail"] == (
        "ciphertext is not valid base64")
    wrong_hash = dict(env, ciphertext=base64.b64encode(b"other bytes").decode())
    assert "does not hash" in _problem(client.post("/evidence/upload", json=wrong_hash, headers=tokens["lead"]),
                                       422)["detail"]
    bad_kind = dict(env, record=dict(env["record"], kind="confession"))
    assert _problem(client.post("/evidence/upload", json=bad_kind, headers=tokens["lead"]), 422)["status"] == 422
    no_keys = dict(env, wrapped_keys=[])
    assert _problem(client.post("/evidence/upload", json=no_keys, headers=tokens["lead"]), 422)["status"] == 422
    garbage = client.post("/evidence/upload", content=b"{not json", headers={**tokens["lead"],
                                                                             "content-type": "application/json"})
    assert _problem(garbage, 422)["status"] == 422


def test_an_oversized_upload_is_a_413_problem_by_content_length_and_by_counting(
    client: TestClient, world: World, tokens: dict[str, Any]
) -> None:
    limit = client.app.state.services.settings.max_upload_bytes  # type: ignore[attr-defined]
    big = b"{" + b" " * limit + b"}"
    declared = client.post("/evidence/upload", content=big, headers={**tokens["lead"],
                                                                     "content-type": "application/json"})
    body = _problem(declared, 413)
    assert body["type"] == "urn:coledger:problem:payload-too-large" and body["limit"] == limit

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer, counted as it arrives
        yield b"{"
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536
        yield b"}"

    streamed = client.post("/evidence/upload", content=chunks(), headers={**tokens["lead"],
                                                                          "content-type": "application/json"})
    assert _problem(streamed, 413)["limit"] == limit
    small_route = client.post("/auth/challenge", content=b" " * 70_000, headers={"content-type": "application/json"})
    assert _problem(small_route, 413)["limit"] == 64 * 1024


# --- routing and crashes ------------------------------------------------------------------------------


def test_unknown_routes_wrong_methods_and_crashes_are_problems_that_leak_nothing(client: TestClient) -> None:
    assert _problem(client.get("/no/such/route"), 404) == {"type": "about:blank", "title": "Not Found",
                                                           "status": 404, "detail": "no such resource"}
    assert _problem(client.delete("/cases"), 405)["title"] == "Method Not Allowed"
    assert _problem(client.put("/auth/token", json={}), 405)["status"] == 405
    app = client.app

    def boom() -> None:
        raise RuntimeError("secret internal detail /etc/shadow")

    app.add_api_route("/__boom", boom)  # type: ignore[attr-defined]
    try:
        r = client.get("/__boom")
        assert _problem(r, 500) == {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                                    "detail": "internal error"}
        assert "shadow" not in r.text
    finally:
        app.router.routes.pop()  # type: ignore[attr-defined]


# --- depth bombs (issue 13, defect 4) ------------------------------------------------------------


def _every_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation in the app's OpenAPI document, parameters filled in."""
    import re

    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), re.sub(r"\{[^}]+\}", "1", path))
            for path, operations in paths.items() for method in operations]


def test_a_depth_bomb_on_every_route_is_a_400_problem_before_parsing(
    client: TestClient, tokens: dict[str, Any]
) -> None:
    routes = _every_route(client)
    assert ("POST", "/evidence/upload") in routes and ("POST", "/auth/token") in routes
    for body in (b"[" * 60_000, b'{"record":' * 6_000, b"[" * 65 + b"]" * 65):
        for method, path in routes:
            r = client.request(method, path, content=body,
                               headers={**tokens["lead"], "content-type": "application/json"})
            problem = _problem(r, 400)
            assert problem["type"] == "urn:coledger:problem:json-too-deep", (method, path)
            assert problem["limit"] == 64
    assert client.get("/healthz").status_code == 200


def test_nesting_within_the_limit_and_brackets_in_strings_reach_the_route(client: TestClient) -> None:
    shallow = client.post("/auth/challenge", content=b'{"address": ' + b"[" * 60 + b"]" * 60 + b"}",
                          headers={"content-type": "application/json"})
    assert _problem(shallow, 422)["status"] == 422  # parsed, then refused by validation
    in_string = client.post("/auth/challenge", content=b'{"address": "' + b"[" * 5_000 + b'"}',
                            headers={"content-type": "application/json"})
    assert _problem(in_string, 422)["status"] == 422

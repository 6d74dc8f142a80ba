"""Sign-in and bearer tokens, in process: every way a token can be wrong gives the same 401."""

from __future__ import annotations

import base64
import json
import time

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from arbitration.api.security import TokenCodec
from tests.api._world import TOKEN_SECRET, World, sign_in_message
from tests.api.conftest import bearer, login

PROTECTED = "/cases"


def _challenge(client: TestClient, address: str) -> dict[str, str]:
    r = client.post("/auth/challenge", json={"address": address})
    assert r.status_code == 200
    return dict(r.json())


def _assert_401(r: object, reference: dict[str, object] | None = None) -> dict[str, object]:
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert r.headers["www-authenticate"].startswith("Bearer")  # type: ignore[attr-defined]
    body = dict(r.json())  # type: ignore[attr-defined]
    if reference is not None:
        assert body == reference
    return body


def test_member_signs_the_challenge_and_gets_a_token_with_its_roles(client: TestClient, world: World) -> None:
    c = _challenge(client, world.arbitrator.address)
    assert world.arbitrator.address in c["message"] and c["nonce"] in c["message"]
    r = client.post("/auth/token", json={"address": world.arbitrator.address, "nonce": c["nonce"],
                                         "signature": sign_in_message(world.arbitrator.account, c["message"])})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["roles"] == ["arbitrator"]
    assert body["address"] == world.arbitrator.address
    assert body["expires_at"] - time.time() == pytest.approx(300, abs=5)
    assert client.get(PROTECTED, headers=bearer(body["access_token"])).status_code == 200


def test_no_token_bad_token_forged_token_and_expired_token_all_get_the_same_401(
    client: TestClient, world: World
) -> None:
    reference = _assert_401(client.get(PROTECTED))
    assert reference == {"type": "about:blank", "title": "Unauthorized", "status": 401,
                         "detail": "a valid bearer token is required"}
    good = login(client, world.arbitrator.account)
    body, mac = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    # the arbitrator's MAC on a payload naming another member
    payload["sub"] = world.env.lead.address
    swapped = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    forged_other_secret, _ = TokenCodec(b"x" * 48, 300).issue(world.arbitrator.address)
    expired, _ = TokenCodec(TOKEN_SECRET.encode(), 300, clock=lambda: time.time() - 301).issue(
        world.arbitrator.address)
    from_the_future, _ = TokenCodec(TOKEN_SECRET.encode(), 300, clock=lambda: time.time() + 120).issue(
        world.arbitrator.address)
    for headers in (
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {good}"},
        {"Authorization": f"Bearer {swapped}.{mac}"},
        {"Authorization": f"Bearer {body}.{mac[:-2]}AA"},
        {"Authorization": f"Bearer {forged_other_secret}"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {from_the_future}"},
        {"Authorization": f"Bearer {good}.{mac}"},
        {"Authorization": "Bearer " + "A" * 5000},
    ):
        _assert_401(client.get(PROTECTED, headers=headers), reference)
    assert client.get(PROTECTED, headers=bearer(good)).status_code == 200


def test_a_replayed_challenge_is_refused(client: TestClient, world: World) -> None:
    account = world.env.lead.account
    c = _challenge(client, account.address)
    request = {"address": account.address, "nonce": c["nonce"], "signature": sign_in_message(account, c["message"])}
    assert client.post("/auth/token", json=request).status_code == 200
    reference = _assert_401(client.post("/auth/token", json=request))
    assert reference["status"] == 401


def test_a_wrong_signature_burns_the_challenge(client: TestClient, world: World) -> None:
    account = world.env.lead.account
    c = _challenge(client, account.address)
    wrong = sign_in_message(world.arbitrator.account, c["message"])
    _assert_401(client.post("/auth/token", json={"address": account.address, "nonce": c["nonce"], "signature": wrong}))
    right = sign_in_message(account, c["message"])
    _assert_401(client.post("/auth/token", json={"address": account.address, "nonce": c["nonce"], "signature": right}))


def test_a_challenge_is_bound_to_its_address(client: TestClient, world: World) -> None:
    c = _challenge(client, world.env.lead.address)
    other = world.arbitrator.account
    _assert_401(client.post("/auth/token", json={"address": other.address, "nonce": c["nonce"],
                                                 "signature": sign_in_message(other, c["message"])}))


def test_a_non_member_gets_a_challenge_but_no_token(client: TestClient) -> None:
    stranger = Account.create()
    c = _challenge(client, stranger.address)
    _assert_401(client.post("/auth/token", json={"address": stranger.address, "nonce": c["nonce"],
                                                 "signature": sign_in_message(stranger, c["message"])}))


def test_a_token_stops_working_when_its_member_is_removed(client: TestClient, world: World,
                                                          make_account: object) -> None:
    from client.consortium import Role

    account = make_account("api-removed-auditor")  # type: ignore[operator]
    world.env.consortium.propose_add_member("short-lived auditor", account.address, (Role.AUDITOR,))
    token = login(client, account)
    assert client.get(PROTECTED, headers=bearer(token)).status_code == 200
    member_id = world.env.consortium.member_id_of(account.address)
    world.env.consortium.propose_remove_member(member_id)
    time.sleep(3.2)  # the role cache
    _assert_401(client.get(PROTECTED, headers=bearer(token)))


@pytest.mark.parametrize("body", [
    {}, {"address": "0x1234"}, {"address": "../../etc/passwd"}, {"address": "0x" + "g" * 40},
    {"address": "0x" + "1" * 40, "extra": 1},
])
def test_a_malformed_challenge_request_is_a_422_problem(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/auth/challenge", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:coledger:problem:validation"


def test_the_cookie_is_set_httponly_on_request_and_accepted_only_on_get(client: TestClient, world: World) -> None:
    account = world.arbitrator.account
    c = _challenge(client, account.address)
    r = client.post("/auth/token", json={"address": account.address, "nonce": c["nonce"],
                                         "signature": sign_in_message(account, c["message"]), "set_cookie": True})
    cookie = r.headers["set-cookie"]
    assert "coledger_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = r.json()["access_token"]
    client.cookies.clear()
    client.cookies.set("coledger_token", token)
    try:
        assert client.get(PROTECTED).status_code == 200
        # a cookie never authorizes a state change (CSRF): the upload route sees no credentials
        _assert_401(client.post("/evidence/upload", json={}))
    finally:
        client.cookies.clear()

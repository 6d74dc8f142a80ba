"""What the read path's shortcuts must not change: an item anchored a moment ago is listed at once
(read-your-writes, through the page cache), `min_block` forces it when sync-on-read is off, the
cheap head check agrees with web3, and the role cache reads the chain once per expiry however
many requests wait — never answering with roles older than its ttl."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arbitration.api.app import create_app
from arbitration.api.cache import PageCache
from arbitration.api.security import RoleCache
from arbitration.api.services import ChainHead
from arbitration.record import EvidenceKind
from client.consortium import Role
from tests.api._world import World
from tests.api.conftest import bearer, login, settings_for


def _ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return [i["evidence_id"] for i in r.json()["items"]]


def test_an_item_anchored_just_now_is_listed_at_once_and_pages_are_reused_until_the_index_moves(
    client: TestClient, world: World
) -> None:
    headers = bearer(login(client, world.env.lead.account))
    pages: PageCache = client.app.state.services.pages  # type: ignore[attr-defined]
    path = f"/loans/{world.loan_c}/evidence"
    first = client.get(path, headers=headers)
    hits = pages.hits
    again = client.get(path, headers=headers)
    assert again.content == first.content and pages.hits == hits + 1  # nothing changed: the same bytes
    receipt = world.submitters["lead"].submit_evidence(world.loan_c, EvidenceKind.COLLECTION_LOG, b"call log",
                                                       media_type="text/plain", collected="freshness test")
    after = client.get(path, headers=headers)  # no waiting: mined means listed
    assert _ids(after) == [*_ids(first), "0x" + receipt.evidence_id.hex()]
    assert after.json()["items"][-1]["chain_link_ok"] is True
    assert client.get(path, headers=headers).content == after.content
    # The cache never decides who sees what: a caller who may not see the loan still gets the 404.
    stranger = bearer(login(client, world.env.other_lead.account))
    assert client.get(path, headers=stranger).status_code == 404
    assert client.get(path).status_code == 401


@pytest.fixture(scope="module")
def stale_client(world: World) -> Iterator[TestClient]:
    """Sync on read off and a background sync once a minute: the index stands still unless asked."""
    app = create_app(settings_for(world, "freshness-stale", sync_on_read=False, sync_interval=60))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.services.close()


def test_min_block_brings_the_index_to_the_callers_block(stale_client: TestClient, world: World) -> None:
    headers = bearer(login(stale_client, world.env.lead.account))
    path = f"/loans/{world.loan_c}/evidence"
    head = int(world.w3.eth.block_number)
    before = _ids(stale_client.get(path, params={"min_block": head}, headers=headers))
    receipt = world.submitters["lead"].submit_evidence(world.loan_c, EvidenceKind.OTHER, b"later note",
                                                       media_type="text/plain", collected="freshness test")
    new = "0x" + receipt.evidence_id.hex()
    assert new not in _ids(stale_client.get(path, headers=headers))  # up to sync_interval stale, as configured
    assert _ids(stale_client.get(path, params={"min_block": receipt.block_number}, headers=headers)) == [*before, new]
    assert new in _ids(stale_client.get(path, headers=headers))
    ahead = stale_client.get(path, params={"min_block": receipt.block_number + 1000}, headers=headers)
    assert ahead.status_code == 409 and ahead.headers["content-type"] == "application/problem+json"
    assert ahead.json()["type"] == "urn:coledger:problem:block-not-reached"
    assert stale_client.get(path, params={"min_block": 10**9}).status_code == 401  # authentication comes first
    assert stale_client.get(path, params={"min_block": -1}, headers=headers).status_code == 422


def test_the_raw_head_check_agrees_with_web3(world: World) -> None:
    url = world.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    head = ChainHead(world.w3, url)
    try:
        assert head.number() == int(world.w3.eth.block_number)
        head.close()  # a dropped keep-alive connection is reopened
        assert head.number() == int(world.w3.eth.block_number)
    finally:
        head.close()


class _Info:
    def __init__(self, roles: frozenset[Role]) -> None:
        self.active, self.key, self.roles = True, "0xA", roles


class _SlowConsortium:
    def __init__(self) -> None:
        self.reads = 0
        self.roles = frozenset({Role.AUDITOR})

    def member_id_of(self, address: str) -> int:
        self.reads += 1
        time.sleep(0.05)
        return 7

    def member(self, member_id: int) -> _Info:
        return _Info(self.roles)


def _burst(cache: RoleCache, n: int = 16) -> set[Any]:
    out: list[Any] = []
    threads = [threading.Thread(target=lambda: out.append(cache.lookup("0xA"))) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return set(out)


def test_the_role_cache_reads_once_for_a_burst_and_never_serves_roles_older_than_its_ttl() -> None:
    chain = _SlowConsortium()
    now = [100.0]
    cache = RoleCache(chain, 3.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert _burst(cache) == {(7, frozenset({Role.AUDITOR}))} and chain.reads == 1
    chain.roles = frozenset()  # revoked on chain
    now[0] += 1.0
    assert cache.lookup("0xA") == (7, frozenset({Role.AUDITOR})) and chain.reads == 1  # within the ttl
    now[0] += 0.6  # past half the ttl: the next lookup refreshes
    assert cache.lookup("0xA") == (7, frozenset()) and chain.reads == 2
    now[0] += 3.0
    chain.roles = frozenset({Role.ARBITRATOR})
    assert _burst(cache) == {(7, frozenset({Role.ARBITRATOR}))} and chain.reads == 3

    uncached = RoleCache(chain, 0.0)  # type: ignore[arg-type]
    for _ in range(3):
        uncached.lookup("0xA")
    assert chain.reads == 6  # ttl 0: every lookup reads
    _burst(uncached)
    assert chain.reads > 6  # a burst shares reads, but only ones that began after each lookup

"""The data routes in process: who sees what (404 identical to nonexistent), 403 for roles,
sealed content with the caller's key, proofs and bundles that verify, the access log."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from arbitration.api.access_log import GENESIS
from arbitration.bundle import parse_bundle, verify_bundle
from arbitration.chain_check import check_anchors
from arbitration.proofs import read_case_zip
from arbitration.sealing import WrappedKey, open_sealed
from client.evidence_chain import ArbitrationCasesClient
from tests.api._world import World
from tests.api.conftest import bearer, login

NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such resource"}


@pytest.fixture(scope="module")
def tokens(client: TestClient, world: World) -> dict[str, dict[str, str]]:
    env = world.env
    accounts = {"arbitrator": world.arbitrator.account, "arbitrator2": world.arbitrator2.account,
                "lead": env.lead.account, "other_lead": env.other_lead.account, "auditor": env.auditor.account,
                "partner": env.partner1.account, "governor": env.governor.account}
    return {name: bearer(login(client, account)) for name, account in accounts.items()}


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return dict(r.json())


# --- visibility -----------------------------------------------------------------------------------


def test_each_role_lists_only_its_cases(client: TestClient, world: World, tokens: dict[str, Any]) -> None:
    def ids(who: str) -> list[int]:
        r = client.get("/cases", headers=tokens[who])
        assert r.status_code == 200, r.text
        return [c["case_id"] for c in r.json()["cases"]]

    assert ids("arbitrator") == [world.case_a]
    assert ids("arbitrator2") == [world.case_b]
    assert ids("lead") == [world.case_a]
    assert ids("other_lead") == [world.case_b]
    assert ids("auditor") == [world.case_a, world.case_b]


def test_a_case_the_caller_may_not_see_is_the_same_404_as_no_case(client: TestClient, world: World,
                                                                   tokens: dict[str, Any]) -> None:
    r = client.get(f"/cases/{world.case_a}", headers=tokens["arbitrator"])
    assert r.status_code == 200
    case = r.json()
    assert (case["loan_id"], case["arbitrator"], case["opener"], case["status"]) == (
        world.loan_a, world.arbitrator.address, world.env.lead.address, "open")
    assert case["frozen_count"] == 3
    hidden = client.get(f"/cases/{world.case_b}", headers=tokens["arbitrator"])
    missing = client.get("/cases/987654321", headers=tokens["arbitrator"])
    assert _problem(hidden, 404) == _problem(missing, 404) == NOT_FOUND
    assert hidden.content == missing.content
    assert client.get(f"/cases/{world.case_a}", headers=tokens["other_lead"]).content == missing.content


def test_a_member_without_a_viewer_role_gets_403(client: TestClient, tokens: dict[str, Any], world: World) -> None:
    for path in ("/cases", f"/cases/{world.case_a}", f"/loans/{world.loan_a}/evidence",
                 f"/evidence/{hx(world.items_a[0])}"):
        body = _problem(client.get(path, headers=tokens["partner"]), 403)
        assert body["detail"] == "this needs the lead bank, arbitrator or auditor role"


def test_the_case_page_is_for_arbitrators_only_and_only_their_own(client: TestClient, world: World,
                                                                 tokens: dict[str, Any]) -> None:
    path = f"/cases/{world.case_a}/page"
    assert _problem(client.get(path, headers=tokens["lead"]), 403)["detail"] == "this needs the arbitrator role"
    assert _problem(client.get(path, headers=tokens["auditor"]), 403)["status"] == 403
    assert _problem(client.get(path, headers=tokens["arbitrator2"]), 404) == NOT_FOUND
    r = client.get(path, headers=tokens["arbitrator"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    assert f"Arbitration case {world.case_a}" in page
    assert page.count('<span class="ok">ok</span>') == 3 * 4  # link, proof, blob of 4 items
    assert "later addition" in page and f"/cases/{world.case_a}/bundle" in page
    for eid in [*world.items_a, world.later_a]:
        assert f"/evidence/{hx(eid)}/content" in page


def test_loans_are_visible_to_their_lead_their_arbitrator_and_auditors(client: TestClient, world: World,
                                                                       tokens: dict[str, Any]) -> None:
    expect = {
        "lead": {world.loan_a, world.loan_c}, "other_lead": {world.loan_b}, "arbitrator": {world.loan_a},
        "arbitrator2": {world.loan_b}, "auditor": {world.loan_a, world.loan_b, world.loan_c},
    }
    missing = client.get("/loans/424242/evidence", headers=tokens["auditor"])
    assert _problem(missing, 404) == NOT_FOUND
    for who, visible in expect.items():
        for loan in (world.loan_a, world.loan_b, world.loan_c):
            for what in ("evidence", "timeline"):
                r = client.get(f"/loans/{loan}/{what}", headers=tokens[who])
                if loan in visible:
                    assert r.status_code == 200, (who, loan, what, r.text)
                else:
                    assert r.content == missing.content, (who, loan, what)


def test_evidence_of_a_loan_in_chain_order_with_anchors(client: TestClient, world: World,
                                                        tokens: dict[str, Any]) -> None:
    r = client.get(f"/loans/{world.loan_a}/evidence", headers=tokens["arbitrator"])
    body = r.json()
    items = body["items"]
    assert [i["evidence_id"] for i in items] == [hx(e) for e in [*world.items_a, world.later_a]]
    assert [i["chain_position"] for i in items] == [0, 1, 2, 3]
    assert all(i["chain_link_ok"] for i in items)
    assert [i["later"] for i in items] == [False, False, False, True]
    assert [i["kind"] for i in items] == ["loan_agreement", "disbursement_receipt", "repayment_schedule",
                                          "overdue_notice"]
    assert items[0]["prev"] == hx(GENESIS) and items[1]["prev"] == items[0]["item_hash"]
    assert items[1]["anchor"]["batch_root"] == items[2]["anchor"]["batch_root"]
    assert (items[1]["anchor"]["batch_size"], items[2]["anchor"]["leaf_index"]) == (2, 1)
    for i in items:
        assert i["anchor"]["submitter"] == world.env.lead.address
        block = world.w3.eth.get_block(i["anchor"]["block_number"])
        assert i["anchor"]["block_timestamp"] == block["timestamp"]
        assert i["anchor"]["block_hash"] == hx(bytes(block["hash"]))
    assert body["next_after"] is None
    page1 = client.get(f"/loans/{world.loan_a}/evidence?limit=3", headers=tokens["arbitrator"]).json()
    assert len(page1["items"]) == 3 and page1["next_after"] == 2
    page2 = client.get(f"/loans/{world.loan_a}/evidence?after=2", headers=tokens["arbitrator"]).json()
    assert [i["chain_position"] for i in page2["items"]] == [3] and page2["items"][0]["chain_link_ok"]


def test_one_item_with_its_vault_metadata(client: TestClient, world: World, tokens: dict[str, Any]) -> None:
    eid = world.items_a[0]
    body = client.get(f"/evidence/{hx(eid)}", headers=tokens["auditor"]).json()
    assert (body["evidence_id"], body["loan_id"], body["in_vault"], body["media_type"], body["collected"]) == (
        hx(eid), world.loan_a, True, "text/plain", "api test")
    without_prefix = client.get(f"/evidence/{eid.hex()}", headers=tokens["auditor"])
    assert without_prefix.json() == body
    hidden = client.get(f"/evidence/{hx(world.items_b[0])}", headers=tokens["arbitrator"])
    missing = client.get(f"/evidence/{hx(bytes(32))}", headers=tokens["arbitrator"])
    assert _problem(hidden, 404) == _problem(missing, 404) == NOT_FOUND


def test_the_timeline_tells_the_loan_in_chain_order(client: TestClient, world: World,
                                                    tokens: dict[str, Any]) -> None:
    entries = client.get(f"/loans/{world.loan_a}/timeline", headers=tokens["arbitrator"]).json()["entries"]
    kinds = [e["kind"] for e in entries]
    for kind in ("loan_opened", "collection_step", "defaulted", "evidence", "case_opened"):
        assert kind in kinds, kinds
    assert kinds.index("loan_opened") < kinds.index("defaulted") < kinds.index("case_opened")
    order = [(e["block_number"], e["log_index"], e["leaf_index"]) for e in entries]
    assert order == sorted(order)
    assert [e["evidence_id"] for e in entries if e["kind"] == "evidence"] == [
        hx(e) for e in [*world.items_a, world.later_a]]


# --- content, proofs, bundles, access log -----------------------------------------------------------


def _open(body: dict[str, Any], reader: Any, eid: bytes) -> bytes:
    wk = body["wrapped_key"]
    wrapped = WrappedKey(bytes.fromhex(wk["reader"][2:]), bytes.fromhex(wk["case_id"][2:]),
                         bytes.fromhex(wk["sealed"][2:]))
    return open_sealed(base64.b64decode(body["ciphertext"]), eid, wrapped, reader)


def test_the_arbitrator_gets_sealed_content_it_can_open_and_each_read_is_logged(
    client: TestClient, world: World, tokens: dict[str, Any]
) -> None:
    before = client.get(f"/cases/{world.case_a}", headers=tokens["arbitrator"]).json()["access_log"]
    arb_key = world.submitters["arbitrator"].reader_key
    for eid in [*world.items_a, world.later_a]:
        r = client.get(f"/evidence/{hx(eid)}/content", headers=tokens["arbitrator"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["wrapped_key"]["case_id"] == hx(world.case_a.to_bytes(32, "big"))
        assert _open(body, arb_key, eid) == world.plaintexts[eid]
        assert r.headers["cache-control"] == "no-store"
    after = client.get(f"/cases/{world.case_a}", headers=tokens["arbitrator"]).json()["access_log"]
    assert after["entries"] == before["entries"] + 4 and after["anchoring"] is False
    log = client.get(f"/cases/{world.case_a}/access-log?after={before['entries']}",
                     headers=tokens["arbitrator"]).json()["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [
        (world.arbitrator.address, "content", hx(eid)) for eid in [*world.items_a, world.later_a]]
    assert log[-1]["hash"] == after["head"]
    assert all(b["prev"] == a["hash"] for a, b in zip(log, log[1:], strict=False))
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.access_log.verify(world.case_a)


def test_auditors_never_get_content_or_bundles(client: TestClient, world: World, tokens: dict[str, Any]) -> None:
    for path in (f"/evidence/{hx(world.items_a[0])}/content", f"/cases/{world.case_a}/bundle",
                 f"/evidence/{hx(bytes(32))}/content"):
        assert _problem(client.get(path, headers=tokens["auditor"]), 403)["detail"] == (
            "this needs the lead bank or arbitrator role")


def test_the_lead_reads_its_own_loan_outside_any_case_into_log_zero(client: TestClient, world: World,
                                                                    tokens: dict[str, Any]) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    _, before = services.access_log.head(0)
    eid = world.items_c[0]
    body = client.get(f"/evidence/{hx(eid)}/content", headers=tokens["lead"]).json()
    assert _open(body, world.submitters["lead"].reader_key, eid) == world.plaintexts[eid]
    head, after = services.access_log.head(0)
    assert after == before + 1
    assert services.access_log.entries(0, before)[0].target == eid


def test_a_member_without_a_wrapped_key_gets_403_not_the_bytes(client: TestClient, world: World,
                                                              tokens: dict[str, Any]) -> None:
    # the arbitrator of loan A reading ... an item whose key was never wrapped for it does not exist in
    # this world; the lead of loan B reading loan B's item through another lead's vault key does:
    body = _problem(client.get(f"/evidence/{hx(world.items_b[0])}/content", headers=tokens["lead"]), 404)
    assert body == NOT_FOUND  # not its loan at all


def test_a_single_item_proof_verifies_offline_and_on_chain(client: TestClient, world: World,
                                                          tokens: dict[str, Any]) -> None:
    for eid in (world.items_a[0], world.items_a[2]):
        r = client.get(f"/evidence/{hx(eid)}/proof", headers=tokens["auditor"])
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        bundle = parse_bundle(r.content)
        verify_bundle(bundle, require_complete_chains=False)
        assert [it.record.evidence_id for it in bundle.items] == [eid]
        assert len(check_anchors(bundle, world.env.chain.url)) == 1


def test_the_case_bundle_zip_verifies_and_its_download_is_logged(client: TestClient, world: World,
                                                                 tokens: dict[str, Any]) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    _, before = services.access_log.head(world.case_a)
    r = client.get(f"/cases/{world.case_a}/bundle", headers=tokens["arbitrator"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert f'filename="case-{world.case_a}.zip"' in r.headers["content-disposition"]
    z = read_case_zip(r.content)
    report = verify_bundle(z.bundle, ciphertexts=z.ciphertexts)
    assert report.items == 4
    assert len(check_anchors(z.bundle, world.env.chain.url)) == 3
    assert z.case["case_id"] == world.case_a and z.case["later_additions"] == [hx(world.later_a)]
    entry = services.access_log.entries(world.case_a, before)[0]
    assert (entry.actor, entry.action.json_name, entry.target) == (
        world.arbitrator.address, "bundle", world.case_a.to_bytes(32, "big"))
    assert client.get(f"/cases/{world.case_a}/bundle", headers=tokens["lead"]).status_code == 200
    hidden = client.get(f"/cases/{world.case_b}/bundle", headers=tokens["arbitrator"])
    assert _problem(hidden, 404) == NOT_FOUND


def test_the_case_view_reports_the_on_chain_anchored_access_log(client: TestClient, world: World,
                                                                tokens: dict[str, Any]) -> None:
    # This in-process API has no signer: anchored values are whatever the chain says (none yet here).
    chain_case = ArbitrationCasesClient(world.w3, world.cases).case(world.case_b)
    view = client.get(f"/cases/{world.case_b}", headers=tokens["arbitrator2"]).json()["access_log"]
    assert view["anchored_entries"] == chain_case.access_log_entries
    assert view["anchored_head"] == hx(chain_case.access_log_head)


def test_openapi_and_docs_are_served(client: TestClient, world: World) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/auth/challenge", "/auth/token", "/cases", "/cases/{case_id}", "/cases/{case_id}/bundle",
                 "/cases/{case_id}/page", "/loans/{loan_id}/evidence", "/loans/{loan_id}/timeline",
                 "/evidence/{evidence_id}", "/evidence/{evidence_id}/content", "/evidence/{evidence_id}/proof",
                 "/evidence/upload", "/healthz"):
        assert path in schema["paths"], path
    assert client.get("/docs").status_code == 200
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["chain_id"] == int(world.w3.eth.chain_id)
    json.dumps(schema)

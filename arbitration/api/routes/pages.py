"""`GET /cases/{case_id}/page`: the server-rendered case page for the assigned arbitrator.

Plain HTML, no script: the case facts, the loan's timeline, and each evidence item with three
checks made by the server as it renders — hash-chain link (the item's `prev` is its predecessor's
hash), inclusion proof (its RFC 6962 path leads to the batch root anchored on chain) and blob hash
(the stored ciphertext still hashes to the anchored ciphertext hash) — plus download links for the
case zip and each item's sealed content. The checks re-hash blobs but deliver nothing, so they are
not access-log entries; the downloads are.

Browsers do not send bearer headers on links: sign in with `POST /auth/token` and
`"set_cookie": true`, and the token also arrives as an HttpOnly, SameSite=Strict cookie that GET
routes accept (never a state-changing route). The page's verification results are the server's
view; `coledger evidence verify` on the downloaded zip is the independent check.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from html import escape
from typing import Any

from eth_utils import to_checksum_address
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ...bundle import Bundle
from ...errors import ArbitrationError, BlobNotFoundError, BlobTamperedError, RecordNotFoundError
from ...index import EvidenceIndex, IndexedItem
from ...proofs import loan_bundle
from ...vault import EvidenceVault
from ...verify import verify_inclusion
from ..deps import AssignedCase, IndexDep, ServicesDep, VaultDep
from ..problems import AUTH_RESPONSES
from ..readable import Names, event_sentence, short_hash, when
from ..views import case_public, items_with_links

router = APIRouter(tags=["pages"], responses=AUTH_RESPONSES)

_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;max-width:80rem}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem} th,td{border:1px solid #d0d7de;padding:.3rem .5rem;
text-align:left;vertical-align:top} th{background:#f6f8fa} code{font-size:.8rem;word-break:break-all}
.ok{color:#1a7f37;font-weight:600} .bad{color:#cf222e;font-weight:700} .na{color:#6e7781}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem} dt{font-weight:600}
a.button{display:inline-block;padding:.4rem .8rem;border:1px solid #1f6feb;border-radius:6px;color:#1f6feb;
text-decoration:none;margin:.5rem 0}
"""


def _time(ts: int | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _mark(value: bool | None, ok: str = "ok", bad: str = "FAILED", na: str = "n/a") -> str:
    if value is None:
        return f'<span class="na">{escape(na)}</span>'
    return f'<span class="ok">{escape(ok)}</span>' if value else f'<span class="bad">{escape(bad)}</span>'


def _inclusion(index: EvidenceIndex, bundle: Bundle | None) -> dict[bytes, bool]:
    if bundle is None:
        return {}
    out: dict[bytes, bool] = {}
    for it in bundle.items:
        anchor = index.anchor(it.batch_root)
        try:
            verify_inclusion(it.record.item_hash(), it.leaf_index, it.tree_size, list(it.proof), it.batch_root)
            ok = anchor is not None and anchor.size == it.tree_size
        except (ArbitrationError, ValueError):
            ok = False
        out[it.record.evidence_id] = ok
    return out


def _blob_status(vault: EvidenceVault, item: IndexedItem) -> bool | None:
    try:
        blob = vault.blob(item.evidence_id)
    except BlobTamperedError:
        return False
    except (RecordNotFoundError, BlobNotFoundError):
        return None
    return hashlib.sha256(blob).digest() == item.ciphertext_sha256


@router.get("/cases/{case_id}/page", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the case page"}})
def case_page(case: AssignedCase, index: IndexDep, vault: VaultDep, services: ServicesDep) -> HTMLResponse:
    """The case page for its assigned arbitrator (HTML). Accepts the sign-in cookie (see `/auth/token`)."""
    view = case_public(case, services.access_log, services.anchorer is not None)
    items = index.items_of_loan(case.loan_id)
    try:
        bundle: Bundle | None = loan_bundle(index, case.loan_id, case.case_id) if items else None
    except ArbitrationError:
        bundle = None
    included = _inclusion(index, bundle)
    names = _names(services)
    rows = []
    for it, pub in zip(items, items_with_links(index, items), strict=True):
        eid = pub.evidence_id
        blob_ok = _blob_status(vault, it)
        link = "" if blob_ok is None else f'<a href="/evidence/{escape(eid)}/content">sealed content</a>'
        rows.append(
            "<tr>"
            f"<td>{it.position}</td><td>{escape(pub.kind)}</td><td><code>{escape(eid)}</code></td>"
            f"<td>{names.address(it.submitter)}</td>"
            f"<td>{it.block_number}<br>{escape(when(it.block_timestamp))}</td>"
            f"<td>{'later addition' if it.later else 'frozen set'}</td>"
            f"<td>{_mark(pub.chain_link_ok)}</td>"
            f"<td>{_mark(included.get(it.evidence_id))}</td>"
            f"<td>{_mark(blob_ok, bad='MISMATCH', na='not stored')}</td>"
            f"<td>{link}</td>"
            "</tr>"
        )
    timeline = [
        f"<tr><td>{e.block_number}</td><td>{escape(when(e.timestamp))}</td>"
        f"<td>{escape(e.kind.replace('_', ' '))}</td><td>{escape(e.contract)}</td>"
        f"<td>{event_sentence(e.kind, e.payload, names)}</td></tr>"
        for e in index.timeline(case.loan_id)
    ]
    log = view.access_log
    facts = [  # (label, HTML)
        ("Case", str(view.case_id)), ("Loan", str(view.loan_id)), ("Status", escape(view.status)),
        ("Arbitrator", names.address(view.arbitrator)), ("Opened by", names.address(view.opener)),
        ("Opened", f"block {view.opened_block}, {escape(when(view.opened_at))}"),
        ("Frozen evidence set", f"{view.frozen_count} items, head {short_hash(view.frozen_head)}"),
        ("Award", short_hash(view.award_hash) if view.award_hash else "none yet"),
        ("Access log", f"{log.entries} entries, head {short_hash(log.head)}"),
        ("Anchored access log", f"{log.anchored_entries} entries, head {short_hash(log.anchored_head)}"),
    ]
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case {view.case_id} - coledger arbitration</title>
<style>{_STYLE}</style></head><body>
<h1>Arbitration case {view.case_id} (loan {view.loan_id})</h1>
<dl>{''.join(f'<dt>{escape(k)}</dt><dd>{v}</dd>' for k, v in facts)}</dl>
<a class="button" id="bundle" href="/cases/{view.case_id}/bundle">Download the case bundle (zip)</a>
<p>Verify it offline: <code>coledger evidence verify case-{view.case_id}.zip --rpc URL</code></p>
<h2>Evidence ({len(items)} items)</h2>
<table id="evidence"><thead><tr><th>#</th><th>Kind</th><th>Evidence id</th><th>Submitter</th><th>Block</th>
<th>Set</th><th>Hash chain link</th><th>Inclusion proof</th><th>Blob hash</th><th>Download</th></tr></thead>
<tbody>{''.join(rows) or '<tr><td colspan="10">no evidence anchored</td></tr>'}</tbody></table>
<h2>Timeline</h2>
<table id="timeline"><thead><tr><th>Block</th><th>Time</th><th>Event</th><th>Contract</th><th>Details</th></tr></thead>
<tbody>{''.join(timeline) or '<tr><td colspan="5">no events</td></tr>'}</tbody></table>
</body></html>"""
    return HTMLResponse(html, headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store",
                                       "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


def _names(services: Any) -> Names:
    """Member names from the Consortium (asked once per address on this page)."""
    consortium = services.consortium

    def by_address(address: str) -> str | None:
        member_id = consortium.member_id_of(to_checksum_address(address))
        return consortium.member(member_id).name if member_id else None

    def by_member_id(member_id: int) -> str | None:
        return consortium.member(member_id).name if member_id else None

    return Names(by_address, by_member_id)

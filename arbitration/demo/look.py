"""The "where to look" block printed after the story: real URLs, paths and ids, nothing to guess.

Commands are printed with the data dir shell-quoted, so they can be pasted as they are.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

__all__ = ["where_to_look"]


def where_to_look(root: Path, summary: dict[str, Any], rpc_url: str, api_url: str, serving: bool) -> str:
    d = shlex.quote(str(root))
    case = summary.get("case", {})
    case_id, loan = case.get("id", 1), case.get("loan", 3)
    borrowers = summary.get("borrowers", [])
    defaulted: dict[str, Any] = next((b for b in borrowers if b.get("loan") == loan), {})
    audit = summary.get("audit", {})
    html = audit.get("html", str(root / "audit" / "audit.html"))
    lines = [
        "",
        "Where to look:",
        f"  case page     {api_url}/cases/{case_id}/page",
        "                the arbitrator signs in with its key (POST /auth/token with \"set_cookie\": true gives",
        "                the browser its cookie); from this shell, as the arbitrator:",
        f"                coledger api get /cases/{case_id}/page --url {api_url} --data-dir {d} --as arbitrator "
        f"--out case-{case_id}.html",
        f"  audit report  {html}",
        f"  replay        {audit.get('replay', str(root / 'audit' / 'replay.json'))}",
        f"  case zip      {case.get('zip', '')}  (award document {case.get('award_file', '')})",
        f"  node          {rpc_url} (JSON-RPC); keys, deployment and evidence vault in {root}",
        "",
        "Explore further" + ("" if serving else " (serve the chain first: coledger demo --data-dir " + d + ")") + ":",
        f"  coledger loan show --data-dir {d} {loan} --history",
        f"  coledger flows account --data-dir {d} --national-id {defaulted.get('national_id', '...')}",
        f"  coledger book --data-dir {d} --member {summary.get('members', {}).get('partner-a', 3)}",
        f"  coledger api get /cases/{case_id} --url {api_url} --data-dir {d} --as arbitrator",
        f"  coledger evidence verify {shlex.quote(str(case.get('zip', '')))} --rpc {rpc_url}",
    ]
    return "\n".join(lines)

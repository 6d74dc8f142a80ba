"""`coledger demo`: the whole story of a co-lending consortium, played on a dev node in minutes.

Why it lives in `arbitration` and not in `client`: the story ends with evidence, a case and an
award, which are this package's; dependencies point one way (`arbitration` uses `client`, never
the reverse), so the one command that uses everything sits at the top. It is registered through
`arbitration.cli.register` (the `coledger.commands` plugin).

One module per act (`act_consortium`, `act_lending`, `act_flows`, `act_default`, `act_case`,
`act_audit`), each using only the public SDK (`client.*`, `arbitration.*`, `client.audit`) — the
calls a bank's own tooling would make. `story` plays them in order, `processes` runs the node and
the API as child processes, `state` knows what a demo data dir looks like.
"""

from __future__ import annotations

__all__: list[str] = []

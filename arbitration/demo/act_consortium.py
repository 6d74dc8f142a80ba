"""Act 1, the consortium: who is in it, and a loan product created by governance.

The product is not defined by the lead bank alone: it is a governance call (the lead bank
proposes `ProductCatalog.defineProduct`, a second governor approves, the proposal executes) —
how a consortium agrees on terms it will all fund.
"""

from __future__ import annotations

from client.consortium import Role
from client.products import weloan_terms

from .context import Story
from .progress import rmb

__all__ = ["ACT", "STEPS", "play"]

ACT = "consortium"
STEPS = 2


def play(story: Story) -> None:
    gov = story.consortium()
    members = gov.members()
    story.members = {key: gov.member_id_of(acct.address) for key, acct in story.keys.items()
                     if key != "validator"}
    governors = [m.name for m in members if Role.GOVERNOR in m.roles]
    story.step(ACT, f"node up at {story.rpc_url} (chain id {story.w3.eth.chain_id}, time travel on): "
                    f"{len(members)} members, {gov.threshold()} of {len(governors)} governors "
                    f"({', '.join(governors)}); {len(story.contracts)} contracts "
                    f"deployed")

    lead = story.lending("lead-bank")
    partners = [story.members["partner-a"], story.members["partner-b"]]
    terms = weloan_terms(story.members["lead-bank"], partners)
    proposed = story.consortium("lead-bank").propose_call(
        story.contracts["ProductCatalog"], lead.define_product_call(terms))
    approved = story.consortium("partner-a").approve(proposed.proposal_id)
    story.expect(approved.executed, f"proposal {proposed.proposal_id} did not execute on the 2nd approval")
    story.product_id = lead.product_count()
    shares = " + ".join(f"{bp / 100:g}%" for bp in terms.partner_shares_bp)
    story.step(ACT, f"product {story.product_id} {terms.name!r} by governance: proposal "
                    f"{proposed.proposal_id} by Lead Bank, approved by Partner Bank A -> executed; "
                    f"{terms.annual_rate_bp / 100:g}%/yr, single draw <= {rmb(terms.single_draw_cap)}, "
                    f"lead {terms.lead_share_bp / 100:g}% / partners {shares}")
    story.results["members"] = dict(story.members)
    story.results["product"] = {"id": story.product_id, "proposal": proposed.proposal_id}

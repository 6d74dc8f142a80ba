"""Dependencies: who is calling, what they may see. Every authorization decision lives here.

Routes declare what they need with the `Annotated` aliases below and never check roles or
visibility themselves:

- `CurrentMember`: a valid bearer token (or, on GET, the page cookie) of an *active* Consortium
  member — else 401, one body for every reason. Roles come from the chain (cached a few seconds),
  not from the token.
- `CurrentViewer` (lead bank, arbitrator or auditor), `CurrentReader` (lead bank or arbitrator:
  may receive sealed content), `CurrentLeadBank`, `CurrentArbitrator` — else 403.
- `VisibleCase`, `ReadableCase`, `AssignedCase`, `VisibleLoan`, `VisibleEvidence`,
  `ReadableEvidence`: the resource named in the path, if the caller may see it — else 404, the
  same 404 as for a resource that does not exist.

Visibility:
- auditor: every case, loan and item (metadata only: it is never a `CurrentReader`);
- arbitrator: the cases assigned to it, and the loans (with their items) of those cases;
- lead bank: the cases it opened, and the loans it leads on the LoanLedger (`leadMemberId` is its
  member id) or opened a case on. Lead banks are not pooled: another lead bank member sees
  nothing of a loan it does not lead.
A member with several roles sees the union.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from client.consortium import Role

from ..index import EvidenceIndex, IndexedCase, IndexedItem
from ..vault import EvidenceVault
from .problems import Problem, forbidden, not_found, unauthorized
from .services import BlockNotReachedError, Services

__all__ = [
    "COOKIE_NAME",
    "Member",
    "ServicesDep",
    "IndexDep",
    "VaultDep",
    "CurrentMember",
    "CurrentViewer",
    "CurrentReader",
    "CurrentLeadBank",
    "CurrentArbitrator",
    "VisibleCase",
    "ReadableCase",
    "AssignedCase",
    "VisibleLoan",
    "VisibleEvidence",
    "ReadableEvidence",
    "parse_hex32",
]

COOKIE_NAME = "coledger_token"
U64_MAX = 2**64 - 1
U256_MAX = 2**256 - 1
SQLITE_INT_MAX = 2**63 - 1
_HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"


@dataclass(frozen=True)
class Member:
    address: str
    member_id: int
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)


# Dependencies that never block are `async def`: FastAPI runs a plain `def` one on the thread pool,
# a hop that costs more than these bodies.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_index(
    services: ServicesDep,
    min_block: Annotated[int | None, Query(
        ge=0, le=SQLITE_INT_MAX,
        description="answer from an index that has reached this block at least (e.g. the block your transaction "
                    "was mined in); 409 if the chain is not there yet")] = None,
) -> EvidenceIndex:
    try:
        return services.index.fresh(min_block)
    except BlockNotReachedError as exc:
        raise Problem(409, f"the chain this API follows has not reached block {exc.wanted} yet",
                      kind="block-not-reached", title="Block not reached",
                      headers={"Retry-After": "1"}) from None


async def get_vault(services: ServicesDep) -> EvidenceVault:
    return services.vault


IndexDep = Annotated[EvidenceIndex, Depends(get_index)]
VaultDep = Annotated[EvidenceVault, Depends(get_vault)]


# --- who is calling ---------------------------------------------------------------------------


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    if request.method in ("GET", "HEAD"):  # the cookie never authorizes a state change (no CSRF)
        return request.cookies.get(COOKIE_NAME)
    return None


def get_current_member(request: Request, services: ServicesDep) -> Member:
    token = _token_of(request)
    claims = services.tokens.verify(token) if token else None
    if claims is None:
        raise unauthorized()
    found = services.roles.lookup(claims.address)
    if found is None:  # removed or deactivated since the token was issued
        raise unauthorized()
    return Member(claims.address, found[0], found[1])


CurrentMember = Annotated[Member, Depends(get_current_member)]


def _require(*roles: Role, what: str) -> Any:
    async def dependency(member: CurrentMember) -> Member:
        if not member.has(*roles):
            raise forbidden(f"this needs the {what} role")
        return member

    return dependency


CurrentViewer = Annotated[Member, Depends(_require(Role.LEAD_BANK, Role.ARBITRATOR, Role.AUDITOR,
                                                   what="lead bank, arbitrator or auditor"))]
CurrentReader = Annotated[Member, Depends(_require(Role.LEAD_BANK, Role.ARBITRATOR, what="lead bank or arbitrator"))]
CurrentLeadBank = Annotated[Member, Depends(_require(Role.LEAD_BANK, what="lead bank"))]
CurrentArbitrator = Annotated[Member, Depends(_require(Role.ARBITRATOR, what="arbitrator"))]


# --- what they may see ------------------------------------------------------------------------


def case_visible(member: Member, case: IndexedCase) -> bool:
    return (
        member.has(Role.AUDITOR)
        or (member.has(Role.ARBITRATOR) and case.arbitrator == member.address)
        or (member.has(Role.LEAD_BANK) and case.opener == member.address)
    )


def loan_visible(member: Member, services: Services, index: EvidenceIndex, loan_id: int) -> bool:
    if member.has(Role.LEAD_BANK) and services.loans.lead_member(loan_id) == member.member_id:
        return True
    if member.has(Role.AUDITOR):
        return (
            services.loans.lead_member(loan_id) is not None
            or bool(index.items_of_loan(loan_id, limit=1))
            or index.case_of_loan(loan_id) is not None
        )
    return any(c.loan_id == loan_id for c in index.cases_for(member.address, _case_roles(member)))


def _case_roles(member: Member) -> list[Role]:
    return [r for r in (Role.ARBITRATOR, Role.LEAD_BANK) if r in member.roles]


def parse_hex32(value: str) -> bytes:
    text = value[2:] if value[:2] in ("0x", "0X") else value
    if len(text) != 64:
        raise not_found()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise not_found() from None


CaseIdPath = Annotated[int, Path(ge=1, le=U256_MAX, description="ArbitrationCases case id")]
LoanIdPath = Annotated[int, Path(ge=1, le=U64_MAX, description="LoanLedger loan id (uint64)")]
EvidenceIdPath = Annotated[str, Path(pattern=_HEX32, description="32-byte evidence id, hex (0x optional)")]


def _case(index: EvidenceIndex, case_id: int) -> IndexedCase | None:
    # Case ids count from 1 on chain; the index keeps them as SQLite integers (< 2**63).
    return index.case(case_id) if case_id <= SQLITE_INT_MAX else None


def _visible_case(case_id: CaseIdPath, member: CurrentViewer, index: IndexDep) -> IndexedCase:
    case = _case(index, case_id)
    if case is None or not case_visible(member, case):
        raise not_found()
    return case


def _readable_case(case_id: CaseIdPath, member: CurrentReader, index: IndexDep) -> IndexedCase:
    return _visible_case(case_id, member, index)


def _assigned_case(case_id: CaseIdPath, member: CurrentArbitrator, index: IndexDep) -> IndexedCase:
    case = _case(index, case_id)
    if case is None or case.arbitrator != member.address:
        raise not_found()
    return case


def _visible_loan(loan_id: LoanIdPath, member: CurrentViewer, services: ServicesDep, index: IndexDep) -> int:
    if not loan_visible(member, services, index, loan_id):
        raise not_found()
    return loan_id


def _item_visible(evidence_id: str, member: Member, services: Services, index: EvidenceIndex) -> IndexedItem:
    item = index.item(parse_hex32(evidence_id))
    if item is None or not loan_visible(member, services, index, item.loan_number):
        raise not_found()
    return item


def _visible_evidence(evidence_id: EvidenceIdPath, member: CurrentViewer, services: ServicesDep,
                      index: IndexDep) -> IndexedItem:
    return _item_visible(evidence_id, member, services, index)


def _readable_evidence(evidence_id: EvidenceIdPath, member: CurrentReader, services: ServicesDep,
                       index: IndexDep) -> IndexedItem:
    return _item_visible(evidence_id, member, services, index)


VisibleCase = Annotated[IndexedCase, Depends(_visible_case)]
ReadableCase = Annotated[IndexedCase, Depends(_readable_case)]
AssignedCase = Annotated[IndexedCase, Depends(_assigned_case)]
VisibleLoan = Annotated[int, Depends(_visible_loan)]
VisibleEvidence = Annotated[IndexedItem, Depends(_visible_evidence)]
ReadableEvidence = Annotated[IndexedItem, Depends(_readable_evidence)]


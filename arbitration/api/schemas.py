"""Request and response models: `XBase` (fields shared by a family) and `XPublic` (what is returned).

Storage models (index rows, vault records, chain dataclasses) are never returned directly: the
routes convert them here, so a new storage field cannot leak by accident. Hashes, ids and
signatures are ``0x``-prefixed lowercase hex; addresses are EIP-55 checksummed; loan and case ids
are the on-chain integers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChallengeRequest",
    "ChallengePublic",
    "TokenRequest",
    "TokenPublic",
    "HealthPublic",
    "AccessLogPublic",
    "AccessEntryPublic",
    "AccessEntriesPublic",
    "CaseBase",
    "CasePublic",
    "CasesPublic",
    "AnchorPublic",
    "EvidenceBase",
    "EvidenceItemPublic",
    "EvidencePublic",
    "EvidenceListPublic",
    "WrappedKeyPublic",
    "EvidenceContentPublic",
    "TimelineEntryPublic",
    "TimelinePublic",
    "UploadRecord",
    "UploadEnvelope",
    "UploadPublic",
    "HEX32",
    "ADDRESS",
]

HEX32 = r"^0x[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth ---------------------------------------------------------------------------------------


class ChallengeRequest(_Strict):
    address: str = Field(pattern=ADDRESS, description="the member key that will sign")


class ChallengePublic(BaseModel):
    address: str
    nonce: str
    message: str = Field(description="sign exactly this text with EIP-191 personal_sign")
    expires_at: int


class TokenRequest(_Strict):
    address: str = Field(pattern=ADDRESS)
    nonce: str = Field(min_length=1, max_length=128)
    signature: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{130}$", description="65-byte EIP-191 signature")
    set_cookie: bool = Field(
        False, description="also set the token as an HttpOnly cookie, for the browser case page and its links"
    )


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: int
    address: str
    roles: list[str]


# --- health -------------------------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    chain_id: int
    chain_head: int | None
    index_error: str | None
    access_log_anchoring: bool


# --- cases --------------------------------------------------------------------------------------


class AccessLogPublic(BaseModel):
    """The case's access log: local head and count, and what was last anchored on chain."""

    head: str
    entries: int
    anchored_head: str
    anchored_entries: int
    anchoring: bool = Field(description="this API anchors the log (a signer key is configured)")


class AccessEntryPublic(BaseModel):
    seq: int
    at: int
    actor: str
    action: str
    target: str
    prev: str
    hash: str


class AccessEntriesPublic(BaseModel):
    case_id: int
    entries: list[AccessEntryPublic]


class CaseBase(BaseModel):
    case_id: int
    loan_id: int
    arbitrator: str
    opener: str
    status: Literal["open", "awarded"]
    frozen_head: str
    frozen_count: int
    opened_block: int
    opened_tx: str | None = None


class CasePublic(CaseBase):
    opened_at: int | None = None
    award_hash: str | None = None
    award_signature: str | None = None
    access_log: AccessLogPublic


class CasesPublic(BaseModel):
    cases: list[CaseBase]


# --- evidence -----------------------------------------------------------------------------------


class AnchorPublic(BaseModel):
    block_number: int
    block_timestamp: int | None
    block_hash: str | None
    tx_hash: str
    log_index: int
    submitter: str | None
    batch_root: str
    batch_size: int
    leaf_index: int


class EvidenceBase(BaseModel):
    evidence_id: str
    kind: str
    loan_id: int
    sha256: str
    sm3: str
    ciphertext_sha256: str
    prev: str
    item_hash: str


class EvidenceItemPublic(EvidenceBase):
    chain_position: int = Field(description="place in the loan's hash chain, from 0")
    chain_link_ok: bool = Field(description="prev is the previous item's hash (zero for the first item)")
    later: bool = Field(description="anchored after the loan's case was opened (not in the frozen set)")
    anchor: AnchorPublic


class EvidencePublic(EvidenceItemPublic):
    in_vault: bool = Field(description="this API's vault holds the sealed content")
    media_type: str | None = None
    size: int | None = Field(None, description="ciphertext size in bytes")
    collected: str | None = Field(None, description="how the content was collected")


class EvidenceListPublic(BaseModel):
    loan_id: int
    items: list[EvidenceItemPublic]
    next_after: int | None = Field(None, description="pass as `after` for the next page; null on the last page")


class WrappedKeyPublic(BaseModel):
    reader: str
    case_id: str
    sealed: str


class EvidenceContentPublic(BaseModel):
    """Sealed content for client-side decryption: the API never holds plaintext or reader keys."""

    evidence_id: str
    ciphertext: str = Field(description="base64 of the stored blob (version || nonce || AES-GCM)")
    wrapped_key: WrappedKeyPublic
    sha256: str
    sm3: str
    ciphertext_sha256: str
    media_type: str


class TimelineEntryPublic(BaseModel):
    block_number: int
    log_index: int
    leaf_index: int
    timestamp: int
    tx_hash: str
    kind: str
    contract: str
    evidence_id: str | None = None
    payload: dict[str, Any]


class TimelinePublic(BaseModel):
    loan_id: int
    entries: list[TimelineEntryPublic]


# --- upload -------------------------------------------------------------------------------------


class UploadRecord(_Strict):
    evidence_id: str = Field(pattern=HEX32)
    kind: str = Field(max_length=32, description="json name, e.g. overdue_notice")
    loan_id: str = Field(pattern=HEX32, description="32-byte big-endian loan id")
    sha256: str = Field(pattern=HEX32)
    sm3: str = Field(pattern=HEX32)
    ciphertext_sha256: str = Field(pattern=HEX32)
    prev: str = Field(pattern=HEX32)


class UploadEnvelope(_Strict):
    """One sealed item as `arbitration.sealing.seal` makes it, sent by the lead bank that anchors it."""

    record: UploadRecord
    ciphertext: str = Field(description="base64 of the sealed blob")
    wrapped_keys: list[WrappedKeyPublic] = Field(min_length=1, max_length=64)
    media_type: str = Field("application/octet-stream", min_length=1, max_length=255)
    collected: str = Field("", max_length=64 * 1024)


class UploadPublic(BaseModel):
    evidence_id: str
    item_hash: str
    ciphertext_sha256: str
    size: int
    anchored: bool = Field(description="the record is already anchored on chain (single item)")

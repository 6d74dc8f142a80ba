"""Exceptions of the arbitration package: one root, one class per failure kind.

Why a class per kind: an arbitrator's tooling (and the HTTP API later) must tell "this proof is
malformed" from "this proof is well formed but proves a different root" from "this blob on disk
was altered" without parsing messages. Every class carries the values that were wrong, the way
transparency-dev/merkle's ``RootMismatchError`` carries expected and calculated roots.
Classes that reject caller input also derive from ``ValueError`` (the web3.py two-parent habit),
so generic ``except ValueError`` handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "ArbitrationError",
    "ProofError",
    "RootMismatchError",
    "SealError",
    "KeyUnwrapError",
    "ContentDecryptionError",
    "StoreError",
    "InvalidAddressError",
    "BlobNotFoundError",
    "BlobTamperedError",
    "BundleError",
    "BundleFormatError",
    "BundleVerificationError",
    "ConsensusProofError",
    "VaultError",
    "InvalidIdError",
    "RecordNotFoundError",
    "VaultConflictError",
    "VaultCorruptError",
    "SubmitError",
    "ReaderKeyNotRegisteredError",
    "NoReaderAccessError",
    "LoanChainError",
]


class ArbitrationError(Exception):
    """Root of every error raised by ``arbitration``."""


# --- Merkle proofs -------------------------------------------------------------------------------


class ProofError(ArbitrationError, ValueError):
    """A proof, index or tree size that cannot be checked at all (a precondition failed)."""


class RootMismatchError(ProofError):
    """A well-formed proof leads to a root other than the one expected.

    ``expected`` is the root the caller trusts (from the chain or the bundle's batch);
    ``computed`` is the root the proof actually leads to.
    """

    def __init__(self, expected: bytes, computed: bytes) -> None:
        self.expected = bytes(expected)
        self.computed = bytes(computed)
        super().__init__(
            f"computed root {self.computed.hex()} does not match expected root {self.expected.hex()}"
        )


# --- sealing ------------------------------------------------------------------------------------


class SealError(ArbitrationError):
    """Encryption or decryption of evidence content or of a data key failed."""


class KeyUnwrapError(SealError):
    """The wrapped data key does not open: wrong reader key, or wrapped for another evidence id or case."""


class ContentDecryptionError(SealError):
    """The content does not decrypt: wrong data key, wrong evidence id, or tampered/truncated blob."""


# --- blob store ---------------------------------------------------------------------------------


class StoreError(ArbitrationError):
    """The content-addressed blob store failed."""


class InvalidAddressError(StoreError, ValueError):
    """A blob address is not exactly 64 lowercase hex characters (the only form that can name a file)."""


class BlobNotFoundError(StoreError, LookupError):
    """No blob is stored under this address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(f"blob {address} not found")


class BlobTamperedError(StoreError):
    """The bytes on disk under ``address`` hash to ``actual``: the blob was altered or corrupted."""

    def __init__(self, address: str, actual: str) -> None:
        self.address = address
        self.actual = actual
        super().__init__(f"blob {address} is tampered: its bytes hash to {actual}")


# --- evidence bundles ---------------------------------------------------------------------------


class BundleError(ArbitrationError, ValueError):
    """An evidence bundle was rejected."""


class BundleFormatError(BundleError):
    """The bundle does not parse under the schema; ``field`` is the JSON path of the offending value."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class BundleVerificationError(BundleError):
    """The bundle parsed but a check failed.

    ``item`` is the evidence id (0x hex) of the failing item, or ``None`` for a bundle-level check;
    ``check`` is a stable, language-neutral code of what failed (``"inclusion_proof"``,
    ``"hash_chain"``, ``"content_sha256"``, ...), shared with the JSON test vectors.
    """

    def __init__(self, item: str | None, check: str, detail: str) -> None:
        self.item = item
        self.check = check
        self.detail = detail
        where = f"item {item}" if item is not None else "bundle"
        super().__init__(f"{where}: {check}: {detail}")


# --- evidence vault (arbitration.vault) ---------------------------------------------------------


class ConsensusProofError(BundleError):
    """The validators' signatures do not prove batch ``batch_root``'s anchor in block ``block``.

    ``check`` is a stable code: ``anchor``, ``block_number``, ``header`` (Ethereum header vs the
    anchor), ``commit`` (a signed header fails: signature, signer, 2/3, validator set, link),
    ``app_hash``, ``timestamp``, ``proposer``, ``inclusion``, ``transaction``, ``receipt``,
    ``status``, ``root`` or ``missing`` (no proof for an anchored batch).
    """

    def __init__(self, batch_root: bytes, block: int, check: str, detail: str) -> None:
        self.batch_root = bytes(batch_root)
        self.block = block
        self.check = check
        self.detail = detail
        super().__init__(f"batch 0x{self.batch_root.hex()} (block {block}): {check}: {detail}")


class VaultError(StoreError):
    """The evidence vault (records, wrapped keys, batch manifests beside the blobs) failed."""


class InvalidIdError(VaultError, ValueError):
    """An evidence id, batch root, reader key or case id is not 32 bytes / 64 lowercase hex characters."""


class RecordNotFoundError(VaultError, LookupError):
    """No evidence record is stored under this evidence id."""

    def __init__(self, evidence_id: str) -> None:
        self.evidence_id = evidence_id
        super().__init__(f"no evidence record {evidence_id} in the vault")


class VaultConflictError(VaultError):
    """Different content was offered under a name the vault already holds (it writes each name once)."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.what = what
        super().__init__(f"{what} already stored at {path} with different content; the vault writes once")


class VaultCorruptError(VaultError):
    """A vault file does not parse, or does not match the name it is stored under."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"vault file {path} is corrupt: {reason}")


# --- evidence submission (arbitration.submit) ---------------------------------------------------


class SubmitError(ArbitrationError):
    """Submitting, anchoring or sharing evidence failed before or after reaching the chain."""


class ReaderKeyNotRegisteredError(SubmitError):
    """``account`` has published no reader key with ``EvidenceRegistry.registerReaderKey``."""

    def __init__(self, account: str, purpose: str) -> None:
        self.account = account
        self.purpose = purpose
        super().__init__(
            f"{account} has no reader key registered on chain ({purpose}); it must run "
            "`coledger evidence register-key` first"
        )


class NoReaderAccessError(SubmitError):
    """The vault holds no wrapped key of item ``evidence_id`` that opens with the caller's reader key."""

    def __init__(self, evidence_id: str, reader: str) -> None:
        self.evidence_id = evidence_id
        self.reader = reader
        super().__init__(f"evidence {evidence_id} has no wrapped key for reader key {reader} in this vault")


class LoanChainError(SubmitError):
    """The vault and the chain disagree about a loan's evidence (item hash, batch root or size)."""

    def __init__(self, evidence_id: str, reason: str) -> None:
        self.evidence_id = evidence_id
        self.reason = reason
        super().__init__(f"evidence {evidence_id}: {reason}")


# --- evidence index (arbitration.index) ----------------------------------------------------------

__all__ += [
    "EvidenceIndexError",
    "IndexSchemaError",
    "IndexDeploymentMismatchError",
    "IndexReorgError",
    "EvidenceNotIndexedError",
    "CaseNotIndexedError",
]


class EvidenceIndexError(ArbitrationError):
    """The evidence index (the SQLite read model of the chain and the vault) failed."""


class IndexSchemaError(EvidenceIndexError):
    """The index file has schema version ``found``; this code reads ``expected`` (rebuild the index)."""

    def __init__(self, path: str, found: int, expected: int) -> None:
        self.path = path
        self.found = found
        self.expected = expected
        super().__init__(f"index {path} has schema version {found}, this code reads version {expected}")


class IndexDeploymentMismatchError(EvidenceIndexError):
    """The index was built for another chain or other contract addresses (``field`` says which)."""

    def __init__(self, field: str, stored: str, given: str) -> None:
        self.field = field
        self.stored = stored
        self.given = given
        super().__init__(f"index was built for {field} {stored}, now given {given}: use a new index file")


class IndexReorgError(EvidenceIndexError):
    """Block ``block`` the index recorded with hash ``stored`` is now served with hash ``served``."""

    def __init__(self, block: int, stored: str, served: str) -> None:
        self.block = block
        self.stored = stored
        self.served = served
        super().__init__(f"block {block} was indexed with hash {stored}, the chain now serves {served}")


class EvidenceNotIndexedError(EvidenceIndexError, LookupError):
    """No anchored evidence item with this id is in the index."""

    def __init__(self, evidence_id: str) -> None:
        self.evidence_id = evidence_id
        super().__init__(f"evidence {evidence_id} is not in the index")


class CaseNotIndexedError(EvidenceIndexError, LookupError):
    """No arbitration case with this id is in the index."""

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id} is not in the index")


# --- chain check of bundle anchors (arbitration.chain_check) -------------------------------------

__all__ += [
    "ChainCheckError",
    "ChainUnreachableError",
    "ChainRpcError",
    "AnchorMismatchError",
    "CaseMismatchError",
    "AwardSignatureError",
]


class ChainCheckError(ArbitrationError):
    """Checking a bundle's anchors (or a case's award) against a chain failed."""


class ChainUnreachableError(ChainCheckError):
    """The verifier's JSON-RPC endpoint ``url`` could not be reached or did not answer JSON-RPC."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot query the chain at {url}: {reason}")


class ChainRpcError(ChainCheckError):
    """The endpoint answered ``method`` with a JSON-RPC error object."""

    def __init__(self, method: str, error: object) -> None:
        self.method = method
        self.error = error
        super().__init__(f"{method} failed: {error}")


class AnchorMismatchError(ChainCheckError):
    """What the chain says about batch ``batch_root`` differs from the bundle's anchor in ``field``.

    ``field`` is a stable code: ``chain_id``, ``tx_hash`` (no such transaction), ``status``,
    ``block_number``, ``block_hash``, ``timestamp``, ``contract`` (no log from the anchor's
    contract), ``root``, ``tree_size``, ``submitter`` or ``anchor`` (the batch carries no anchor).
    """

    def __init__(self, batch_root: bytes, field: str, detail: str) -> None:
        self.batch_root = bytes(batch_root)
        self.field = field
        self.detail = detail
        super().__init__(f"batch 0x{self.batch_root.hex()}: {field}: {detail}")


class CaseMismatchError(ChainCheckError):
    """What the chain says about a case differs from ``case.json`` in ``field``."""

    def __init__(self, case_id: int, field: str, detail: str) -> None:
        self.case_id = case_id
        self.field = field
        self.detail = detail
        super().__init__(f"case {case_id}: {field}: {detail}")


class AwardSignatureError(ChainCheckError):
    """The award signature of case ``case_id`` recovers to ``recovered``, not the arbitrator ``expected``."""

    def __init__(self, case_id: int, expected: str, recovered: str) -> None:
        self.case_id = case_id
        self.expected = expected
        self.recovered = recovered
        super().__init__(
            f"case {case_id}: award signature recovers to {recovered}, not the arbitrator {expected}"
        )

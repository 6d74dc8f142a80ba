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

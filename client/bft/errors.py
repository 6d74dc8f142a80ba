"""One exception class per way a CometBFT block can fail its proof."""

from __future__ import annotations

__all__ = ["BftError", "CommitVerificationError", "HeaderMismatchError", "ValidatorSetError",
           "MalformedProofError"]


class BftError(Exception):
    """Base class: a block's consensus proof does not hold (the message names what differs)."""


class MalformedProofError(BftError):
    """A header or commit is not in CometBFT's JSON form (missing field, bad hex, bad time)."""


class ValidatorSetError(BftError):
    """A validator set file is unusable, or a header names a validator set other than ours."""


class HeaderMismatchError(BftError):
    """The header does not hash to the block id the commit signs, or it links to another parent
    or carries another app hash than re-execution gives."""


class CommitVerificationError(BftError):
    """A signature does not verify, is by someone outside the set, or the signers hold no more
    than two thirds of the voting power."""

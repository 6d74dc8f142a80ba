"""Checking a CometBFT network's blocks from signatures alone (auditor and arbitrator side).

Why our own code and not the node's: an auditor or an arbitrator must be able to prove that
more than two thirds of the consortium's validators signed a block without trusting any
validator, so the header hashing, the vote sign bytes and the commit rule are rebuilt here from
CometBFT v0.38's definitions (``types/block.go``, ``types/vote.go``, ``types/canonical.go``,
``types/validation.go``, ``crypto/merkle``) and checked against vectors the real binary made.
Nothing here imports the generated protobuf bindings: they exist only where CometBFT was built.
"""

from client.bft.commit import (
    CommitCheck,
    SignedHeader,
    verify_commit,
    verify_signed_header,
)
from client.bft.errors import (
    BftError,
    CommitVerificationError,
    HeaderMismatchError,
    ValidatorSetError,
)
from client.bft.validators import Validator, ValidatorSet, load_validator_set

__all__ = [
    "BftError",
    "CommitCheck",
    "CommitVerificationError",
    "HeaderMismatchError",
    "SignedHeader",
    "Validator",
    "ValidatorSet",
    "ValidatorSetError",
    "load_validator_set",
    "verify_commit",
    "verify_signed_header",
]

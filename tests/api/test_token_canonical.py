"""Bearer tokens have exactly one valid spelling (issue 13, defect 6).

The last base64url character of a part whose byte length is not a multiple of 3 has low bits that
carry no data; decoders ignore them, so a token with those bits set decoded to the same MAC and
was accepted. Now any such spelling is refused exactly like a forged token (None, no reason).
"""

from __future__ import annotations

from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitration.api.security import TokenCodec

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SECRET = b"k3J9-xQ2mV8pLw4Zt7Rb1Nc6Hy5Fd0Gs-token-canonical"
ADDRESSES = st.binary(min_size=20, max_size=20).map(lambda b: str(to_checksum_address(b)))


def _unused_bits(part: str) -> int:
    """How many low bits of ``part``'s last character carry no data (0, 2 or 4)."""
    return {0: 0, 2: 4, 3: 2}[len(part) % 4]


def _flip(part: str, mask: int) -> str:
    """``part`` with ``mask`` XOR-ed into its last character's unused low bits."""
    return part[:-1] + ALPHABET[ALPHABET.index(part[-1]) ^ mask]


@settings(max_examples=200, deadline=None)
@given(address=ADDRESSES, which=st.sampled_from(["mac", "body"]), mask=st.integers(1, 15))
def test_a_token_with_nonzero_padding_bits_is_refused_and_the_canonical_one_accepted(
    address: str, which: str, mask: int
) -> None:
    codec = TokenCodec(SECRET, 300)
    token, _ = codec.issue(address)
    claims = codec.verify(token)
    assert claims is not None and claims.address == address
    body, mac = token.split(".")
    part = mac if which == "mac" else body
    unused = _unused_bits(part)
    if unused == 0:
        return  # a whole number of 3-byte groups: this part has no padding bits to flip
    mask &= (1 << unused) - 1
    if mask == 0:
        mask = 1
    altered = _flip(part, mask)
    forged = f"{body}.{altered}" if which == "mac" else f"{altered}.{mac}"
    assert forged != token
    assert codec.verify(forged) is None


def test_the_mac_of_every_token_has_padding_bits_to_flip() -> None:
    """A 32-byte MAC is 43 characters: its last one carries 2 unused bits (the case that mattered)."""
    token, _ = TokenCodec(SECRET, 300).issue(Account.create().address)
    assert _unused_bits(token.split(".")[1]) == 2


@given(text=st.text(max_size=60))
def test_any_other_text_is_refused_without_an_exception(text: str) -> None:
    codec = TokenCodec(SECRET, 300)
    assert codec.verify(text) is None
    assert codec.verify(text + "." + text) is None

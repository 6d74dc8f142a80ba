"""Reader keys derived from member signing keys: pinned vector, determinism, separation."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from eth_account import Account

from arbitration.errors import SealError
from arbitration.reader_keys import READER_KEY_INFO, READER_KEY_SALT, derive_reader_key, reader_public_key
from arbitration.sealing import open_sealed, private_key_bytes, public_key_bytes, seal

MEMBER_KEY = bytes(range(1, 33))
# Pinned once from the implementation and cross-checked against the raw-HMAC HKDF below.
PINNED_PRIVATE = "72c142007c822c5d42d51fc0f9be32fb3c419b3f4c7c0302d6f5956df2c91b47"
PINNED_PUBLIC = "b9e5da5f946e3b1f1d2c8f897c909e518de0b039e93380a747796174e54bf74d"


def test_derive_reader_key_matches_the_pinned_vector() -> None:
    key = derive_reader_key(MEMBER_KEY)
    assert private_key_bytes(key).hex() == PINNED_PRIVATE
    assert public_key_bytes(key).hex() == PINNED_PUBLIC
    assert reader_public_key(MEMBER_KEY).hex() == PINNED_PUBLIC


def test_derivation_is_rfc5869_hkdf_sha256_with_the_documented_salt_and_info() -> None:
    prk = hmac.new(READER_KEY_SALT, MEMBER_KEY, hashlib.sha256).digest()
    okm = hmac.new(prk, READER_KEY_INFO + b"\x01", hashlib.sha256).digest()
    assert (READER_KEY_SALT, READER_KEY_INFO) == (b"coledger", b"coledger evidence reader key v1")
    assert okm.hex() == PINNED_PRIVATE


def test_the_key_of_an_eth_account_is_deterministic_and_distinct_per_member() -> None:
    a, b = Account.create(), Account.create()
    assert reader_public_key(a.key) == reader_public_key(bytes(a.key))
    assert reader_public_key(a.key) != reader_public_key(b.key)
    sealed = seal(b"statement", b"\x07" * 32, [derive_reader_key(a.key).public_key()])
    assert open_sealed(sealed.blob, b"\x07" * 32, sealed.wrapped_keys[0], derive_reader_key(a.key)) == b"statement"


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33, "01" * 32])
def test_a_member_key_of_the_wrong_size_or_type_raises_SealError(bad: object) -> None:
    with pytest.raises(SealError, match="32 bytes"):
        derive_reader_key(bad)  # type: ignore[arg-type]

"""Pseudonymous borrower ids, product terms validation and the EIP-712 commitment digest."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_keys import keys
from hypothesis import given
from hypothesis import strategies as st

from client.borrower import borrower_id, load_or_create_borrower_key, national_id_check_char
from client.commitments import commitment_digest, sign_commitment
from client.errors import CoLedgerValueError
from client.products import ProductTerms, counts_from_mask, counts_mask, weloan_terms

KEY = bytes(range(32))


def valid_id(first17: str) -> str:
    return first17 + national_id_check_char(first17)


def test_borrower_id_is_stable_hmac_and_reveals_nothing_of_the_id() -> None:
    nid = valid_id("11010519491231002")
    one = borrower_id(nid, KEY)
    assert len(one) == 32 and one == borrower_id(" " + nid.lower() + " ", KEY)
    assert one != borrower_id(nid, bytes(32 * [7]))
    assert nid.encode() not in one and b"110105" not in one


@pytest.mark.parametrize(("bad", "message"), [
    ("1101051949123100", "18 characters"),
    ("11010519491231002A", "check character"),
    ("1101051949123X0021", "digits"),
])
def test_malformed_national_id_is_refused_with_reason(bad: str, message: str) -> None:
    with pytest.raises(CoLedgerValueError, match=message):
        borrower_id(bad, KEY)


def test_short_consortium_key_is_refused() -> None:
    with pytest.raises(CoLedgerValueError, match="at least 32 bytes"):
        borrower_id(valid_id("11010519491231002"), b"short")


def test_borrower_key_file_is_created_once_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLEDGER_BORROWER_KEY", raising=False)
    key = load_or_create_borrower_key(tmp_path)
    assert key == load_or_create_borrower_key(tmp_path) and len(key) == 32
    assert (tmp_path / "borrower-id.key").stat().st_mode & 0o777 == 0o600


@given(st.frozensets(st.integers(1, 60), min_size=1))
def test_installment_counts_mask_round_trips(counts: frozenset[int]) -> None:
    assert counts_from_mask(counts_mask(counts)) == counts


@given(st.integers(1, 7))
def test_weloan_shares_always_sum_to_whole(partners: int) -> None:
    terms = weloan_terms(1, range(2, 2 + partners))
    assert terms.lead_share_bp + sum(terms.partner_shares_bp) == 10_000
    assert ProductTerms.from_abi(terms.as_abi()) == terms


@pytest.mark.parametrize(("change", "message"), [
    ({"partner_shares_bp": (4000, 3999)}, "sum to 9999 bp"),
    ({"partner_ids": (2, 2)}, "distinct"),
    ({"ceiling_min": 40_000_000}, "ceiling range"),
    ({"single_draw_cap": 40_000_000}, "single-draw cap"),
    ({"installment_counts": frozenset({61})}, "outside 1..60"),
    ({"name": " "}, "name is empty"),
])
def test_bad_product_terms_are_refused_before_signing(change: dict, message: str) -> None:  # type: ignore[type-arg]
    terms = weloan_terms(1, [2, 3])
    bad = ProductTerms(**{**vars(terms), **change})
    with pytest.raises(CoLedgerValueError, match=message):
        bad.as_abi()


def test_commitment_signature_recovers_the_partner_from_the_digest() -> None:
    partner = Account.create()
    contract = "0x" + "ab" * 20
    c = sign_commitment(partner, 1337, contract, 7, 3, 3_200_000, 2_000_000_000)
    digest = commitment_digest(1337, contract, 7, 3, 3_200_000, 2_000_000_000)
    sig = keys.Signature(c.signature[:64] + bytes([c.signature[64] - 27]))
    assert sig.recover_public_key_from_msg_hash(digest).to_checksum_address() == partner.address
    for other in (commitment_digest(1, contract, 7, 3, 3_200_000, 2_000_000_000),
                  commitment_digest(1337, "0x" + "cd" * 20, 7, 3, 3_200_000, 2_000_000_000),
                  commitment_digest(1337, contract, 8, 3, 3_200_000, 2_000_000_000)):
        assert other != digest

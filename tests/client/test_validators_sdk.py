"""client.validators and client.revert for the validator registry: key parsing, power bounds,
and every new Consortium error decoded by name with its arguments (what the CLI prints)."""

from __future__ import annotations

import base64

import pytest
from eth_abi import encode

from client.errors import CoLedgerValueError
from client.revert import decode_revert, error_selector
from client.validators import parse_consensus_key, pop_message

KEY = bytes(range(32))


@pytest.mark.parametrize("name, types, values, names", [
    ("ConsortiumValidatorKeyInUse", ["bytes32"], [KEY], ["key"]),
    ("ConsortiumUnknownValidator", ["bytes32"], [KEY], ["key"]),
    ("ConsortiumZeroValidatorKey", [], [], []),
    ("ConsortiumNodeIdInUse", ["bytes20"], [b"\x07" * 20], ["nodeId"]),
    ("ConsortiumTooFewValidators", ["uint256"], [3], ["remaining"]),
    ("ConsortiumPowerConcentration", ["uint256", "uint256", "uint256"], [1, 20, 50],
     ["memberId", "memberPower", "totalPower"]),
    ("ConsortiumInvalidProofOfPossession", ["bytes32"], [KEY], ["key"]),
    ("ConsortiumInvalidPower", ["uint64"], [0], ["power"]),
])
def test_every_validator_error_decodes_by_name_with_its_arguments(
        name: str, types: list[str], values: list[object], names: list[str]) -> None:
    revert = decode_revert(error_selector(name, types) + encode(types, values))
    assert revert.name == name
    assert revert.args_by_name == dict(zip(names, values, strict=True))


def test_a_consensus_key_parses_from_base64_and_0x_hex() -> None:
    assert parse_consensus_key(base64.b64encode(KEY).decode()) == KEY
    assert parse_consensus_key("0x" + KEY.hex()) == KEY
    for bad in ("0x" + KEY.hex()[:-2], "not base64!", base64.b64encode(KEY[:31]).decode(), ""):
        with pytest.raises(CoLedgerValueError):
            parse_consensus_key(bad)


def test_the_proof_message_binds_chain_contract_member_and_key() -> None:
    base = pop_message(1337, "0x" + "11" * 20, 5, KEY)
    assert len(base) == 32
    assert len({base, pop_message(1338, "0x" + "11" * 20, 5, KEY), pop_message(1337, "0x" + "12" * 20, 5, KEY),
                pop_message(1337, "0x" + "11" * 20, 4, KEY), pop_message(1337, "0x" + "11" * 20, 5, KEY[::-1])}) == 5

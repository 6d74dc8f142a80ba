"""The governed-parameter table is the contracts' truth, names are checked, values read well.

The table (`client.parameters.PARAMETERS`) must be exactly the set of names the contract sources
read from the Consortium, each compiled into the contract the table says reads it; the README's
examples may only use names from it. No chain needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from client.artifacts import load_artifact
from client.parameters import (
    PARAMETERS,
    ParameterValueError,
    UnknownParameterError,
    check_value,
    lookup,
    suggestions,
)
from client.readable import bp, duration, fen, iso, parameter_value

ROOT = Path(__file__).resolve().parents[2]
#: contracts that may read parameters (every deployed coledger contract but the test stubs)
DEPLOYED = ("Consortium", "ProductCatalog", "LoanLedger", "CreditLines", "FundFlows",
            "EvidenceRegistry", "ArbitrationCases")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_NAME = r'keccak256\(\s*"([A-Za-z]\w*(?:\.\w+)+)"\s*\)'  # a dotted name hashed in code
_CONSTANT = re.compile(r"(\w+)\s*=\s*" + _NAME)


def _source_keys() -> dict[str, tuple[str, str]]:
    """name -> (file, constant or "") of every dotted name hashed in contracts/ (code, not docs)."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted((ROOT / "contracts").rglob("*.sol")):
        if "test" in path.relative_to(ROOT / "contracts").parts:
            continue
        code = _COMMENTS.sub("", path.read_text())
        for name in re.findall(_NAME, code):
            found.setdefault(name, (str(path.relative_to(ROOT)), ""))
        for constant, name in _CONSTANT.findall(code):
            found[name] = (str(path.relative_to(ROOT)), constant)
    return found


def test_table_names_are_exactly_the_names_the_contract_sources_read() -> None:
    keys = _source_keys()
    assert sorted(keys) == sorted(p.name for p in PARAMETERS)
    assert all(constant for _, constant in keys.values()), "a name hashed inline: give it a constant"
    every_source = "\n".join(_COMMENTS.sub("", p.read_text()) for p in (ROOT / "contracts").rglob("*.sol"))
    for name, (path, constant) in keys.items():
        uses = len(re.findall(rf"\b{constant}\b", every_source))
        assert uses >= 2, f"{constant} ({name}) in {path} is declared but never used"
    assert ".parameter(" in every_source


def test_each_key_is_compiled_into_the_contract_the_table_names_and_no_other() -> None:
    code = {name: load_artifact(name).deployed_bytecode for name in DEPLOYED}
    for p in PARAMETERS:
        holders = sorted(n for n, c in code.items() if p.key in c)
        assert holders == [p.read_by], f"{p.name}: key found in {holders}, table says {p.read_by}"


def test_table_names_are_unique_and_documented() -> None:
    assert len({p.name for p in PARAMETERS}) == len(PARAMETERS)
    assert all(p.meaning and p.when_zero for p in PARAMETERS)


def test_the_readme_sets_only_parameters_the_table_knows() -> None:
    readme = (ROOT / "README.md").read_text()
    used = re.findall(r"set-parameter\s+([\w.]+)", readme)
    assert used, "the README shows no set-parameter example"
    for name in used:
        lookup(name)


@pytest.mark.parametrize("typo, meant", [
    ("exposure.cap.fen", "lending.borrowerExposureCap"),
    ("lending.borowerExposureCap", "lending.borrowerExposureCap"),
    ("LENDING.BORROWEREXPOSURECAP", "lending.borrowerExposureCap"),
    ("lending.class.substandardDay", "lending.class.substandardDays"),
    ("drawdown.lifetime", "lending.drawdownLifetime"),
    ("maxRate", "lending.product.maxRateBp"),
])
def test_an_unknown_name_is_refused_in_one_line_naming_the_close_match(typo: str, meant: str) -> None:
    with pytest.raises(UnknownParameterError) as info:
        lookup(typo)
    message = str(info.value)
    assert "\n" not in message
    assert repr(typo) in message and meant in message
    assert info.value.suggestions[0] == meant
    assert isinstance(info.value, ValueError)


def test_a_name_like_nothing_gets_no_suggestion() -> None:
    assert suggestions("zzz") == []
    with pytest.raises(UnknownParameterError, match="no close match"):
        lookup("zzz")


def test_values_the_contract_would_clamp_or_cannot_hold_are_refused() -> None:
    cap = lookup("lending.borrowerExposureCap")
    assert check_value(cap, 2**64 - 1) == 2**64 - 1
    for bad in (2**64, -1, True):
        with pytest.raises(ParameterValueError, match="lending.borrowerExposureCap"):
            check_value(cap, bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterValueError):
        check_value(lookup("lending.drawdownLifetime"), 2**32)


def test_readable_forms_are_exact() -> None:
    assert fen(100_001) == "1,000.01 RMB"
    assert fen(5) == "0.05 RMB"
    assert fen(-30_000_000) == "-300,000.00 RMB"
    assert bp(2_000) == "20%" and bp(1_250) == "12.5%" and bp(5) == "0.05%" and bp(0) == "0%"
    assert duration(86_400) == "1 day" and duration(93_780) == "1 d 2 h 3 min" and duration(0) == "0 s"
    assert iso(0) == "1970-01-01T00:00:00Z" and iso(1_796_487_228) == "2026-12-05T16:13:48Z"
    assert iso(2**64) == "beyond 9999"
    assert parameter_value(lookup("lending.borrowerExposureCap"), 30_000_000) == "30,000,000 fen (300,000.00 RMB)"
    assert parameter_value(lookup("lending.product.maxRateBp"), 2_400) == "2,400 bp (24%)"
    assert parameter_value(lookup("lending.drawdownLifetime"), 86_400) == "86,400 s (1 day)"
    assert parameter_value(lookup("lending.class.lossDays"), 1) == "1 day"

"""Bundle schema, verification against the shared vectors, and the golden bundle file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arbitration.bundle import dump_bundle, parse_bundle, verify_bundle
from arbitration.errors import BundleFormatError, BundleVerificationError
from tests.evidence import make_vectors
from tests.evidence._fixtures import LOAN_1, LOAN_2, build_fixture
from tests.evidence.conftest import VECTORS, load_vectors

HERE = Path(__file__).resolve().parent
CASES = load_vectors("bundle_cases.json")["cases"]
CONTENTS = load_vectors("contents.json")


def _contents(spec: Any) -> dict[bytes, bytes] | None:
    if spec is None:
        return None
    mapping = CONTENTS if spec is True else spec
    return {bytes.fromhex(k[2:]): bytes.fromhex(v) for k, v in mapping.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_bundle_vector(case: dict[str, Any]) -> None:
    data = (VECTORS / "bundles" / case["file"]).read_bytes()
    expect = case["expect"]
    options = {"require_complete_chains": case.get("require_complete_chains", True)}

    def run() -> Any:
        return verify_bundle(parse_bundle(data), _contents(case.get("contents")), **options)

    if expect.get("ok"):
        report = run()
        assert report.items == len(parse_bundle(data).items)
        return
    if expect["error"] == "format":
        with pytest.raises(BundleFormatError) as f:
            run()
        assert f.value.field == expect["field"]
        assert expect["message"] in f.value.reason
        return
    with pytest.raises(BundleVerificationError) as v:
        run()
    assert (v.value.check, v.value.item) == (expect["check"], expect["item"]), str(v.value)
    assert expect["message"] in v.value.detail, str(v.value)


def test_every_proof_element_has_a_bit_flip_vector() -> None:
    good = parse_bundle((VECTORS / "bundles" / "good.json").read_bytes())
    names = {c["name"] for c in CASES}
    for i, item in enumerate(good.items):
        for k in range(len(item.proof)):
            assert f"item {i} proof element {k} bit flipped" in names


def test_good_bundle_report() -> None:
    fx = build_fixture()
    contents = {eid: fx.plaintexts[eid] for eid in (it.record.evidence_id for it in fx.bundle.items)}
    blobs = {eid: fx.blobs[eid] for eid in contents}
    report = verify_bundle(fx.bundle, contents, ciphertexts=blobs)
    assert report.items == 8 and report.anchored
    assert report.loans == {"0x" + LOAN_1.hex(): True, "0x" + LOAN_2.hex(): True}
    assert len(report.content_checked) == 8
    assert not verify_bundle(fx.unanchored).anchored


def test_tampered_ciphertext_is_named() -> None:
    fx = build_fixture()
    item = fx.bundle.items[2]
    with pytest.raises(BundleVerificationError) as e:
        verify_bundle(fx.bundle, ciphertexts={item.record.evidence_id: b"not the blob"})
    assert (e.value.check, e.value.item) == ("ciphertext_sha256", "0x" + item.record.evidence_id.hex())


def test_parse_dump_round_trip_is_byte_exact() -> None:
    data = (VECTORS / "bundles" / "good.json").read_bytes()
    assert dump_bundle(parse_bundle(data)) == data


def test_golden_bundle_is_byte_identical_to_one_built_from_fixed_inputs() -> None:
    """A change to the bundle format (or record encoding, or sealing) must be deliberate:
    regenerate with `python -m tests.evidence.make_vectors` and review the diff."""
    assert dump_bundle(build_fixture().bundle) == (HERE / "golden" / "bundle_v1.json").read_bytes()


def test_committed_vectors_are_what_the_generator_writes() -> None:
    for path, data in make_vectors.write_all().items():
        assert path.read_bytes() == data, (
            f"{path.relative_to(HERE)} is stale: run python -m tests.evidence.make_vectors"
        )
    committed = {p for p in (VECTORS / "bundles").iterdir()}
    assert committed == {p for p in make_vectors.write_all() if p.parent == VECTORS / "bundles"}

"""The committed artifacts are exactly what the sources compile to (reproducible build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.artifacts import ARTIFACTS_DIR, load_artifact
from client.build import BuildError, build, collect_sources, find_project_root

ROOT = find_project_root(Path(__file__).parent)


@pytest.fixture(scope="module")
def rebuilt() -> dict[str, str]:
    return build(ROOT, out_dir=None).files


def test_recompiling_sources_reproduces_committed_artifacts_byte_for_byte(
    rebuilt: dict[str, str],
) -> None:
    committed = {p.name: p.read_text() for p in ARTIFACTS_DIR.glob("*.json")}
    assert sorted(committed) == sorted(rebuilt), "artifact set differs: run `coledger build`"
    stale = [name for name, text in rebuilt.items() if committed[name] != text]
    assert stale == [], f"committed artifacts differ from sources: {stale}; run `coledger build`"


def test_manifest_pins_compiler_and_hashes_every_source(rebuilt: dict[str, str]) -> None:
    manifest = json.loads(rebuilt["manifest.json"])
    assert manifest["compiler"].startswith("0.8.30+commit.")
    assert "contracts/Consortium.sol" in manifest["sources"]
    assert any(unit.startswith("@openzeppelin/") for unit in manifest["sources"]) or all(
        "@openzeppelin" not in text for text in collect_sources(ROOT).values()
    )


def test_consortium_artifact_loads_with_abi_and_bytecode() -> None:
    artifact = load_artifact("Consortium")
    names = {e.get("name") for e in artifact.abi}
    assert {"propose", "approve", "execute", "transactionAllowed"} <= names
    assert len(artifact.bytecode) > len(artifact.deployed_bytecode) > 0


def test_missing_import_is_a_build_error_naming_the_import(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "contracts" / "A.sol").write_text('import "./Missing.sol";\ncontract A {}\n')
    with pytest.raises(BuildError, match="contracts/Missing.sol"):
        collect_sources(tmp_path)


def test_syntax_error_is_a_build_error_with_the_compiler_message(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    (tmp_path / "contracts" / "A.sol").write_text("pragma solidity 0.8.30;\ncontract A { uint x = ; }\n")
    with pytest.raises(BuildError, match="ParserError"):
        build(tmp_path, out_dir=None)

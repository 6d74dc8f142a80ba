"""Compile `contracts/` into the committed artifacts, reproducibly and offline.

Why this shape: no native `solc` can be downloaded here, so py-solc-x's `compile_standard` is
pointed (`solc_binary=`) at a small Node wrapper over the npm `solc` package (solc-js), unless a
native solc of the pinned version is on PATH. Every source — ours and OpenZeppelin's from
node_modules — is given inline as standard-JSON `content`, so the compiler reads no files and the
output depends on the input alone. The artifacts are written with sorted keys so that a rebuild of
unchanged sources is byte-identical (the reproducible-build test relies on that).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from client.artifacts import ARTIFACTS_DIR
from client.errors import BuildError

__all__ = [
    "SOLC_VERSION",
    "EVM_VERSION",
    "OPTIMIZER_RUNS",
    "VIA_IR",
    "BuildResult",
    "build",
    "collect_sources",
    "compile_sources",
    "find_project_root",
    "render_artifacts",
]

SOLC_VERSION = "0.8.30"
EVM_VERSION = "cancun"
# The via-IR pipeline with a high runs value: the embedded py-evm node's throughput depends on the
# EVM opcodes executed per fund flow, and this cuts them by ~30% (FundFlows.recordFlows of a
# realistic mix: 2,184 -> 1,536 opcodes and 22,577 -> 21,105 gas per flow with viaIR and runs =
# 20,000, against legacy codegen with runs = 200). Runs = 1,000,000 executes the same or marginally
# less (<= 2 opcodes, <= 6 gas per flow) for ~500 more bytes per large contract; every deployed
# contract stays under the 24,576-byte EIP-170 limit (largest: FundFlows, 19,926 bytes).
VIA_IR = True
OPTIMIZER_RUNS = 1_000_000
_IMPORT_RE = re.compile(r"""^\s*import\s+(?:[^;"']*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)
_WRAPPER_JS = Path(__file__).resolve().parent / "_solc_wrapper.js"


@dataclass(frozen=True)
class BuildResult:
    """What a build produced: artifact file contents by file name, and the compiler used."""

    files: dict[str, str]
    compiler: str


def find_project_root(start: Path | None = None) -> Path:
    """The directory holding `contracts/` and `package.json` (the repository root)."""
    candidates = [start or Path.cwd(), Path(__file__).resolve().parent.parent]
    for candidate in candidates:
        for directory in [candidate, *candidate.parents]:
            if (directory / "contracts").is_dir() and (directory / "package.json").is_file():
                return directory
    raise BuildError("cannot find the project root (a directory with contracts/ and package.json)")


def collect_sources(root: Path) -> dict[str, str]:
    """Every `contracts/**/*.sol` plus, transitively, every file they import, by unit name.

    Unit names match Hardhat's (``contracts/Consortium.sol``, ``@openzeppelin/contracts/...``) so
    both toolchains see the same source tree.
    """
    pending = sorted(p.relative_to(root).as_posix() for p in (root / "contracts").rglob("*.sol"))
    if not pending:
        raise BuildError(f"no Solidity sources under {root / 'contracts'}")
    sources: dict[str, str] = {}
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        path = root / unit if unit.startswith("contracts/") else root / "node_modules" / unit
        if not path.is_file():
            raise BuildError(f"import {unit!r} not found at {path} (run `npm ci` for libraries)")
        text = path.read_text(encoding="utf-8")
        sources[unit] = text
        for imported in _IMPORT_RE.findall(text):
            pending.append(_resolve_import(unit, imported))
    return dict(sorted(sources.items()))


def _resolve_import(importer: str, imported: str) -> str:
    if imported.startswith("./") or imported.startswith("../"):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), imported))
    return imported


def standard_input(sources: dict[str, str]) -> dict[str, Any]:
    """The standard-JSON compiler input: all sources inline, pinned settings."""
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": VIA_IR,
            "evmVersion": EVM_VERSION,
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.methodIdentifiers",
                        "metadata",
                    ]
                }
            },
        },
    }


def _native_solc() -> str | None:
    found = shutil.which("solc")
    if not found:
        return None
    try:
        version = solcx.wrapper.get_solc_version(found)
    except (SolcError, OSError, subprocess.SubprocessError):
        return None
    return found if str(version) == SOLC_VERSION else None


def _wrapper_executable(root: Path, workdir: Path) -> str:
    """An executable file that runs the Node wrapper (py-solc-x wants one path to execute)."""
    if shutil.which("node") is None:
        raise BuildError("neither a native solc nor Node.js is on PATH; install Node 20+")
    if not (root / "node_modules" / "solc").is_dir():
        raise BuildError(f"npm package solc missing in {root / 'node_modules'}; run `npm ci`")
    script = workdir / "solc"
    script.write_text(f'#!/bin/sh\nexec node "{_WRAPPER_JS}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def compile_sources(root: Path, sources: dict[str, str]) -> tuple[dict[str, Any], str]:
    """Run the compiler on `sources`; returns (standard-JSON output, compiler description)."""
    with tempfile.TemporaryDirectory(prefix="coledger-solc-") as tmp:
        binary = _native_solc() or _wrapper_executable(root, Path(tmp))
        os.environ.setdefault("COLEDGER_NODE_MODULES", str(root / "node_modules"))
        version = str(solcx.wrapper.get_solc_version(binary, with_commit_hash=True))
        try:
            output = solcx.compile_standard(standard_input(sources), solc_binary=binary)
        except SolcError as exc:
            raise BuildError(f"Solidity compilation failed:\n{exc.message}") from exc
    if not version.startswith(SOLC_VERSION):
        raise BuildError(f"compiler is {version}, the build is pinned to {SOLC_VERSION}")
    return output, version


def render_artifacts(
    sources: dict[str, str], output: dict[str, Any], compiler: str
) -> dict[str, str]:
    """Artifact file contents (one per contract of ours, plus a manifest), deterministic text."""
    files: dict[str, str] = {}
    for unit, contracts in sorted(output["contracts"].items()):
        if not unit.startswith("contracts/"):
            continue
        for name, compiled in sorted(contracts.items()):
            artifact = {
                "contractName": name,
                "sourceName": unit,
                "abi": compiled["abi"],
                "bytecode": compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": compiled["evm"]["deployedBytecode"]["object"],
                "methodIdentifiers": compiled["evm"]["methodIdentifiers"],
                "metadata": compiled["metadata"],
            }
            if f"{name}.json" in files:
                raise BuildError(f"two contracts named {name}; artifact names must be unique")
            files[f"{name}.json"] = json.dumps(artifact, indent=1, sort_keys=True) + "\n"
    manifest = {
        "compiler": compiler,
        "evmVersion": EVM_VERSION,
        "optimizerRuns": OPTIMIZER_RUNS,
        "viaIR": VIA_IR,
        "sources": {
            unit: hashlib.sha256(text.encode()).hexdigest() for unit, text in sources.items()
        },
    }
    files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    return files


def build(root: Path | None = None, out_dir: Path | None = ARTIFACTS_DIR) -> BuildResult:
    """Compile the project and (unless `out_dir` is None) replace the artifacts in `out_dir`."""
    project = root or find_project_root()
    sources = collect_sources(project)
    output, compiler = compile_sources(project, sources)
    files = render_artifacts(sources, output, compiler)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob("*.json"):
            if stale.name not in files:
                stale.unlink()
        for name, text in files.items():
            (out_dir / name).write_text(text)
    return BuildResult(files=files, compiler=compiler)


if __name__ == "__main__":
    result = build()
    print(f"compiled with solc {result.compiler}: {len(result.files) - 1} artifacts")

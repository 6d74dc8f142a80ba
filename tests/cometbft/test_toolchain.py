"""The pinned engine and bindings: provided once, atomically, with a named error per failure."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from node.cometbft import toolchain
from node.cometbft.toolchain import (
    COMETBFT_VERSION,
    BuildFailedError,
    GoNotFoundError,
    ensure_bindings,
    ensure_cometbft,
    installed_version,
)


def test_binary_reports_the_pinned_version(cometbft_bin: Path) -> None:
    assert cometbft_bin == toolchain.cometbft_path()
    assert installed_version(cometbft_bin) == COMETBFT_VERSION.removeprefix("v")


def test_ensure_cometbft_skips_the_build_when_pinned_binary_exists(cometbft_bin: Path) -> None:
    before = cometbft_bin.stat().st_mtime_ns
    lines: list[str] = []
    assert ensure_cometbft(lines.append) == cometbft_bin
    assert lines == [] and cometbft_bin.stat().st_mtime_ns == before


def test_ensure_bindings_is_idempotent_and_marks_completion(cometbft_bin: Path) -> None:
    directory = ensure_bindings()
    marker = directory / toolchain.BINDINGS_MARKER
    assert json.loads(marker.read_text())["cometbft"] == COMETBFT_VERSION
    before = marker.stat().st_mtime_ns
    assert ensure_bindings() == directory and marker.stat().st_mtime_ns == before
    assert (directory / "tendermint" / "abci" / "types_pb2.py").is_file()
    assert (directory / "gogoproto" / "gogo_pb2.py").is_file()


def test_tools_dir_follows_the_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLEDGER_TOOLS_DIR", str(tmp_path))
    assert toolchain.cometbft_path() == tmp_path / "cometbft" / COMETBFT_VERSION / "bin" / "cometbft"


def test_missing_go_raises_GoNotFoundError_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLEDGER_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GoNotFoundError, match="install Go"):
        ensure_cometbft(lambda _line: None)


def test_failed_go_install_raises_BuildFailedError_with_go_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_go = fake_bin / "go"
    fake_go.write_text("#!/bin/sh\necho 'module lookup disabled: boom' >&2\nexit 1\n")
    fake_go.chmod(fake_go.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("COLEDGER_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    lines: list[str] = []
    with pytest.raises(BuildFailedError) as caught:
        ensure_cometbft(lines.append)
    assert "boom" in caught.value.stderr_tail
    assert lines == [f"building CometBFT {COMETBFT_VERSION} (first use, ~1-2 min)..."]
    bin_dir = tmp_path / "tools" / "cometbft" / COMETBFT_VERSION / "bin"
    assert not (bin_dir / "cometbft").exists()
    assert [p.name for p in bin_dir.parent.iterdir()] == ["bin"]  # the temporary build dir is gone


def test_incomplete_bindings_dir_is_replaced_not_trusted(
    cometbft_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLEDGER_TOOLS_DIR", str(tmp_path))
    stale = toolchain.bindings_dir()
    (stale / "tendermint").mkdir(parents=True)
    (stale / "tendermint" / "half_written_pb2.py").write_text("raise SystemExit")
    assert ensure_bindings(lambda _line: None) == stale
    assert not (stale / "tendermint" / "half_written_pb2.py").exists()
    assert (stale / toolchain.BINDINGS_MARKER).is_file()
    assert [p.name for p in stale.parent.iterdir() if p.name.startswith(".")] == []

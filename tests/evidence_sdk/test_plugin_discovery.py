"""`client.cli` finds its plugins through the `coledger.commands` entry points, never by import."""

from __future__ import annotations

import argparse
import ast
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest

import client.cli as cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_evidence_plugin_is_registered_as_an_entry_point() -> None:
    found = {ep.name: ep.value for ep in entry_points(group=cli.PLUGIN_GROUP)}
    assert found.get("evidence") == "arbitration.cli:register"
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"evidence", "api"} <= set(commands)


def test_plugins_register_in_name_order_and_a_broken_one_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def hello(sub: Any) -> None:
        calls.append("hello")
        p = sub.add_parser("hello")
        p.set_defaults(func=lambda args: print("hi") or 0)

    class Fake(EntryPoint):
        def load(self) -> Any:
            if self.name == "broken":
                raise ImportError("no module named broken_plugin")
            return hello

    fakes = [Fake("zz-hello", "x:register", cli.PLUGIN_GROUP), Fake("broken", "broken_plugin:register",
                                                                    cli.PLUGIN_GROUP)]
    monkeypatch.setattr(cli, "entry_points", lambda group: [f for f in fakes if f.group == group])
    assert cli.main(["hello"]) == 0
    out, err = capsys.readouterr()
    assert out == "hi\n" and calls == ["hello"]
    assert err == ("coledger: warning: plugin 'broken' (broken_plugin:register) not loaded: "
                   "no module named broken_plugin\n")
    assert isinstance(cli.build_parser(), argparse.ArgumentParser)


def test_client_never_imports_arbitration() -> None:
    for path in (ROOT / "client").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "arbitration" or n.startswith("arbitration.") for n in names), path

"""Fixtures of the replay tests: one varied chain built once, served from copies of its data dir."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.audit._chainbuilder import Node, build_varied_chain, restart_on, start_node


@dataclass
class BuiltChain:
    """A stopped node's data dir holding the varied chain, and what its head looked like."""

    node: Node
    head: dict[str, Any]
    tx_blocks: dict[str, int]


@pytest.fixture(scope="session")
def built_chain() -> Iterator[BuiltChain]:
    work = Path(tempfile.mkdtemp(prefix="coledger-audit-"))
    node = start_node(work / "origin")
    try:
        build_varied_chain(node)
        head = node.rpc("eth_getBlockByNumber", ["latest", False])
    finally:
        node.stop()
    yield BuiltChain(node, head, dict(node.tx_blocks))
    shutil.rmtree(work, ignore_errors=True)


Mutation = Callable[[sqlite3.Connection], None]


@pytest.fixture
def serve_copy(built_chain: BuiltChain, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`with serve_copy(mutate) as node:` a node serving a (tampered) copy of the chain."""
    started: list[Node] = []

    @contextmanager
    def serve(mutate: Mutation | None = None, name: str = "copy") -> Iterator[Node]:
        target = tmp_path / name
        shutil.copytree(built_chain.node.data_dir, target)
        if mutate is not None:
            conn = sqlite3.connect(target / "chain.sqlite", isolation_level=None)
            try:
                mutate(conn)
            finally:
                conn.close()
        # a tampered copy plays a node serving bad data: the node's own start-time check would
        # refuse it (that is tested in tests/node/test_store_integrity.py), the auditor must catch it
        node = (restart_on(built_chain.node, target) if mutate is None else
                start_node(target, built_chain.node.bootstrap, built_chain.node.validator_key,
                           *built_chain.node.extra, "--unsafe-skip-store-check"))
        started.append(node)
        try:
            yield node
        finally:
            node.stop()

    yield serve
    for node in started:
        node.stop()


@pytest.fixture(scope="session")
def evidence_scenario(chain, make_account, scenario):  # type: ignore[no-untyped-def]
    """Evidence, a case, an award and access logs on top of the domain scenario (same chain)."""
    from tests.audit._evidence_scenario import build

    return build(chain, make_account, scenario)

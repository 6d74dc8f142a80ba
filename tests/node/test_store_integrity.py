"""A damaged chain store is refused at start, naming the first bad block (issue 13, defect 1).

The store is a real file built by sealing blocks of signed transfers (``_chain_file``), then
damaged the way a disk or an operator does: random 4 KB pages overwritten, a block row or a
receipt row gone, a parent link broken. Opening it as the node does (``ChainCore``) must raise
``StoreCorruptError`` and leave the file byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from node.core import ChainCore
from node.errors import StoreCorruptError
from tests.node._chain_file import CHAIN_ID, GAS_LIMIT, build_chain

BLOCKS, TXS = 40, 4
PAGE = 4096


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chain = tmp_path_factory.mktemp("pristine") / "chain"
    assert build_chain(chain, BLOCKS, TXS) == (BLOCKS, BLOCKS * TXS)
    return chain


@pytest.fixture()
def chain(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "chain"
    shutil.copytree(pristine, copy)
    return copy


def _open(chain: Path) -> ChainCore:
    return ChainCore(chain, CHAIN_ID, GAS_LIMIT)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(chain: Path) -> StoreCorruptError:
    before = _sha(chain / "chain.sqlite")
    with pytest.raises(StoreCorruptError) as info:
        _open(chain)
    assert _sha(chain / "chain.sqlite") == before, "a refused start changed the store"
    assert str(chain / "chain.sqlite") in str(info.value)
    assert f"Full check: `coledger node check --data-dir {chain.parent}`" in str(info.value)
    assert "Recovery: on the solo node, restore a backup into a new data dir (`coledger node restore" in str(info.value)
    return info.value


def _sql(chain: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(chain / "chain.sqlite")
    with db:
        assert db.execute(sql, args).rowcount == 1
    db.close()


def test_a_healthy_store_passes_and_reports_what_it_checked(chain: Path) -> None:
    core = _open(chain)
    core.close()
    assert (core.start_check.head, core.start_check.transactions) == (BLOCKS, BLOCKS * TXS)


@pytest.mark.parametrize("seed", range(5))
def test_ten_random_pages_overwritten_are_refused_at_start(chain: Path, seed: int) -> None:
    store = chain / "chain.sqlite"
    pages = store.stat().st_size // PAGE
    assert pages > 100
    rng = random.Random(seed)
    with store.open("r+b") as f:
        for page in rng.sample(range(pages), 10):
            f.seek(page * PAGE)
            f.write(rng.randbytes(PAGE))
    error = _refused(chain)
    assert error.problems  # SQLite's own words about the damage
    assert "is damaged" in str(error)


def test_a_missing_receipt_row_names_its_block(chain: Path) -> None:
    _sql(chain, "DELETE FROM txs WHERE block_number = 17 AND idx = 2")
    error = _refused(chain)
    assert (error.first_bad_block, error.problems) == (17, [])
    assert f"first bad block 17: 3 of its {TXS} transactions (with their receipts) are stored" in str(error)


def test_a_missing_block_row_names_it(chain: Path) -> None:
    _sql(chain, "DELETE FROM blocks WHERE number = 23")
    error = _refused(chain)
    assert error.first_bad_block == 23 and error.reason == "missing (the next stored block is 24)"


def test_a_missing_head_block_row_names_the_head(chain: Path) -> None:
    _sql(chain, "DELETE FROM blocks WHERE number = ?", BLOCKS)
    error = _refused(chain)
    assert error.first_bad_block == BLOCKS and error.reason == f"missing (the head is block {BLOCKS})"


def test_a_broken_parent_link_names_the_block(chain: Path) -> None:
    _sql(chain, "UPDATE blocks SET json = json_set(json, '$.parentHash', ?) WHERE number = 31", "0x" + "ab" * 32)
    error = _refused(chain)
    assert error.first_bad_block == 31
    assert error.reason.startswith(f"its parentHash 0x{'ab' * 32} is not block 30's hash 0x")


def test_a_block_row_with_a_wrong_column_type_names_it(chain: Path) -> None:
    _sql(chain, "UPDATE blocks SET hash = 12345678901234 WHERE number = 9")  # bytes(12345678901234) would be 12 TB
    error = _refused(chain)
    assert error.first_bad_block == 9 and error.reason == "its row is damaged (a column holds the wrong type)"


def test_the_check_can_be_skipped_explicitly_to_inspect_a_damaged_copy(chain: Path) -> None:
    _sql(chain, "DELETE FROM txs WHERE block_number = 17 AND idx = 2")
    core = ChainCore(chain, CHAIN_ID, GAS_LIMIT, check_store=False)
    core.close()
    assert core.head.block_number == BLOCKS and core.start_check.transactions == 0

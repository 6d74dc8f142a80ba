"""`coledger node start` on a data dir whose chain store was emptied or deleted refuses to start.

Issue 13, defect 2: an emptied `chain.sqlite` used to make the node build a new genesis in the
existing data dir and redeploy the Consortium at the same address, silently replacing the chain.
Run as a user would: the real command as a process; the data dir is compared byte for byte and
mode for mode before and after the refused start (nothing created or changed). Also defect 5 at
the process level: the data dir, keystore dir and chain dir a first start makes are 0700, the key
and password files and the store 0600.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from client.config import DataDir
from client.datadir_check import require_chain_if_deployed
from client.errors import ChainStoreMissingError
from tests._file_modes import mode
from tests.conftest import free_port
from tests.e2e.test_node_start import COLEDGER, ROOT, RunningNode, _env

pytestmark = pytest.mark.e2e


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root``: its mode and (for files) content hash."""
    out: dict[str, tuple[int, str]] = {".": (os.stat(root).st_mode, "")}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(p.relative_to(root))] = (st.st_mode, digest)
    return out


@pytest.fixture(scope="module")
def served_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir after one real first start (keystores, deployment record, chain), stopped cleanly."""
    data_dir = tmp_path_factory.mktemp("integrity") / "coledger-data"
    node = RunningNode(data_dir, free_port())
    time.sleep(1.0)  # the banner comes just before the SIGTERM handler is installed
    node.stop()
    assert node.proc.returncode == 0, node.text()
    return data_dir


def test_first_start_creates_the_data_dir_keystores_and_store_private(served_data_dir: Path) -> None:
    data = DataDir(served_data_dir)
    assert mode(data.root) == mode(data.keystore) == mode(data.chain) == 0o700
    secrets = [*data.keystore.glob("*.json"), data.keystore / "password", data.chain / "chain.sqlite"]
    assert len(secrets) > 3 and {p.name: mode(p) for p in secrets} == {p.name: 0o600 for p in secrets}


@pytest.mark.parametrize("damage", ["emptied", "deleted"])
def test_start_on_a_lost_chain_store_refuses_naming_it_and_changes_nothing(
    served_data_dir: Path, tmp_path: Path, damage: str
) -> None:
    data_dir = tmp_path / "coledger-data"
    shutil.copytree(served_data_dir, data_dir)
    store = data_dir / "chain" / "chain.sqlite"
    if damage == "emptied":
        store.write_bytes(b"")
    else:
        store.unlink()
    before = _snapshot(data_dir)
    done = subprocess.run(
        [*COLEDGER, "node", "start", "--data-dir", str(data_dir), "--port", str(free_port())],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    problem = "is empty (0 bytes)" if damage == "emptied" else "is missing"
    assert f"its chain store {store} {problem}; refusing to start" in done.stderr
    assert "deployment record (deployment.json) and keystores" in done.stderr
    assert "new genesis would silently replace the recorded chain" in done.stderr
    assert _snapshot(data_dir) == before


def test_the_check_passes_a_first_start_and_a_healthy_data_dir(served_data_dir: Path, tmp_path: Path) -> None:
    require_chain_if_deployed(DataDir(tmp_path / "new"))  # nothing there yet: a first start
    require_chain_if_deployed(DataDir(served_data_dir))
    lost = DataDir(tmp_path / "lost")
    lost.root.mkdir()
    lost.deployment.write_text("{}")
    with pytest.raises(ChainStoreMissingError) as info:
        require_chain_if_deployed(lost)
    assert info.value.store == str(lost.chain / "chain.sqlite") and info.value.problem == "is missing"
    assert sorted(p.name for p in lost.root.iterdir()) == ["deployment.json"]


def test_start_on_a_store_with_overwritten_pages_refuses_naming_the_damage(
    served_data_dir: Path, tmp_path: Path
) -> None:
    """Issue 13, defect 1, as a process: 10 random 4 KB pages overwritten; the node must not serve."""
    data_dir = tmp_path / "coledger-data"
    shutil.copytree(served_data_dir, data_dir)
    store = data_dir / "chain" / "chain.sqlite"
    rng = random.Random(13)
    with store.open("r+b") as f:
        for page in rng.sample(range(1, store.stat().st_size // 4096), 10):
            f.seek(page * 4096)
            f.write(rng.randbytes(4096))
    damaged = hashlib.sha256(store.read_bytes()).hexdigest()
    done = subprocess.run(
        [*COLEDGER, "node", "start", "--data-dir", str(data_dir), "--port", str(free_port())],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"coledger: error: chain store {store} is damaged" in done.stderr
    assert f"Refusing to serve it. Full check: `coledger node check --data-dir {data_dir}`" in done.stderr
    assert "Recovery: on the solo node, restore a backup into a new data dir" in done.stderr
    assert "Traceback" not in done.stderr
    assert hashlib.sha256(store.read_bytes()).hexdigest() == damaged

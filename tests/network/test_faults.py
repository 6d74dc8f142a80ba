"""Faults under load: crash, pause, cut off, a lying app. Nothing acknowledged is ever lost.

"Acknowledged" is a receipt a validator returned to the load's client. After every fault and
its recovery, each acknowledged receipt must be present, and identical, on every live validator,
and every live validator serves the same chain.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.network.conftest import Net, _start
from tests.network.load import LoadGenerator, chain_digest, rpc, wait_for_receipts, wait_height
from tests.network.partition import Partitioner

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def faulty() -> Iterator[Net]:
    yield from _start("coledger-faults-")


def _heads(net: Net, live: list[int]) -> list[int]:
    return [int(rpc(net.urls[i], "eth_blockNumber", timeout=5), 16) for i in live]


def _progress(net: Net, live: list[int], blocks: int = 3, timeout: float = 60) -> None:
    start = max(_heads(net, live))
    for i in live:
        wait_height(net.urls[i], start + blocks, timeout)


def _assert_same(net: Net, live: list[int], acknowledged: dict[str, object]) -> None:
    for i in live:
        found = wait_for_receipts(net.urls[i], list(acknowledged), timeout=120)
        for h, receipt in acknowledged.items():
            assert found[h] == receipt, f"validator {i} serves another receipt for {h}"
    head = min(_heads(net, live))
    digests = [chain_digest(net.urls[i], head) for i in live]
    assert all(d == digests[0] for d in digests[1:]), "validators disagree"


def _load(net: Net, live: list[int]) -> LoadGenerator:
    gen = LoadGenerator([net.urls[i] for i in live], net.members[:3], net.contract)
    gen.start()
    return gen


def test_kill_one_validator_chain_goes_on_and_it_catches_up(faulty: Net) -> None:
    net = faulty
    gen = _load(net, [0, 1, 2])
    time.sleep(3)
    net.runner.kill(3, signal.SIGKILL)
    _progress(net, [0, 1, 2], blocks=5)
    acked = gen.stop()
    assert len(acked) >= 5
    net.runner.restart(3)
    _assert_same(net, [0, 1, 2, 3], acked)


def test_kill_two_of_four_halts_without_fork_then_resumes(faulty: Net) -> None:
    net = faulty
    gen = _load(net, [0, 1])
    time.sleep(2)
    net.runner.kill(2, signal.SIGKILL)
    net.runner.kill(3, signal.SIGKILL)
    time.sleep(3)  # what was in flight settles
    stalled = _heads(net, [0, 1])
    time.sleep(6)
    assert _heads(net, [0, 1]) == stalled, "2 of 4 validators must not commit (no 2/3 majority)"
    acked_before = dict(gen.acknowledged)
    net.runner.restart(2)
    _progress(net, [0, 1, 2], blocks=3, timeout=90)
    acked = gen.stop()
    assert len(acked) > len(acked_before), "progress resumed under load"
    net.runner.restart(3)
    _assert_same(net, [0, 1, 2, 3], acked)


def test_sigstop_one_validator_for_30s(faulty: Net) -> None:
    net = faulty
    gen = _load(net, [0, 1, 2])
    net.runner.pause(3)
    try:
        before = max(_heads(net, [0, 1, 2]))
        time.sleep(30)
        assert max(_heads(net, [0, 1, 2])) > before, "the others went on"
    finally:
        net.runner.resume(3)
    acked = gen.stop()
    _assert_same(net, [0, 1, 2, 3], acked)


def test_kill_app_only_replays_to_the_same_app_hash(faulty: Net) -> None:
    net = faulty
    gen = _load(net, [0, 1, 2])
    time.sleep(3)
    old_pid = net.runner.validators[3].pid
    net.runner.kill_app_only(3)
    # the runner restarts the validator; CometBFT's handshake replays what the app lacks
    deadline = time.monotonic() + 90
    while net.runner.validators[3].pid == old_pid and time.monotonic() < deadline:
        time.sleep(0.5)
    net.runner.wait_ready(90, [3])
    acked = gen.stop()
    _assert_same(net, [0, 1, 2, 3], acked)
    log = (net.root / "validator-3" / "cometbft.log").read_text(errors="replace")
    assert "ABCI Handshake App Info" in log


def test_validator_with_a_wrong_app_hash_stops_with_a_clear_error(tmp_path) -> None:
    """Validator 3's app (test-only switch) reports a wrong app hash from height 12 on."""
    gen_net = _start("coledger-wrong-hash-",
                     extra_env={3: {"COLEDGER_TEST_WRONG_APP_HASH_FROM": "12"}})
    net = next(gen_net)
    try:
        gen = _load(net, [0, 1, 2])
        _progress(net, [0, 1, 2], blocks=12, timeout=120)
        acked = gen.stop()
        assert max(_heads(net, [0, 1, 2])) >= 14
        # validator 3 did not follow past the block whose app hash it got wrong
        v3 = net.runner.validators[3]
        assert v3.proc is not None
        v3.proc.wait(90)  # it stops by itself
        deadline = time.monotonic() + 10
        while not v3.held and time.monotonic() < deadline:  # the runner's watcher looks twice a s
            time.sleep(0.2)
        assert v3.proc.returncode == 3 and v3.held, "left stopped: restarting cannot help"
        log = (net.root / "validator-3" / "validator.log").read_text(errors="replace")
        assert "consensus failure" in log and "app hash differs from this validator's" in log, \
            log[-3000:]
        assert "diverged" in log
        _assert_same(net, [0, 1, 2], acked)
    finally:
        next(gen_net, None)


def test_isolated_validator_halts_and_heals() -> None:
    """Validator 3's p2p links are cut: the three go on, it halts; healed, it catches up."""
    cut: list[Partitioner] = []

    def relays(root: Path) -> None:
        cut.append(Partitioner(root))

    gen_net = _start("coledger-partition-", before_start=relays)
    net = next(gen_net)
    partitioner = cut[0]
    try:
        gen = _load(net, [0, 1, 2])
        _progress(net, [0, 1, 2], blocks=2)
        partitioner.isolate(3)
        time.sleep(2)
        isolated_at = _heads(net, [3])[0]
        _progress(net, [0, 1, 2], blocks=5)
        assert _heads(net, [3])[0] == isolated_at, "an isolated validator cannot commit alone"
        partitioner.heal(3)
        acked = gen.stop()
        _assert_same(net, [0, 1, 2, 3], acked)
        assert _heads(net, [3])[0] > isolated_at
    finally:
        partitioner.close()
        next(gen_net, None)

"""Prefetch windows are sized in transactions, so fetching overlaps re-execution from block 1."""

from __future__ import annotations

from collections.abc import Callable

from client.audit.fetch import BlockFetcher, RpcClient, ServedBlock


class _Fetcher(BlockFetcher):
    def __init__(self, txs_of: Callable[[int], int], window: int = 50) -> None:
        super().__init__(RpcClient("http://127.0.0.1:1"), window)
        self.txs_of = txs_of
        self.calls: list[tuple[int, int]] = []

    def fetch(self, first: int, last: int) -> list[ServedBlock]:
        self.calls.append((first, last))
        return [ServedBlock(n, {"number": hex(n)}, [{}] * self.txs_of(n), None)
                for n in range(first, last + 1)]


def _sizes(f: _Fetcher, first: int, last: int) -> list[int]:
    numbers = [b.number for w in f.windows(first, last) for b in w]
    assert numbers == list(range(first, last + 1))  # every block once, in order
    return [b - a + 1 for a, b in f.calls]


def test_busy_blocks_come_a_few_at_a_time_starting_with_one() -> None:
    assert _sizes(_Fetcher(lambda n: 1_050), 1, 20) == [1] + [1] * 19
    assert _sizes(_Fetcher(lambda n: 400), 1, 21) == [1, 2, 4, 5, 5, 4]


def test_empty_blocks_grow_by_doubling_up_to_the_window_and_shrink_at_once() -> None:
    f = _Fetcher(lambda n: 0 if n <= 200 else 1_000)
    sizes = _sizes(f, 1, 240)
    assert sizes[:7] == [1, 2, 4, 8, 16, 32, 50]
    assert max(sizes) == 50
    assert sizes[-5:] == [2, 2, 2, 2, 2]

"""The group commit every small write of the message path goes through
(bot.services.batching): what each caller gets back, whatever the write does."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from bot.services.batching import GroupCommit


class Store:
    """A write that records its batches; `fail` makes the next one raise, `wrong` makes it
    return something that is no mapping."""

    def __init__(self) -> None:
        self.batches: list[dict[str, int]] = []
        self.fail: Exception | None = None
        self.wrong = False

    async def write(self, items: Mapping[str, int]) -> Mapping[str, int]:
        await asyncio.sleep(0.01)
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.batches.append(dict(items))
        if self.wrong:
            self.wrong = False
            return [1, 2]  # type: ignore[return-value]
        return {key: value * 10 for key, value in items.items()}


async def test_items_that_arrive_while_one_is_written_go_together() -> None:
    store = Store()
    commit = GroupCommit(store.write, name="test")
    first = asyncio.create_task(commit.submit("a", 1))
    await asyncio.sleep(0)  # "a" is being written
    rest = [commit.submit(key, n) for n, key in enumerate("bcdef", start=2)]
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40, 50, 60]
    assert store.batches == [{"a": 1}, {"b": 2, "c": 3, "d": 4, "e": 5, "f": 6}]


async def test_a_key_twice_at_once_is_written_once_and_both_get_its_result() -> None:
    store = Store()
    commit = GroupCommit(store.write, name="test")
    assert list(await asyncio.gather(commit.submit("a", 1), commit.submit("a", 2))) == [10, 10]
    assert store.batches == [{"a": 1}]


@pytest.mark.parametrize("failure", ["raises", "returns no mapping"])
async def test_a_failed_write_fails_its_callers_and_the_next_items_are_written(
    failure: str,
) -> None:
    store = Store()
    commit = GroupCommit(store.write, name="test")
    if failure == "raises":
        store.fail = RuntimeError("database gone")
    else:
        store.wrong = True
    first = asyncio.create_task(commit.submit("a", 1))
    await asyncio.sleep(0)
    later = asyncio.create_task(commit.submit("b", 2))  # waits for the next write
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        await first
    assert await asyncio.wait_for(later, 2) == 20


async def test_a_cancelled_caller_does_not_cancel_the_write_others_wait_for() -> None:
    store = Store()
    commit = GroupCommit(store.write, name="test")
    gone = asyncio.create_task(commit.submit("a", 1))
    staying = asyncio.create_task(commit.submit("a", 1))
    await asyncio.sleep(0)
    gone.cancel()
    assert await staying == 10
    assert store.batches == [{"a": 1}]

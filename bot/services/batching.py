"""Group commit: writes asked for while one runs go together in the next one.

Every message passes a few small writes (its update id, the chat's row on first contact, the
question's statistics). Under load, 20 people at once, one transaction each kept SQLite's one
writing connection busy all the time and every answer queued behind it. A `GroupCommit` runs
one write at a time; what arrives meanwhile waits, and the next write takes all of it. With
nothing else waiting a write starts at once, so one person alone waits for nothing extra.

Each caller still returns only once its own item is stored (or with the error of the write that
failed it), so a handler can rely on the row as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[Mapping[K, T]], Awaitable[Mapping[K, R]]]


class GroupCommit(Generic[K, T, R]):
    """Items by key, written `limit` at a time by `write`, which returns each key's result.

    A key submitted again while its item waits or is being written shares that write and its
    result (the item submitted first is the one written).
    """

    def __init__(self, write: Write[K, T, R], *, name: str, limit: int = 500) -> None:
        self._write = write
        self._name = name
        self._limit = limit
        self._waiting: dict[K, tuple[T, asyncio.Future[R]]] = {}
        self._writing: dict[K, asyncio.Future[R]] = {}
        self._task: asyncio.Task[None] | None = None

    def pending(self, key: K) -> asyncio.Future[R] | None:
        """The result to come for `key` if it waits for a write or is being written."""
        waiting = self._waiting.get(key)
        return waiting[1] if waiting is not None else self._writing.get(key)

    async def submit(self, key: K, item: T) -> R:
        """Write `item` with the next batch; its result once it is stored."""
        future = self.pending(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[key] = (item, future)
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run(), name=self._name)
        # Shielded: a caller that is cancelled does not cancel the write others wait for.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[: self._limit]
            items = {key: self._waiting[key][0] for key in keys}
            self._writing = {key: self._waiting.pop(key)[1] for key in keys}
            try:
                results = dict(await self._write(items))
            except BaseException as error:  # each waiting caller fails as its own write would
                stopped = not isinstance(error, Exception)  # cancelled: the process stops
                futures = list(self._writing.values())
                if stopped:
                    futures += [future for _, future in self._waiting.values()]
                    self._waiting.clear()
                for future in futures:
                    if future.done():
                        continue
                    if stopped:
                        future.cancel()
                    else:
                        future.set_exception(error)
                        future.exception()  # retrieved: only the callers' awaits report it
                if stopped:
                    raise
            else:
                for key, future in self._writing.items():
                    if future.done():
                        continue
                    if key in results:
                        future.set_result(results[key])
                    else:  # the write's own bug: its caller learns of it, the others go on
                        future.set_exception(LookupError(f"{self._name}: no result for {key!r}"))
                        future.exception()
            finally:
                self._writing = {}

"""The database work on every message's path, under many people at once.

Each update's id is noted (so a second delivery is dropped) and each chat is registered in
batches (bot.services.batching), and what waits for a person's input is read on connections
of its own on a SQLite file: under load the one writing connection was busy all the time, and
every answer queued behind it (`python -m benchmarks.load`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine, create_readers, create_sessionmaker, dispose
from bot.db.models import Chat
from bot.services.chats import ChatService, Registered
from bot.services.waiting import HeldQuestion, WaitingService, WaitKind


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def count_inserts(engine: AsyncEngine, into: str) -> list[str]:
    """The INSERT statements into `into` that run on `engine` from now on."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _note(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(f"INSERT INTO {into.upper()}"):
            seen.append(statement)

    return seen


async def test_updates_arriving_together_are_each_taken_once_in_few_writes(
    engine: AsyncEngine,
) -> None:
    """60 updates at once, each delivered twice at the same moment, and again later: each is
    taken exactly once, and they are noted in a few statements, not 120."""
    waiting = WaitingService(create_sessionmaker(engine))
    inserts = count_inserts(engine, "seen_updates")
    ids = list(range(9000, 9060))
    first = await asyncio.gather(*(waiting.first_delivery(i) for i in [*ids, *ids]))
    taken = [update_id for update_id, ok in zip([*ids, *ids], first, strict=True) if ok]
    assert sorted(taken) == ids
    assert 1 <= len(inserts) <= 3, len(inserts)
    assert not any(await asyncio.gather(*(waiting.first_delivery(i) for i in ids)))


async def test_two_processes_take_each_update_once(engine: AsyncEngine) -> None:
    """A proxy in front of two bot processes delivers each update to both at once."""
    one = WaitingService(create_sessionmaker(engine))
    other = WaitingService(create_sessionmaker(engine))
    ids = list(range(9100, 9140))
    results = await asyncio.gather(
        *(one.first_delivery(i) for i in ids), *(other.first_delivery(i) for i in ids)
    )
    assert [a + b for a, b in zip(results[:40], results[40:], strict=True)] == [1] * 40


async def test_a_failed_write_fails_every_update_that_waited_for_it(engine: AsyncEngine) -> None:
    """The database refuses: every update in the batch learns it (the error handler answers
    each), and the next updates are noted again once the database is back."""
    waiting = WaitingService(create_sessionmaker(engine))
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE seen_updates RENAME TO seen_updates_away"))
    results = await asyncio.gather(
        *(waiting.first_delivery(i) for i in range(9200, 9210)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results), results
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE seen_updates_away RENAME TO seen_updates"))
    assert await waiting.first_delivery(9200)


async def test_what_waits_is_read_while_a_long_write_holds_the_database(
    database_url: str,
) -> None:
    """A person's next message is routed even while another transaction writes (on a SQLite
    file its one writing connection is then taken)."""
    engine = create_engine(database_url)
    sessions, readers = create_sessionmaker(engine), create_readers(engine)
    waiting = WaitingService(sessions, readers=readers)
    try:
        await waiting.expect(chat_id=77, user_id=77, kind=WaitKind.JOIN)
        async with sessions.begin() as session:  # a long write: holds the writer
            await session.execute(text("UPDATE waiting SET payload = payload"))
            pending = await asyncio.wait_for(waiting.pending(chat_id=77, user_id=77), 5)
        assert pending.wait is not None and pending.wait.kind is WaitKind.JOIN
    finally:
        await dispose(sessions, readers)


async def test_the_readers_of_a_sqlite_file_cannot_write(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: elsewhere the readers are the engine's own sessions")
    engine = create_engine(database_url)
    readers = create_readers(engine)
    try:
        async with readers() as session:
            with pytest.raises(OperationalError, match="readonly"):
                await session.execute(text("DELETE FROM waiting"))
    finally:
        await dispose(readers, create_sessionmaker(engine))


@pytest.mark.postgres
async def test_two_processes_noting_the_same_updates_in_opposite_order_do_not_deadlock(
    database_url: str,
) -> None:
    """Each process writes its batch in id order: in arrival order, two batches holding the
    same ids in opposite orders would each wait for the other (PostgreSQL aborts one)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    engine = create_engine(database_url)
    try:
        for round_ in range(5):
            one = WaitingService(create_sessionmaker(engine))
            other = WaitingService(create_sessionmaker(engine))
            ids = list(range(10_000 + 1000 * round_, 10_000 + 1000 * round_ + 500))
            results = await asyncio.gather(
                *(one.first_delivery(i) for i in ids),
                *(other.first_delivery(i) for i in reversed(ids)),
            )
            mine, theirs = results[:500], results[500:][::-1]
            assert [a + b for a, b in zip(mine, theirs, strict=True)] == [1] * 500
    finally:
        await engine.dispose()


async def test_a_copy_that_waited_for_a_failed_write_takes_the_update_itself(
    engine: AsyncEngine,
) -> None:
    """The same update twice at once: the second waits for the first one's write; when that
    write fails, the second notes the update itself, so the update is not lost."""
    waiting = WaitingService(create_sessionmaker(engine))
    failures = [RuntimeError("the database went away for a moment")]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _fail_once(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if "seen_updates" in statement and failures:
            raise failures.pop()

    results = await asyncio.gather(
        waiting.first_delivery(9300), waiting.first_delivery(9300), return_exceptions=True
    )
    assert sorted(map(repr, results)) == sorted(
        [repr(True), repr(RuntimeError("the database went away for a moment"))]
    )
    assert not await waiting.first_delivery(9300)


async def test_new_people_writing_at_once_are_registered_in_few_writes(engine: AsyncEngine) -> None:
    """40 people the bot has never seen write at the same moment, each twice: every one gets
    one row with their Telegram language, in a few transactions, not 80."""
    chats = ChatService(create_sessionmaker(engine))
    inserts = count_inserts(engine, "chats")
    ids = list(range(5000, 5040))

    def first_contact(chat_id: int) -> Awaitable[Registered]:
        language = "en" if chat_id % 2 else "de"
        return chats.register(chat_id=chat_id, user_id=chat_id, kind="private", language=language)

    registered = await asyncio.gather(*(first_contact(i) for i in [*ids, *ids]))
    assert [r.language for r in registered] == ["en" if i % 2 else "de" for i in [*ids, *ids]]
    assert 1 <= len(inserts) <= 3, len(inserts)
    async with create_sessionmaker(engine)() as session:
        stored = (await session.scalars(select(Chat).where(Chat.chat_id.in_(ids)))).all()
    assert sorted(c.chat_id for c in stored) == ids
    assert all(c.active and c.user_id == c.chat_id and c.kind == "private" for c in stored)


async def test_a_registration_returns_what_the_chat_chose_and_wakes_a_blocked_chat(
    engine: AsyncEngine,
) -> None:
    """After a restart (a new service), a known chat's registration returns its choices, not
    its Telegram language again; one that had blocked the bot is reachable again."""
    sessions = create_sessionmaker(engine)
    await ChatService(sessions).register(chat_id=5100, user_id=5100, kind="private", language="de")
    await ChatService(sessions).register(chat_id=5101, user_id=5101, kind="private", language="de")
    before = ChatService(sessions)
    await before.change(chat_id=5100, what="lang", wanted="en", current_lang="de")
    await before.change(chat_id=5100, what="plain", wanted="1", current_lang="en")
    await before.change(chat_id=5100, what="rg", wanted="BY", current_lang="en")
    await before.set_active(chat_id=5101, active=False)

    restarted = ChatService(sessions)
    chosen, woken, group = await asyncio.gather(
        restarted.register(chat_id=5100, user_id=5100, kind="private", language="de"),
        restarted.register(chat_id=5101, user_id=5101, kind="private", language="en"),
        restarted.register(chat_id=-5102, user_id=None, kind="group", language=None),
    )
    assert chosen == Registered(language="en", plain=True, region="BY")
    assert woken == Registered(language="de", plain=False, region=None)  # stored, not "en"
    assert group == Registered(language=None, plain=False, region=None)
    row = await restarted.get(chat_id=5101)
    assert row is not None and row.active


async def test_two_processes_registering_the_same_new_people_in_opposite_order(
    engine: AsyncEngine,
) -> None:
    """Two bot processes see the same new people at once (a proxy that delivers to both):
    one row each, no error (on PostgreSQL, no deadlock between the two inserts)."""
    for round_ in range(3):
        one, other = (
            ChatService(create_sessionmaker(engine)),
            ChatService(create_sessionmaker(engine)),
        )
        ids = list(range(6000 + 1000 * round_, 6000 + 1000 * round_ + 300))
        results = await asyncio.gather(
            *(one.register(chat_id=i, user_id=i, kind="private", language="de") for i in ids),
            *(
                other.register(chat_id=i, user_id=i, kind="private", language="en")
                for i in reversed(ids)
            ),
        )
        # Whichever process inserted a row first set its language; both read the same row.
        mine, theirs = results[:300], results[300:][::-1]
        assert mine == theirs
    async with create_sessionmaker(engine)() as session:
        count = await session.scalar(select(func.count()).select_from(Chat))
    assert count == 900


async def test_a_failed_registration_fails_its_callers_and_the_next_one_is_written(
    engine: AsyncEngine,
) -> None:
    """The database refuses one write: each person in that batch gets the error (the error
    handler answers them), a cancelled caller does not stop the others, and the next message
    registers normally."""
    chats = ChatService(create_sessionmaker(engine))
    failures = [RuntimeError("the database went away for a moment")]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _fail_once(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO CHATS") and failures:
            raise failures.pop()

    results = await asyncio.gather(
        *(chats.register(chat_id=i, user_id=i, kind="private", language="de") for i in (1, 2)),
        return_exceptions=True,
    )
    assert [repr(r) for r in results] == [
        repr(RuntimeError("the database went away for a moment"))
    ] * 2

    cancelled = asyncio.create_task(
        chats.register(chat_id=3, user_id=3, kind="private", language="de")
    )
    waiting = asyncio.create_task(
        chats.register(chat_id=3, user_id=3, kind="private", language="de")
    )
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await waiting == Registered(language="de", plain=False, region=None)
    assert await chats.register(chat_id=1, user_id=1, kind="private", language="en") == Registered(
        language="en", plain=False, region=None
    )


async def test_questions_offered_at_once_each_get_their_own_button_id(engine: AsyncEngine) -> None:
    """30 people whose questions the bot could not answer at the same moment: each button
    carries the id of that person's own question, and the questions are held in a few
    statements (each reply waits for its id)."""
    waiting = WaitingService(create_sessionmaker(engine))
    inserts = count_inserts(engine, "offered_questions")
    people = list(range(7000, 7030))
    ids = await asyncio.gather(
        *(
            waiting.offer_question(chat_id=p, language="de", question=f"Frage von {p} 👋 مرحبا")
            for p in people
        )
    )
    assert len(set(ids)) == len(people)
    assert 1 <= len(inserts) <= 3, len(inserts)
    for person, question_id in zip(people, ids, strict=True):
        held = await waiting.claim_question(question_id=question_id, chat_id=person)
        assert held == HeldQuestion(f"Frage von {person} 👋 مرحبا", "de")
    # Another person's id is not theirs to hand over; a second tap finds it handed over.
    assert await waiting.claim_question(question_id=ids[1], chat_id=people[0]) is False
    assert await waiting.claim_question(question_id=ids[0], chat_id=people[0]) is True


async def test_a_known_chat_registers_while_another_transaction_holds_its_row(
    database_url: str,
) -> None:
    """A person's settings change holds their chat's row (waiting, say, for a reminder planner
    run): their next message, and everyone else's registration behind it, is not held up."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's one writing connection runs one at a time")
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    chats = ChatService(sessions)
    try:
        await chats.register(chat_id=8000, user_id=8000, kind="private", language="de")
        async with sessions.begin() as holding:
            await holding.execute(text("UPDATE chats SET region = 'BY' WHERE chat_id = 8000"))
            known, new = await asyncio.wait_for(
                asyncio.gather(
                    chats.register(chat_id=8000, user_id=8000, kind="private", language="de"),
                    chats.register(chat_id=8001, user_id=8001, kind="private", language="en"),
                ),
                5,
            )
        assert known == Registered(language="de", plain=False, region=None)  # as committed
        assert new == Registered(language="en", plain=False, region=None)
    finally:
        await engine.dispose()

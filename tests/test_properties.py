"""Property-based tests: whatever arrives, the bot neither crashes nor acts on garbage."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from telegram import Update

from bot.app import build_application, build_services
from bot.db.engine import dispose
from bot.db.migrate import upgrade
from bot.db.models import (
    Broadcast,
    LearnedQuestion,
    OnboardingRequest,
    OutboxMessage,
    Partner,
    ReportSubmission,
)
from bot.office import parse_partners_csv
from bot.offline import OfflineBotApi, callback_update
from knowledge import KnowledgeError, load_knowledge
from knowledge.loader import BUNDLED_DIR
from tests.conftest import COORDINATOR_ID, make_settings

quick = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@quick
@given(st.text(max_size=400))
def test_any_topic_file_loads_or_says_what_is_wrong(
    tmp_path_factory: pytest.TempPathFactory, content: str
) -> None:
    root = tmp_path_factory.mktemp("kb")
    (root / "topics").mkdir()
    shutil.copy(BUNDLED_DIR / "categories.yaml", root / "categories.yaml")
    (root / "topics" / "x.yaml").write_text(content, encoding="utf-8")
    problems = []
    try:
        load_knowledge(root)
    except KnowledgeError as error:
        problems = error.problems
    assert all(str(p).startswith("topics/x.yaml:") for p in problems)


@quick
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "category",
                "title",
                "answer",
                "questions",
                "keywords",
                "related",
                "sources",
                "reviewed",
                "extra",
            ]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=8,
        ),
        max_size=10,
    )
)
def test_any_topic_structure_loads_or_says_what_is_wrong(
    tmp_path_factory: pytest.TempPathFactory, topic: dict[str, object]
) -> None:
    import yaml

    root = tmp_path_factory.mktemp("kb")
    (root / "topics").mkdir()
    shutil.copy(BUNDLED_DIR / "categories.yaml", root / "categories.yaml")
    (root / "topics" / "x.yaml").write_text(
        yaml.safe_dump(topic, allow_unicode=True), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError):
        load_knowledge(root)  # random structures never make a valid topic


@quick
@given(st.text(max_size=300))
def test_partner_csv_parsing_never_crashes(text: str) -> None:
    rows, errors = parse_partners_csv(text)
    assert rows == [] or not errors
    assert all(e.startswith(("line ", "the file")) for e in errors)


@pytest.fixture(scope="module")
def running_bot() -> Iterator[tuple[asyncio.AbstractEventLoop, object, OfflineBotApi]]:
    """One Application on its own event loop, for many generated updates."""
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{folder / 'props.sqlite3'}"
    upgrade(url)
    loop = asyncio.new_event_loop()
    bot_settings = make_settings(
        database_url=url, semantic_search=False, flood_messages_per_minute=100_000
    )
    services = build_services(bot_settings)
    api = OfflineBotApi()
    app = build_application(services, request=api, rate_limit=False)
    loop.run_until_complete(app.initialize())
    yield loop, app, api
    loop.run_until_complete(app.shutdown())
    loop.run_until_complete(dispose(services.sessions, services.readers))
    loop.close()
    shutil.rmtree(folder, ignore_errors=True)


@quick
@given(
    data=st.one_of(
        st.text(max_size=64),
        st.sampled_from(
            [
                "t:",
                "fb:",
                "c:",
                "fs:",
                "ob:",
                "rq:",
                "bc:",
                "bcx:",
                "rp:",
                "pa:",
                "mt:",
                "ne:",
                "dm:",
                "s:",
                "ho:",
                "m:",
                "lqt:",
                "lqo:",
                "lqc:",
                "lqg:",
                "lqb:",
            ]
        ).flatmap(
            lambda prefix: st.text(
                alphabet="abcdefghijklmnopqrstuvwxyz0123456789:_-", max_size=30
            ).map(lambda rest: prefix + rest)
        ),
    ),
    coordinator=st.booleans(),
)
def test_forged_or_stale_buttons_never_crash_or_act(
    running_bot: tuple[asyncio.AbstractEventLoop, object, OfflineBotApi],
    data: str,
    coordinator: bool,
) -> None:
    loop, app, api = running_bot
    user = COORDINATOR_ID if coordinator else 4711
    before = len(api.calls)
    update = Update.de_json(callback_update(data, user_id=user), app.bot)  # type: ignore[attr-defined]
    loop.run_until_complete(app.process_update(update))  # type: ignore[attr-defined]
    calls = api.calls[before:]
    assert [c for c in calls if c.method == "answerCallbackQuery"] or not calls
    errors = [c for c in calls if c.method == "sendMessage" and "schiefgegangen" in c.text]
    assert not errors, f"{data!r} made the bot fail"

    async def acted() -> int:
        services = app.bot_data["services"]  # type: ignore[attr-defined]
        async with services.sessions() as session:
            counts = [
                await session.scalar(select(func.count()).select_from(model))
                for model in (
                    OnboardingRequest,
                    Broadcast,
                    Partner,
                    ReportSubmission,
                    OutboxMessage,
                    LearnedQuestion,
                )
            ]
        return sum(int(c or 0) for c in counts)

    assert loop.run_until_complete(acted()) == 0, f"{data!r} changed something"

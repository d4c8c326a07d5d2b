"""`python -m bot chat` in-process: it says whom it plays, runs the delivery worker, and shows
files with their names and captions and messages to other chats with their chat id."""

from __future__ import annotations

import asyncio
import io
import threading
import time

from bot.db import outbox
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import utcnow
from bot.settings import Settings
from bot.terminal import _with_progress, chat
from tests.conftest import make_settings
from tests.test_delivery import enqueue_invitation


class Output(io.StringIO):
    """stdout that others can wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            written = super().write(text)
            self.changed.notify_all()
        return written

    def wait_for(self, text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while text not in self.getvalue():
                if not self.changed.wait(max(deadline - time.monotonic(), 0)):
                    return text in self.getvalue()
            return True


class Typing:
    """stdin of a person who types the next line only once the bot has shown `after`."""

    def __init__(self, out: Output, lines: list[tuple[str, str]]) -> None:
        self.out = out
        self.lines = list(lines)

    def readline(self) -> str:
        if not self.lines:
            return ""
        after, line = self.lines.pop(0)
        self.out.wait_for(after)
        return line + "\n"


async def enqueue_for(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    async with create_sessionmaker(engine).begin() as session:
        text = "Netzwerktreffen <b>morgen</b>"
        await enqueue_invitation(session, key="meeting:1:1", chat_id=1, text=text, now=utcnow())
        await outbox.enqueue(
            session, key="office:1", chat_id=-100500, kind="notification", text="Neue Anfrage",
            now=utcnow(),
        )  # fmt: skip
    await engine.dispose()


async def test_chat_runs_the_worker_and_shows_files_and_who_it_plays(database_url: str) -> None:
    settings = make_settings(database_url=database_url, semantic_search=False, delivery_worker=True)
    await enqueue_for(settings)
    out = Output()
    typed = Typing(out, [("[to chat -100500]", "/quit")])
    assert await chat(settings, stdin=typed, stdout=out, user_id=1) == 0  # type: ignore[arg-type]
    shown = out.getvalue()
    assert "You are Telegram user 1 (not a coordinator" in shown
    assert "Bot: [treffen.ics] Netzwerktreffen morgen" in shown, "the caption, as plain text"
    assert "Bot [to chat -100500]: Neue Anfrage" in shown
    assert shown.rstrip().endswith("Bye.")


async def test_chat_as_a_coordinator_says_so(database_url: str) -> None:
    settings = make_settings(database_url=database_url, semantic_search=False)
    out = Output()
    await chat(settings, stdin=Typing(out, []), stdout=out, user_id=9001)  # type: ignore[arg-type]
    assert "You are Telegram user 9001 (coordinator)" in out.getvalue()


async def test_a_slow_start_says_why_once_and_counts_the_seconds() -> None:
    """Cached embeddings that no longer fit the topics are computed again (about 20 s):
    the chat says so at the first tick instead of only counting seconds."""
    out = io.StringIO()
    result = await _with_progress(asyncio.sleep(0.35, "ready"), out, every=0.1, slow="why")
    assert result == "ready"
    lines = out.getvalue().splitlines()
    assert lines[0] == "  why" and lines.count("  why") == 1
    assert len([line for line in lines if line.startswith("  … ")]) >= 2

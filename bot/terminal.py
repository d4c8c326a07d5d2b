"""`python -m bot chat`: the real Application in a terminal, through the offline Bot API.

The delivery worker runs too (broadcasts, reminders and notifications arrive as they would in
Telegram); messages to other chats (the office, other people) are shown with their chat id.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
import time
from collections.abc import Awaitable
from typing import Any, TextIO, TypeVar

from telegram import Update
from telegram.ext import Application

from bot.app import build_application, build_search, build_services, build_worker
from bot.db.engine import dispose
from bot.db.migrate import upgrade_async
from bot.offline import Call, OfflineBotApi, callback_update, message_update
from bot.settings import Settings

TERMINAL_USER_ID = 1
_TAG = re.compile(r"<[^>]+>")
_T = TypeVar("_T")


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


class TerminalView:
    """Prints what the bot sends and remembers the buttons of the last message that had any."""

    def __init__(self, out: TextIO, user_id: int = TERMINAL_USER_ID) -> None:
        self.out = out
        self.user_id = user_id
        self.buttons: list[tuple[str, int]] = []  # (callback data, message id)
        self._message_ids: dict[int, int] = {}

    def show(self, call: Call) -> None:
        """Render one Bot API call for a person at a terminal."""
        if call.method == "answerCallbackQuery" and call.params.get("text"):
            self.out.write(f"  ({call.params['text']})\n")
        if call.method not in ("sendMessage", "editMessageText", "sendDocument"):
            return
        # What the bot sends to others (the office chat, other people) is shown as such.
        to = "" if call.chat_id in (None, self.user_id) else f" [to chat {call.chat_id}]"
        if call.method == "sendDocument":
            names = ", ".join(call.file_names.values()) or "file"
            caption = f" {_plain(call.text)}" if call.text else ""
            self.out.write(f"\nBot{to}: [{names}]{caption}\n")
            self.out.flush()
            return
        prefix = "(edited) " if call.method == "editMessageText" else ""
        self.out.write(f"\nBot{to}: {prefix}{_plain(call.text)}\n")
        buttons = call.buttons()
        if buttons and not to:
            message_id = int(call.params.get("message_id") or 0)
            self.buttons = []
            for number, (label, data) in enumerate(buttons, start=1):
                self.out.write(f"  [{number}] {label}\n")
                self.buttons.append((data, message_id))
        self.out.flush()


async def _with_progress(
    work: Awaitable[_T], out: TextIO, every: float = 5.0, *, slow: str | None = None
) -> _T:
    """Await `work`, printing the seconds waited every `every` seconds (and `slow` once,
    the first time: why it takes so long)."""
    task = asyncio.ensure_future(work)
    start = time.monotonic()
    while True:
        done, _ = await asyncio.wait({task}, timeout=every)
        if done:
            return task.result()
        if slow:
            out.write(f"  {slow}\n")
            slow = None
        out.write(f"  … {time.monotonic() - start:.0f} s\n")
        out.flush()


CACHE_CHANGED = (
    "The topics or the search model changed since the last start: computing the embedding "
    "cache again, once (about 20 s on two cores)."
)


def _first_start(settings: Settings) -> bool:
    """Whether the embedding cache still has to be computed (nothing cached yet)."""
    cache = settings.embedding_cache_dir
    return settings.semantic_search and not (cache.is_dir() and any(cache.glob("*.np*")))


async def chat(
    settings: Settings,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    user_id: int = TERMINAL_USER_ID,
) -> int:
    """Read lines, push them through the Application as Telegram would, print the replies."""
    view = TerminalView(stdout, user_id)
    api = OfflineBotApi(on_call=view.show)
    first = _first_start(settings)
    if first:
        stdout.write(
            "First start: computing the search's embedding cache (about 20 s on two cores; later "
            "starts take seconds)…\n"
        )
    else:
        stdout.write("Loading the knowledge base…\n")
    stdout.flush()
    started = time.monotonic()
    search = await _with_progress(
        asyncio.to_thread(build_search, settings),
        stdout,
        # Cached embeddings that no longer fit (topics edited, a new search model): the
        # cache is computed again once.
        slow=None if first else CACHE_CHANGED,
    )
    await upgrade_async(settings.database_url)
    services = build_services(settings, search=search)
    await services.roles.load(services.sessions)
    await services.teaching.replay()  # the bot's start-up does this in post_init
    application = build_application(services, request=api, rate_limit=False)
    roles = services.roles
    if roles.is_admin(user_id):
        role = "admin"
    elif roles.is_coordinator(user_id):
        role = "coordinator"
    else:
        role = f"not a coordinator; COORDINATOR_IDS={user_id} makes you one"
    stdout.write(
        f"Ready in {time.monotonic() - started:.0f} s. You are Telegram user {user_id} ({role}).\n"
        "Type a question or a command (/start, /help, /topics);\n"
        "type a button's number to press it; /quit or Ctrl-D to leave.\n"
    )
    async with application:
        stop = asyncio.Event()
        worker = (
            asyncio.create_task(build_worker(services, application.bot).run(stop))
            if settings.delivery_worker
            else None
        )
        try:
            await _converse(application, view, stdin, stdout, user_id)
        finally:
            stop.set()
            if worker is not None:
                await worker
    await dispose(services.sessions, services.readers)
    stdout.write("\nBye.\n")
    return 0


async def _converse(
    application: Application[Any, Any, Any, Any, Any, Any],
    view: TerminalView,
    stdin: TextIO,
    stdout: TextIO,
    user_id: int,
) -> None:
    """The conversation: /start, then line by line until /quit or the end of the input."""
    await application.process_update(
        Update.de_json(message_update("/start", user_id=user_id), application.bot)
    )
    while True:
        stdout.write("\n> ")
        stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line or line.strip() in ("/quit", "/exit"):
            return
        text = line.rstrip("\n")
        if text.strip().isdigit() and view.buttons:
            index = int(text.strip()) - 1
            if 0 <= index < len(view.buttons):
                data, message_id = view.buttons[index]
                if data.startswith(("http://", "https://")):
                    stdout.write(f"  (link: {data})\n")
                    continue
                payload = callback_update(data, user_id=user_id, message_id=message_id)
                await application.process_update(Update.de_json(payload, application.bot))
                continue
        if not text.strip():
            continue
        payload = message_update(text, user_id=user_id)
        await application.process_update(Update.de_json(payload, application.bot))

"""`python -m bot chat`: the real Application in a terminal, through the offline Bot API."""

from __future__ import annotations

import asyncio
import html
import re
import sys
from typing import TextIO

from telegram import Update

from bot.app import build_application, build_services
from bot.db.migrate import upgrade_async
from bot.offline import Call, OfflineBotApi, callback_update, message_update
from bot.settings import Settings

TERMINAL_USER_ID = 1
_TAG = re.compile(r"<[^>]+>")


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


class TerminalView:
    """Prints what the bot sends and remembers the buttons of the last message that had any."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: list[tuple[str, int]] = []  # (callback data, message id)
        self._message_ids: dict[int, int] = {}

    def show(self, call: Call) -> None:
        """Render one Bot API call for a person at a terminal."""
        if call.method == "answerCallbackQuery" and call.params.get("text"):
            self.out.write(f"  ({call.params['text']})\n")
        if call.method not in ("sendMessage", "editMessageText", "sendDocument"):
            return
        if call.method == "sendDocument":
            self.out.write("\n[file]\n")
            return
        prefix = "(edited) " if call.method == "editMessageText" else ""
        self.out.write(f"\nBot: {prefix}{_plain(call.text)}\n")
        buttons = call.buttons()
        if buttons:
            message_id = int(call.params.get("message_id") or 0)
            self.buttons = []
            for number, (label, data) in enumerate(buttons, start=1):
                self.out.write(f"  [{number}] {label}\n")
                self.buttons.append((data, message_id))
        self.out.flush()


async def chat(settings: Settings, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read lines, push them through the Application as Telegram would, print the replies."""
    view = TerminalView(stdout)
    api = OfflineBotApi(on_call=view.show)
    await upgrade_async(settings.database_url)
    services = build_services(settings)
    await services.teaching.replay()  # the bot's start-up does this in post_init
    application = build_application(services, request=api, rate_limit=False)
    stdout.write(
        "Vielfalt-Lotse offline. Type a question or a command (/start, /help, /topics);\n"
        "type a button's number to press it; /quit or Ctrl-D to leave.\n"
    )
    async with application:
        await application.process_update(
            Update.de_json(message_update("/start", user_id=TERMINAL_USER_ID), application.bot)
        )
        while True:
            stdout.write("\n> ")
            stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line or line.strip() in ("/quit", "/exit"):
                break
            text = line.rstrip("\n")
            if text.strip().isdigit() and view.buttons:
                index = int(text.strip()) - 1
                if 0 <= index < len(view.buttons):
                    data, message_id = view.buttons[index]
                    if data.startswith(("http://", "https://")):
                        stdout.write(f"  (link: {data})\n")
                        continue
                    payload = callback_update(data, user_id=TERMINAL_USER_ID, message_id=message_id)
                    await application.process_update(Update.de_json(payload, application.bot))
                    continue
            if not text.strip():
                continue
            payload = message_update(text, user_id=TERMINAL_USER_ID)
            await application.process_update(Update.de_json(payload, application.bot))
    stdout.write("\nBye.\n")
    return 0

"""The Bot API transport (bot.transport) against a real HTTP server on 127.0.0.1: what reaches
Telegram is what PTB meant to send, and failures become PTB's errors."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.request import HTTPXRequest, RequestData

from bot.app import bot_username
from bot.offline import BOT_USER
from bot.transport import AiohttpRequest
from tests.conftest import make_settings
from tests.fake_bot_api import BotApiHandler, FakeBotApi

TOKEN = "123456:transport-test"


@dataclass
class Seen:
    """What the server received: per call the method, the Content-Type and the raw body."""

    calls: list[tuple[str, str, bytes]] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()

    class Handler(BotApiHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Telegram

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            method = self.path.rsplit("/", 1)[-1]
            seen.calls.append((method, self.headers.get("Content-Type", ""), body))
            time.sleep(seen.delay)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the caller gave up
                self.answer(method, body)

        def answer(self, method: str, body: bytes) -> None:
            if method == "getMe":
                self.reply(200, {"ok": True, "result": BOT_USER})
            elif method == "sendMessage" and b"nobody" in body:
                self.reply(
                    400,
                    {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                )
            else:
                text = json.loads(body).get("text", "") if b"{" in body[:1] else ""
                chat = {"id": 7, "type": "private"}
                result = {"message_id": 1, "date": 0, "chat": chat, "text": text}
                self.reply(200, {"ok": True, "result": result})

        do_GET = do_POST

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/bot", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _bot(base_url: str, read_timeout: float = 5.0) -> Bot:
    return Bot(TOKEN, base_url=base_url, request=AiohttpRequest(read_timeout=read_timeout))


async def test_a_message_arrives_as_json_with_every_character_and_its_buttons(
    server: tuple[str, Seen],
) -> None:
    base_url, seen = server
    text = "Grüße 👋 <b>fett</b> & مرحبا « ok »"
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Weiter ➡", callback_data="t:1")]])
    async with _bot(base_url) as bot:
        sent = await bot.send_message(7, text, reply_markup=markup)
    assert sent.text == text
    method, content_type, body = seen.calls[-1]
    assert method == "sendMessage"
    assert content_type == "application/json"
    params = json.loads(body)
    assert params["chat_id"] == 7
    assert params["text"] == text
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Weiter ➡", "callback_data": "t:1"}]]
    }


async def test_a_file_is_uploaded_as_multipart_with_its_name_and_bytes(
    server: tuple[str, Seen],
) -> None:
    base_url, seen = server
    content = b"BEGIN:VCALENDAR\r\nSUMMARY:Netzwerktreffen \xc3\xa4\r\nEND:VCALENDAR\r\n"
    async with _bot(base_url) as bot:
        await bot.send_document(7, InputFile(content, filename="treffen-3.ics"), caption="Termin")
    method, content_type, body = seen.calls[-1]
    assert method == "sendDocument"
    assert content_type.startswith("multipart/form-data; boundary=")
    assert b'filename="treffen-3.ics"' in body
    assert content in body
    assert b'name="caption"' in body and b"Termin" in body


async def test_telegrams_refusal_is_ptbs_error_with_telegrams_words(
    server: tuple[str, Seen],
) -> None:
    base_url, _ = server
    async with _bot(base_url) as bot:
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(7, "an nobody")


async def test_a_server_slower_than_the_read_timeout_is_a_timeout(
    server: tuple[str, Seen],
) -> None:
    base_url, seen = server
    async with _bot(base_url, read_timeout=0.3) as bot:
        seen.delay = 1.0
        with pytest.raises(TimedOut):
            await bot.send_message(7, "Hallo")


async def test_nobody_listening_is_a_network_error_not_a_timeout() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        assert not isinstance(raised.value, TimedOut)
    finally:
        await request.shutdown()


async def test_the_transport_can_be_started_again_after_a_shutdown(
    server: tuple[str, Seen],
) -> None:
    base_url, seen = server
    request = AiohttpRequest()
    url = f"{base_url}{TOKEN}/getMe"
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(url)
    for _ in range(2):
        await request.initialize()
        result: Any = await request.post(url)
        assert result["username"] == BOT_USER["username"]
        await request.shutdown()
    assert [c[0] for c in seen.calls] == ["getMe", "getMe"]


def test_the_proxy_comes_from_the_environment_except_for_hosts_it_exempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    request = AiohttpRequest()
    assert request.proxy_for("https://api.telegram.org/bot1:x/getMe") == "http://proxy.example:3128"
    assert request.proxy_for("http://127.0.0.1:8081/bot1:x/getMe") is None
    assert request.proxy_for("http://api.telegram.org/bot1:x/getMe") is None  # no HTTP_PROXY


@pytest.fixture
def slow_file() -> Iterator[str]:
    """A file server that sends 12 chunks of 0.2 s each (a large file on a slow link)."""

    class Handler(BotApiHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.endswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.endswith("/elsewhere"):  # would answer a call that lost its parameters
                self.reply(200, {"ok": True, "result": True})
                return
            self.send_response(200)
            self.send_header("Content-Length", str(12 * 1024))
            self.end_headers()
            for _ in range(12):
                self.wfile.write(b"x" * 1024)
                self.wfile.flush()
                time.sleep(0.2)

        do_POST = do_GET

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_download_longer_than_all_timeouts_together_arrives_while_data_flows(
    slow_file: str,
) -> None:
    """An uploaded PDF fetched for the reports export: each read has its timeout, the whole
    download none (2.4 s here against timeouts of 0.5 s each)."""
    request = AiohttpRequest(
        read_timeout=0.5, write_timeout=0.5, connect_timeout=0.5, pool_timeout=0.5
    )
    await request.initialize()
    try:
        assert await request.retrieve(f"{slow_file}/file/report.pdf") == b"x" * 12 * 1024
    finally:
        await request.shutdown()


async def test_a_redirect_is_an_error_not_a_call_without_its_parameters(slow_file: str) -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(TelegramError):
            await request.post(f"{slow_file}/bot1:x/redirect", RequestData())
    finally:
        await request.shutdown()


async def test_a_bot_that_never_polls_builds_no_second_http_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`partners invite` asks the bot's name once: through our transport alone (PTB would
    otherwise build an httpx client for getUpdates that nothing uses)."""

    class NoHttpx(HTTPXRequest):
        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            raise AssertionError("an httpx client was built")

    monkeypatch.setattr("telegram._bot.HTTPXRequest", NoHttpx)
    api = FakeBotApi().start()
    try:
        settings = make_settings(bot_api_base_url=api.base_url, bot_token="123:abc")
        assert await bot_username(settings) == BOT_USER["username"]
    finally:
        api.stop()

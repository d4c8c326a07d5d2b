"""A tiny Bot API HTTP server on 127.0.0.1 for driving the real bot process over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from bot.offline import BOT_USER


class BotApiHandler(BaseHTTPRequestHandler):
    """What every fake Bot API server here does with a request: no access log, the method and
    its parameters read (JSON or form-encoded, as PTB sends them), a JSON answer written."""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def call(self) -> tuple[str, dict[str, Any]]:
        """The Bot API method (the last part of the path) and its parameters."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        if "json" in self.headers.get("Content-Type", ""):
            params: dict[str, Any] = json.loads(body or "{}")
        else:
            params = dict(parse_qsl(body))
        return self.path.rsplit("/", 1)[-1], params

    def reply(self, status: int, body: dict[str, Any]) -> None:
        """Answer with `body` as JSON."""
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeBotApi:
    """Serves getMe/getUpdates/sendMessage/…; updates are queued by the test."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._updates: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._message_id = 500
        self.failures: dict[str, tuple[int, str]] = {}  # method → (status, description)
        api = self

        class Handler(BotApiHandler):
            def do_POST(self) -> None:
                method, params = self.call()
                result = api.answer(method, params)
                status, description = api.failures.get(method, (200, ""))
                self.reply(
                    status,
                    {"ok": True, "result": result}
                    if status == 200
                    else {"ok": False, "error_code": status, "description": description},
                )

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The value for BOT_API_BASE_URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def start(self) -> FakeBotApi:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        with self._lock:
            self._lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, status: int, description: str) -> None:
        """Answer every call of `method` with this error, as Telegram would."""
        self.failures[method] = (status, description)

    def queue(self, update: dict[str, Any]) -> None:
        """An update the next getUpdates returns."""
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """Block until the bot called `method`; return its parameters."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for name, params in self.calls:
                    if name == method:
                        return params
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"the bot never called {method}: {[c[0] for c in self.calls]}"
                    )
                self._lock.wait(remaining)

    def wait_for_calls(
        self, start: int, match: Callable[[str, dict[str, Any]], bool], timeout: float
    ) -> list[tuple[str, dict[str, Any]]] | None:
        """Block until a call from index `start` on matches; the calls from `start` to it
        (None after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        seen = start
        with self._lock:
            while True:
                for index in range(seen, len(self.calls)):
                    if match(*self.calls[index]):
                        return self.calls[start : index + 1]
                seen = len(self.calls)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)

    def answer(self, method: str, params: dict[str, Any]) -> Any:
        """The Bot API's answer to one call."""
        with self._lock:
            self.calls.append((method, params))
            self._lock.notify_all()
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
            with self._lock:
                while True:
                    ready = [u for u in self._updates if u["update_id"] >= offset]
                    if ready or time.monotonic() >= deadline:
                        return ready
                    self._lock.wait(max(deadline - time.monotonic(), 0.01))
        if method in ("sendMessage", "editMessageText"):
            self._message_id += 1
            chat_id = int(params.get("chat_id", 0))
            return {
                "message_id": self._message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        return True

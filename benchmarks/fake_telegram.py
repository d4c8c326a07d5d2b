"""A fake Bot API server for delivery benchmarks: `python -m benchmarks.fake_telegram --port N`.

Answers every call after `--latency` seconds, allows at most `--limit` messages in any one
second (sliding window) and answers 429 with retry_after beyond that, like Telegram's flood
control. Every accepted message is appended to `--log` as "chat_id<TAB>text" (for loss and
duplicate counting); GET /stats returns {"accepted": n, "rejected": n}.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_bot_api import BotApiHandler

BOT = {"id": 4242, "is_bot": True, "first_name": "Lotse", "username": "lotse_bench_bot"}


class State:
    """Shared counters of the server threads."""

    def __init__(self, limit: int, log_path: str | None) -> None:
        self.limit = limit
        self.window: deque[float] = deque()
        self.lock = threading.Lock()
        self.accepted = 0
        self.rejected = 0
        self.message_id = 0
        self.log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None  # noqa: SIM115

    def admit(self) -> bool:
        """Whether one more message fits into the last second."""
        now = time.monotonic()
        with self.lock:
            while self.window and now - self.window[0] >= 1.0:
                self.window.popleft()
            if len(self.window) >= self.limit:
                self.rejected += 1
                return False
            self.window.append(now)
            self.accepted += 1
            self.message_id += 1
            return True


def make_handler(state: State, latency: float) -> type[BaseHTTPRequestHandler]:
    """The request handler bound to `state`."""

    class Handler(BotApiHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.endswith("/stats"):
                self.reply(200, {"accepted": state.accepted, "rejected": state.rejected})
            else:
                self.reply(404, {"ok": False})

        def do_POST(self) -> None:
            method, params = self.call()
            time.sleep(latency)
            if method == "getMe":
                self.reply(200, {"ok": True, "result": BOT})
                return
            if method != "sendMessage":
                self.reply(200, {"ok": True, "result": True})
                return
            if not state.admit():
                self.reply(
                    429,
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                )
                return
            chat_id = int(params.get("chat_id", 0))
            if state.log:
                state.log.write(f"{chat_id}\t{str(params.get('text', ''))[:40]!r}\n")
            self.reply(
                200,
                {
                    "ok": True,
                    "result": {
                        "message_id": state.message_id,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "text": params.get("text", ""),
                    },
                },
            )

    return Handler


class QuietServer(ThreadingHTTPServer):
    """Clients that were killed mid-request (the crash benchmark) are not an error here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore broken connections."""


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--log")
    args = parser.parse_args()
    state = State(args.limit, args.log)
    server = QuietServer(("127.0.0.1", args.port), make_handler(state, args.latency))
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""An in-process Bot API: the HTTP layer of python-telegram-bot replaced by a recorder.

`python -m bot chat` talks through it in the terminal, and the tests use it to assert on what the
bot sent. It answers the Bot API methods the bot uses with well-formed results, so the real
Application, handlers and database run unchanged; failures can be scripted per method.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Vielfalt-Lotse",
    "username": "vielfalt_lotse_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass(slots=True)
class Call:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    file_names: dict[str, str] = field(default_factory=dict)  # upload field → its file name

    @property
    def text(self) -> str:
        """The message text or caption, if any."""
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def chat_id(self) -> int | None:
        """The chat the request addresses, if any."""
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data or URL) of every inline button, row by row."""
        markup = self.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if not isinstance(markup, dict):
            return []
        out = []
        for row in markup.get("inline_keyboard", []):
            for button in row:
                out.append((button["text"], button.get("callback_data") or button.get("url", "")))
        return out


Failure = tuple[int, dict[str, Any]]


class OfflineBotApi(BaseRequest):
    """Records every call and answers like the Bot API would, optionally with scripted errors."""

    def __init__(self, on_call: Callable[[Call], None] | None = None) -> None:
        self.calls: list[Call] = []
        self._on_call = on_call
        self._message_ids = itertools.count(1000)
        self._failures: dict[str, list[Failure]] = {}
        self._raises: dict[str, list[BaseException]] = {}
        # What each message of the bot shows now, as far as known: Telegram refuses an edit
        # that changes nothing ("message is not modified"), and so does this.
        self._texts: dict[tuple[int, int], str] = {}
        self._markups: dict[tuple[int, int], str] = {}
        self.names: dict[int, str] = {}  # getChat: a person's name (default "Person <id>")
        self.downloads: dict[str, bytes] = {}  # getFile and the file URL: file id → content

    @property
    def read_timeout(self) -> float | None:
        """No network, no waiting."""
        return 1.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def fail_next(self, method: str, status: int, description: str, **parameters: Any) -> None:
        """Make the next call of `method` fail like Telegram would (e.g. 403 blocked, 429)."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self._failures.setdefault(method, []).append((status, body))

    def raise_next(self, method: str, error: BaseException) -> None:
        """Make the next call of `method` fail at the transport (timeout, network down)."""
        self._raises.setdefault(method, []).append(error)

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Recorded calls, filtered by method and chat."""
        return [
            c
            for c in self.calls
            if (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)
        ]

    def clear(self) -> None:
        """Forget recorded calls."""
        self.calls.clear()

    async def before(self, method: str) -> None:
        """Called first for every request: subclasses add delays or hang here."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one Bot API request."""
        if "/file/bot" in url:  # a file download (getFile's path under the file URL)
            file_id = url.rsplit("/", 1)[-1].removesuffix(".pdf")
            download = self.downloads.get(file_id)
            return (200, download) if download is not None else (404, b"")
        api_method = url.rsplit("/", 1)[-1]
        await self.before(api_method)
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        files: dict[str, bytes] = {}
        file_names: dict[str, str] = {}
        if request_data and request_data.contains_files:
            for name, (filename, content, *_rest) in request_data.multipart_data.items():
                files[name] = content if isinstance(content, bytes) else content.read()
                file_names[name] = str(filename or name)
        call = Call(api_method, params, files, file_names)
        self.calls.append(call)
        if self._on_call:
            self._on_call(call)
        raising = self._raises.get(api_method)
        if raising:
            raise raising.pop(0)
        queued = self._failures.get(api_method)
        if queued:
            status, body = queued.pop(0)
            return status, json.dumps(body).encode()
        if api_method == "getFile" and str(params.get("file_id")) not in self.downloads:
            body = {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 400, json.dumps(body).encode()
        if self._unchanged(api_method, params):
            body = {"ok": False, "error_code": 400, "description": NOT_MODIFIED}
            return 400, json.dumps(body).encode()
        result = self._result(api_method, params)
        if isinstance(result, dict) and "message_id" in result and "chat" in result:
            where = (int(result["chat"]["id"]), int(result["message_id"]))
            if "text" in params:
                self._texts[where] = str(params["text"])
            self._markups[where] = _markup(params)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _unchanged(self, api_method: str, params: dict[str, Any]) -> bool:
        """An edit of a known message that would leave it as it is."""
        if api_method not in ("editMessageText", "editMessageReplyMarkup"):
            return False
        where = (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
        if where not in self._markups or self._markups[where] != _markup(params):
            return False
        return api_method == "editMessageReplyMarkup" or self._texts.get(where) == params["text"]

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "g"},
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        markup = params.get("reply_markup")
        if markup:
            message["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
        message.update(extra)
        return message

    def _chat(self, chat_id: int) -> dict[str, Any]:
        """A chat as getChat returns it (ChatFullInfo)."""
        chat: dict[str, Any] = {
            "id": chat_id,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat_id > 0:
            chat.update(type="private", first_name=self.names.get(chat_id, f"Person {chat_id}"))
        else:
            chat.update(type="supergroup", title=self.names.get(chat_id, "Gruppe"))
        return chat

    def _result(self, api_method: str, params: dict[str, Any]) -> Any:
        if api_method == "getMe":
            return BOT_USER
        if api_method in ("sendMessage", "editMessageText", "copyMessage"):
            if api_method == "copyMessage":
                return {"message_id": next(self._message_ids)}
            return self._message(params)
        if api_method == "editMessageReplyMarkup":
            return self._message(params)
        if api_method == "getChat":
            return self._chat(int(params["chat_id"]))
        if api_method == "sendDocument":
            document = {"file_id": "doc1", "file_unique_id": "doc1u", "file_name": "file"}
            return self._message(params, document=document)
        if api_method == "getFile":
            file_id = str(params["file_id"])
            return {
                "file_id": file_id,
                "file_unique_id": f"{file_id}u",
                "file_size": len(self.downloads[file_id]),
                "file_path": f"documents/{file_id}.pdf",
            }
        if api_method == "getUpdates":
            return []
        if api_method == "getMyCommands":
            return []
        if api_method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        # answerCallbackQuery, setMyCommands, deleteWebhook, setWebhook, sendChatAction, ...
        return True


NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)


def _markup(params: dict[str, Any]) -> str:
    """The reply markup of a request, comparable ("" for none)."""
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    return json.dumps(markup, sort_keys=True) if markup else ""


# Update ids never repeat, not even across runs (the bot drops an update id it took on before,
# and `chat` keeps its database): they start at the clock in microseconds.
_update_ids = itertools.count(time.time_ns() // 1000)


def user_dict(
    user_id: int, *, language_code: str | None = "de", first_name: str = "Test"
) -> dict[str, Any]:
    """A Telegram user as the Bot API sends it."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def message_update(
    text: str | None,
    *,
    user_id: int = 1001,
    chat_id: int | None = None,
    chat_type: str = "private",
    language_code: str | None = "de",
    reply_to: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An incoming message update (commands get their bot_command entity like Telegram adds)."""
    chat: dict[str, Any] = {"id": chat_id if chat_id is not None else user_id, "type": chat_type}
    if chat_type != "private":
        chat["title"] = "Gruppe"
    message: dict[str, Any] = {
        "message_id": next(_update_ids) + 10_000,
        "date": int(time.time()),
        "chat": chat,
        "from": user_dict(user_id, language_code=language_code),
    }
    if text is not None:
        message["text"] = text
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
        for offset in (i for i in range(len(text)) if text.startswith("@", i)):
            end = offset + 1
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            entities.append({"type": "mention", "offset": offset, "length": end - offset})
        if entities:
            message["entities"] = entities
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    if extra:
        message.update(extra)
    return {"update_id": next(_update_ids), "message": message}


def callback_update(
    data: str,
    *,
    user_id: int = 1001,
    chat_id: int | None = None,
    message_id: int = 1,
    message_text: str = "…",
    language_code: str | None = "de",
    reply_to: dict[str, Any] | None = None,
    reply_markup: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button press on one of the bot's messages (with its buttons, when given; `reply_to`:
    the message it replied to)."""
    chat_id = chat_id if chat_id is not None else user_id
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
        "from": BOT_USER,
        "text": message_text,
    }
    if reply_markup is not None:
        message["reply_markup"] = reply_markup
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "chat_instance": "ci",
            "data": data,
            "from": user_dict(user_id, language_code=language_code),
            "message": message,
        },
    }

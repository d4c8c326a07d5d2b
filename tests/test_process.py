"""The bot as a process: `python -m bot run` against a Bot API server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.offline import message_update
from tests.fake_bot_api import FakeBotApi
from tests.processes import ROOT, TOKEN, bot_log, free_port, run_bot, start_bot, stop_bot


@pytest.fixture
def fake_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi().start()
    yield api
    api.stop()


def test_polling_answers_start_and_stops_cleanly_on_sigterm(
    tmp_path: Path, fake_api: FakeBotApi
) -> None:
    health_port = free_port()
    process = start_bot(
        tmp_path, fake_api, HEALTH_PORT=str(health_port), WEBHOOK_LISTEN="127.0.0.1"
    )
    try:
        fake_api.wait_for("getUpdates", timeout=60)
        fake_api.queue(message_update("/start", user_id=77, language_code="de"))
        sent = fake_api.wait_for("sendMessage", timeout=30)
        assert "Willkommen" in str(sent["text"])
        url = f"http://127.0.0.1:{health_port}/health"
        with urllib.request.urlopen(url, timeout=10) as response:
            health = json.loads(response.read())
        assert response.status == 200
        assert health["status"] == "ok" and health["database"] == "ok"
    finally:
        code, output, seconds = stop_bot(process, tmp_path)
    assert code == 0, output
    assert seconds < 10
    assert TOKEN not in output, "the token must never reach the logs"
    assert "TEST-token" not in output
    assert (tmp_path / "bot.sqlite3").exists(), "migrations ran at start"


def test_run_without_token_explains_what_is_missing(tmp_path: Path, fake_api: FakeBotApi) -> None:
    process = start_bot(tmp_path, fake_api, BOT_TOKEN="")
    assert process.wait(timeout=60) == 2
    assert "BOT_TOKEN" in bot_log(tmp_path)


def test_webhook_mode_checks_the_secret_token(tmp_path: Path, fake_api: FakeBotApi) -> None:
    port = free_port()
    process = start_bot(
        tmp_path,
        fake_api,
        "--webhook",
        WEBHOOK_URL="https://bot.example.org",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_PATH="hook",
        WEBHOOK_SECRET="s3cret-Value_1",
    )
    url = f"http://127.0.0.1:{port}/hook"
    try:
        registered = fake_api.wait_for("setWebhook", timeout=60)
        assert registered["url"] == "https://bot.example.org/hook"
        assert registered["secret_token"] == "s3cret-Value_1"
        time.sleep(0.5)  # the webhook server starts right after registering

        def post(secret: str | None) -> int:
            body = json.dumps(message_update("/start", user_id=78)).encode()
            request = urllib.request.Request(url, data=body, method="POST")
            request.add_header("Content-Type", "application/json")
            if secret is not None:
                request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status: int = response.status
                    return status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post(None) == 403
        assert post("wrong") == 403
        time.sleep(0.5)
        assert not [c for c in fake_api.calls if c[0] == "sendMessage"], "no handler ran"
        assert post("s3cret-Value_1") == 200
        sent = fake_api.wait_for("sendMessage", timeout=30)
        assert "Willkommen" in str(sent["text"])
    finally:
        code, output, _ = stop_bot(process, tmp_path)
    assert code == 0, output
    assert "s3cret-Value_1" not in output
    assert TOKEN not in output


def test_terminal_chat_answers_and_presses_numbered_buttons(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.sqlite3'}",
        "SEMANTIC_SEARCH": "false",
        "PYTHONPATH": str(ROOT),
    }
    environment.pop("BOT_TOKEN", None)
    done = run_bot(tmp_path, environment, "chat", stdin="Was ist KAUSA?\n1\n/quit\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Willkommen" in out, "the chat starts with the welcome"
    assert "[1]" in out, "buttons are numbered"
    assert "KAUSA" in out
    assert "<b>" not in out, "HTML is rendered as plain text"
    assert out.rstrip().endswith("Bye.")


def test_office_broadcast_from_the_cli_is_delivered_by_a_worker_process(
    tmp_path: Path, fake_api: FakeBotApi
) -> None:
    import sqlite3

    from bot.db.migrate import upgrade

    database = tmp_path / "bot.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{database}")
    with sqlite3.connect(database) as db:
        for chat_id in (301, 302):
            db.execute(
                "INSERT INTO chats (chat_id, kind, language, plain_language, notices, opted_out,"
                " active, created_at, updated_at) VALUES (?, 'private', 'de', 0, 1, 0, 1,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                (chat_id,),
            )
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": fake_api.base_url,
    }
    queued = run_bot(
        tmp_path,
        environment,
        *("broadcast", "send", "--audience", "subscribers"),
        *("--text", "Netzwerktreffen <am> Montag", "--no-wait"),
    )
    assert queued.returncode == 0, queued.stderr
    assert "2 recipients" in queued.stdout
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"],
        cwd=tmp_path,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            chats = {int(p["chat_id"]) for m, p in fake_api.calls if m == "sendMessage"}
            if chats >= {301, 302}:
                break
            time.sleep(0.2)
        texts = [str(p["text"]) for m, p in fake_api.calls if m == "sendMessage"]
        assert len(texts) == 2, texts
        assert all("Netzwerktreffen &lt;am&gt; Montag" in t for t in texts)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    status = run_bot(tmp_path, environment, "broadcast", "status", "1", timeout=60)
    assert "2/2" in status.stdout and "2 sent" in status.stdout


def _ended(process: subprocess.Popen[str], tmp_path: Path) -> tuple[int, str]:
    """Wait for a process that is expected to stop by itself."""
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the bot kept running:\n{bot_log(tmp_path)}")
    return code, bot_log(tmp_path)


def _last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


def _without_secrets(output: str) -> None:
    assert TOKEN not in output and "TEST-token" not in output, "the token must never be shown"
    assert "Traceback" not in output, "one clear line, no traceback"


def test_a_rejected_token_ends_with_one_line_without_the_token(
    tmp_path: Path, fake_api: FakeBotApi
) -> None:
    fake_api.fail("getMe", 401, "Unauthorized")
    code, output = _ended(start_bot(tmp_path, fake_api), tmp_path)
    assert code == 1
    assert _last_line(output) == (
        "cannot start: Telegram rejected BOT_TOKEN; check the token from @BotFather"
        f" (Bot API: {fake_api.base_url})"
    )
    _without_secrets(output)


def test_an_unreachable_bot_api_ends_with_one_line(tmp_path: Path, fake_api: FakeBotApi) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/bot"
    code, output = _ended(start_bot(tmp_path, fake_api, BOT_API_BASE_URL=nowhere), tmp_path)
    assert code == 1
    assert _last_line(output).startswith(f"cannot start: cannot reach the Bot API at {nowhere}: ")
    _without_secrets(output)


def test_a_refused_webhook_url_ends_with_one_line(tmp_path: Path, fake_api: FakeBotApi) -> None:
    fake_api.fail("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    process = start_bot(
        tmp_path,
        fake_api,
        "--webhook",
        WEBHOOK_URL="https://bot.invalid",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(free_port()),
        WEBHOOK_SECRET="s3cret-Value_1",
    )
    code, output = _ended(process, tmp_path)
    assert code == 1
    assert _last_line(output) == (
        "cannot start: Telegram refused WEBHOOK_URL https://bot.invalid:"
        " Bad webhook: failed to resolve host"
    )
    _without_secrets(output)
    assert "s3cret-Value_1" not in output
    malformed = start_bot(tmp_path, fake_api, "--webhook", WEBHOOK_URL="hooks.lotse.test")
    code, output = _ended(malformed, tmp_path)
    assert code == 2 and "WEBHOOK_URL" in output and "hooks.lotse.test" not in output


def test_a_database_that_cannot_be_opened_ends_with_one_line(
    tmp_path: Path, fake_api: FakeBotApi
) -> None:
    """PostgreSQL not listening (the URL's password stays hidden) or a SQLite path that is a
    folder: one line naming DATABASE_URL, for the bot and for `db upgrade` alike."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    closed = f"postgresql+asyncpg://lotse:pg-Secret-9@127.0.0.1:{free_port()}/lotse"
    for url in (closed, f"sqlite+aiosqlite:///{folder}"):
        code, output = _ended(start_bot(tmp_path, fake_api, DATABASE_URL=url), tmp_path)
        assert code == 1
        assert _last_line(output).startswith(
            "cannot start: the database at DATABASE_URL cannot be used: "
        )
        _without_secrets(output)
        assert "pg-Secret-9" not in output
        environment = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        upgraded = run_bot(tmp_path, environment, "db", "upgrade", timeout=60)
        assert upgraded.returncode == 1
        assert upgraded.stderr.startswith("the database at DATABASE_URL cannot be used: ")
        assert "Traceback" not in upgraded.stderr and "pg-Secret-9" not in upgraded.stderr


def test_a_broken_text_catalog_ends_with_the_file_and_line(
    tmp_path: Path, fake_api: FakeBotApi
) -> None:
    locales = tmp_path / "locales"
    locales.mkdir()
    for lang in ("de", "en"):
        (locales / f"{lang}.yaml").write_text(
            (ROOT / "bot" / "locales" / f"{lang}.yaml").read_text(encoding="utf-8"),
            encoding="utf-8",
        )
    with (locales / "en.yaml").open("a", encoding="utf-8") as catalog:
        catalog.write("broken: [unclosed\n")
    code, output = _ended(start_bot(tmp_path, fake_api, LOCALES_DIR=str(locales)), tmp_path)
    assert code == 1
    assert "the texts in LOCALES_DIR cannot be used:" in output
    assert _last_line(output).startswith(f"{locales / 'en.yaml'}:")
    _without_secrets(output)


def test_a_port_in_use_ends_with_one_line(tmp_path: Path, fake_api: FakeBotApi) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        process = start_bot(tmp_path, fake_api, HEALTH_PORT=port, WEBHOOK_LISTEN="127.0.0.1")
        code, output = _ended(process, tmp_path)
    assert code == 1
    assert _last_line(output).startswith("cannot start: ")
    assert "HEALTH_PORT" in _last_line(output)
    _without_secrets(output)


def _cli(tmp_path: Path, api: FakeBotApi, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": api.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
        "PYTHONPATH": str(ROOT),
    }
    return run_bot(tmp_path, environment, *args)


def test_partners_invite_writes_a_link_per_partner_for_a_mail_merge(
    tmp_path: Path, fake_api: FakeBotApi
) -> None:
    (tmp_path / "partner.csv").write_text(
        "name;type;email\nStadt Köln;municipality;info@koeln.example\nFirma Fein;company;\n",
        encoding="utf-8",
    )
    assert _cli(tmp_path, fake_api, "partners", "import", "partner.csv").returncode == 0
    done = _cli(tmp_path, fake_api, "partners", "invite", "--all", "--out", "links.csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 invite links written to links.csv"
    raw = (tmp_path / "links.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = raw.decode("utf-8-sig").splitlines()
    assert rows[0] == "Partner-ID;Organisation;E-Mail;Einladungslink;Gültig bis"
    assert rows[2].startswith(
        "1;Stadt Köln;info@koeln.example;https://t.me/vielfalt_lotse_bot?start=inv_"
    )
    one = _cli(tmp_path, fake_api, "partners", "invite", "2")
    assert one.returncode == 0 and one.stdout.splitlines()[1] == rows[1], "stdout, same link"
    unknown = _cli(tmp_path, fake_api, "partners", "invite", "2", "99")
    assert unknown.returncode == 1
    assert (
        unknown.stderr.strip() == "partners invite: no active partner with id 99; nothing written"
    )
    fake_api.fail("getMe", 401, "Unauthorized")
    rejected = _cli(tmp_path, fake_api, "partners", "invite", "--all")
    assert rejected.returncode == 1 and rejected.stderr.count("\n") == 1
    assert "Telegram rejected BOT_TOKEN" in rejected.stderr
    _without_secrets(rejected.stdout + rejected.stderr)


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        (("worker",), "worker"),
        (("reports", "export", "--out", "r.csv", "--files", "r.zip"), "reports export"),
    ],
)
def test_every_command_that_talks_to_telegram_tells_a_rejected_token_in_one_line(
    tmp_path: Path, fake_api: FakeBotApi, command: tuple[str, ...], prefix: str
) -> None:
    """As `run` and `partners invite` do (after the worker's log lines): one line, not a
    traceback whose last line quotes the token."""
    fake_api.fail("getMe", 401, "Unauthorized")
    rejected = _cli(tmp_path, fake_api, *command)
    assert rejected.returncode == 1
    assert _last_line(rejected.stderr) == (
        f"{prefix}: Telegram rejected BOT_TOKEN; check the token from @BotFather"
        f" (Bot API: {fake_api.base_url})"
    )
    _without_secrets(rejected.stdout + rejected.stderr)

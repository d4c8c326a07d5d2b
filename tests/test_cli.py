"""`python -m bot ask` and `kb`: the command-line interface others script against.

`cmd_ask` and `cmd_kb` bind `sys.stdin`/`sys.stdout` as default arguments when `bot.cli` is
imported, so output of `main()` does not reach pytest's capture. Tests that read the output call
the commands with explicit streams, on arguments parsed by the real parser.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from bot.cli import _parser, cmd_ask, cmd_kb, main
from knowledge.loader import BUNDLED_DIR
from tests.conftest import next_spring_forward
from tests.processes import run_bot
from tests.test_loader import VALID_TOPIC, make_kb

ROOT = Path(__file__).resolve().parent.parent
ASK_KEYS = {"question", "topic", "score", "suggestions", "answer"}
SETTINGS_VARIABLES = (
    "BOT_TOKEN",
    "DATABASE_URL",
    "KNOWLEDGE_DIR",
    "SEMANTIC_SEARCH",
    "EMBEDDING_CACHE_DIR",
    "LOG_LEVEL",
    "TIMEZONE",
)


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean working directory without .env, lexical search only."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEMANTIC_SEARCH", "false")
    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def ask(argv: Sequence[str], stdin: str = "") -> tuple[int, list[str]]:
    """Run `ask` with the real argument parser; the exit code and the output lines."""
    out = io.StringIO()
    code = cmd_ask(_parser().parse_args(["ask", *argv]), stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue().splitlines()


def kb(argv: Sequence[str]) -> tuple[int, str]:
    """Run `kb` with the real argument parser; the exit code and the output."""
    out = io.StringIO()
    code = cmd_kb(_parser().parse_args(["kb", *argv]), stdout=out)
    return code, out.getvalue()


def check_ask_object(obj: dict[str, object]) -> None:
    assert set(obj) == ASK_KEYS
    assert isinstance(obj["question"], str)
    assert obj["topic"] is None or isinstance(obj["topic"], str)
    assert isinstance(obj["score"], float)
    assert isinstance(obj["suggestions"], list)
    assert all(isinstance(s, str) for s in obj["suggestions"])
    assert obj["answer"] is None or isinstance(obj["answer"], str)
    assert (obj["topic"] is None) == (obj["answer"] is None)


def test_ask_json_prints_one_object() -> None:
    code, lines = ask(["--json", "Was ist KAUSA?"])
    assert code == 0
    assert len(lines) == 1
    obj = json.loads(lines[0])
    check_ask_object(obj)
    assert obj["question"] == "Was ist KAUSA?"
    assert obj["topic"] == "apprenticeships_kausa"
    assert isinstance(obj["answer"], str)
    assert "KAUSA" in obj["answer"]
    assert isinstance(obj["score"], float)
    assert 0.0 < obj["score"] <= 1.0


def test_ask_joins_words_of_the_question() -> None:
    code, lines = ask(["--json", "Was", "ist", "KAUSA?"])
    assert code == 0
    assert json.loads(lines[0])["question"] == "Was ist KAUSA?"


def test_ask_lang_chooses_answer_language() -> None:
    _, lines = ask(["--json", "--lang", "en", "Was ist KAUSA?"])
    answer = json.loads(lines[0])["answer"]
    assert isinstance(answer, str)
    assert "apprenticeship" in answer.lower()


def test_ask_text_output_names_topic() -> None:
    code, lines = ask(["Was ist KAUSA?"])
    assert code == 0
    assert lines[0].startswith("[apprenticeships_kausa] ")


BATCH = [
    "Was ist KAUSA?",
    "",
    "Wie wird das Wetter morgen?",
    "How do we join the network?",
    "Bericht Partner Treffen Netzwerk",
]


def check_batch(lines: list[str]) -> None:
    assert len(lines) == len(BATCH)
    objects = [json.loads(line) for line in lines]
    for obj in objects:
        check_ask_object(obj)
    assert [o["question"] for o in objects] == BATCH
    assert [o["topic"] for o in objects] == [
        "apprenticeships_kausa",
        None,
        None,
        "join_process",
        None,
    ]
    assert objects[2]["answer"] is None
    assert objects[4]["suggestions"], "an ambiguous question lists suggestions"


def test_ask_batch_file_keeps_order_and_count(tmp_path: Path) -> None:
    batch = tmp_path / "questions.txt"
    batch.write_text("\n".join(BATCH) + "\n", encoding="utf-8")
    code, lines = ask(["--batch", str(batch), "--json"])
    assert code == 0
    check_batch(lines)


def test_ask_batch_file_with_windows_line_ends(tmp_path: Path) -> None:
    batch = tmp_path / "questions.txt"
    batch.write_bytes(("\r\n".join(BATCH) + "\r\n").encode())
    _, lines = ask(["--batch", str(batch), "--json"])
    check_batch(lines)


def test_ask_batch_reads_stdin() -> None:
    code, lines = ask(["--batch", "-", "--json"], stdin="\n".join(BATCH) + "\n")
    assert code == 0
    check_batch(lines)


def test_ask_batch_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, lines = ask(["--batch", str(tmp_path / "nope.txt"), "--json"])
    assert code == 2
    assert lines == []
    assert "nope.txt" in capsys.readouterr().err


def test_ask_without_question_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask"]) == 2
    assert "QUESTION" in capsys.readouterr().err
    assert main(["ask", "--json"]) == 2


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_kb_check_ok() -> None:
    code, out = kb(["check"])
    assert code == 0
    assert out.startswith("OK: 50 topics")
    assert main(["kb", "check"]) == 0


def test_kb_check_broken_dir(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "kb"
    (broken / "topics").mkdir(parents=True)
    shutil.copy(BUNDLED_DIR / "categories.yaml", broken / "categories.yaml")
    topic = (BUNDLED_DIR / "topics" / "apprenticeships_kausa.yaml").read_text(encoding="utf-8")
    assert "\nreviewed:" in topic
    topic = topic.replace("\nreviewed:", "\ncolour: red\nreviewed:")
    (broken / "topics" / "kausa.yaml").write_text(topic, encoding="utf-8")
    expected_line = topic.splitlines().index("colour: red") + 1
    monkeypatch.setenv("KNOWLEDGE_DIR", str(broken))
    assert main(["kb", "check"]) == 1
    err = capsys.readouterr().err
    assert f"topics/kausa.yaml:{expected_line}: unknown field 'colour'" in err
    assert "1 problem(s)" in err


def kb_with_bad_value(tmp_path: Path, edit: tuple[str, str]) -> tuple[Path, int]:
    """A copy of the bundled knowledge base whose KAUSA topic has `edit` applied before its
    `reviewed:` line; the folder and the line of the edit."""
    broken = tmp_path / "kb"
    shutil.copytree(BUNDLED_DIR, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = broken / "topics" / "apprenticeships_kausa.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(*edit), encoding="utf-8")
    return broken, text.split("\nreviewed: ")[0].count("\n") + 2


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            ("\nreviewed: ", "\nreviewed: 2024-02-30\nx_reviewed: "),
            "impossible date '2024-02-30' (day is out of range for month)",
        ),
        (("\nreviewed: ", "\n? [a, b]\n: c\nreviewed: "), "a key must be a single word or text"),
    ],
)
def test_kb_check_and_ask_report_a_bad_yaml_value_without_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    edit: tuple[str, str],
    problem: str,
) -> None:
    broken, line = kb_with_bad_value(tmp_path, edit)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(broken))
    monkeypatch.setenv("SEMANTIC_SEARCH", "false")
    assert main(["kb", "check"]) == 1
    err = capsys.readouterr().err
    assert f"topics/apprenticeships_kausa.yaml:{line}: {problem}" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as stop:
        main(["ask", "--json", "Stellenanzeige"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert f"  topics/apprenticeships_kausa.yaml:{line}: {problem}" in err


def test_kb_list_json() -> None:
    code, out = kb(["list", "--json"])
    assert code == 0
    rows = json.loads(out)
    assert isinstance(rows, list)
    assert len(rows) == 50
    for row in rows:
        assert set(row) == {"id", "title", "category"}
        assert isinstance(row["id"], str)
        assert set(row["title"]) == {"de", "en"}
        assert all(isinstance(t, str) and t for t in row["title"].values())
        assert isinstance(row["category"], str)
    assert len({row["id"] for row in rows}) == 50


def test_kb_list_text_has_one_line_per_topic() -> None:
    code, out = kb(["list"])
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 50
    assert any(line.startswith("apprenticeships_kausa ") for line in lines)


def test_kb_check_stale_lists_topics_due_for_review(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {
        f"{name}.yaml": VALID_TOPIC.replace("id: demo_topic", f"id: {name}").replace(
            "reviewed: 2024-05-01", f"reviewed: {reviewed}"
        )
        for name, reviewed in (
            ("fresh", "2026-06-30"),
            ("exactly_a_year", "2025-11-25"),
            ("a_day_more", "2025-11-24"),
            ("old", "2023-01-31"),
        )
    }
    monkeypatch.setenv("KNOWLEDGE_DIR", str(make_kb(tmp_path / "kb", files)))
    out = io.StringIO()
    args = _parser().parse_args(["kb", "check", "--stale", "12"])
    assert cmd_kb(args, stdout=out, today=date(2026, 11, 25)) == 0
    assert out.getvalue().splitlines() == [
        "topics/old.yaml: reviewed 2023-01-31 (45 months)",
        "topics/a_day_more.yaml: reviewed 2025-11-24 (12 months)",
    ]
    assert cmd_kb(_parser().parse_args(["kb", "check", "--stale", "0"]), stdout=io.StringIO()) == 0


def test_kb_check_stale_needs_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["kb", "check", "--stale", "a year"])
    assert info.value.code == 2
    assert "MONTHS must be a whole number" in capsys.readouterr().err


def test_kb_check_help_explains_stale(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["kb", "check", "--help"])
    assert "--stale MONTHS" in capsys.readouterr().out


def test_bad_settings_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    with pytest.raises(SystemExit) as info:
        main(["kb", "check"])
    assert info.value.code == 2
    assert "TIMEZONE" in capsys.readouterr().err


def test_main_writes_to_the_current_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "check"]) == 0
    assert capsys.readouterr().out.startswith("OK: 50 topics")


def test_python_m_bot_ask_json_in_a_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["SEMANTIC_SEARCH"] = "false"
    env["PYTHONPATH"] = str(ROOT)
    proc = run_bot(tmp_path, env, "ask", "--json", "Was ist KAUSA?")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    check_ask_object(obj)
    assert obj["topic"] == "apprenticeships_kausa"


def test_run_with_a_broken_knowledge_base_names_the_problem_without_traceback(
    tmp_path: Path,
) -> None:
    broken, line = kb_with_bad_value(tmp_path, ("\nreviewed: ", "\nreviewed: 2024-02-30\nx: "))
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env |= {
        "SEMANTIC_SEARCH": "false",
        "PYTHONPATH": str(ROOT),
        "KNOWLEDGE_DIR": str(broken),
        "BOT_TOKEN": "123456:TEST-token-that-must-never-be-logged",
        "BOT_API_BASE_URL": "http://127.0.0.1:9/bot",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite3'}",
    }
    proc = run_bot(tmp_path, env, "run")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (
        f"  topics/apprenticeships_kausa.yaml:{line}: impossible date '2024-02-30'" in proc.stderr
    )
    assert "TEST-token" not in proc.stderr


def test_stats_summarise_without_personal_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'stats.sqlite3'}")
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "Questions: 0" in out and "Onboarding:" in out and "Partners: 0 active" in out


def test_events_add_creates_a_meeting_and_refuses_an_hour_that_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Times without an offset are local (Europe/Berlin). 2:30 on the last Sunday of March does
    not exist (the clocks go from 2:00 to 3:00): refused, not silently taken as 3:30. Across the
    change, 1:50 to 3:10 is a twenty-minute meeting; an end before the start is refused."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'events.sqlite3'}")
    event = ["events", "add", "--title", "Netzwerktreffen"]
    day = next_spring_forward().isoformat()
    later = ["--start", f"{day[:4]}-03-31T10:00", "--end", f"{day[:4]}-03-31T12:00"]
    assert main([*event, *later]) == 0
    assert "meeting 1 created" in capsys.readouterr().out

    assert main([*event, "--start", f"{day}T02:30", "--end", f"{day}T04:00"]) == 2
    assert f"{day} 02:30 does not exist in Europe/Berlin" in capsys.readouterr().err
    # 01:50 CET is 00:50 UTC; 03:10 CEST is 01:10 UTC: twenty minutes, a valid meeting.
    assert main([*event, "--start", f"{day}T01:50", "--end", f"{day}T03:10"]) == 0
    capsys.readouterr()
    assert main([*event, "--start", f"{day}T03:10", "--end", f"{day}T01:50"]) == 2
    assert "end must be after the start" in capsys.readouterr().err

    # What /newevent refuses, the command line refuses too: a start in the past, an empty
    # title, a description longer than a meeting message holds.
    assert main([*event, "--start", "2019-04-01T10:00", "--end", "2019-04-01T12:00"]) == 2
    assert "the start is in the past" in capsys.readouterr().err
    assert main(["events", "add", "--title", "  ", *later]) == 2
    assert "the title is empty" in capsys.readouterr().err
    assert main([*event, *later, "--description", "x" * 1501]) == 2
    assert "description is longer than 1500 characters" in capsys.readouterr().err


def test_ask_batch_refuses_a_file_that_is_no_utf8_text_or_a_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    latin1 = tmp_path / "fragen.txt"
    latin1.write_bytes("Wie formulieren wir Stellenanzeigen für alle?\n".encode("latin-1"))
    assert ask(["--batch", str(latin1), "--json"]) == (2, [])
    assert "fragen.txt is not UTF-8 text" in capsys.readouterr().err
    assert ask(["--batch", str(tmp_path), "--json"]) == (2, [])
    assert f"cannot read {tmp_path}: Is a directory" in capsys.readouterr().err


def test_stats_days_must_be_a_sensible_number(capsys: pytest.CaptureFixture[str]) -> None:
    for days in ("-3", "0", "99999999999", "sieben"):
        with pytest.raises(SystemExit) as ended:
            main(["stats", "--days", days])
        assert ended.value.code == 2
        assert "whole number of days from 1 to 3660" in capsys.readouterr().err


def test_broadcast_send_refuses_a_notice_too_long_or_a_time_in_the_past(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As /broadcast does: at most 3,800 characters as readers see them (one message with the
    unsubscribe note), and no send time in the past (it went out at once, silently)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bc.sqlite3'}")
    send = ["broadcast", "send", "--audience", "subscribers", "--no-wait"]
    assert main([*send, "--text", "x" * 3801]) == 2
    assert capsys.readouterr().err == (
        "--text is 3801 characters long; at most 3800 fit into one message together with"
        " the unsubscribe note\n"
    )
    assert main([*send, "--text", "Treffen", "--at", "2020-01-01T09:00"]) == 2
    assert capsys.readouterr().err == (
        "--at 2020-01-01 09:00 CET is in the past; give a time in the future"
        " (without --at the notice goes out now)\n"
    )
    assert not (tmp_path / "bc.sqlite3").exists(), "nothing scheduled"
    # "&" is one character to readers (the stored text has "&amp;").
    assert main([*send, "--text", "&" * 3800]) == 0
    assert capsys.readouterr().err == ""


def test_broadcast_status_migrates_a_new_database_first(tmp_path: Path) -> None:
    """As the other office commands do (it ended in "no such table: broadcasts")."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'new.sqlite3'}"
    env["PYTHONPATH"] = str(ROOT)
    proc = run_bot(tmp_path, env, "broadcast", "status")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "no broadcasts yet\n", "")

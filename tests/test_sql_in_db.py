"""The rule "services own transactions; SQL only in `bot/db/*`" (issue 12, item 4).

Outside `bot/db` a module may take a session and open a transaction, so it imports
`sqlalchemy.ext.asyncio` for the types and nothing else of SQLAlchemy: statements
(`select`, `insert`, `update`, `delete`) and expressions (`or_`, `func`, …) are built by the
query functions in `bot/db`. import-linter cannot say this (it sees an external package only
as `sqlalchemy`, whatever part of it is imported), so this test reads the sources with `ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = "sqlalchemy.ext.asyncio"  # AsyncSession, async_sessionmaker, AsyncEngine: types only
STATEMENTS = frozenset({"select", "insert", "update", "delete"})


def sql_outside_db(source: str) -> list[str]:
    """Each line that imports SQLAlchemy beyond the session types, or calls a statement
    constructor by name (however it got here), as "line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in STATEMENTS:
                found.append(f"{node.lineno}: {node.func.id}(…)")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if (module == "sqlalchemy" or module.startswith("sqlalchemy.")) and module != ALLOWED:
                names = ", ".join(alias.name for alias in node.names)
                found.append(f"{node.lineno}: from {module} import {names}")
        elif isinstance(node, ast.Import):
            # `import sqlalchemy…` binds `sqlalchemy`, and with it `sqlalchemy.select`.
            found += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy.")
            ]
    return found


def modules_outside_db() -> list[Path]:
    """Every module of the bot package except the database layer."""
    return sorted(p for p in (ROOT / "bot").rglob("*.py") if "db" not in p.relative_to(ROOT).parts)


def test_the_check_finds_statements_and_expressions_but_not_the_session_types() -> None:
    source = (
        "from sqlalchemy import delete, select\n"
        "from sqlalchemy.sql import func\n"
        "import sqlalchemy.ext.asyncio\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "rows = select(Chat)\n"
        "settings.update(x=1)\n"
    )
    assert sorted(sql_outside_db(source)) == [
        "1: from sqlalchemy import delete, select",
        "2: from sqlalchemy.sql import func",
        "3: import sqlalchemy.ext.asyncio",
        "5: select(…)",
    ]


def test_services_are_among_the_modules_checked() -> None:
    checked = {p.relative_to(ROOT).as_posix() for p in modules_outside_db()}
    assert {"bot/services/privacy.py", "bot/services/onboarding.py", "bot/stats.py"} <= checked
    assert not any(name.startswith("bot/db/") for name in checked)


@pytest.mark.parametrize("path", modules_outside_db(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_sql_outside_bot_db(path: Path) -> None:
    assert sql_outside_db(path.read_text(encoding="utf-8")) == [], (
        f"{path.relative_to(ROOT)}: build the statement in a bot/db query function"
    )

"""The bot as a child process, for the tests and benchmarks that run `python -m bot …`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def run_bot(
    cwd: Path, env: Mapping[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` to its end, with its output captured (a non-zero exit is returned,
    not raised, so the test can show stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env),
        timeout=timeout,
        check=False,
    )


def terminate(process: subprocess.Popen[Any], timeout: float) -> bool:
    """SIGTERM, as an operator stops the bot; killed when it has not ended within `timeout`
    seconds. True when it ended by itself."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True

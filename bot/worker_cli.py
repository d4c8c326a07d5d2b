"""Office commands around delivery: `worker`, `broadcast send`, `broadcast status`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import ExtBot

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.migrate import upgrade_async
from bot.db.outbox import Progress
from bot.delivery import DeliveryWorker, PacedRateLimiter, WorkerConfig
from bot.logs import configure_logging
from bot.services.broadcasts import (
    AUDIENCES,
    MAX_TEXT,
    AudienceFilter,
    BroadcastService,
    BroadcastStatus,
)
from bot.services.localtime import parse_iso
from bot.services.pacing import Limits, Pacer
from bot.settings import Settings
from bot.texts import Texts, escape, visible_length
from bot.transport import AiohttpRequest

BAR_WIDTH = 30


async def run_worker(settings: Settings) -> int:
    """Deliver the outbox until SIGINT/SIGTERM (a worker process of its own)."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=[token])
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    texts = Texts.load(settings.locales_dir, office=settings.office_names)
    pacer = Pacer(
        Limits(
            overall_per_second=settings.send_per_second,
            bulk_per_second=settings.broadcast_per_second,
        )
    )
    request = AiohttpRequest()
    bot: ExtBot[dict[str, Any]] = ExtBot(
        token,
        base_url=settings.bot_api_base_url,
        base_file_url=settings.bot_api_file_url,
        rate_limiter=PacedRateLimiter(pacer),
        request=request,
        get_updates_request=request,  # never polls: no second client (see bot.app.bot_username)
    )
    worker = DeliveryWorker(
        bot,
        sessions,
        BroadcastService(sessions, texts),
        texts,
        WorkerConfig(
            crash_policy=settings.delivery_crash_policy,
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            heartbeat=timedelta(seconds=settings.delivery_heartbeat_seconds),
            # Three missed heartbeats: the worker crashed (or hangs); its rows go to others.
            stale_after=timedelta(seconds=3 * settings.delivery_heartbeat_seconds),
            shared_budget=settings.database_url.startswith("postgresql"),
            budget_per_second=settings.broadcast_per_second,
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with bot:  # asks getMe first: a rejected token ends here (the CLI says so)
            await worker.run(stop)
    finally:
        await engine.dispose()
    return 0


def _local(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M %Z")


async def _open(settings: Settings) -> tuple[AsyncEngine, BroadcastService]:
    """The broadcasts of DATABASE_URL, migrated first as every office command does (the
    caller disposes of the engine)."""
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    texts = Texts.load(settings.locales_dir, office=settings.office_names)
    return engine, BroadcastService(create_sessionmaker(engine), texts)


def progress_bar(state: Progress) -> str:
    """`[#####.....] 50/100 sent · 3 blocked · 1 failed · 46 pending`"""
    done = state.total - state.pending
    filled = int(BAR_WIDTH * done / state.total) if state.total else BAR_WIDTH
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{state.total} · "
        f"{state.sent} sent · {state.blocked} blocked · {state.failed} failed · "
        f"{state.cancelled} cancelled · {state.pending} pending"
    )


async def send_broadcast(
    settings: Settings,
    *,
    recipients: AudienceFilter,
    text: str,
    at: str | None,
    wait: bool,
    out: TextIO = sys.stdout,
) -> int:
    """Schedule a broadcast from the office; follow its delivery with a progress bar."""
    if recipients.audience not in AUDIENCES:
        print(f"--audience must be one of {', '.join(AUDIENCES)}", file=sys.stderr)
        return 2
    if not text.strip():
        print("--text is empty", file=sys.stderr)
        return 2
    notice = escape(text)
    # Counted as readers see it, as /broadcast counts.
    if (length := visible_length(notice)) > MAX_TEXT:
        print(
            f"--text is {length} characters long; at most {MAX_TEXT} fit into one message"
            " together with the unsubscribe note",
            file=sys.stderr,
        )
        return 2
    try:
        send_at = parse_iso(at, settings.zone) if at else None
    except ValueError as exc:
        print(
            f"--at: {exc}; use an ISO time like 2026-12-01T09:00 (local time) or with an offset",
            file=sys.stderr,
        )
        return 2
    if send_at is not None and send_at <= datetime.now(UTC):
        print(
            f"--at {_local(send_at, settings)} is in the past; give a time in the future"
            " (without --at the notice goes out now)",
            file=sys.stderr,
        )
        return 2
    engine, service = await _open(settings)
    try:
        count = await service.count(recipients)
        broadcast = await service.schedule(
            created_by=0, text=notice, recipients=recipients, send_at=send_at
        )
        local = _local(broadcast.send_at, settings)
        out.write(f"broadcast {broadcast.id}: {count} recipients now, sending at {local}\n")
        if send_at is not None or not wait:
            out.write(f"follow it with: python -m bot broadcast status {broadcast.id}\n")
            return 0
        return await follow(service, broadcast.id, out)
    finally:
        await engine.dispose()


async def follow(service: BroadcastService, broadcast_id: int, out: TextIO) -> int:
    """Redraw the progress bar until the broadcast is done (Ctrl-C stops watching, not sending)."""
    idle = 0
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        while True:
            broadcast = await service.get(broadcast_id=broadcast_id)
            state = await service.progress(broadcast_id=broadcast_id)
            out.write("\r" + progress_bar(state))
            out.flush()
            if broadcast is None or broadcast.status in (
                BroadcastStatus.DONE,
                BroadcastStatus.CANCELLED,
            ):
                break
            idle = idle + 1 if state.total == 0 or state.pending == state.total else 0
            if idle == 20:
                out.write("\n(no progress yet: is the bot or `python -m bot worker` running?)\n")
            await asyncio.sleep(0.5)
    out.write("\n")
    return 0


async def broadcast_status(
    settings: Settings, broadcast_id: int | None, out: TextIO = sys.stdout
) -> int:
    """One broadcast's progress bar, or the recent broadcasts."""
    engine, service = await _open(settings)
    try:
        if broadcast_id is None:
            recent = await service.recent(limit=20)
            if not recent:
                out.write("no broadcasts yet\n")
            for b in recent:
                state = await service.progress(broadcast_id=b.id)
                when = b.send_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
                out.write(
                    f"{b.id:>5}  {b.status:<9} {b.audience:<11} {when}  {progress_bar(state)}\n"
                )
            return 0
        broadcast = await service.get(broadcast_id=broadcast_id)
        if broadcast is None:
            print(f"no broadcast {broadcast_id}", file=sys.stderr)
            return 1
        out.write(f"broadcast {broadcast.id} ({broadcast.status}, {broadcast.audience})\n")
        out.write(progress_bar(await service.progress(broadcast_id=broadcast_id)) + "\n")
        return 0
    finally:
        await engine.dispose()

"""The composition root: builds the services once and registers every handler in one place."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    TypeHandler,
)
from telegram.request import BaseRequest

import handlers.broadcast
import handlers.cancel
import handlers.coordinator
import handlers.coordinators
import handlers.events
import handlers.examples
import handlers.firststeps
import handlers.join
import handlers.partners
import handlers.privacy
import handlers.private_text
import handlers.questions
import handlers.reports
import handlers.requests
import handlers.settings
import handlers.start
import handlers.subscriptions
import handlers.topics
from bot.db.engine import create_engine, create_readers, create_sessionmaker, dispose
from bot.delivery import DeliveryWorker, PacedRateLimiter, WorkerConfig
from bot.health import serve_health
from bot.logs import redact
from bot.services.broadcasts import BroadcastService
from bot.services.chats import ChatService
from bot.services.container import Services
from bot.services.directory import DirectoryService
from bot.services.flood import FloodGuard
from bot.services.handovers import HandoverService
from bot.services.onboarding import OnboardingService
from bot.services.pacing import Limits, Pacer
from bot.services.partners import InviteTerms, PartnerService
from bot.services.privacy import PrivacyService, Retention
from bot.services.questions import QuestionService
from bot.services.reminders import ReminderRules, ReminderService
from bot.services.reports import ReportService
from bot.services.roles import Roles
from bot.services.teaching import TeachingService
from bot.services.waiting import WaitingService
from bot.settings import Settings
from bot.texts import Texts
from bot.transport import AiohttpRequest
from handlers.base import SERVICES_KEY, BotApplication, BotContext
from handlers.errors import report_error
from handlers.flood import limit_flood
from handlers.once import drop_second_delivery
from knowledge import KnowledgeBase, SearchEngine, load_knowledge
from knowledge.semantic import E5Embedder

logger = logging.getLogger(__name__)

# Placeholder token for offline use (chat, tests): the offline transport never checks it.
OFFLINE_TOKEN = "0:offline"


def build_search(settings: Settings, kb: KnowledgeBase | None = None) -> SearchEngine:
    """The search engine for the configured knowledge directory (semantic layer if enabled)."""
    kb = kb or load_knowledge(settings.knowledge_dir)
    embedder = E5Embedder() if settings.semantic_search else None
    return SearchEngine(kb, embedder=embedder, cache_dir=settings.embedding_cache_dir)


def build_reminders(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], texts: Texts
) -> ReminderService:
    """The reminder planner with the network's report and meeting rules."""
    rules = ReminderRules(
        zone=settings.zone,
        at=settings.reminder_time,
        default_due=settings.report_due,
        offsets=settings.report_offsets_days,
        overdue_every_days=settings.overdue_every_days,
        overdue_count=settings.overdue_reminders,
        meeting_offsets=settings.meeting_offsets_days,
        snooze_days=settings.snooze_days,
    )
    return ReminderService(sessions, texts, rules)


def office_chats(settings: Settings) -> tuple[int, ...]:
    """Where office notifications go: the coordinators' chat, else each coordinator."""
    if settings.coordinator_chat_id is not None:
        return (settings.coordinator_chat_id,)
    return tuple(sorted(set(settings.coordinator_ids) | set(settings.admin_ids)))


def invite_terms(settings: Settings) -> InviteTerms:
    """The configured uses and lifetime of every new invite link."""
    return InviteTerms(uses=settings.invite_max_uses, days=settings.invite_days)


def build_services(
    settings: Settings, *, engine: AsyncEngine | None = None, search: SearchEngine | None = None
) -> Services:
    """Create every long-lived service once."""
    search = search or build_search(settings)
    db_engine = engine or create_engine(settings.database_url)
    sessions = create_sessionmaker(db_engine)
    readers = create_readers(db_engine)
    texts = Texts.load(settings.locales_dir, office=settings.office_names)
    reminders = build_reminders(settings, sessions, texts)
    invites = invite_terms(settings)
    return Services(
        settings=settings,
        texts=texts,
        kb=search.kb,
        search=search,
        sessions=sessions,
        readers=readers,
        questions=QuestionService(search, sessions),
        roles=Roles(settings.coordinator_ids, settings.admin_ids),
        flood=FloodGuard(limit=settings.flood_messages_per_minute, window=60.0),
        broadcasts=BroadcastService(sessions, texts),
        onboarding=OnboardingService(
            sessions,
            texts,
            search.kb,
            office_chat_ids=office_chats(settings),
            invites=invites,
        ),
        partners=PartnerService(sessions, invites=invites),
        reminders=reminders,
        chats=ChatService(sessions, reminders),
        handovers=HandoverService(sessions, texts),
        waiting=WaitingService(sessions, readers=readers),
        reports=ReportService(
            sessions, texts, search.kb, reminders, office_chat_ids=office_chats(settings)
        ),
        directory=DirectoryService(sessions, search.kb),
        privacy=PrivacyService(
            sessions,
            Retention(
                drafts=settings.onboarding_draft_days,
                unanswered=settings.retention_unanswered_days,
                delivered=settings.retention_delivered_days,
                handovers=settings.retention_handover_days,
                audit=settings.retention_audit_days,
                reports=settings.retention_report_files_days,
            ),
        ),
        pacer=Pacer(
            Limits(
                overall_per_second=settings.send_per_second,
                bulk_per_second=settings.broadcast_per_second,
            )
        ),
        teaching=TeachingService(search, sessions),
    )


def register_handlers(application: BotApplication) -> None:
    """Every handler, in the order that matters.

    Group -2 runs first for every update: an update delivered again (to this or another
    process) stops there. Group -1 next: flood protection stops a flooding person's updates
    before any feature sees them. In group 0 the first matching handler wins, so:
    conversations (they must see their own replies before the question handler does) →
    commands and buttons of each feature → the coordinators' reply relay (replies in the office
    chat are not questions) → group mentions → private text, which goes to whoever waits for
    it (a coordinator's decline reason, a requester's reply, the /join form) before it is taken
    as a question → catch-alls for unknown commands, non-text messages and stale buttons.
    """
    application.add_handler(TypeHandler(Update, drop_second_delivery), group=-2)
    application.add_handler(TypeHandler(Update, limit_flood), group=-1)
    for handler in (
        *handlers.broadcast.build_handlers(),
        *handlers.join.build_handlers(),
        *handlers.requests.build_handlers(),
        *handlers.cancel.build_handlers(),
        *handlers.events.build_handlers(),
        *handlers.partners.build_handlers(),
        *handlers.reports.build_handlers(),
        *handlers.examples.build_handlers(),
        *handlers.privacy.build_handlers(),
        *handlers.coordinators.build_handlers(),
        *handlers.firststeps.build_handlers(),
        *handlers.start.build_handlers(),
        *handlers.settings.build_handlers(),
        *handlers.topics.build_handlers(),
        *handlers.coordinator.build_handlers(),
        *handlers.subscriptions.build_handlers(),
        *handlers.questions.build_handlers(),
        *handlers.private_text.build_handlers(),
        *handlers.start.build_fallback_handlers(),
    ):
        application.add_handler(handler)
    application.add_error_handler(report_error)


def command_menus(texts: Texts, lang: str, *, coordinator: bool) -> list[BotCommand]:
    """The command list shown in Telegram's menu."""
    names = ["start", "help", "topics", "beispiele", "firststeps", "join", "status"]
    names += ["deadlines", "report", "events"]
    names += ["settings", "subscribe", "unsubscribe", "privacy", "mydata", "deleteme", "cancel"]
    if coordinator:
        names += ["requests", "partners", "reports", "newevent", "unanswered", "broadcast"]
        names += ["broadcasts"]
        names += ["coordinators"]
    return [BotCommand(name, texts.get(lang, f"commands.{name}")) for name in names]


async def publish_commands(application: BotApplication) -> None:
    """Set the command menus for German, English, and the coordinators' own chats."""
    services: Services = application.bot_data[SERVICES_KEY]
    bot = application.bot
    try:
        for lang_code in (None, "de", "en"):
            lang = lang_code or "de"
            await bot.set_my_commands(
                command_menus(services.texts, lang, coordinator=False),
                scope=BotCommandScopeDefault(),
                language_code=lang_code,
            )
        for coordinator_id in sorted(services.roles.coordinators):
            for lang_code in (None, "en"):
                await bot.set_my_commands(
                    command_menus(services.texts, lang_code or "de", coordinator=True),
                    scope=BotCommandScopeChat(coordinator_id),
                    language_code=lang_code,
                )
    except TelegramError as exc:
        # A coordinator who never opened the bot has no chat yet; menus are cosmetic.
        logger.warning("could not publish command menus: %s", exc.__class__.__name__)


def build_worker(services: Services, bot: Any) -> DeliveryWorker:
    """The delivery worker for these services, sending through `bot`."""
    settings = services.settings
    shared = settings.database_url.startswith("postgresql")
    return DeliveryWorker(
        bot,
        services.sessions,
        services.broadcasts,
        services.texts,
        WorkerConfig(
            crash_policy=settings.delivery_crash_policy,
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            heartbeat=timedelta(seconds=settings.delivery_heartbeat_seconds),
            # Three missed heartbeats: the worker crashed (or hangs); its rows go to others.
            stale_after=timedelta(seconds=3 * settings.delivery_heartbeat_seconds),
            shared_budget=shared,
            budget_per_second=settings.broadcast_per_second,
        ),
        wake=services.delivery_signal,
    )


_WORKER = "delivery_worker"
_HEALTH = "health_server"


async def plan_reminders(context: BotContext) -> None:
    """Queue report and meeting reminders that are due now or within a day."""
    services: Services = context.bot_data[SERVICES_KEY]
    added = await services.reminders.plan_report_reminders()
    added += await services.reminders.plan_meeting_reminders()
    if added:
        logger.info("queued %d reminders", added)
        services.wake_delivery()


async def apply_retention(context: BotContext) -> None:
    """Hourly: delete drafts, unanswered questions, delivered messages, handovers and audit
    entries older than their retention periods; refresh the coordinators added in the bot."""
    services: Services = context.bot_data[SERVICES_KEY]
    removed = await services.privacy.apply_retention()
    if any(removed.values()):
        logger.info("retention: %s", ", ".join(f"{k} {v}" for k, v in removed.items() if v))
    await services.roles.load(services.sessions)


async def _post_init(application: BotApplication) -> None:
    services: Services = application.bot_data[SERVICES_KEY]
    await services.roles.load(services.sessions)
    # What coordinators taught lives in the database; the search engine learns it again.
    await services.teaching.replay()
    # The knowledge base's public examples join the directory (idempotent, every start).
    await services.directory.sync_seeds()
    await publish_commands(application)
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            apply_retention,
            interval=timedelta(hours=1),
            first=timedelta(minutes=1),
            name="retention",
        )
        # At start-up (catching up after downtime) and then every ten minutes.
        application.job_queue.run_repeating(
            plan_reminders, interval=timedelta(minutes=10), first=timedelta(seconds=5), name="plan"
        )
    if services.settings.health_port is not None:
        application.bot_data[_HEALTH] = await serve_health(
            services.sessions,
            host=services.settings.webhook_listen,
            port=services.settings.health_port,
        )
    if services.settings.delivery_worker:
        stop = asyncio.Event()
        worker = build_worker(services, application.bot)
        task = asyncio.create_task(worker.run(stop), name="delivery-worker")
        application.bot_data[_WORKER] = (stop, task)


async def _post_stop(application: BotApplication) -> None:
    health_server = application.bot_data.pop(_HEALTH, None)
    if health_server is not None:
        health_server.close()
        await health_server.wait_closed()
    running = application.bot_data.pop(_WORKER, None)
    if running is not None:
        stop, task = running
        stop.set()
        await task


async def _post_shutdown(application: BotApplication) -> None:
    # A start that failed after post_init (Telegram refused the webhook) never stops:
    # the worker and the health server end here then.
    await _post_stop(application)
    services: Services = application.bot_data[SERVICES_KEY]
    services.questions.close()
    await dispose(services.sessions, services.readers)


def telegram_failure(error: TelegramError, settings: Settings, *, webhook: bool = False) -> str:
    """One line for the operator on why talking to Telegram failed at start; never the token
    (an InvalidToken's own text quotes it)."""
    base = settings.bot_api_base_url
    if isinstance(error, InvalidToken):
        text = f"Telegram rejected BOT_TOKEN; check the token from @BotFather (Bot API: {base})"
    elif isinstance(error, BadRequest) and webhook:
        text = f"Telegram refused WEBHOOK_URL {settings.webhook_url}: {error.message}"
    elif isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        text = f"cannot reach the Bot API at {base}: {error.message}"
    else:
        text = f"the Bot API at {base} refused: {error.message}"
    secrets = [s.get_secret_value() for s in (settings.bot_token, settings.webhook_secret) if s]
    return redact(text, secrets)


async def bot_username(settings: Settings) -> str:
    """The bot's @username, asked from the Bot API (invite links name the bot)."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else OFFLINE_TOKEN
    request = AiohttpRequest()
    # One request object for both slots: PTB would build an httpx client for getUpdates,
    # which a bot that never polls does not use.
    bot = Bot(
        token,
        base_url=settings.bot_api_base_url,
        base_file_url=settings.bot_api_file_url,
        request=request,
        get_updates_request=request,
    )
    async with bot:
        return bot.username


def build_application(
    services: Services,
    *,
    token: str | None = None,
    request: BaseRequest | None = None,
    rate_limit: bool = True,
) -> BotApplication:
    """A python-telegram-bot Application wired to `services`; `request` swaps the transport."""
    settings = services.settings
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(
            token
            or (settings.bot_token.get_secret_value() if settings.bot_token else OFFLINE_TOKEN)
        )
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_file_url)
        .context_types(ContextTypes(context=BotContext))
        # Every text is HTML: catalog texts carry <b>/<i>, and Texts.get escapes what it fills in.
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(32)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    # Our aiohttp transport unless a test brings its own (bot.transport says why).
    builder = builder.request(request or AiohttpRequest()).get_updates_request(
        request or AiohttpRequest(connection_pool_size=1)
    )
    if rate_limit:
        builder = builder.rate_limiter(PacedRateLimiter(services.pacer))
    application = cast(BotApplication, builder.build())
    application.bot_data[SERVICES_KEY] = services
    register_handlers(application)
    return application


__all__ = ["Application", "build_application", "build_search", "build_services"]

"""Coordinator commands of the Q&A feature: the list of unanswered questions."""

from __future__ import annotations

import html

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from bot.db import queries
from handlers.base import BotContext, coordinators_only, user_language
from knowledge.render import split_message


@coordinators_only
async def show_unanswered(update: Update, context: BotContext) -> None:
    """/unanswered: the newest questions the knowledge base could not answer."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = await user_language(update, context)
    texts = context.services.texts
    async with context.services.sessions() as session:
        rows, total = await queries.list_unanswered(session, limit=30)
    if not rows:
        await context.bot.send_message(chat.id, texts.get(lang, "coordinator.unanswered_empty"))
        return
    zone = context.services.settings.zone
    items = [
        texts.get(
            lang,
            "coordinator.unanswered_item",
            date=row.created_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"),
            language=row.language,
            outcome=row.outcome,
            topic=f" → {row.best_topic}" if row.best_topic else "",
            text=html.escape(row.text[:300], quote=False),
        )
        for row in rows
    ]
    header = texts.get(lang, "coordinator.unanswered_header", shown=len(rows), total=total)
    for chunk in split_message("\n\n".join([header, *items])):
        await context.bot.send_message(chat.id, chunk, parse_mode=ParseMode.HTML)


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Coordinator commands."""
    return [CommandHandler("unanswered", show_unanswered)]

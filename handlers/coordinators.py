"""/coordinators [add|remove ID]: admins manage the coordinators; coordinators see the list."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from handlers.base import BotContext, Turn, on_turn


@on_turn
async def coordinators(turn: Turn) -> None:
    """/coordinators [add|remove ID]: admins manage coordinators; the list for coordinators."""
    roles = turn.services.roles
    user = turn.user
    if user is None or not roles.is_coordinator(user.id) or turn.sender_chat:
        await turn.respond("common.coordinator_only")
        return
    args = turn.context.args or []
    if not args:
        await turn.respond(
            "coordinators.list",
            configured=", ".join(str(i) for i in sorted(roles.configured)) or "–",
            added=", ".join(str(i) for i in sorted(roles.added)) or "–",
        )
        return
    if not roles.is_admin(user.id):
        await turn.respond("coordinators.admin_only")
        return
    if len(args) != 2 or args[0] not in ("add", "remove") or not args[1].lstrip("-").isdigit():
        await turn.respond("coordinators.usage")
        return
    target = int(args[1])
    changed = await turn.services.set_coordinator(
        user_id=target, by=user.id, coordinator=args[0] == "add"
    )
    if not changed:
        await turn.respond("coordinators.not_changed")
        return
    await turn.respond(
        "coordinators.added" if args[0] == "add" else "coordinators.removed", user=target
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """Coordinator management."""
    return [CommandHandler("coordinators", coordinators)]

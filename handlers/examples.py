"""The directory of practice in the bot: /beispiele, "Beispiele aus dem Netzwerk (N)" under an
answer, and questions like "Wer hat schon …?" answered with what partners did."""

from __future__ import annotations

from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.services.directory import FACETS, PAGE_SIZE, Example, Page
from bot.texts import join, visible_length
from handlers.base import BotContext, Press, Turn, on_press, on_turn
from knowledge import ORGANISATION_TYPES, Topic
from knowledge.render import MESSAGE_LIMIT

PREFIX = callbacks.EXAMPLES
_DATA_LIMIT = 64  # bytes Telegram keeps of a button's data
_BUDGET = MESSAGE_LIMIT - 300  # room for the heading and the page line
_FIELD_LIMITS = ((600, 300), (350, 200), (200, 120))  # (what was done, result) cut to fit


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _facet_label(turn: Turn, facet: str, value: str) -> str:
    if facet == "topic":
        topic = turn.services.kb.topic(value)
        return topic.title[turn.lang] if topic else value
    if facet == "type" and value in ORGANISATION_TYPES:
        return turn.text(f"onboarding.type.{value}")
    return value


def _example_block(turn: Turn, example: Example, done_limit: int, result_limit: int) -> str:
    """One example: who, what kind, where, when; what they did; the result; link or source;
    the contact only when the partner opted in."""
    english = turn.lang == "en" and example.done_en
    done = (example.done_en if english else example.done) or ""
    result = (example.result_en if english else example.result) or ""
    lines = [
        turn.text(
            "examples.head",
            partner=example.partner,
            type=_facet_label(turn, "type", example.org_type),
            region=example.region or "–",
            year=example.year,
        ),
        turn.text("examples.done", text=_cut(done, done_limit)),
    ]
    if result:
        lines.append(turn.text("examples.result", text=_cut(result, result_limit)))
    if example.source:
        lines.append(turn.text("examples.source", title=example.source, url=example.link or ""))
    elif example.link:
        lines.append(turn.text("examples.link", url=example.link))
    if example.contact:
        lines.append(turn.text("examples.contact", contact=example.contact))
    return join("\n", lines)


def fit(turn: Turn, page: Page, *, ending: bool = False) -> tuple[str, Page]:
    """A page of examples as one message within Telegram's 4,096 characters (counted as
    Telegram counts, `visible_length`): long texts are cut shorter, and if that is not enough
    the page shows fewer examples: its last ones go (paging on follows), or with `ending` its
    first ones (a page that ends where the next one starts, for ◀)."""
    examples = page.examples
    while True:
        shown = replace(
            page, examples=examples, offset=page.offset + page.examples.index(examples[0])
        )
        head = turn.text(
            "examples.page_head",
            what=_facet_label(turn, page.facet, page.value),
            first=shown.offset + 1,
            last=shown.offset + len(examples),
            total=page.total,
        )
        for done_limit, result_limit in _FIELD_LIMITS:
            blocks = [_example_block(turn, e, done_limit, result_limit) for e in examples]
            body = join("\n\n", [head, *blocks])
            if visible_length(body) <= _BUDGET:
                return body, shown
        if len(examples) == 1:
            return body, shown  # one example is ≤ ~1,500 characters even at its longest
        examples = examples[1:] if ending else examples[:-1]


def _data(*parts: object) -> str | None:
    data = PREFIX + ":".join(str(p) for p in parts)
    return data if len(data.encode()) <= _DATA_LIMIT and data.count(":") == len(parts) else None


def page_markup(turn: Turn, page: Page) -> InlineKeyboardMarkup:
    """◀ ▶ through the pages (in place), the topic's answer (for a topic), back to the menu."""
    nav = []
    if page.offset > 0:
        # The examples just before this page: pages shortened to fit long entries are not
        # the same going back, but none is skipped.
        back = _data("b", page.facet, page.value, page.offset)
        if back:
            nav.append(_button("◀", back))
    if page.has_next:
        forward = _data("p", page.facet, page.value, page.offset + len(page.examples))
        if forward:
            nav.append(_button("▶", forward))
    rows = [nav] if nav else []
    if page.facet == "topic":
        rows.append([_button(turn.text("examples.topic_button"), f"{callbacks.TOPIC}{page.value}")])
    rows.append([_button(turn.text("examples.menu_button"), f"{PREFIX}m")])
    return InlineKeyboardMarkup(rows)


def _menu(turn: Turn) -> tuple[str, InlineKeyboardMarkup]:
    rows = [[_button(turn.text(f"examples.by_{facet}"), f"{PREFIX}f:{facet}")] for facet in FACETS]
    return turn.text("examples.menu"), InlineKeyboardMarkup(rows)


@on_turn
async def examples_command(turn: Turn) -> None:
    """/beispiele: browse the directory by topic, organisation type or region."""
    await turn.send(*_menu(turn))


async def show_topic_examples(turn: Turn, topic: Topic) -> bool:
    """The first page of a topic's examples (False when it has none)."""
    page = await turn.services.directory.page("topic", topic.id)
    if not page.examples:
        return False
    text, shown = fit(turn, page)
    await turn.reply(text, page_markup(turn, shown))
    return True


@on_press
async def examples_press(press: Press) -> None:
    """The directory's buttons: menu, a facet's choices, a page of examples."""
    action, rest = press.group(1), press.group(2)
    directory = press.services.directory
    if action == "m":
        await press.redraw(_menu(press))
        return
    if action == "f":
        if rest not in FACETS:
            await press.expired()
            return
        choices = await directory.choices(rest)
        rows = [
            [_button(f"{_facet_label(press, rest, value)} ({count})", data)]
            for value, count in choices[:40]
            if (data := _data("l", rest, value, 0))
        ]
        if not rows:
            await press.redraw((press.text("examples.empty"), None))
            return
        rows.append([_button(press.text("examples.menu_button"), f"{PREFIX}m")])
        await press.redraw((press.text(f"examples.choose_{rest}"), InlineKeyboardMarkup(rows)))
        return
    facet, _, tail = rest.partition(":")
    value, _, offset = tail.rpartition(":")
    if facet not in FACETS or not offset.isdigit() or not value:
        await press.expired()
        return
    end = int(offset)  # ◀: the examples before this offset
    start = max(end - PAGE_SIZE, 0) if action == "b" else end
    page = await directory.page(facet, value, offset=start)
    if action == "b":
        page = replace(page, examples=page.examples[: end - start])
    if not page.examples:
        await press.redraw((press.text("examples.empty"), None))
        return
    text, shown = fit(press, page, ending=action == "b")
    if action in ("p", "b"):  # ◀ ▶ turn the page in place
        await press.redraw((text, page_markup(press, shown)))
        return
    await press.ok()
    await press.send(text, page_markup(press, shown))


def build_handlers() -> list[BaseHandler[Update, BotContext, object]]:
    """/beispiele (also /examples) and the directory's buttons."""
    return [
        CommandHandler(["beispiele", "examples"], examples_command),
        CallbackQueryHandler(examples_press, pattern=rf"^{PREFIX}(m|f|l|p|b):?(.*)$"),
    ]

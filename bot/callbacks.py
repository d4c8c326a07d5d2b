"""Every button's callback-data prefix, once.

Telegram hands a pressed button's data back to the bot; the prefix names the feature that
handles it. Handlers match on these with regex patterns; services that queue messages with
buttons (reminders, the office's review card) build data with them too. A prefix is never
reused: a test checks they are unique, and that none is a prefix of another.
"""

from __future__ import annotations

from typing import Final

MENU: Final = "m:"  # the /start menu
CATEGORY: Final = "c:"  # the topic menu's categories ("c:" alone: the menu itself)
TOPIC: Final = "t:"  # open a topic
MORE: Final = "more:"  # an answer's details
FEEDBACK: Final = "fb:"  # 👍/👎 under an answer
HANDOVER: Final = "ho:"  # pass a question on to the office
FIRST_STEPS: Final = "fs:"  # the /firststeps wizard
SETTINGS: Final = "s:"  # /settings
JOIN: Final = "ob:"  # the /join form
REVIEW: Final = "rq:"  # the coordinators' review of a request
REPORT: Final = "rp:"  # report reminders: submitted / remind me later
MEETING: Final = "mt:"  # meeting reminders: RSVP
PARTNER: Final = "pa:"  # /partners: a partner's card and its buttons
BROADCAST: Final = "bc:"  # /broadcast's steps
BROADCAST_CANCEL: Final = "bcx:"  # /broadcasts: cancel a planned one
NEW_EVENT: Final = "ne:"  # /newevent's steps and "announce"
DELETE_ME: Final = "dm:"  # /deleteme's confirmation
TEACH: Final = "lq"  # /unanswered: teach a question (lq<action>:…)
REPORT_FORM: Final = "rf:"  # the yearly report form (/report)
REPORT_REVIEW: Final = "rr:"  # the office's review of a submitted report's items
EXAMPLES: Final = "ex:"  # the directory of practice (/beispiele, "Beispiele aus dem Netzwerk")

ALL: Final = (
    MENU,
    CATEGORY,
    TOPIC,
    MORE,
    FEEDBACK,
    HANDOVER,
    FIRST_STEPS,
    SETTINGS,
    JOIN,
    REVIEW,
    REPORT,
    MEETING,
    PARTNER,
    BROADCAST,
    BROADCAST_CANCEL,
    NEW_EVENT,
    DELETE_ME,
    TEACH,
    REPORT_FORM,
    REPORT_REVIEW,
    EXAMPLES,
)

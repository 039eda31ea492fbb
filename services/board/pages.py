"""Rendering: one Jinja2 environment per language, with the filters that name people, places and
dates as a coordinator says them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.board import i18n, texts
from shared.kinds import KINDS
from shared.network import NetworkIndex

TEMPLATES = Path(__file__).parent / "templates"
# No inline script or style anywhere: the pages allow their own assets only (htmx's indicator
# style is off, see base.html).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def namer(net: NetworkIndex) -> Callable[[str, Callable[[str], str]], str]:
    """Replaces the ids of people and groups in a text (the scheduler's explanation) by their names,
    and ISO dates by `day`: "th-ZL-0 from 2026-03-09" becomes "Sanne Jansen from ma 9 mrt"."""
    names = {p: net.person_name(p) for p in net.people} | {g: net.group_name(g) for g in net.groups}
    if not names:
        return lambda text, day: ISO_DAY.sub(lambda m: day(m.group(0)), text)
    ids = re.compile(
        r"(?<![\w-])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w-])"
    )

    def named(text: str, day: Callable[[str], str]) -> str:
        return ISO_DAY.sub(lambda m: day(m.group(0)), ids.sub(lambda m: names[m.group(1)], text))

    return named


class Pages:
    def __init__(self, net: NetworkIndex) -> None:
        self.net = net
        self.named = namer(net)
        self.gettexts: dict[str, Callable[[str], str]] = {}
        self.envs = {language: self._environment(language) for language in i18n.LANGUAGES}

    def _environment(self, language: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        translations = i18n.load(language)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        gettext: Callable[[str], str] = translations.gettext
        self.gettexts[language] = gettext
        net = self.net

        def words(table: dict[str, str]) -> Callable[[Any], str]:
            return lambda code: gettext(table[code]) if code in table else str(code or "")

        def meeting_place(place: str) -> str:
            """ "at the family's home", or "in <location>"."""
            if place in texts.PLACE:
                return gettext(texts.PLACE[place])
            return gettext("in {location}").format(location=net.location_name(place))

        def attendee(person: str) -> str:
            """A meeting's attendee by name and role: "Sanne Jansen (MST therapist)"."""
            found = net.people.get(person)
            if found is None or found.role not in texts.ROLE:
                return net.person_name(person)
            return f"{net.person_name(person)} ({gettext(texts.ROLE[found.role])})"

        env.filters.update(
            day=lambda v: i18n.day(v, language),
            day_long=lambda v: i18n.day_long(v, language),
            moment=lambda v: i18n.moment(v, language),
            clock=i18n.clock_time,
            weekday=lambda v: i18n.weekday_short(v, language),
            nights=lambda names: i18n.nights(names, language),
            meeting_place=meeting_place,
            attendee=attendee,
            person=net.person_name,
            named=lambda text: self.named(str(text or ""), lambda v: i18n.day(v, language)),
            group=net.group_name,
            location=net.location_name,
            region=lambda code: net.regions[code].name if code in net.regions else str(code or ""),
            status=words(texts.STATUS),
            urgency=words(texts.URGENCY),
            kind=lambda name: KINDS[name].title(language) if name in KINDS else str(name or ""),
            group_kind=words(texts.GROUP_KIND),
            role=words(texts.ROLE),
            event=words(texts.EVENT),
            meeting=words(texts.MEETING),
            stay=words(texts.STAY),
            close_reason=words(texts.CLOSE_REASON),
            staff_status=words(texts.STAFF_STATUS),
            notification=words(texts.NOTIFICATION),
            notification_status=words(texts.NOTIFICATION_STATUS),
        )
        env.globals.update(language=language, languages=i18n.LANGUAGES)
        env.globals["handover_words"] = lambda reason: texts.handover_words(
            reason, gettext, lambda v: i18n.day(v, language), net.person_name
        )
        env.globals["waiting_words"] = lambda entry: texts.waiting_words(
            entry, gettext, lambda v: i18n.day(v, language)
        )
        return env

    def html(self, language: str, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        defaults = {"visit": None, "done_text": None, "coordinator": False, "planner": False}
        defaults |= {"refers": False, "alerted": False, "staffing": False}
        text = self.envs[language].get_template(template).render(**(defaults | context))
        return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)

    def gettext(self, language: str) -> Callable[[str], str]:
        return self.gettexts[language]

"""Dutch first, English by choice: gettext catalogs (Babel) and dates as people write them ("ma 7 dec").

The texts in templates and code are English message ids; `locale/nl/LC_MESSAGES/messages.po`
translates them. The catalogs are compiled in memory at start (no build step, no .mo files to
forget). `tests/unit/test_board_i18n.py` checks that every message id has a Dutch translation.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from shared.kinds import WEEKDAYS

LANGUAGES: Final = ("nl", "en")
DEFAULT: Final = "nl"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Marks a message id for extraction where it is translated later (at render time)."""
    return message


def load(language: str) -> NullTranslations:
    """The compiled catalog of a language; the message ids themselves for English."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def choose(chosen: str | None, accept_language: str | None) -> str:
    """The page language: the person's choice, else the browser's first supported, else Dutch."""
    if chosen in LANGUAGES:
        return chosen
    for tag in _preferences(accept_language or ""):
        base = tag.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT


def _preferences(header: str) -> Iterable[str]:
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


@lru_cache(maxsize=8)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)


def _plain(text: str) -> str:
    return text.replace(".", "")  # Babel's Dutch abbreviations end in a dot ("dec."): not on a board


def day(value: date | str | None, language: str) -> str:
    """ "ma 7 dec" (nl), "Mon 7 Dec" (en); with the year when it is not this year's."""
    if value is None or value == "":
        return ""
    d = date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return _day(d, language, date.today().year)


@lru_cache(maxsize=4096)  # a bed board names the same 56 days for every group
def _day(d: date, language: str, this_year: int) -> str:
    pattern = "EEE d MMM" if d.year == this_year else "EEE d MMM y"
    return _plain(format_date(d, pattern, locale=_locale(language)))


def day_long(value: date | str | None, language: str) -> str:
    """ "maandag 7 december 2026"."""
    if value is None or value == "":
        return ""
    d = date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return format_date(d, "EEEE d MMMM y", locale=_locale(language))


def moment(value: datetime | str | None, language: str) -> str:
    """ "ma 7 dec 13:30"."""
    if value is None or value == "":
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    pattern = "EEE d MMM HH:mm" if dt.year == date.today().year else "EEE d MMM y HH:mm"
    return _plain(format_datetime(dt, pattern, locale=_locale(language)))


def clock_time(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.strftime("%H:%M")


@lru_cache(maxsize=64)
def weekday_short(value: date, language: str) -> str:
    return _plain(format_date(value, "EEE", locale=_locale(language)))


# A Monday: the weekday names of a part-time pattern are written from it ("mon" -> "ma").
_MONDAY = date(2024, 1, 1)


def nights(names: Iterable[str] | None, language: str) -> str:
    """A part-time pattern as people write it, Monday first: "ma di wo" (nl), "Mon Tue Wed" (en);
    a name that is no weekday is shown as it is."""
    wanted = list(names or [])
    known = [n for n in WEEKDAYS if n in wanted]
    shown = [weekday_short(_MONDAY + timedelta(days=WEEKDAYS.index(n)), language) for n in known]
    return " ".join(shown + [n for n in wanted if n not in WEEKDAYS])


def weekday_names(language: str) -> list[tuple[str, str]]:
    """(weekday name of a pattern, the day's full name): ("mon", "maandag"), ... Monday first."""
    return [
        (name, format_date(_MONDAY + timedelta(days=i), "EEEE", locale=_locale(language)))
        for i, name in enumerate(WEEKDAYS)
    ]

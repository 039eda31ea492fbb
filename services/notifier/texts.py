"""The notifier's phrase book: how dates, people, groups and reason codes read in Dutch and English. Pure.

The rules' own texts are data (`rules.yaml`); this module holds the words the engine and the mail
put around them: a date as people write it ("ma 7 dec 2026", "Mon 7 Dec 2026"), a person by name,
a group with its location, a scheduler's reason in plain words, the lines of what changed, and the
mail's links. Babel formats the dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

from babel.dates import format_date

from shared import events as ev
from shared.kinds import KINDS, WEEKDAYS
from shared.network import NetworkIndex

Language = Literal["nl", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "en")
DEFAULT_LANGUAGE: Language = "nl"

# A value the case does not have (yet): never "-" or "None" in a message.
UNKNOWN: dict[Language, str] = {"nl": "nog niet bekend", "en": "not known yet"}

DAY_PATTERN = "EEE d MMM y"  # Babel's (CLDR) pattern: "ma 7 dec 2026", "Mon 7 Dec 2026"


@lru_cache(maxsize=4096)
def format_day(day: date, lang: Language) -> str:
    """A date as people write it: "ma 7 dec 2026" in Dutch, "Mon 7 Dec 2026" in English."""
    return format_date(day, DAY_PATTERN, locale=lang)


def format_moment(moment: datetime, lang: Language) -> str:
    """ "do 8 jan 2026 om 13:30" / "Thu 8 Jan 2026 at 13:30"."""
    word = "om" if lang == "nl" else "at"
    return f"{format_day(moment.date(), lang)} {word} {moment:%H:%M}"


def join(items: Sequence[str], lang: Language) -> str:
    """ "A, B en C" / "A, B and C"."""
    if len(items) <= 1:
        return "".join(items)
    word = "en" if lang == "nl" else "and"
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


ROLE_LABELS: dict[str, dict[Language, str]] = {
    "mst_therapist": {"nl": "MST-therapeut", "en": "MST therapist"},
    "trajectbegeleider": {"nl": "trajectbegeleider", "en": "trajectbegeleider"},
    "referrer": {"nl": "verwijzer", "en": "referrer"},
    "mst_supervisor": {"nl": "MST-supervisor", "en": "MST supervisor"},
    "coordinator": {"nl": "coördinator", "en": "coordinator"},
    "ops": {"nl": "beheer", "en": "operations"},
    "privacy_officer": {"nl": "functionaris gegevensbescherming", "en": "data protection officer"},
}

URGENCY_LABELS: dict[str, dict[Language, str]] = {
    "normal": {"nl": "normaal", "en": "normal"},
    "urgent": {"nl": "urgent", "en": "urgent"},
    "crisis": {"nl": "crisis", "en": "crisis"},
}

# Why a case waits or a request was refused, in plain words. The scheduler gives a code or an English
# sentence; `reason_code` turns either into one of these keys, so that no code or English sentence
# (nor a date it may carry) reaches a message.
REASONS: dict[str, dict[Language, str]] = {
    "machtiging": {
        "nl": "er is nog geen machtiging gesloten jeugdhulp",
        "en": "there is no machtiging (the court's authorisation for closed youth care) yet",
    },
    "machtiging_lapsed": {
        "nl": "geen machtiging staat het verblijf nog toe (vervallen of te kort): er is een nieuwe nodig",
        "en": "no machtiging allows the stay any more (lapsed or too short): a new one is needed",
    },
    "age": {
        "nl": "de jongere valt buiten de leeftijdsgrens van dit traject",
        "en": "the youth is outside the age range of this trajectory",
    },
    "horizon": {
        "nl": "de vroegst mogelijke start ligt nog buiten de planningsperiode",
        "en": "the earliest possible start is still beyond the planning period",
    },
    "no_bed": {
        "nl": "er is nog geen vrij bed op een passende groep",
        "en": "there is no free bed on a suitable group yet",
    },
    "no_bed_in_time": {
        "nl": "er komt geen passend bed vrij zolang de jongere nog geplaatst mag worden",
        "en": "no suitable bed comes free while the youth may still be placed",
    },
    "no_bed_in_time_machtiging": {
        "nl": "er komt geen passend bed vrij voordat de machtiging verloopt",
        "en": "no suitable bed comes free before the machtiging runs out",
    },
    "no_bed_in_time_age": {
        "nl": "er komt geen passend bed vrij voordat de jongere de leeftijdsgrens van dit traject bereikt",
        "en": "no suitable bed comes free before the youth reaches the age limit of this trajectory",
    },
    "no_staff": {
        "nl": "er is wel een bed, maar nog geen MST-therapeut met ruimte en geen tijd voor het startgesprek",
        "en": "there is a bed, but no MST therapist with room and no time for the startgesprek yet",
    },
    "withdrawn": {"nl": "de aanmelding is ingetrokken", "en": "the referral was withdrawn"},
    "closed": {"nl": "de casus is gesloten", "en": "the case was closed"},
    "informal_network": {
        "nl": "dit traject heeft geen time-out op een groep: het gezin gebruikt het eigen netwerk",
        "en": "this trajectory has no time-out on a group: the family uses its own network",
    },
    "no_timeout_in_kind": {
        "nl": "dit traject kent geen time-out",
        "en": "this trajectory has no time-out",
    },
    "not_in_home_phase": {
        "nl": "de jongere is nu niet in de thuisfase (nog niet geplaatst, nog op de groep of al in time-out)",
        "en": "the youth is not in the home phase now (not placed yet, still on the group, or in a time-out)",
    },
    "no_machtiging": {
        "nl": "geen machtiging dekt de gevraagde dagen",
        "en": "no machtiging covers the days asked for",
    },
    "already_started": {"nl": "de plaatsing is al begonnen", "en": "the placement has already started"},
    "expected": {
        "nl": "er is een plek voorzien, maar die is nog niet toegezegd: dat gebeurt een week voor de start",
        "en": "a place is foreseen but not promised yet: it is promised a week before the start",
    },
    "other": {"nl": "er is nog geen passende plek", "en": "there is no suitable place yet"},
}
MACHTIGING_REASONS = frozenset({"machtiging", "machtiging_lapsed"})


def reason_code(reason: str | None) -> str | None:
    """A scheduler's reason (a code, possibly followed by ": explanation", or an English sentence) as a
    key of REASONS; None for none."""
    if not reason or not reason.strip():
        return None
    text = reason.strip()
    code = ev.reason_code(text)
    if code in REASONS:
        return code
    low = text.lower()
    if low.startswith("already_"):
        return "closed" if "closed" in low else "withdrawn" if "withdrawn" in low else "already_started"
    if low.startswith("waiting for a machtiging"):
        return "machtiging"
    if low.startswith("no machtiging allows") or low.startswith("machtiging_"):
        return "machtiging_lapsed"
    if low.startswith("too old"):
        return "age"
    if low.startswith("not allowed to start before"):
        return "horizon"
    if "free therapist" in low or "startgesprek slot" in low:
        return "no_staff"
    if low.startswith("no ") and " bed" in low:
        if " before " in low and "too old" in low:
            return "no_bed_in_time_age"
        if " before " in low and "machtiging" in low:
            return "no_bed_in_time_machtiging"
        return "no_bed"
    return "other"


def reason_text(code: str, lang: Language) -> str:
    return REASONS.get(code, REASONS["other"])[lang]


# The family's time-out address: the link goes to the roles in `address_to`, the others read this.
WITHHELD: dict[Language, str] = {
    "nl": "(alleen in het bericht aan de MST-therapeut)",
    "en": "(in the message to the MST therapist only)",
}
NO_ADDRESS: dict[Language, str] = {
    "nl": "(bij intake is geen time-out-adres vastgelegd)",
    "en": "(no time-out address was recorded at intake)",
}

# The MST therapist of a case whose kind has no MST: nobody, and that is as it should be.
NO_MST: dict[Language, str] = {
    "nl": "geen (dit traject heeft geen MST)",
    "en": "none (this trajectory has no MST)",
}

# The place of a meeting held at the family's home (the kennismakingsgesprek): the address stays at intake.
HOME_PLACE = "home"
AT_HOME: dict[Language, str] = {"nl": "bij het gezin thuis", "en": "at the family's home"}

# A meeting by its name (events.MeetingName), as the calendar and the mail call it.
MEETING_TITLES: dict[str, dict[Language, str]] = {
    "startgesprek": {"nl": "Startgesprek", "en": "Startgesprek (start meeting)"},
    "kennismaking": {"nl": "Kennismakingsgesprek", "en": "Kennismakingsgesprek (intro meeting)"},
}

# What a replacement message says changed: labels of the facts a rule `tracks`.
CHANGE_LABELS: dict[str, dict[Language, str]] = {
    "start": {"nl": "startdatum", "en": "start date"},
    "end": {"nl": "einddatum", "en": "end date"},
    "nights": {"nl": "nachten", "en": "nights"},
    "group": {"nl": "groep", "en": "group"},
    "location": {"nl": "locatie", "en": "location"},
    "mst_therapist": {"nl": "MST-therapeut", "en": "MST therapist"},
    "trajectbegeleider": {"nl": "trajectbegeleider", "en": "trajectbegeleider"},
    "referrer": {"nl": "verwijzer", "en": "referrer"},
    "expected_start": {"nl": "verwachte start", "en": "expected start"},
    "earliest_start": {"nl": "gewenste start", "en": "desired start"},
    "reason": {"nl": "reden", "en": "reason"},
    "meeting_start": {"nl": "begin", "en": "start"},
    "meeting_end": {"nl": "einde", "en": "end"},
    "place": {"nl": "plaats", "en": "place"},
    "attendees": {"nl": "deelnemers", "en": "attendees"},
    "valid_from": {"nl": "machtiging geldig vanaf", "en": "machtiging valid from"},
    "valid_until": {"nl": "machtiging geldig tot en met", "en": "machtiging valid until"},
    "timeout_start": {"nl": "begin time-out", "en": "time-out start"},
    "timeout_end": {"nl": "einde time-out", "en": "time-out end"},
    "timeout_group": {"nl": "groep time-out", "en": "time-out group"},
    "urgency": {"nl": "urgentie", "en": "urgency"},
}


def change_line(fact: str, old: str, new: str, lang: Language) -> str:
    label = CHANGE_LABELS[fact][lang]
    return f"- {label}: was {old}; nu {new}" if lang == "nl" else f"- {label}: was {old}; now {new}"


def escalation_note(
    earlier: Sequence[str], next_at: datetime | None, next_people: Sequence[str], lang: Language
) -> str:
    """What an escalating alert says about the chain: who had it before, who gets it next and when."""
    lines = []
    if earlier:
        if lang == "nl":
            lines.append(
                f"Deze melding ging eerder naar {join(earlier, lang)} en is nog door niemand bevestigd;"
                " daarom krijgt u hem nu ook."
            )
        else:
            lines.append(
                f"This alert went to {join(earlier, lang)} before and nobody has acknowledged it yet;"
                " that is why you get it now."
            )
    if next_at is not None and next_people:
        if lang == "nl":
            lines.append(
                f"Bevestigt niemand deze melding vóór {format_moment(next_at, lang)}, dan gaat hij ook"
                f" naar {join(next_people, lang)}."
            )
        else:
            lines.append(
                f"If nobody acknowledges this alert before {format_moment(next_at, lang)}, it also goes"
                f" to {join(next_people, lang)}."
            )
    return "\n".join(lines)


def urgent_prefix(lang: Language) -> str:
    return "[SPOED] " if lang == "nl" else "[URGENT] "


def footer(case: str, case_url: str, alerts_url: str, ack_url: str, lang: Language) -> str:
    """The links under every mail: the case on the board, the reader's alerts, the acknowledge link."""
    if lang == "nl":
        return (
            f"Casus {case} op het bord: {case_url}\n"
            f"Al uw openstaande meldingen: {alerts_url}\n"
            f"Gezien en opgepakt? Bevestig deze melding (de link werkt één keer): {ack_url}\n"
            "Bevestigen stopt de herinneringen en escalaties van deze melding, voor iedereen die hem kreeg."
        )
    return (
        f"Case {case} on the board: {case_url}\n"
        f"All your open alerts: {alerts_url}\n"
        f"Seen and taken up? Acknowledge this alert (the link works once): {ack_url}\n"
        "Acknowledging stops this alert's reminders and escalations, for everyone who got it."
    )


def ical_summary(case: str, lang: Language, meeting: str = "startgesprek") -> str:
    title = MEETING_TITLES.get(meeting, MEETING_TITLES["startgesprek"])[lang]
    return f"{title} casus {case}" if lang == "nl" else f"{title} case {case}"


def ical_description(
    case: str, attendees: str, case_url: str, lang: Language, meeting: str = "startgesprek"
) -> str:
    if meeting == "kennismaking":
        if lang == "nl":
            return (
                f"Kennismakingsgesprek van casus {case}: het gezin, de verwijzer en het team maken kennis en"
                f" bespreken het traject.\nDeelnemers: {attendees}.\nHet adres van het gezin staat om"
                f" privacyredenen niet in deze uitnodiging.\nCasus op het bord: {case_url}"
            )
        return (
            f"Intro meeting (kennismakingsgesprek) of case {case}: the family, the referrer and the team meet"
            f" and discuss the trajectory.\nAttendees: {attendees}.\nFor privacy the family's address is not"
            f" in this invitation.\nThe case on the board: {case_url}"
        )
    if lang == "nl":
        return (
            f"Startgesprek van casus {case} met alle partijen: wie doet wat, nu MST is begonnen.\n"
            f"Deelnemers: {attendees}.\nCasus op het bord: {case_url}"
        )
    return (
        f"Start meeting (startgesprek) of case {case} with all parties: who does what, now that MST has"
        f" started.\nAttendees: {attendees}.\nThe case on the board: {case_url}"
    )


class Wording:
    """Shows the values of a case's facts to a reader: names from the care network, dates in the
    reader's language. A value comes in its stored form (ISO dates, ids) and goes out as text, or
    None when the case has none."""

    def __init__(self, index: NetworkIndex) -> None:
        self.index = index

    def language(self, person: str) -> Language:
        found = self.index.people.get(person)
        return found.language if found is not None else DEFAULT_LANGUAGE

    def person(self, person: str) -> str:
        return self.index.person_name(person)

    def with_role(self, person: str, lang: Language) -> str:
        found = self.index.people.get(person)
        label = ROLE_LABELS.get(found.role) if found is not None else None
        return f"{self.person(person)} ({label[lang]})" if label else self.person(person)

    def group(self, group: str) -> str:
        """ "De Kreek (Ossendrecht)"; a group without a name by its id: "L01-g2 (Ossendrecht)"."""
        info = self.index.groups.get(group)
        if info is None:
            return group
        return f"{info.group.name or group} ({info.location.name})"

    def location(self, location: str, lang: Language = DEFAULT_LANGUAGE) -> str:
        """A location by name; a meeting at the family's home as such (never its address)."""
        if location == HOME_PLACE:
            return AT_HOME[lang]
        return self.index.location_name(location)

    def nights(self, names: Iterable[str], lang: Language) -> str:
        """A part-time pattern's weekday names as words: "maandag, woensdag en vrijdag"."""
        days = [_WEEK[WEEKDAYS.index(n)] for n in names if n in WEEKDAYS]
        return join([format_date(day, "EEEE", locale=lang) for day in days], lang)

    def handover(self, pairs: Iterable[Any], lang: Language) -> str:
        """Who took over from whom, and as what: "Eva Meijer neemt het over van Lotte Smit als
        MST-therapeut"."""
        lines = []
        for role, before, after in pairs:
            label = ROLE_LABELS.get(str(role), {"nl": str(role), "en": str(role)})[lang]
            new, old = self.person(str(after)), self.person(str(before))
            if lang == "nl":
                lines.append(f"{new} neemt het over van {old} als {label}")
            else:
                lines.append(f"{new} takes over from {old} as {label}")
        return join(lines, lang)

    def region(self, code: str) -> str:
        found = self.index.regions.get(code)
        return found.name if found is not None else code

    def show(self, kind: str, value: Any, lang: Language) -> str | None:
        if value is None or value == "" or value == []:
            return None
        match kind:
            case "day":
                return format_day(date.fromisoformat(str(value)), lang)
            case "moment":
                return format_moment(datetime.fromisoformat(str(value)), lang)
            case "time":
                return f"{datetime.fromisoformat(str(value)):%H:%M}"
            case "person":
                return self.person(str(value))
            case "people":
                return join([self.person(p) for p in _items(value)], lang)
            case "attendees":
                return join([self.with_role(p, lang) for p in _items(value)], lang)
            case "group":
                return self.group(str(value))
            case "location":
                return self.location(str(value), lang)
            case "nights":
                return self.nights(_items(value), lang) or None
            case "handover":
                return self.handover(value, lang) or None
            case "region":
                return self.region(str(value))
            case "kind":  # the kinds table names each kind in every language
                spec = KINDS.get(str(value))
                return spec.title(lang) if spec is not None else str(value).replace("_", " ")
            case "urgency":
                label = URGENCY_LABELS.get(str(value))
                return label[lang] if label else str(value)
            case "reason":
                return reason_text(str(value), lang)
        return str(value)


# A week from a Monday: the weekday of each of WEEKDAYS (date.weekday() is the index).
_WEEK = tuple(date(2024, 1, 1 + i) for i in range(7))


def _items(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, Iterable) and not isinstance(value, str) else [value]

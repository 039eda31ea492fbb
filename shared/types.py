"""Value types every contract uses: local times and days, case ids, plain text, strict models."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M"


# Dates far outside any trajectory, read from a file or a request, are typing errors (and would
# overflow date arithmetic later). Values built in code are taken as they are.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _in_years(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{value.isoformat()[:10]!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return value


def parse_local(value: Any) -> Any:
    """Accept `YYYY-MM-DDTHH:MM` (local Europe/Amsterdam, no zone) and nothing looser."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.strptime(value, TIME_FORMAT)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a time of the form YYYY-MM-DDTHH:MM") from exc
        return _in_years(parsed)
    raise ValueError("must be a time of the form YYYY-MM-DDTHH:MM")


def parse_day(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value) if len(value) == 10 else _bad_day(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date of the form YYYY-MM-DD") from exc
        return _in_years(parsed)
    raise ValueError("must be a date of the form YYYY-MM-DD")


def plain_text(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value):
        raise ValueError("contains control characters")
    return value


def _bad_day(value: str) -> date:
    raise ValueError(f"{value!r} is not a date of the form YYYY-MM-DD")


def fmt_local(value: datetime) -> str:
    return value.strftime(TIME_FORMAT)


def fmt_day(value: date) -> str:
    return value.isoformat()


LocalTime = Annotated[datetime, BeforeValidator(parse_local), PlainSerializer(fmt_local, return_type=str)]
Day = Annotated[date, BeforeValidator(parse_day), PlainSerializer(fmt_day, return_type=str)]
ClockTime = Annotated[
    time,
    BeforeValidator(lambda v: datetime.strptime(v, "%H:%M").time() if isinstance(v, str) else v),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]
# A case reference travels in URLs, topics' keys and mail subjects: letters, digits and . _ : -
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$"
CaseId = Annotated[str, Field(min_length=1, max_length=36, pattern=CASE_ID_PATTERN)]


def is_case_id(value: str) -> bool:
    """Could `value` name a case at all (a path parameter or query before it reaches the database)?"""
    return re.fullmatch(CASE_ID_PATTERN, value) is not None


Text = Annotated[str, Field(max_length=500), AfterValidator(plain_text)]
# A name from the network (a kind, region, group or person id): short; a longer one is a typing
# error or an attack, refused before it is looked up, logged or stored.
NAME_MAX = 64
NetworkName = Annotated[str, Field(max_length=NAME_MAX)]
# Row ids are PostgreSQL bigints: a larger number names nothing.
BIGINT_MAX = 2**63 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def error_place(loc: Sequence[int | str]) -> str:
    """A pydantic error location as people write it: `machtiging.valid_from`, `conflicts_with[2]`."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def error_reason(err: Mapping[str, Any]) -> str:
    """A pydantic error message in plain words (an unknown key is called so)."""
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return str(err["msg"]).removeprefix("Value error, ")


def describe_errors(exc: ValidationError) -> list[str]:
    return [f"{error_place(err['loc']) or '(top level)'}: {error_reason(err)}" for err in exc.errors()]

"""Refusals a use case raises: each names the field and the reason, and maps to one HTTP status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Self


class Problem(NamedTuple):
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class Refused(Exception):
    """The request cannot be done as asked (422 unless a subclass says otherwise)."""

    status = 422

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(map(str, self.problems)))

    @classmethod
    def one(cls, field: str, reason: str) -> Self:
        return cls([Problem(field, reason)])


class NotFound(Refused):
    """Nothing of that name (or nothing the actor may know of)."""

    status = 404


class Conflict(Refused):
    """The request contradicts what was accepted before."""

    status = 409


class Forbidden(Refused):
    """A known person whose role may not do this (403). A case outside the person's scope is a
    NotFound instead, so that its existence is not revealed."""

    status = 403


class Unauthenticated(Refused):
    """No valid bearer token (401, with a WWW-Authenticate challenge)."""

    status = 401

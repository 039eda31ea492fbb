"""The validator's `meeting_notice` rule (PATHWAY-V2 "Meetings"): a meeting's latest invitation went out
at least one working day (working hours 09:00-17:00) before it starts."""

from __future__ import annotations

from typing import Any

import pytest
from test_validator import feasible, meeting

from tools.validator import validate_report

JSON = dict[str, Any]


def invite(case: str, at: str, kind: str = "startgesprek_invite", to: str = "th-n") -> JSON:
    return {"at": at, "case": case, "kind": kind, "to": to, "channel": "email"}


def notice_violations(report: JSON) -> list[str]:
    scenario, _ = feasible()
    result = validate_report(scenario, report)
    return [v.message for v in result.violations if v.rule == "meeting_notice"]


def with_invites(*notifications: JSON) -> JSON:
    """feasible()'s report (c1's startgesprek Wed 2026-01-07 13:30, c2's Tue 2026-01-13 10:00)."""
    _, report = feasible()
    report["notifications"] = list(notifications)
    return report


@pytest.mark.parametrize(
    "announced",
    [
        "2026-01-06T13:30",  # the day before, at the same time: exactly one working day
        "2026-01-06T08:00",  # before opening: counts from 09:00
        "2026-01-05T16:59",
    ],
)
def test_an_invitation_one_working_day_ahead_is_kept(announced: str) -> None:
    scenario, _ = feasible()
    report = with_invites(invite("c1", announced), invite("c1", announced, to="tb"))
    result = validate_report(scenario, report)
    assert result.violations == []


@pytest.mark.parametrize(
    ("announced", "allowed"),
    [
        ("2026-01-06T13:31", "2026-01-07T13:31"),
        ("2026-01-06T17:00", "2026-01-08T09:00"),  # after closing: the second working day's opening
        ("2026-01-07T08:00", "2026-01-08T09:00"),  # on the meeting's own day
    ],
)
def test_an_invitation_less_than_one_working_day_ahead_is_caught(announced: str, allowed: str) -> None:
    messages = notice_violations(with_invites(invite("c1", announced)))
    assert len(messages) == 1
    # The message names the case, the announcement and the start.
    assert "c1" in messages[0] and announced in messages[0] and "2026-01-07T13:30" in messages[0]
    assert allowed in messages[0]


def test_the_latest_invitation_counts() -> None:
    # Announced in time, then changed on the meeting's own day: the final time came too late.
    report = with_invites(invite("c1", "2026-01-05T10:00"), invite("c1", "2026-01-07T09:15"))
    assert len(notice_violations(report)) == 1
    report = with_invites(invite("c1", "2026-01-07T09:15"), invite("c1", "2026-01-05T10:00"))
    assert len(notice_violations(report)) == 1  # in the file's order or not


def test_weekends_do_not_count_as_notice() -> None:
    # c2's startgesprek is on Tuesday 10:00: Friday after closing or Saturday is enough (Tuesday
    # 09:00), Monday 10:30 is not.
    assert notice_violations(with_invites(invite("c2", "2026-01-09T18:00"))) == []
    assert notice_violations(with_invites(invite("c2", "2026-01-10T12:00"))) == []
    assert len(notice_violations(with_invites(invite("c2", "2026-01-12T10:30")))) == 1


def test_a_kennismaking_counts_from_its_own_invitation() -> None:
    scenario, report = feasible()
    report["meetings"].append(meeting("c1", "2026-01-06T10:00", kind="kennismaking"))
    report["notifications"] = [
        invite("c1", "2026-01-05T10:00", kind="kennismaking_invite"),
        invite("c1", "2026-01-06T09:00"),  # the startgesprek's: one working day before 01-07 13:30
    ]
    assert [v for v in validate_report(scenario, report).violations if v.rule == "meeting_notice"] == []
    report["notifications"][0] = invite("c1", "2026-01-05T11:00", kind="kennismaking_invite")
    messages = notice_violations(report)
    assert len(messages) == 1 and "kennismaking" in messages[0]


def test_a_report_without_notifications_has_nothing_to_check() -> None:
    scenario, report = feasible()
    report["meetings"] = [meeting("c1", "2026-01-07T09:00")]
    assert report["notifications"] == []
    assert notice_violations(report) == []

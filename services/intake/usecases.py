"""Intake's use cases: register a referral, record a later event, read a case, apply a decision.

Each takes plain inputs and an actor, runs in one unit of work (the case, its events, the access
log and the outbox in one transaction) and returns domain objects or raises a refusal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from services.intake.domain import Case, CaseView, Status
from services.intake.repository import CaseRepository
from services.intake.rules import referral_problems, to_case_event
from shared.actor import Actor
from shared.bus import OutboxRelay
from shared.clock import Clock
from shared.errors import Conflict, NotFound, Refused
from shared.events import TOPIC_CASE_EVENTS, TOPIC_TIMEOUT_ADDRESS, Decision, TimeoutAddressRecorded
from shared.http import validation_problems
from shared.inputs import LaterEventRequest, ReferralRequest, later_event
from shared.kinds import KINDS
from shared.network import NetworkIndex
from shared.settings import ServiceSettings
from shared.types import fmt_local, is_case_id
from shared.uow import UnitOfWork

FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of reporting systems differ a little
DECISIONS_CONSUMER = "intake.decisions"


class IntakeUnit(UnitOfWork):
    cases: CaseRepository

    def opened(self) -> None:
        self.cases = CaseRepository(self.conn)


@dataclass(frozen=True)
class Registration:
    case: str
    status: Status
    created: bool  # False: a repeat of a referral already registered


@dataclass(frozen=True)
class RecordedEvent:
    case: str
    event: str
    at: str


def unknown_case(case: str) -> NotFound:
    return NotFound.one("case", f"unknown case {case!r}")


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        relay: OutboxRelay | None,
        net: NetworkIndex,
        clock: Clock,
        settings: ServiceSettings,
        registry: CollectorRegistry,
    ) -> None:
        self.pool, self.relay, self.net, self.clock = pool, relay, net, clock
        self.topic_events = settings.topic(TOPIC_CASE_EVENTS)
        self.topic_address = settings.topic(TOPIC_TIMEOUT_ADDRESS)
        self.referrals = Counter(
            "thuisbest_referrals", "Referrals received, by outcome", ["outcome"], registry=registry
        )

    def unit(self) -> IntakeUnit:
        return IntakeUnit(self.pool, self.relay)

    async def register_referral(self, request: ReferralRequest, actor: Actor) -> Registration:
        """A new case (201), or a repeat of one (200); a different referral under a used id: 409."""
        ref = request.event(self.clock.now())
        problems = referral_problems(ref, self.net)
        if problems:
            self.referrals.labels("rejected").inc()
            raise Refused(problems)
        # A repeat is the same referral however it is spelled (defaults written out or left away).
        same = ref.model_dump(mode="json", exclude={"at"})
        same["stay_days"] = KINDS[ref.kind].stay_or_default(ref.stay_days)
        digest = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
        async with self.unit() as uow:
            created = await uow.cases.add_referral(ref, digest)
            if created:
                identity = {"birth_date", "timeout_address"}  # kept in `identities` only
                body = ref.model_dump(mode="json", exclude=identity)
                await uow.cases.add_event(ref.case, "referral", ref.at, body)
                await uow.cases.log_access(actor, ref.case, "create")
                uow.publish(self.topic_events, to_case_event(ref, self.net))
                if ref.timeout_address:
                    address = TimeoutAddressRecorded(
                        case=ref.case, occurred_at=ref.at, address=ref.timeout_address
                    )
                    uow.publish(self.topic_address, address)
                status: Status = "registered"
            else:
                if await uow.cases.request_hash(ref.case) != digest:
                    self.referrals.labels("conflict").inc()
                    raise Conflict.one("case", "already used for a different referral")
                case = await uow.cases.get(ref.case)
                assert case is not None
                status = case.status(self.clock.now().date())
        self.referrals.labels("registered" if created else "repeat").inc()
        return Registration(ref.case, status, created)

    def count_invalid(self) -> None:
        self.referrals.labels("invalid").inc()

    async def record_event(self, case_id: str, request: LaterEventRequest, actor: Actor) -> RecordedEvent:
        """A later event of a case (machtiging, discharge, time-out request, meeting held, ...)."""
        now = self.clock.now()
        try:  # the case id in the URL is checked here too: nothing odd reaches the database
            event = later_event(case_id, request, now)
        except ValidationError as exc:
            raise Refused(validation_problems(exc)) from None
        if event.at > now + FUTURE_TOLERANCE:
            raise Refused.one("at", "in the future: report an event once it happened")
        async with self.unit() as uow:
            case = await uow.cases.get(case_id, for_update=True)
            if case is None:
                raise unknown_case(case_id)
            if event.at < case.received_at:
                raise Refused.one("at", "before the referral of the case")
            if not case.accepts(event.type):
                raise Conflict.one("case", f"the case is {case.closed}")
            await uow.cases.add_event(case_id, event.type, event.at, event.model_dump(mode="json"))
            await uow.cases.log_access(actor, case_id, f"event:{event.type}")
            case.record(event.type)
            await uow.cases.save(case)
            uow.publish(self.topic_events, to_case_event(event, self.net))
        return RecordedEvent(case_id, event.type, fmt_local(event.at))

    async def read_case(self, case_id: str, actor: Actor) -> CaseView:
        if not is_case_id(case_id):
            raise unknown_case(case_id)
        async with self.unit() as uow:
            case = await uow.cases.get(case_id)
            if case is None:
                raise unknown_case(case_id)
            await uow.cases.log_access(actor, case_id, "read")
        return case.view(self.clock.now().date())

    async def apply_decision(self, decision: Decision) -> Case | None:
        """Keep the case up to date with the scheduler's decision (each decision once)."""
        async with self.unit() as uow:
            if not await uow.first_time(DECISIONS_CONSUMER, decision.event_id):
                return None
            case = await uow.cases.get(decision.case, for_update=True)
            if case is None:
                return None
            case.apply(decision)
            await uow.cases.save(case)
        return case

    async def count_by_status(self) -> dict[Status, int]:
        today = self.clock.now().date()
        async with self.unit() as uow:
            cases = await uow.cases.all()
        counts: dict[Status, int] = {}
        for case in cases:
            status = case.status(today)
            counts[status] = counts.get(status, 0) + 1
        return counts

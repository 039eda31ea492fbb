"""Intake's use cases: register a referral, record a later event, read a case or its time-out
address, apply a decision, and keep the identity store sealed with the current key.

Each takes plain inputs and an actor, runs in one unit of work (the case, its events, the audit
row and the outbox in one transaction) and returns domain objects or raises a refusal.

Who may do what is the role table's (`shared/access.py`), asked through the Gate: 403 for a role
that may never do the action, 404 for a case the person is not related to, exactly as for an
unknown case. The relation is decided inside the unit of work on the case as read there; a
refusal is recorded by the Gate after the unit has rolled back, so that a request never holds
one pooled connection while it waits for another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError

from services.intake.domain import Case, CaseView, HistoryItem, Status
from services.intake.identity import Identity, KeyRing
from services.intake.repository import CaseRepository, IdentityRepository
from services.intake.rules import later_event_problems, referral_problems, to_case_event
from shared.access import CaseScope, Gate, allowed, unknown_case
from shared.actor import Actor
from shared.bus import OutboxRelay
from shared.clock import Clock
from shared.errors import Conflict, Forbidden, Problem, Refused
from shared.events import TOPIC_CASE_EVENTS, Decision
from shared.http import validation_problems
from shared.inputs import (
    LATER_EVENTS,
    CaseEvent,
    LaterEventRequest,
    ReferralRequest,
    TimeoutAddressEvent,
    later_event,
)
from shared.kinds import KINDS
from shared.network import NetworkIndex
from shared.settings import ServiceSettings
from shared.types import fmt_local, is_case_id
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
SERVICE = "intake"
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of reporting systems differ a little
DECISIONS_CONSUMER = "intake.decisions"
# The fields of a referral event kept in the identity store only (never in `case_events`).
REFERRAL_IDENTITY = {"birth_date", "timeout_address"}
# The fields of a later event kept in the identity store only (its `case_events` row goes without).
LATER_EVENT_IDENTITY = {"timeout_address": {"address"}}
# Referral fields of PATHWAY-V2: a referral of before has no such key, one of now may have it empty.
V2_REFERRAL_FIELDS = ("current_therapist", "program_weeks", "nights_per_week", "preferred_nights")
READ_TIMEOUT_ADDRESS = "read_timeout_address"
IDENTITY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('thuisbest-intake-identities'))"
# From a referral received to the first decision about it: 0.1 s (the live path) to a day.
DECISION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400)


class IntakeUnit(UnitOfWork):
    cases: CaseRepository
    identities: IdentityRepository

    def opened(self) -> None:
        self.cases = CaseRepository(self.conn)
        self.identities = IdentityRepository(self.conn)


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


@dataclass(frozen=True)
class TimeoutAddress:
    case: str
    address: str | None


def case_scope(case: Case, net: NetworkIndex) -> CaseScope:
    """Who the case is related to: its region, its referrer, and the staff of its current stay."""
    therapist = case.stay.mst_therapist if case.stay else None
    return CaseScope(
        case=case.id,
        home_region=case.home_region,
        referrer=case.referrer,
        therapist=therapist,
        trajectbegeleider=case.stay.trajectbegeleider if case.stay else None,
        therapist_supervisor=net.supervisor_of(therapist),
    )


# What a case's history shows of each event's body: never who the youth is, nor free text.
HISTORY_FIELDS = (
    "kind",
    "urgency",
    "home_region",
    "referrer",
    "earliest_start",
    "stay_days",
    "valid_from",
    "valid_until",
    "date",
    "days",
    "meeting",
    "program_weeks",
    "nights_per_week",
    "current_therapist",
    "reason",  # a close's reason code (its outcome and a follow-up's result are not shown)
)


def history_details(body: dict[str, Any]) -> dict[str, str | int | None]:
    details: dict[str, str | int | None] = {}
    for key in HISTORY_FIELDS:
        value = body.get(key)
        if isinstance(value, str | int) or value is None and key in body and key not in V2_REFERRAL_FIELDS:
            details[key] = value  # a V2 field left out of a referral is not news in its history
    machtiging = body.get("machtiging")
    if isinstance(machtiging, dict):
        details["valid_from"] = str(machtiging.get("valid_from"))
        details["valid_until"] = str(machtiging.get("valid_until"))
    return details


def undecided(case: Case) -> bool:
    """No decision about the case yet: not planned, waiting, refused, nor anything else decided."""
    return (
        case.stay is None
        and case.waiting_reason is None
        and not case.refusals
        and not case.timeouts
        and not case.meetings
    )


def may_refer_for(actor: Actor, referrer: str) -> bool:
    """A referrer refers in their own name only; coordinators and supervisors for any referrer."""
    return actor.role != "referrer" or actor.id == referrer


def digest_fields(body: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """What makes two referrals the same, however spelled (defaults written out or left away):
    the referral as kept in `case_events` and its identity as referred, without the time it was
    received. A referral of before PATHWAY-V2 (no V2 keys) is the same as one with them empty."""
    same = {
        k: v for k, v in body.items() if k != "at" and not (k in V2_REFERRAL_FIELDS and v in (None, []))
    } | identity.as_referred()
    kind = KINDS.get(str(same.get("kind")))
    if kind is not None:
        # The stay in days, however the kind's own field names it (or leaves it to the default).
        weeks = same.pop("program_weeks", None) if kind.stay_in_weeks else same.get("program_weeks")
        same["stay_days"] = kind.stay_or_default(kind.requested_stay(same.get("stay_days"), weeks))
    return same


class Intake:
    def __init__(
        self,
        pool: asyncpg.Pool,
        relay: OutboxRelay | None,
        net: NetworkIndex,
        clock: Clock,
        settings: ServiceSettings,
        registry: CollectorRegistry,
        gate: Gate,
        keys: KeyRing,
    ) -> None:
        self.pool, self.relay, self.net, self.clock = pool, relay, net, clock
        self.gate, self.keys = gate, keys
        self.topic_events = settings.topic(TOPIC_CASE_EVENTS)
        self.referrals = Counter(
            "thuisbest_referrals", "Referrals received, by outcome", ["outcome"], registry=registry
        )
        self.decision_seconds = Histogram(
            "thuisbest_referral_decision_seconds",
            "From a referral received to the first decision applied for its case",
            buckets=DECISION_BUCKETS,
            registry=registry,
        )

    def unit(self) -> IntakeUnit:
        return IntakeUnit(self.pool, self.relay, SERVICE)

    # --- access ---------------------------------------------------------------------------------

    def _may(self, actor: Actor, action: str, case: Case | None) -> bool:
        return case is not None and allowed(actor, action, case_scope(case, self.net))

    async def _hidden(self, actor: Actor, action: str, case_id: str) -> NoReturn:
        """404, recorded: the same answer for a case out of the person's scope as for no case."""
        await self.gate.refuse(actor, action, case_id, unknown_case(case_id))

    @staticmethod
    async def _case(uow: IntakeUnit, case_id: str, *, for_update: bool = False) -> Case | None:
        # An id that cannot name a case never reaches the database.
        return await uow.cases.get(case_id, for_update=for_update) if is_case_id(case_id) else None

    # --- use cases ------------------------------------------------------------------------------

    async def register_referral(self, request: ReferralRequest, actor: Actor) -> Registration:
        """A new case (201), or a repeat of one (200); a different referral under a used id: 409."""
        await self.gate.role(actor, "refer")
        ref = request.event(self.clock.now())
        problems = referral_problems(ref, self.net)
        if problems:
            self.referrals.labels("rejected").inc()
            raise Refused(problems)
        await self.gate.region(actor, "refer", ref.home_region, "home_region")
        if not may_refer_for(actor, ref.referrer):
            refusal = Forbidden.one("referrer", f"a referrer refers in their own name ({actor.id}) only")
            await self.gate.refuse(actor, "refer", None, refusal)
        identity = Identity(
            birth_date=request.birth_date,
            timeout_address=request.timeout_address,
            name=request.name,
            bsn=request.bsn,
            address=request.address,
        )
        body = ref.model_dump(mode="json", exclude=REFERRAL_IDENTITY)
        same = digest_fields(body, identity)
        async with self.unit() as uow:
            sealed = self.keys.seal(ref.case, identity)
            bsn_hash = self.keys.bsn_hash(identity.bsn) if identity.bsn else None
            created = await uow.cases.add_referral(ref, self.keys.digest(same), sealed, bsn_hash)
            if created:
                await uow.cases.add_event(ref.case, "referral", ref.at, body)
                await uow.audit(actor, "refer", ref.case)
                uow.publish(self.topic_events, to_case_event(ref, self.net))
                status: Status = "registered"
            else:
                stored = await uow.cases.request_hash(ref.case)
                case = await uow.cases.get(ref.case)
                # A repeat answers the case's status: only to someone who may read the case.
                same_referral = stored is not None and self.keys.digest_matches(same, stored)
                if not same_referral or not self._may(actor, "read_case", case):
                    self.referrals.labels("conflict").inc()
                    raise Conflict.one("case", "already used for a different referral")
                assert case is not None
                await uow.audit(actor, "refer", ref.case, detail="repeat")
                status = case.status(self.clock.now().date())
        self.referrals.labels("registered" if created else "repeat").inc()
        return Registration(ref.case, status, created)

    def count_invalid(self) -> None:
        self.referrals.labels("invalid").inc()

    async def record_event(self, case_id: str, request: LaterEventRequest, actor: Actor) -> RecordedEvent:
        """A later event of a case (machtiging, discharge, time-out request, meeting held, ...);
        the event's type is the action of the role table. A time-out address goes to the identity
        store, sealed; its `case_events` row and the published event say only that one was named."""
        action = request.type
        await self.gate.role(actor, action, case_id)
        now = self.clock.now()
        recorded: RecordedEvent | None = None
        async with self.unit() as uow:
            case = await self._case(uow, case_id, for_update=True)
            if case is not None and self._may(actor, action, case):
                event = self._later_event(case, request, now)
                if isinstance(event, TimeoutAddressEvent):
                    await self._name_timeout_address(uow, event)
                kept = event.model_dump(mode="json", exclude=LATER_EVENT_IDENTITY.get(event.type, set()))
                await uow.cases.add_event(case_id, event.type, event.at, kept)
                await uow.audit(actor, action, case_id)
                case.record(event)
                await uow.cases.save(case)
                uow.publish(self.topic_events, to_case_event(event, self.net))
                recorded = RecordedEvent(case_id, event.type, fmt_local(event.at))
        if recorded is None:
            await self._hidden(actor, action, case_id)
        return recorded

    @staticmethod
    def _later_event(case: Case, request: LaterEventRequest, now: datetime) -> CaseEvent:
        """The event as the case takes it, or the refusal naming why not (422, 409)."""
        try:
            event = later_event(case.id, request, now)
        except ValidationError as exc:
            raise Refused(validation_problems(exc)) from None
        if event.at > now + FUTURE_TOLERANCE:
            raise Refused.one("at", "in the future: report an event once it happened")
        if event.at < case.received_at:
            raise Refused.one("at", "before the referral of the case")
        problems = later_event_problems(event)
        if isinstance(event, TimeoutAddressEvent) and not event.address.strip():
            problems.append(Problem("address", "empty: name the address where the youth can stay"))
        if problems:
            raise Refused(problems)
        refusal = case.refusal(event.type)
        if refusal is not None:
            raise Conflict.one("case", refusal)
        return event

    async def _name_timeout_address(self, uow: IntakeUnit, event: TimeoutAddressEvent) -> None:
        """Seal the newly named address into the case's identity (the case row is locked)."""
        sealed = await uow.identities.get(event.case)
        if sealed is None:  # every case is registered with its identity: a broken store
            raise RuntimeError(f"case {event.case!r} has no identity to keep its time-out address with")
        identity = self.keys.open(event.case, sealed)
        await self._store(
            uow, event.case, identity.model_copy(update={"named_timeout_address": event.address})
        )

    async def read_case(self, case_id: str, actor: Actor) -> CaseView:
        await self.gate.role(actor, "read_case", case_id)
        history: list[HistoryItem] = []
        async with self.unit() as uow:
            case = await self._case(uow, case_id)
            shown = self._may(actor, "read_case", case)
            if shown:
                await uow.audit(actor, "read_case", case_id)
                history = [
                    HistoryItem(event=kind, at=at, recorded_at=recorded, details=history_details(body))
                    for kind, at, recorded, body in await uow.cases.history(case_id)
                ]
        if case is None or not shown:
            await self._hidden(actor, "read_case", case_id)
        view = case.view(self.clock.now().date())
        view.history = history
        view.actions = [
            action for action in LATER_EVENTS if case.accepts(action) and self._may(actor, action, case)
        ]
        return view

    async def read_timeout_address(self, case_id: str, actor: Actor) -> TimeoutAddress:
        """The family's time-out address: for the case's therapist and that therapist's supervisor."""
        await self.gate.role(actor, READ_TIMEOUT_ADDRESS, case_id)
        async with self.unit() as uow:
            case = await self._case(uow, case_id)
            shown = self._may(actor, READ_TIMEOUT_ADDRESS, case)
            sealed = await uow.identities.get(case_id) if shown else None
            if shown:
                await uow.audit(actor, READ_TIMEOUT_ADDRESS, case_id)
        if not shown:
            await self._hidden(actor, READ_TIMEOUT_ADDRESS, case_id)
        identity = self.keys.open(case_id, sealed) if sealed is not None else None
        return TimeoutAddress(case_id, identity.current_timeout_address if identity else None)

    async def cases_with_bsn(self, bsn: str) -> list[str]:
        """The cases of a youth, found by BSN through its keyed hash (no access check: for intake's
        own use, such as a future duplicate check; an endpoint must go through the Gate)."""
        async with self.pool.acquire() as conn:
            return await IdentityRepository(conn).cases_with_bsn(self.keys.bsn_hashes(bsn))

    async def apply_decision(self, decision: Decision) -> Case | None:
        """Keep the case up to date with the scheduler's decision (each decision once). Intake
        itself acts here (Actor.service): no person reads or changes a case, so no audit row."""
        async with self.unit() as uow:
            if not await uow.first_time(DECISIONS_CONSUMER, decision.event_id):
                return None
            case = await uow.cases.get(decision.case, for_update=True)
            if case is None:
                return None
            waited = await uow.cases.seconds_since_referral(case.id) if undecided(case) else None
            case.apply(decision)
            await uow.cases.save(case)
        if waited is not None:
            self.decision_seconds.observe(waited)
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

    # --- the identity store's keys --------------------------------------------------------------

    async def seal_identities(self) -> int:
        """On start, before any request: seal the plaintext rows of before the identity store (and
        drop their columns), re-seal rows sealed with another key than the first of the key file,
        and re-key the referral digests; the number of identities sealed anew.

        After it has run once with a new key first, the old keys can be removed from the file."""
        current = self.keys.current.id
        resealed = 0
        async with self.unit() as uow:
            await uow.conn.execute(IDENTITY_LOCK)  # several intakes starting at once take turns
            legacy = await uow.identities.has_plaintext_columns()
            if legacy:
                for case_id, identity in await uow.identities.plaintext_rows():
                    await self._store(uow, case_id, identity)
                    resealed += 1
                await uow.identities.drop_plaintext_columns()
            for case_id, sealed in await uow.identities.sealed_with_other_key(current):
                await self._store(uow, case_id, self.keys.open(case_id, sealed))
                resealed += 1
            rekeyed = 0
            for case_id in await uow.cases.hashed_with_other_key(current):
                body = await uow.cases.referral_body(case_id)
                kept = await uow.identities.get(case_id)
                if body is None or kept is None:
                    log.warning("case %s: no referral or identity to re-key its referral digest by", case_id)
                    continue
                same = digest_fields(body, self.keys.open(case_id, kept))
                await uow.cases.set_request_hash(case_id, self.keys.digest(same))
                rekeyed += 1
        if legacy:
            # Dropped columns and updated rows stay in the table's pages until it is rewritten.
            async with self.pool.acquire() as conn:
                await conn.execute("VACUUM FULL identities, cases")
        if resealed or rekeyed:
            log.info(
                "identity store: %d identities sealed with key %s, %d digests re-keyed",
                resealed,
                current,
                rekeyed,
            )
        return resealed

    async def _store(self, uow: IntakeUnit, case_id: str, identity: Identity) -> None:
        bsn_hash = self.keys.bsn_hash(identity.bsn) if identity.bsn else None
        await uow.identities.store(case_id, self.keys.seal(case_id, identity), bsn_hash)

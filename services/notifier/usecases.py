"""The notifier's use cases: take an event, list a case's notifications and a person's own alerts,
acknowledge an alert (in the app or through a mail's link), list and requeue dead letters. The pure
engine decides what is due; the store keeps it durably, each call one transaction.

Who may do what is the role table's (`shared/access.py`): a case's notifications are `read_case`,
a person's own alerts `read_own_alerts`, dead letters `dead_letters`. An alert may be acknowledged
by its recipients and everyone its escalation chain reaches above them (that is the alert's own
business, so it is decided here, from its rows: one per person and level, stored up front); a role
that may read no case at all may acknowledge nothing. A mail's link is its own credential, for the
person it was sent to, and works once until it expires. Every decision is in the audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from services.notifier.engine import NotificationEngine
from services.notifier.repository import AckResult, AlertRow, DeadLetter, Link, OwnAlert, Processed
from services.notifier.store import NotifierStore
from shared.access import CaseScope, Gate, may_ever
from shared.actor import Actor
from shared.clock import Clock
from shared.errors import Forbidden, NotFound
from shared.events import CaseEventT, Decision
from shared.network import NetworkIndex
from shared.types import fmt_local, is_case_id

MAX_ID = 2**63  # ids are bigint: anything larger names nothing
ACKNOWLEDGE = "acknowledge"  # the audit trail's name for it
MAY_ACKNOWLEDGE = "read_case"  # the roles that may ever acknowledge: those that may read a case
READ_OWN = "read_own_alerts"
RECENTLY_ACKED = timedelta(days=14)  # `?all=true` also lists what was acknowledged this recently
MAX_OWN = 500  # a person's list is short in practice: a bound, not a page size


class NotificationView(BaseModel):
    id: int
    alert_id: int = Field(description="Acknowledge with POST /v1/notifications/{alert_id}/ack")
    at: str
    case: str
    kind: str
    to: str
    channel: str
    level: int
    status: str
    sent_at: str | None
    acked_by: str | None

    @classmethod
    def of(cls, row: AlertRow) -> NotificationView:
        return cls(
            id=row.id,
            alert_id=row.id,
            at=fmt_local(row.due_at),
            case=row.case,
            kind=row.kind,
            to=row.recipient,
            channel=row.channel,
            level=row.level,
            status=row.status,
            sent_at=row.sent_at.isoformat(timespec="seconds") if row.sent_at else None,
            acked_by=row.acked_by,
        )


class OwnAlertView(BaseModel):
    """One of the signed-in person's alerts: sent to them, or escalated to them."""

    id: int = Field(description="Acknowledge with POST /v1/notifications/{id}/ack")
    case: str
    rule: str = Field(description="The rule that sent it (rules.yaml), e.g. placement_assigned")
    subject: str = Field(description="The subject of the mail, in the person's language")
    due: str = Field(description="When it went out to the person (local time)")
    deadline: str | None = Field(
        description="By when to act (a local date or time): the rule's act_by, or the next escalation"
    )
    level: int = Field(description="Escalation level: 0 the first notice, n after n escalations")
    escalates: bool = Field(description="Whether it goes up the chain until someone acknowledges it")
    urgent: bool
    created_at: str
    sent_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None

    @classmethod
    def of(cls, row: OwnAlert) -> OwnAlertView:
        return cls(
            id=row.id,
            case=row.case,
            rule=row.kind,
            subject=row.subject,
            due=fmt_local(row.due_at),
            deadline=row.act_by,
            level=row.level,
            escalates=row.escalates,
            urgent=row.urgent,
            created_at=row.created_at.isoformat(timespec="seconds"),
            sent_at=fmt_local(row.sent_at) if row.sent_at else None,
            acknowledged_at=fmt_local(row.acked_at) if row.acked_at else None,
            acknowledged_by=row.acked_by,
        )


class Acknowledged(BaseModel):
    id: int
    alert: str
    acked_by: str
    first: bool  # False when someone had acknowledged the alert before


class DeadLetterView(BaseModel):
    id: int
    alert_id: int
    case: str
    kind: str
    to: str
    channel: str
    attempts: int
    reason: str
    at: str

    @classmethod
    def of(cls, d: DeadLetter) -> DeadLetterView:
        return cls(
            id=d.id,
            alert_id=d.alert_id,
            case=d.case,
            kind=d.kind,
            to=d.recipient,
            channel=d.channel,
            attempts=d.attempts,
            reason=d.reason,
            at=d.at.isoformat(timespec="seconds"),
        )


class Requeued(BaseModel):
    id: int
    requeued: bool


def unknown_alert() -> NotFound:
    """The one answer for an alert that does not exist and for one the person may not touch."""
    return NotFound.one("alert_id", "unknown notification")


def invalid_link() -> NotFound:
    return NotFound.one("token", "this link is not valid (unknown, used before or expired)")


def acknowledged(result: AckResult) -> Acknowledged:
    return Acknowledged(id=result.alert_id, alert=result.alert, acked_by=result.acked_by, first=result.first)


class Notifier:
    def __init__(
        self, store: NotifierStore, engine: NotificationEngine, clock: Clock, gate: Gate, index: NetworkIndex
    ) -> None:
        self.store, self.engine, self.clock = store, engine, clock
        self.gate, self.index = gate, index

    async def take_event(self, event: CaseEventT | Decision) -> Processed:
        """Whatever this event makes due now or later, kept as alerts (each event once)."""
        return await self.store.process(event, self.engine, self.clock.now())

    async def _scope(self, case: str) -> CaseScope | None:
        parties = await self.store.parties(case) if is_case_id(case) else None
        if parties is None:
            return None
        return CaseScope(
            case=case,
            home_region=parties.home_region or "",
            referrer=parties.referrer,
            therapist=parties.therapist,
            trajectbegeleider=parties.trajectbegeleider,
            therapist_supervisor=self.index.supervisor_of(parties.therapist),
        )

    async def notifications_of(self, case: str, actor: Actor) -> list[NotificationView]:
        """Every notification of a case: 404 for one outside the person's scope, as for an unknown one."""
        await self.gate.case(actor, "read_case", case, await self._scope(case))
        async with self.store.unit() as uow:
            rows = await uow.alerts.alerts(case)
            await uow.audit(actor, "read_case", case, detail="notifications")
        return [NotificationView.of(row) for row in rows]

    async def own_alerts(self, actor: Actor, *, include_acknowledged: bool = False) -> list[OwnAlertView]:
        """The person's own open alerts and escalations (and those acknowledged in the last two weeks
        with `include_acknowledged`), open first, urgent first, then the most escalated, then the
        newest. Only their own: what was sent to them. Each case listed is audited."""
        await self.gate.role(actor, READ_OWN)
        since = self.clock.now() - RECENTLY_ACKED if include_acknowledged else None
        async with self.store.unit() as uow:
            rows = await uow.alerts.own(actor.id, acked_since=since, limit=MAX_OWN)
            detail = "own alerts" + (", with acknowledged" if include_acknowledged else "")
            await uow.audit(actor, READ_OWN, *sorted({row.case for row in rows}), detail=detail)
        return [OwnAlertView.of(row) for row in rows]

    async def acknowledge(self, alert_id: int, actor: Actor) -> Acknowledged:
        """Stops the alert for everyone: no more reminders or escalations. For its recipients and the
        people of every level of its escalation chain; 404 for anyone else, as for an unknown alert."""
        chain = None
        if 0 < alert_id < MAX_ID:
            async with self.store.unit() as uow:
                chain = await uow.alerts.chain(alert_id)
        case = chain.row.case if chain else None
        if not may_ever(actor, MAY_ACKNOWLEDGE):
            refusal = Forbidden.one("role", f"a {actor.role or 'person'} may not acknowledge alerts")
            await self.gate.refuse(actor, ACKNOWLEDGE, case, refusal)
        if chain is None or actor.id not in chain.people:
            await self.gate.refuse(actor, ACKNOWLEDGE, case, unknown_alert())
        async with self.store.unit() as uow:
            result = await uow.alerts.ack(alert_id, actor.id, self.clock.now())
            if result is None:  # alerts are never deleted: not after the look-up above
                raise unknown_alert()
            await uow.audit(actor, ACKNOWLEDGE, case, detail=f"notification {alert_id}")
        self.store.observe(result)
        return acknowledged(result)

    async def link_works(self, alert_id: int, token: str) -> bool:
        """Whether a mail's acknowledge link would work now (the page that asks first)."""
        if not 0 < alert_id < MAX_ID:
            return False
        async with self.store.unit() as uow:
            link = await uow.alerts.link(alert_id, token)
        return link is not None and link.problem(self.clock.now()) is None

    async def acknowledge_by_link(self, alert_id: int, token: str, address: str | None) -> Acknowledged:
        """A mail's link, used once before it expires: acknowledged, and audited, as the person it
        was sent to; a link that does not work is a 404."""
        now = self.clock.now()
        link: Link | None = None
        person = None
        result: AckResult | None = None
        if 0 < alert_id < MAX_ID:
            async with self.store.unit() as uow:
                link = await uow.alerts.link(alert_id, token, for_update=True)
                person = self.index.people.get(link.recipient) if link else None
                if link is not None and person is not None and link.problem(now) is None:
                    actor = Actor.of(person, address)
                    await uow.alerts.use_link(token, now)
                    result = await uow.alerts.ack(alert_id, actor.id, now)
                    await uow.audit(
                        actor, ACKNOWLEDGE, link.case, detail=f"notification {alert_id}, mail link"
                    )
        if result is None:
            why = "unknown" if link is None else link.problem(now) or "for a person not in the care network"
            who = (
                Actor.of(person, address)
                if person is not None
                else Actor(id=link.recipient if link else "(no valid link)", role="", address=address)
            )
            case = link.case if link else None
            await self.gate.trail.record(who, ACKNOWLEDGE, case, "refused", f"404: mail link {why}")
            raise invalid_link()
        self.store.observe(result)
        return acknowledged(result)

    async def dead_letters(self, actor: Actor) -> list[DeadLetterView]:
        """The notices given up on (ops only); each case listed is audited."""
        await self.gate.role(actor, "dead_letters")
        async with self.store.unit() as uow:
            letters = await uow.alerts.dead_letters()
            await uow.audit(actor, "dead_letters", *sorted({d.case for d in letters}))
        return [DeadLetterView.of(d) for d in letters]

    async def requeue(self, dead_id: int, actor: Actor) -> Requeued:
        """Send a dead letter again (ops only)."""
        await self.gate.role(actor, "dead_letters")
        case = None
        if 0 < dead_id < MAX_ID:
            now: datetime = self.clock.now()
            async with self.store.unit() as uow:
                case = await uow.alerts.requeue(dead_id, now)
                if case is not None:
                    await uow.audit(actor, "dead_letters", case, detail=f"requeued dead letter {dead_id}")
        if case is None:
            raise NotFound.one("dead_id", "unknown or already requeued")
        return Requeued(id=dead_id, requeued=True)

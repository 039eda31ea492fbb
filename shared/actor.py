"""Who asks: the actor every use case takes, recorded in the audit trail.

A person's role and regions come from the network file, never from the token: the token only
says who the person is (see shared/auth.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.network import Person


@dataclass(frozen=True)
class Actor:
    id: str
    role: str  # a person's role in the network, or "service" for a consuming service
    regions: frozenset[str] = field(default_factory=frozenset)
    address: str | None = None  # where an HTTP request came from
    supervisor: str | None = None

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(id=name, role="service")

    @classmethod
    def of(cls, person: Person, address: str | None = None) -> Actor:
        return cls(
            id=person.id,
            role=person.role,
            regions=frozenset(person.regions),
            address=address,
            supervisor=person.supervisor,
        )

    def serves(self, region: str | None) -> bool:
        return region is not None and region in self.regions

    def __str__(self) -> str:
        return self.id

"""Who asks: the actor every use case takes, recorded in the access log."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    id: str
    role: str  # a person's role in the network, or "service" for a consuming service
    address: str | None = None  # where an HTTP request came from

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(id=name, role="service")

    def __str__(self) -> str:
        return self.id

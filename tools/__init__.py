"""Tooling beside the services: the embedded stack, simulation, bench, generator, validator, latency."""

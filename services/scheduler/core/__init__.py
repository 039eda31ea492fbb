"""The pure planning core of the scheduler: state, CP-SAT model, greedy policy, meetings, explanations."""

from services.scheduler.core.scheduler import Policy, Scheduler, SchedulerStats, SolverConfig

__all__ = ["Policy", "Scheduler", "SchedulerStats", "SolverConfig"]

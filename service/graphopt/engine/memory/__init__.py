"""Static activation-memory planning: tensor sizes, lifetimes, arena offsets, schedules.

The entry points are :func:`graphopt.engine.memory.planner.plan_memory` and
:func:`graphopt.engine.memory.planner.write_memory_artifacts`; the pydantic models of the
report section and of the plan live in :mod:`graphopt.engine.memory.models` (importable
without numpy, networkx or matplotlib). Conventions and algorithms: docs/memory.md.
"""

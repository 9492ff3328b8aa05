"""Pipelines: ordered steps, each a pass (with options) or a fixed-point group of passes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.passes.registry import pass_class


class PassStep(BaseModel):
    """Run one pass once, with these options (merged under the caller's per-pass options)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pass_name: str = Field(alias="pass")
    options: dict[str, Any] = Field(default_factory=dict)


class FixedPointGroup(BaseModel):
    """Run the passes in order, again and again, until none changes the model."""

    model_config = ConfigDict(extra="forbid")

    fixed_point: list[PassStep]
    max_iterations: int = Field(8, ge=1, le=100)


Step = PassStep | FixedPointGroup


class Pipeline(BaseModel):
    """A named, ordered list of steps."""

    model_config = ConfigDict(extra="forbid")

    name: str
    steps: list[Step]

    def pass_names(self) -> list[str]:
        """Every pass name the pipeline runs, in first-use order, without repeats."""
        names: list[str] = []
        for step in self.steps:
            inner = step.fixed_point if isinstance(step, FixedPointGroup) else [step]
            names.extend(s.pass_name for s in inner if s.pass_name not in names)
        return names

    def validate_names(self) -> Pipeline:
        """Raise ``unknown_pass`` for any name the registry does not know; return self."""
        for name in self.pass_names():
            pass_class(name)
        return self


def step(name: str, **options: Any) -> PassStep:
    """Shorthand for a :class:`PassStep`."""
    return PassStep(pass_name=name, options=options)


def fixed_point(*steps: PassStep, max_iterations: int = 8) -> FixedPointGroup:
    """Shorthand for a :class:`FixedPointGroup`."""
    return FixedPointGroup(fixed_point=list(steps), max_iterations=max_iterations)


def custom_pipeline(names: list[str]) -> Pipeline:
    """A pipeline running the named passes once each, in the given order."""
    if not names:
        raise GraphoptError(
            ErrorCode.UNKNOWN_PIPELINE, "An empty list of passes is not a pipeline."
        )
    return Pipeline(name="custom", steps=[step(n) for n in names]).validate_names()

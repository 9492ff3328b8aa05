"""The pass contract.

A pass is a class with a unique ``name``, a ``family``, a ``lossless`` flag, a pydantic
``Options`` model and a docstring whose first line is its one-line contract and whose body
states what it matches, what it guarantees and what it leaves alone.

A :class:`ModelPass` edits the whole model in place; a :class:`GraphPass` edits one graph
body at a time and the pass manager applies it to the main graph, every If/Loop/Scan body
and every model-local function. Both return a :class:`PassOutcome`; the manager adds what
can be measured from outside (nodes added/removed, parameter and byte deltas, wall time).
"""

from __future__ import annotations

import abc
import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import onnx_ir as ir
from pydantic import BaseModel, ConfigDict, ValidationError

from graphopt.engine.errors import Diagnostic, ErrorCode, GraphoptError
from graphopt.engine.traversal import GraphBody


class PassFamily(enum.StrEnum):
    """What kind of transformation a pass performs."""

    SHAPES = "shapes"
    CLEANUP = "cleanup"
    FUSION = "fusion"
    PRUNING = "pruning"
    MEMORY = "memory"
    LAYOUT = "layout"


class NoOptions(BaseModel):
    """A pass without options."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class PassOutcome:
    """What a pass reports about its own run.

    ``rewritten`` counts nodes edited in place (inputs or attributes changed);
    ``changed`` is set when the pass changed something that node counts do not show
    (value shapes, initializers, graph inputs). ``counts`` tallies what was done by kind
    (e.g. ``{"no-op Identity removed": 3}``) and sums across bodies; ``notes`` are short
    human sentences.
    """

    rewritten: int = 0
    changed: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: PassOutcome) -> None:
        self.rewritten += other.rewritten
        self.changed = self.changed or other.changed
        self.counts.update(other.counts)
        self.notes.extend(other.notes)

    def summary(self) -> list[str]:
        """Counts (sorted by kind) then notes, as report lines."""
        return [f"{kind}: {n}" for kind, n in sorted(self.counts.items())] + self.notes


@dataclass
class PassContext:
    """Run-wide settings and sinks shared by every pass of one pipeline run."""

    target: str = "portable"
    warnings: list[Diagnostic] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Structured findings passes publish for the report, by section (e.g. ``"pruning"``)."""


class Pass(abc.ABC):
    """Base of all passes; see the module docstring for the contract."""

    name: ClassVar[str]
    family: ClassVar[PassFamily]
    lossless: ClassVar[bool]
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: BaseModel | dict[str, Any] | None = None) -> None:
        if isinstance(options, BaseModel):
            self.options = options
            return
        try:
            self.options = self.Options.model_validate(options or {})
        except ValidationError as exc:
            raise GraphoptError(
                ErrorCode.INVALID_PASS_OPTIONS,
                f"Invalid options for pass {self.name!r}: {exc.errors()[0]['msg']}",
                passname=self.name,
                errors=exc.errors(include_url=False, include_context=False),
            ) from None

    @classmethod
    def summary(cls) -> str:
        """The one-line contract: the first line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0]


class ModelPass(Pass):
    """A pass that sees the whole model (and handles subgraphs and functions itself)."""

    @abc.abstractmethod
    def run(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        """Transform ``model`` in place."""


class GraphPass(Pass):
    """A pass applied by the manager to each graph body (main graph, subgraphs, functions).

    Bodies are visited outer before inner, unless ``inner_first`` is set (then every
    subgraph is visited before the body that holds it: what dead-code removal needs, since
    a use inside a subgraph keeps an outer value alive).
    """

    inner_first: ClassVar[bool] = False

    def start(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        """Model-wide step before any body is visited (default: nothing)."""
        return PassOutcome()

    @abc.abstractmethod
    def run_on_body(self, body: GraphBody, model: ir.Model, ctx: PassContext) -> PassOutcome:
        """Transform one graph body in place."""

    def finish(self, model: ir.Model, ctx: PassContext) -> PassOutcome:
        """Model-wide step after every body was visited (default: nothing)."""
        return PassOutcome()

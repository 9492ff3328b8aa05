"""Options, report section and plan of memory planning (pure pydantic, no heavy imports).

Units: bytes for sizes and offsets, milliseconds for times. Steps are 0-based positions in
the written node order of the graph body the tensor belongs to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ArenaAlgorithm = Literal["greedy_by_size", "greedy_by_breadth", "greedy_by_lifetime"]
ScheduleMethod = Literal["as_written", "exact", "beam", "greedy", "partial"]
TensorKind = Literal["activation", "output", "workspace"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryOptions(_Model):
    """What memory planning does during :func:`graphopt.engine.optimize`.

    ``schedule`` adds the ``memory_schedule`` pass at the end of the pipeline (the written
    model is reordered, and verified like every pass); without it the node order is kept
    and only planned. ``time_budget_s`` bounds the scheduler's search. The artifacts
    ``memory_plan.json`` and ``memory_timeline.png`` go beside the output model; ``plot``
    writes the timeline there instead (also without an output model).

    ``auto`` (the default pipeline's setting): plan only when every activation has a static
    size, else leave the report's section out; write no artifact files except ``plot``.
    """

    enabled: bool = True
    auto: bool = False
    alignment: int = Field(64, ge=1, le=1 << 20, description="bytes; offsets and sizes align")
    schedule: bool = True
    in_place: bool = Field(
        True,
        description="let elementwise and reshaping nodes write their output over a "
        "same-sized input they read last (one buffer for both)",
    )
    time_budget_s: float = Field(2.0, gt=0, le=600, description="scheduler wall-time cap")
    plot: Path | None = Field(None, description="where to write memory_timeline.png")

    @classmethod
    def automatic(cls) -> MemoryOptions:
        """The default pipeline's setting: plan when every size is static, never reorder."""
        return cls(auto=True, schedule=False)


class UnplannedTensor(_Model):
    """An activation without a static size, and why."""

    name: str
    reason: str


class ScheduleSummary(_Model):
    """What memory-aware scheduling did to the main graph's node order.

    ``peak_before``/``peak_after``: max over steps of aligned live arena bytes in the order
    before the ``memory_schedule`` pass and in the written order. ``method`` is
    ``as_written`` when no scheduling ran; ``exact`` when every segment's peak is proven
    optimal; ``beam``/``greedy`` when some segment was searched heuristically; ``partial``
    when the time budget ran out and some segments kept the written order.
    """

    method: ScheduleMethod
    peak_before: int
    peak_after: int
    segments: int = 0
    exact_segments: int = 0
    ms: float = 0.0


class TensorPlan(_Model):
    """One tensor's place: ``[offset, offset + size)`` during steps ``first..last``.

    ``in_place_of``: the input tensor whose buffer this one overwrites at its first step
    (same offset and size; that input's last step is this tensor's first).
    """

    name: str
    offset: int
    size: int
    first: int
    last: int
    kind: TensorKind = "activation"
    in_place_of: str | None = None


class BodyPlan(_Model):
    """The plan of one If/Loop/Scan body, inside its owner's ``workspace`` tensor.

    Offsets are relative to the workspace's offset in the enclosing arena; steps count the
    body's own nodes.
    """

    owner: str
    attribute: str
    arena_bytes: int
    lower_bound_bytes: int
    tensors: list[TensorPlan]
    bodies: list[BodyPlan] = Field(default_factory=list)
    unplanned: list[UnplannedTensor] = Field(default_factory=list)


class MemoryReport(_Model):
    """The report's ``memory`` section: headline numbers of the main graph's plan.

    ``lower_bound_bytes`` = max over steps of aligned live bytes, a tensor computed in place
    counted once with its input (no plan can use less for this order and these in-place
    pairs); ``naive_bytes`` = sum of aligned sizes (no reuse); ``arena_bytes`` = the plan's
    arena, between the two; ``in_place`` = tensors written over an input. The per-tensor
    plan is the ``memory_plan.json`` artifact (:class:`MemoryPlan`).
    """

    alignment: int
    arena_bytes: int
    lower_bound_bytes: int
    naive_bytes: int
    algorithm: ArenaAlgorithm
    tensors_planned: int
    in_place: int = 0
    schedule: ScheduleSummary
    unplanned: list[UnplannedTensor] = Field(default_factory=list)
    steps: int
    planning_ms: float
    artifacts: dict[str, str] = Field(
        default_factory=dict, description="written files by name: memory_plan, memory_timeline"
    )


class MemoryPlan(_Model):
    """The deployable plan (``memory_plan.json``): everything in the report plus the tensors.

    ``order`` names the main graph's nodes in the written order (``step`` i is
    ``order[i]``); ``live_bytes[i]`` is the aligned live arena bytes at step i and
    ``live_bytes_before`` the same for the order before scheduling (absent when none ran).
    """

    alignment: int
    arena_bytes: int
    lower_bound_bytes: int
    naive_bytes: int
    algorithm: ArenaAlgorithm
    schedule: ScheduleSummary
    unplanned: list[UnplannedTensor] = Field(default_factory=list)
    order: list[str]
    live_bytes: list[int]
    live_bytes_before: list[int] | None = None
    tensors: list[TensorPlan]
    bodies: list[BodyPlan] = Field(default_factory=list)

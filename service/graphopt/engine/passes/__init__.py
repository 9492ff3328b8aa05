"""The pass framework and every registered pass.

Importing this package registers all passes; the registry (:mod:`.registry`) is the one
place the CLI, the API and the workers look passes up.
"""

from graphopt.engine.passes import fusion
from graphopt.engine.passes.base import (
    GraphPass,
    ModelPass,
    Pass,
    PassContext,
    PassFamily,
    PassOutcome,
)
from graphopt.engine.passes.cleanup import (
    common_subexpression_elimination,
    constant_folding,
    constant_lifting,
    dead_code_elimination,
    initializer_deduplication,
    initializer_inputs,
    noop_elimination,
)
from graphopt.engine.passes.manager import PassCrash, PipelineRun, run_pipeline
from graphopt.engine.passes.memory import memory_schedule
from graphopt.engine.passes.pipeline import Pipeline, custom_pipeline
from graphopt.engine.passes.presets import PRESETS, preset
from graphopt.engine.passes.pruning import channel_pruning, keep_outputs, magnitude_pruning
from graphopt.engine.passes.registry import create_pass, pass_class, registered_passes
from graphopt.engine.passes.shapes import shape_inference, shape_specialization

__all__ = [
    "PRESETS",
    "GraphPass",
    "ModelPass",
    "Pass",
    "PassContext",
    "PassCrash",
    "PassFamily",
    "PassOutcome",
    "Pipeline",
    "PipelineRun",
    "create_pass",
    "custom_pipeline",
    "pass_class",
    "preset",
    "registered_passes",
    "run_pipeline",
]

_REGISTERED_MODULES = (
    fusion,
    common_subexpression_elimination,
    constant_folding,
    constant_lifting,
    dead_code_elimination,
    initializer_deduplication,
    initializer_inputs,
    memory_schedule,
    noop_elimination,
    shape_inference,
    shape_specialization,
    channel_pruning,
    keep_outputs,
    magnitude_pruning,
)

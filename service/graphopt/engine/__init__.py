"""The graphopt engine: a pure library (no web imports).

Typical use::

    from graphopt.engine import optimize, OptimizeOptions

    with optimize("model.onnx", OptimizeOptions(input_shapes={"x": [1, 3, 224, 224]}),
                  output="model.opt.onnx") as result:
        print(result.report.verification.status)

See docs/architecture.md for how a model flows through the modules.
"""

from graphopt.engine.errors import Diagnostic, ErrorCode, GraphoptError, WarningCode
from graphopt.engine.graph_view import build_view, compute_stats, to_node_link, write_graphml
from graphopt.engine.inspection import model_info, model_stats
from graphopt.engine.intake import ArchiveLimits, LoadedModel, load_model
from graphopt.engine.model_io import save_model
from graphopt.engine.optimizer import OptimizeResult, optimize, resolve_pipeline
from graphopt.engine.options import OptimizeOptions, ProfileOptions, SelectOptions, VerifyOptions
from graphopt.engine.passes import PRESETS, registered_passes
from graphopt.engine.profiling.session_config import SessionConfig
from graphopt.engine.progress import Progress, ProgressCallback
from graphopt.engine.report import SCHEMA_VERSION, Report
from graphopt.engine.shapes import infer_shapes, parse_input_shape

__all__ = [
    "PRESETS",
    "SCHEMA_VERSION",
    "ArchiveLimits",
    "Diagnostic",
    "ErrorCode",
    "GraphoptError",
    "LoadedModel",
    "OptimizeOptions",
    "OptimizeResult",
    "ProfileOptions",
    "Progress",
    "ProgressCallback",
    "Report",
    "SelectOptions",
    "SessionConfig",
    "VerifyOptions",
    "WarningCode",
    "build_view",
    "compute_stats",
    "infer_shapes",
    "load_model",
    "model_info",
    "model_stats",
    "optimize",
    "parse_input_shape",
    "registered_passes",
    "resolve_pipeline",
    "save_model",
    "to_node_link",
    "write_graphml",
]

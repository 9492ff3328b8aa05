"""What ``Client.optimize`` and ``AsyncClient.optimize`` share: where artifacts go, the result.

The optimized model goes to ``output`` and its external-data file (when it has one) beside
it as ``<output>.data``, as local mode writes them (the model's references are rewritten
to that name). Every other artifact (``report.json``, profiling traces, memory plan and
timeline) goes to ``artifacts_dir`` when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graphopt_client._exceptions import JobCancelledError, JobFailedError
from graphopt_client._external_data import relocate_external_data
from graphopt_client.types.job import JobData
from graphopt_client.types.report import Report

MODEL_ARTIFACT = "optimized.onnx"
DATA_ARTIFACT = "optimized.onnx.data"


@dataclass(frozen=True)
class Result:
    """A finished optimization: the job, its typed report, and the files written (name -> path)."""

    job: JobData
    report: Report
    files: dict[str, Path]

    @property
    def output(self) -> Path | None:
        """The optimized model on disk, when it was downloaded."""
        return self.files.get(MODEL_ARTIFACT)


def check_succeeded(job: JobData) -> None:
    """Raise :class:`JobFailedError` or :class:`JobCancelledError` unless ``job`` succeeded."""
    if job.status == "failed":
        raise JobFailedError(job)
    if job.status == "cancelled":
        raise JobCancelledError(job)


def destinations(
    job: JobData, output: str | Path | None, artifacts_dir: str | Path | None
) -> dict[str, Path]:
    """Artifact name -> where to write it (see module docstring)."""
    planned: dict[str, Path] = {}
    for artifact in job.artifacts:
        if artifact.name == MODEL_ARTIFACT and output is not None:
            planned[artifact.name] = Path(output)
        elif artifact.name == DATA_ARTIFACT and output is not None:
            planned[artifact.name] = data_path(Path(output))
        elif artifacts_dir is not None:
            planned[artifact.name] = Path(artifacts_dir) / artifact.name
    return planned


def data_path(output: Path) -> Path:
    """Where local mode writes the external data of a model written to ``output``."""
    return output.with_name(f"{output.name}.data")


def place_external_data(files: dict[str, Path]) -> None:
    """Make a downloaded model name its downloaded data file (see module docstring)."""
    model, data = files.get(MODEL_ARTIFACT), files.get(DATA_ARTIFACT)
    if model is not None and data is not None and data.name != DATA_ARTIFACT:
        relocate_external_data(model, DATA_ARTIFACT, data.name)

"""Model intake: loading, bundle extraction and validation (see :mod:`.loader`)."""

from graphopt.engine.intake.archive import ArchiveLimits
from graphopt.engine.intake.loader import LoadedModel, ModelSource, load_model

__all__ = ["ArchiveLimits", "LoadedModel", "ModelSource", "load_model"]

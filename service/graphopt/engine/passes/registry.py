"""The registry of passes by name: the one place the API, CLI and workers look passes up."""

from __future__ import annotations

from typing import Any, TypeVar

from graphopt.engine.errors import ErrorCode, GraphoptError
from graphopt.engine.passes.base import Pass

_PASSES: dict[str, type[Pass]] = {}
P = TypeVar("P", bound=type[Pass])


def register(cls: P) -> P:
    """Class decorator: add a pass to the registry under ``cls.name`` (names are unique)."""
    if cls.name in _PASSES and _PASSES[cls.name] is not cls:
        raise ValueError(f"pass name {cls.name!r} is registered twice")
    if not (cls.__doc__ or "").strip():
        raise ValueError(f"pass {cls.name!r} has no docstring contract")
    _PASSES[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove the pass ``name`` from the registry (for passes registered by tests)."""
    pass_class(name)
    del _PASSES[name]


def pass_class(name: str) -> type[Pass]:
    """The pass registered as ``name``, or ``unknown_pass``."""
    try:
        return _PASSES[name]
    except KeyError:
        raise GraphoptError(
            ErrorCode.UNKNOWN_PASS,
            f"There is no pass named {name!r}.",
            passname=name,
            known=sorted(_PASSES),
        ) from None


def create_pass(name: str, options: dict[str, Any] | None = None) -> Pass:
    """An instance of the pass ``name`` with validated ``options``."""
    return pass_class(name)(options)


def registered_passes() -> list[type[Pass]]:
    """All registered passes, ordered by family then name."""
    return sorted(_PASSES.values(), key=lambda cls: (cls.family, cls.name))

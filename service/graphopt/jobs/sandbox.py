"""Run model work in a child process with memory, CPU-time and wall-clock limits.

Contract of :func:`run_sandboxed`: ``target(payload, emit)`` runs in a child forked from a
fork server that has the engine pre-imported (fast start, clean single-threaded parent).
``target`` is named ``"module:function"``: the caller never imports the engine itself.
The child sets ``RLIMIT_AS`` (bytes) and ``RLIMIT_CPU`` (seconds) on itself before calling
``target``; ``emit(message)`` sends a picklable message to ``on_message`` in the parent.
Whatever happens in the child (exception, ``MemoryError``, a signal, a hang) the parent
returns a :class:`SandboxOutcome`; it never raises for the child's sake. A child that
outlives the wall-clock limit, or whose ``on_tick`` asks it to stop, is killed (SIGKILL).
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import Any, Literal

Emit = Callable[[Any], None]
Target = Callable[[Any, Emit], Any]
"""What a target name (``"module:function"``) resolves to."""
Status = Literal["ok", "error", "crashed", "timeout", "out_of_memory", "stopped"]

PRELOAD = ["graphopt.engine", "graphopt.jobs.child"]
_PR_SET_PDEATHSIG = 1
_OOM_MARKERS = ("bad_alloc", "failed to allocate memory", "cannot allocate memory")


@dataclass(frozen=True)
class Limits:
    """Per-child limits: address space (bytes), CPU time and wall clock (seconds)."""

    memory_bytes: int | None = None
    cpu_s: int | None = None
    wall_s: float | None = None


@dataclass
class SandboxOutcome:
    """How the child ended.

    ``ok``: ``value`` is what ``target`` returned. ``error``: ``target`` raised; ``error``
    holds ``{"code", "message", "detail"}`` (a GraphoptError's own, or ``internal_error``).
    ``crashed``: killed by ``signal``. ``timeout``: wall or CPU limit (``limit`` says which).
    ``out_of_memory``: the memory limit was hit. ``stopped``: ``on_tick`` asked to stop.
    """

    status: Status
    value: Any = None
    error: dict[str, Any] | None = None
    exitcode: int | None = None
    signal: str | None = None
    limit: str | None = None
    wall_ms: float = 0.0


_context: Any = None
_stopping = threading.Event()


def _fork_context() -> Any:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD + _main_module())
    return _context


def _main_module() -> list[str]:
    """The preload entry for this process's main module.

    multiprocessing re-runs the parent's main module in every child; preloading it in the
    fork server makes that cheap (its imports are loaded) instead of ~0.5 s per child.
    """
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name:
        return [] if name.endswith("__main__") else [name]
    return ["__main__"] if getattr(main, "__file__", None) else []


def warm_up() -> None:
    """Start the fork server now (it imports the engine once) rather than on the first job."""
    _fork_context()
    forkserver.ensure_running()


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Linux: have this process receive ``signum`` when its parent exits (else a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass


def shut_down() -> None:
    """Kill every running child of this process; outcomes from now on say ``stopping()``."""
    _stopping.set()
    for process in multiprocessing.active_children():
        process.kill()


def stopping() -> bool:
    """Whether :func:`shut_down` was called (a failed outcome may be its doing)."""
    return _stopping.is_set()


def _resolve(name: str) -> Target:
    module, _, function = name.partition(":")
    target: Target = getattr(importlib.import_module(module), function)
    return target


def _child_main(conn: Connection, target: str, payload: Any, limits: Limits) -> None:
    die_with_parent()  # the fork server exits when its worker does
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if limits.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if limits.cpu_s is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
    try:
        value = _resolve(target)(payload, lambda message: conn.send(("message", message)))
    except MemoryError:
        conn.send(("oom", "MemoryError"))
    except BaseException as exc:
        conn.send(("error", _error_dict(exc)))
    else:
        conn.send(("result", value))
    finally:
        conn.close()


def _error_dict(exc: BaseException) -> dict[str, Any]:
    to_dict = getattr(exc, "to_dict", None)
    if callable(to_dict):  # GraphoptError
        error: dict[str, Any] = to_dict()
        return error
    text = f"{type(exc).__name__}: {exc}"
    if any(marker in text.lower() for marker in _OOM_MARKERS):
        return {"code": "out_of_memory", "message": text, "detail": {}}
    return {
        "code": "internal_error",
        "message": text,
        "detail": {"traceback": traceback.format_exc(limit=20)},
    }


def run_sandboxed(
    target: str,
    payload: Any,
    limits: Limits,
    *,
    on_message: Callable[[Any], None] = lambda _: None,
    on_start: Callable[[int], None] = lambda _: None,
    on_tick: Callable[[], bool] = lambda: True,
    tick_s: float = 0.25,
) -> SandboxOutcome:
    """Run ``target`` in a limited child (see module docstring).

    ``on_start(pid)`` is called once the child runs; ``on_tick()`` every ``tick_s`` seconds
    while it runs: returning False kills the child (outcome ``stopped``).
    """
    context = _fork_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(sender, target, payload, limits))
    started = time.monotonic()
    process.start()
    sender.close()
    on_start(process.pid)
    deadline = started + limits.wall_s if limits.wall_s is not None else None
    final: tuple[str, Any] | None = None
    killed_for: Status | None = None
    next_tick = started + tick_s
    try:
        while True:
            now = time.monotonic()
            wait = next_tick - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            try:
                ready = receiver.poll(max(wait, 0.0))
            except (EOFError, OSError):
                ready = False
            if ready:
                try:
                    kind, body = receiver.recv()
                except (EOFError, OSError):
                    break  # the child is gone without a last word
                if kind == "message":
                    on_message(body)
                    continue
                final = (kind, body)
                break
            if not process.is_alive() and not receiver.poll(0):
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                killed_for = "timeout"
                break
            if now >= next_tick:
                next_tick = now + tick_s
                if not on_tick():
                    killed_for = "stopped"
                    break
    finally:
        if process.is_alive() and final is None:
            process.kill()
        process.join()
        receiver.close()
    wall_ms = round((time.monotonic() - started) * 1000, 3)
    return _outcome(final, killed_for, process.exitcode, limits, wall_ms)


def _outcome(
    final: tuple[str, Any] | None,
    killed_for: Status | None,
    exitcode: int | None,
    limits: Limits,
    wall_ms: float,
) -> SandboxOutcome:
    if killed_for == "timeout":
        return SandboxOutcome(
            "timeout", exitcode=exitcode, limit=f"wall clock {limits.wall_s} s", wall_ms=wall_ms
        )
    if killed_for == "stopped":
        return SandboxOutcome("stopped", exitcode=exitcode, wall_ms=wall_ms)
    if final is not None:
        kind, body = final
        if kind == "result":
            return SandboxOutcome("ok", value=body, exitcode=exitcode, wall_ms=wall_ms)
        if kind == "oom" or (kind == "error" and body.get("code") == "out_of_memory"):
            return SandboxOutcome(
                "out_of_memory",
                exitcode=exitcode,
                limit=f"address space {limits.memory_bytes} bytes",
                wall_ms=wall_ms,
            )
        return SandboxOutcome("error", error=body, exitcode=exitcode, wall_ms=wall_ms)
    signame = _signal_name(exitcode)
    if exitcode == -signal.SIGXCPU:
        return SandboxOutcome(
            "timeout",
            exitcode=exitcode,
            signal=signame,
            limit=f"CPU time {limits.cpu_s} s",
            wall_ms=wall_ms,
        )
    return SandboxOutcome("crashed", exitcode=exitcode, signal=signame, wall_ms=wall_ms)


def _signal_name(exitcode: int | None) -> str | None:
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def failure_error(outcome: SandboxOutcome) -> dict[str, Any]:
    """The ``{"code", "message", "detail"}`` of a sandbox outcome that is not ``ok``."""
    if outcome.status == "error" and outcome.error is not None:
        return outcome.error
    detail: dict[str, Any] = {"exitcode": outcome.exitcode, "wall_ms": outcome.wall_ms}
    if outcome.status == "crashed":
        what = f"signal {outcome.signal}" if outcome.signal else f"exit code {outcome.exitcode}"
        detail["signal"] = outcome.signal
        return {
            "code": "crashed",
            "message": f"The sandboxed process died ({what}).",
            "detail": detail,
        }
    if outcome.status == "timeout":
        detail["limit"] = outcome.limit
        return {
            "code": "timeout",
            "message": f"The sandboxed process ran past its {outcome.limit} limit.",
            "detail": detail,
        }
    if outcome.status == "out_of_memory":
        detail["limit"] = outcome.limit
        return {
            "code": "out_of_memory",
            "message": f"The sandboxed process ran out of memory ({outcome.limit} limit).",
            "detail": detail,
        }
    return {"code": "stopped", "message": "The sandboxed process was stopped.", "detail": detail}

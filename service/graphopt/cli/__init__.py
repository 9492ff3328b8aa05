"""The ``graphopt`` command (typer + rich).

Engine commands import the engine lazily, inside the command, so that the command itself
loads in an install without the engine's dependencies.
"""

from graphopt.cli.app import app, main

__all__ = ["app", "main"]

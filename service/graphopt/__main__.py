"""``python -m graphopt`` runs the ``graphopt`` command."""

from graphopt.cli import main

main()

"""Passes that change how much memory a model needs at run time."""

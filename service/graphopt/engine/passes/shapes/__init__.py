"""Passes that infer or pin shapes."""

"""Exit codes of the ``graphopt`` command (documented in docs/cli.md)."""

OK = 0
INTERNAL_ERROR = 1
USAGE = 2  # click's own code for bad arguments
BAD_INPUT = 3  # a GraphoptError: invalid model, shapes, inputs, pass names or options
VERIFICATION_FAILED = 4  # the model was written, but it is not equivalent to the original
ENGINE_MISSING = 5  # the engine's dependencies are not installed

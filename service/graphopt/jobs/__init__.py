"""Running jobs: the Huey queue, worker processes, the sandboxed child, the reaper."""

"""Defaults the command line shows before anything heavy is imported (``grader --help``).

Standard library only; ``report`` and ``sandbox`` take their values from here.
"""

GRADESCOPE_VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
WORKER_MEMORY_MB = 3072  # IsolationOptions.memory_mb: memory of the worker's process tree

"""Everything that runs inside the grading worker, and nothing else.

``worker_main.py`` (the worker: confinement, the request loop) and ``probe_runtime.py`` (how one
probe runs: seeding, limits, the shape of its result) are copied as they are into every sandbox and
run there as standalone files, with the standard library and torch only: they import nothing of
the grader, and the grader's parent-side code never imports them. The one crossing is
``grader.core.runtime``, which loads the probe runtime for in-process runs (``--in-process``, not
isolated by design). The assignments' worker-side code is their ``probes.py``. Both rules are
tested (tests/grader/test_boundary.py).
"""

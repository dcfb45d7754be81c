"""Everything that runs inside the grading worker, and nothing else.

``worker_main.py`` (the worker: the request loop, the entry point), its confinement in
``worker_namespaces.py``, ``worker_view.py`` and ``worker_launch.py``, and ``probe_runtime.py`` (how
one probe runs: seeding, limits, the shape of its result) are copied as they are into every sandbox
(``grader.core.runtime.WORKER_FILES``) and run there as flat files importing each other by name,
with the standard library and torch only: they import nothing of the grader, and the grader's
parent-side code never imports them. The one crossing is
``grader.core.runtime``, which loads the probe runtime for in-process runs (``--in-process``, not
isolated by design). The assignments' worker-side code is their ``probes.py``. Both rules are
tested (tests/grader/test_boundary.py).
"""

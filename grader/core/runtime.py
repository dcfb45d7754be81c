"""The parent's one crossing into worker code: the probe runtime, for in-process runs.

``grader/worker/probe_runtime.py`` is worker code (copied into every sandbox, standalone). Runs
without a worker (``--in-process``, the reference's own probes, the project's tests) need the same
runtime in this process, so that a probe runs, is seeded and is checked exactly as in the worker;
this module is the only parent-side module that imports it (tests/grader/test_boundary.py). The
parent's other knowledge of the worker is its folder (``WORKER_DIR``: what the sandbox copies) and
the Linux facts below, which the worker defines for itself and the tests compare.
"""

from __future__ import annotations

from pathlib import Path

from grader.worker.probe_runtime import (MAX_ELEMENTS, ProbeContext, classify_exception, prepare_determinism,
                                         run_probe, seeded_generator)

WORKER_DIR = Path(__file__).resolve().parents[1] / "worker"
# copied into every sandbox's lib/ (flat: the worker imports its siblings by these names)
WORKER_FILES = ("worker_main.py", "worker_namespaces.py", "worker_view.py", "worker_launch.py", "probe_runtime.py")
# clone(2) flags the sandbox plans with (the worker's own copies: worker_namespaces.CLONE_*)
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000


def within(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (plain string paths)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


__all__ = ["CLONE_NEWIPC", "CLONE_NEWNS", "MAX_ELEMENTS", "ProbeContext", "WORKER_DIR", "WORKER_FILES",
           "classify_exception", "prepare_determinism", "run_probe", "seeded_generator", "within"]

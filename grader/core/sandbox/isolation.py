"""Isolation options and plan of the sandboxed worker: its limits (``IsolationOptions``), the
namespaces this kernel grants (``isolation_plan``, asked once per process) and ``SandboxError``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Optional

from .. import runtime as wm  # the worker's folder
from ..defaults import WORKER_MEMORY_MB
from ..runtime import MAX_ELEMENTS

MiB = 1024 * 1024


class SandboxError(RuntimeError):
    """The grader could not build or start the sandbox (a grader problem, not the submission's)."""


@dataclass
class IsolationOptions:
    """Limits and confinement of the worker. Sizes in MiB, times in seconds.

    memory_mb:     anonymous + shared memory of the worker's process tree (polled by the parent);
                   each process also gets RLIMIT_DATA = memory_mb + data_headroom_mb (torch's CUDA
                   build maps ~1 GiB of writable library data at import; RLIMIT_AS would break it).
    cpu_seconds:   RLIMIT_CPU of the worker (all its probes together; wall limits are per probe).
    fsize_mb:      RLIMIT_FSIZE: largest file the worker may write (captured output included).
    result_mb:     largest probe result file the parent will load.
    result_elements / result_items: most tensor elements / values in one probe result (what the
                   parent would materialise; see ``validate_plain``).
    nproc:         RLIMIT_NPROC (only with a dedicated uid, i.e. when the grader runs as root).
    namespaces:    try Linux namespaces (mount, network, PID; user namespace when not root).
    drop_privileges: None = when root; True/False to force.
    uid:           the unprivileged uid/gid to use as root (default: a leased one, see ``UidLease``).
    scratch_mb:    size of the worker's private tmpfs (TMPDIR, /tmp, /var/tmp, /dev/shm); what it
                   holds counts against memory_mb.
    secrets / expose: extra paths for the worker's file-system view (see worker_main): with a
                   mount namespace the worker sees an allow-list (system, interpreter, libraries,
                   the sandbox, shipped data, ``expose``) minus ``secrets``; without one, secrets
                   are protected by permissions (``HostProtection``).
    hide:          kept for callers; with the allow-list it is implied (nothing unlisted exists).
    """

    memory_mb: int = WORKER_MEMORY_MB
    data_headroom_mb: int = 1536
    cpu_seconds: int = 3600
    fsize_mb: int = 256
    scratch_mb: int = 256
    result_mb: int = 256
    result_elements: int = MAX_ELEMENTS
    result_items: int = 200_000
    nproc: int = 512
    nofile: int = 1024
    startup_timeout: float = 180.0
    import_timeout: float = 120.0
    poll_interval: float = 0.1
    namespaces: bool = True
    drop_privileges: Optional[bool] = None
    uid: Optional[int] = None
    hide: list = field(default_factory=list)
    secrets: list = field(default_factory=list)
    expose: list = field(default_factory=list)
    data_dir: Optional[str] = None
    keep_sandbox: bool = False
    # the released package whose given files replace the submission's; default: the course's student/
    given_dir: Optional[str] = None


# ----------------------------------------------------------------------------------------------
# The isolation plan: decided once per grader process
# ----------------------------------------------------------------------------------------------

_PLAN: dict = {}


def isolation_plan() -> dict:
    """Which namespaces this kernel grants the grader: ``{"flags", "namespaces", "errors"}``.

    Asked once per process (``worker_main.py probe`` tries each set in a throw-away child); every
    worker then enters exactly these namespaces or does not start.
    """
    if not _PLAN:
        with tempfile.TemporaryDirectory(prefix="grader-probe-") as scratch:
            try:
                argv = [sys.executable, "-I", "-S", str(wm.WORKER_DIR / "worker_main.py"), "probe", scratch]
                out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
                _PLAN.update(json.loads(out.stdout.strip().splitlines()[-1]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
                _PLAN.update(flags=0, namespaces=[], errors=[f"probe failed: {exc}"])
    return dict(_PLAN)

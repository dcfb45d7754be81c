"""The isolated worker (docs/DESIGN.md principle 3): a hostile submission costs only its own checks.

One grading run of ``fixtures/subs/hostile`` on the ``hostile`` rubric: every component has an
attack check (the submission crashes, hangs, exhausts memory, exits, floods output, reaches for
secrets, the network, the grader's pipes or report) followed by a control check that must pass.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from grader.core import assignment
from grader.core.sandbox import (DataError, IsolatedExecutor, IsolationOptions, load_result, validate_plain,
                                 worker_sys_path)
from grader.core.runner import RunOptions, grade_submission
from grader.core.submission import resolve

from grader_testkit import HOSTILE, SUBS, TOYREF, copy_package

ROOT = Path(__file__).resolve().parents[2]  # the course directory of these tests (this checkout)

IS_ROOT = os.geteuid() == 0
MEMORY_MB = 1024  # small: a runaway allocation is stopped long before it troubles the machine


class _Listener:
    """A TCP server on the loopback of the test's network namespace; records any connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._start()

    def _start(self):
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.received: list[bytes] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.received.append(conn.recv(100) or b"<connected>")
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, toy_reference):
    """Grade the hostile submission once, in the sandbox; every test below reads this run."""
    tmp = tmp_path_factory.mktemp("hostile")
    package = copy_package(SUBS / "hostile", tmp / "submission")
    report_file = tmp / "report.json"
    report_file.write_text('{"untouched": true}')
    listener = _Listener()
    secret_files = [str(ROOT / "grader" / "core" / "engine.py"), str(TOYREF / "toy" / "ops.py"),
                    str(ROOT / "tests" / "grader" / "conftest.py")]
    (package / "toy" / "_targets.py").write_text(
        f"PORT = {listener.port}\nSECRET_FILES = {secret_files!r}\nREPORT_FILES = {[str(report_file)]!r}\n")
    hostile = assignment.load(HOSTILE)
    reference = toy_reference.__class__(toy_reference.inner)  # same reference code, own cache
    options = RunOptions(isolation=IsolationOptions(memory_mb=MEMORY_MB, fsize_mb=64, secrets=[str(TOYREF)],
                                                    hide=[str(TOYREF)]))
    submission = resolve(package, ["toy"])
    report = grade_submission(submission, [hostile], reference, options)
    listener.close()
    checks = {chk.id: chk for _, chk in report.checks()}
    yield {"report": report, "checks": checks, "listener": listener, "report_file": report_file}


def test_report_is_complete(hostile_run):
    hostile = assignment.load(HOSTILE)
    expected = {c.id for _, c in hostile.rubric.all_checks()}
    assert set(hostile_run["checks"]) == expected
    assert len(hostile_run["report"].components) == len(hostile.rubric.components)


@pytest.mark.parametrize("component", ["exit", "segfault", "hang", "memory", "sysexit", "flood", "import_reference",
                                       "read_secret", "socket", "forged_reply", "write_report", "orphan"])
def test_control_after_each_attack_passes(hostile_run, component):
    control = hostile_run["checks"][f"{component}.control"]
    assert control.status == "passed", control.message


def _attack(hostile_run, name):
    return hostile_run["checks"][f"{name}.attack"]


def test_os_exit_costs_its_check(hostile_run):
    chk = _attack(hostile_run, "exit")
    assert chk.status == "error" and "exited with status 3" in chk.message


def test_segfault_costs_its_check(hostile_run):
    chk = _attack(hostile_run, "segfault")
    assert chk.status == "error" and "segmentation fault" in chk.message
    assert "ops.py" in chk.message  # faulthandler's stack points at the student's line


def test_hang_times_out(hostile_run):
    chk = _attack(hostile_run, "hang")
    assert chk.status == "timeout" and "time limit" in chk.message


def test_memory_exhaustion_is_a_resource_limit(hostile_run):
    chk = _attack(hostile_run, "memory")
    assert chk.status == "resource_limit" and "memory" in chk.message


def test_sys_exit_is_an_error_not_an_exit(hostile_run):
    chk = _attack(hostile_run, "sysexit")
    assert chk.status == "error" and "sys.exit(4)" in chk.message


def test_output_flood_is_bounded(hostile_run):
    chk = _attack(hostile_run, "flood")
    assert chk.status == "resource_limit" and "file size" in chk.message
    assert len(chk.output) <= 2200
    assert len(hostile_run["report"].to_dict().__repr__()) < 200_000


def test_reference_and_grader_cannot_be_imported(hostile_run):
    chk = _attack(hostile_run, "import_reference")
    assert chk.status == "error", chk.message
    assert "blocked:" in chk.message and "reference.centernet.loss" in chk.message


def test_secret_files_cannot_be_read(hostile_run):
    chk = _attack(hostile_run, "read_secret")
    assert chk.status == "error"
    assert "FileNotFoundError" in chk.message or "PermissionError" in chk.message


def test_network_is_unreachable(hostile_run):
    chk = _attack(hostile_run, "socket")
    assert chk.status == "error"
    assert hostile_run["listener"].received == []


def test_forged_reply_and_pickle_are_refused(hostile_run):
    chk = _attack(hostile_run, "forged_reply")
    assert chk.status in ("error", "failed")
    assert chk.score == 0


def test_report_file_is_not_writable_from_the_worker(hostile_run):
    assert hostile_run["report_file"].read_text() == '{"untouched": true}'


def test_no_process_outlives_the_worker(hostile_run):
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "grader-orphan-marker" not in ps


def test_each_crash_restarted_the_worker_once(hostile_run):
    # exit, segfault, hang, memory: four kills, four fresh workers (nothing else restarts it)
    assert hostile_run["report"].isolation["worker_restarts"] == 4


@pytest.mark.skipif(not IS_ROOT or not sys.platform.startswith("linux"), reason="privilege drop needs root on Linux")
def test_worker_runs_unprivileged_without_network(hostile_run):
    iso = hostile_run["report"].isolation
    assert iso["user"]["dropped"] and iso["user"]["uid"] != 0
    assert "network" in iso["namespaces"] or "Python-level" in iso["network"]


# ----------------------------------------------------------------------------------------------
# The parent's side: what it accepts from the worker
# ----------------------------------------------------------------------------------------------

def test_worker_sys_path_excludes_the_checkout():
    prefix = os.path.realpath(sys.prefix)
    for entry in worker_sys_path():
        assert not (entry.startswith(str(ROOT) + "/") or entry == str(ROOT)) or entry.startswith(prefix), entry


def test_load_result_refuses_pickled_objects(tmp_path):
    path = tmp_path / "r.pt"
    torch.save({"out": io.StringIO("x")}, path)
    with pytest.raises(DataError, match="plain data"):
        load_result(path, 1 << 20)


def test_load_result_refuses_links_and_big_files(tmp_path):
    target = tmp_path / "t.pt"
    torch.save({"out": torch.zeros(1000)}, target)
    link = tmp_path / "link.pt"
    link.symlink_to(target)
    with pytest.raises(DataError, match="missing"):
        load_result(link, 1 << 20)
    with pytest.raises(DataError, match="too large"):
        load_result(target, 100)
    os.mkfifo(tmp_path / "fifo.pt")
    with pytest.raises(DataError, match="not a regular file"):
        load_result(tmp_path / "fifo.pt", 1 << 20)


def test_load_result_accepts_plain_data(tmp_path):
    path = tmp_path / "r.pt"
    data = {"a": torch.arange(3), "b": [1, 2.5, "x", None, True], "c": {"d": (torch.ones(2, 2),)}}
    torch.save(data, path)
    loaded = load_result(path, 1 << 20)
    assert torch.equal(loaded["a"], data["a"]) and loaded["b"] == data["b"] and isinstance(loaded["c"]["d"], tuple)


def test_validate_plain_rejects_other_types():
    with pytest.raises(DataError):
        validate_plain({"x": {1, 2}})
    with pytest.raises(DataError):
        validate_plain({1: "int key"})
    with pytest.raises(DataError):
        validate_plain(torch.zeros(3).to_sparse())


def test_in_process_sys_exit_does_not_end_the_grader(tmp_path, toy_reference):
    """--in-process runs student code in the grader: sys.exit there must still be just an error."""
    hostile = assignment.load(HOSTILE)
    package = copy_package(SUBS / "hostile", tmp_path / "h")
    (package / "toy" / "_targets.py").write_text("PORT = 1\nSECRET_FILES = []\nREPORT_FILES = []\n")
    submission = resolve(package, ["toy"])
    report = grade_submission(submission, [hostile], toy_reference,
                              RunOptions(in_process=True, only=["sysexit", "write_report"]))
    statuses = {c.id: c.status for _, c in report.checks()}
    assert statuses == {"sysexit.attack": "error", "sysexit.control": "passed",
                        "write_report.attack": "passed", "write_report.control": "passed"}


def test_worker_that_cannot_start_is_a_grader_error(tmp_path):
    """A broken interpreter path is the grader's problem: SandboxError with the worker's words."""
    from grader.core.sandbox import SandboxError

    ex = IsolatedExecutor(TOYREF, IsolationOptions(startup_timeout=60))
    try:
        ex._worker.kill()
        ex._worker = None
        config = ex.lib / "config.json"
        config.write_text(config.read_text().replace('"lib_dir"', '"lib_dir_broken"'))
        with pytest.raises(SandboxError, match="failed to start"):
            ex._ready_worker()
    finally:
        ex.close()
    assert not Path(ex.base).exists()


SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.mark.skipif(not (IS_ROOT and SYSTEM_PYTHON.exists() and shutil.which("setpriv")),
                    reason="needs root (to become nobody), setpriv and a system python3")
def test_unprivileged_launch_path(tmp_path):
    """The path a non-root grader takes (user namespace first), run as `nobody` with the system
    Python and a stand-in for torch: namespaces, hidden checkout, no network, no capabilities."""
    import json
    import tempfile

    from grader.core import runtime
    from grader.worker import worker_main

    base = Path(tempfile.mkdtemp(prefix="grader-nonroot-"))
    try:
        lib = base / "lib"
        for d in ("lib/submission/toy", "run/out", "home", "tmp", "log", "scratch", "root"):
            (base / d).mkdir(parents=True)
        for name in runtime.WORKER_FILES:
            shutil.copy(Path(worker_main.__file__).with_name(name), lib / name)
        (lib / "torch.py").write_text("def set_num_threads(n): pass\ndef manual_seed(s): pass\n"
                                      "def use_deterministic_algorithms(*a, **k): pass\n")
        (lib / "submission" / "__init__.py").write_text("")
        (lib / "submission" / "toy" / "__init__.py").write_text(
            "import ctypes, os, socket\nfound = []\n"
            "found.append('engine.py: ' + ('visible' if os.path.exists("
            f"{str(ROOT / 'grader' / 'core' / 'engine.py')!r}) else 'hidden'))\n"
            "found.append('/root: ' + ('visible' if os.path.isdir('/root') and os.listdir('/root') else 'hidden'))\n"
            "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError as e:\n"
            "    found.append(f'net: {e.errno}')\n"
            f"found.append('umount: %d' % ctypes.CDLL(None).umount2({str(ROOT).encode()!r}, 2))\n"
            "found.append(f'uid: {os.getuid()}')\nraise ValueError(' | '.join(found))\n")
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SYSTEM_PYTHON), "-I", "-S"]
        subprocess.run(["chown", "-R", "65534:65534", str(base)], check=True)
        os.chmod(base, 0o755)
        plan = json.loads(subprocess.run(nobody + [str(lib / "worker_main.py"), "probe", str(base / "scratch")],
                                         capture_output=True, text=True, check=True).stdout)
        if "user" not in plan["namespaces"]:
            pytest.skip(f"no unprivileged user namespaces here: {plan['errors']}")
        cfg = {"lib_dir": str(lib), "run_dir": str(base / "run"), "python": str(SYSTEM_PYTHON),
               "sys_path": [p for p in ("/usr/lib/python3.11", "/usr/lib/python3.11/lib-dynload")],
               "drop": False, "uid": None, "gid": None, "ns_flags": plan["flags"], "filesystem_fallback": None,
               "limits": {"cpu_seconds": 60, "fsize_bytes": 1 << 26, "nofile": 256, "core_bytes": 0},
               "env": {"PATH": "/usr/bin:/bin", "HOME": str(base / "home"), "TMPDIR": str(base / "tmp")},
               "root_dir": str(base / "root"), "scratch_dir": str(base / "tmp"),
               "writable": [str(base / "run"), str(base / "home")], "secrets": [], "expose": [str(lib)]}
        (lib / "config.json").write_text(json.dumps(cfg))
        r, w = os.pipe()
        proc = subprocess.Popen(nobody + [str(lib / "worker_main.py"), "launch", str(lib / "config.json"), str(w)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(base / "log" / "w", "wb"),
                                pass_fds=(w,), cwd=base / "run")
        os.close(w)
        with os.fdopen(r, "rb") as replies:
            line = replies.readline()
            assert line, (base / "log" / "w").read_text()
            ready = json.loads(line)
            proc.stdin.write(b'{"op": "import", "package": "toy", "id": "1"}\n')
            proc.stdin.flush()
            reply = json.loads(replies.readline())
        proc.stdin.close()
        proc.wait(30)
        facts = ready["facts"]
        assert facts["namespaces"][:3] == ["user", "mount", "network"] and facts["pid_namespace"]
        assert not any(str(ROOT).startswith(v) for v in facts["filesystem"]["visible"]), facts["filesystem"]
        message = reply["message"]
        assert "engine.py: hidden" in message and "/root: hidden" in message, message
        assert "net: 101" in message or "net: 111" in message, message  # unreachable / refused
        assert "umount: -1" in message and "uid: 65534" in message, message
        assert ready["facts"]["sysv_ipc"], ready["facts"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_host_protection_fallback_is_undone(tmp_path):
    """Without a mount namespace (as root), secrets lose go-rwx and the way to Python gains o+x;
    restore() puts every mode back."""
    from grader.core.sandbox import HostProtection

    secret = tmp_path / "secret"
    secret.mkdir()
    os.chmod(secret, 0o755)
    locked = tmp_path / "home"
    (locked / "python").mkdir(parents=True)
    os.chmod(locked, 0o700)
    before = {p: os.stat(p).st_mode & 0o777 for p in (secret, locked, tmp_path)}
    protection = HostProtection()
    try:
        protection.apply([str(secret)], [str(locked / "python")])
        assert os.stat(secret).st_mode & 0o777 == 0o700
        assert os.stat(locked).st_mode & 0o001
        assert any("secret" in line for line in protection.describe())
    finally:
        protection.restore()
    assert {p: os.stat(p).st_mode & 0o777 for p in before} == before


# ----------------------------------------------------------------------------------------------
# The sandbox's walls (issue #9.6-#9.8): fixtures/hostile_sandbox + subs/hostile/toy/sandbox_attacks.py
# ----------------------------------------------------------------------------------------------

SANDBOX_ATTACKS = HOSTILE.parent / "hostile_sandbox"
WALL_MEMORY_MB = 900  # the worker idles at ~300-400 MiB with torch: 1500 MiB of hidden memory is far over
HOG_MB = 1500


class _UnixListener(_Listener):
    """A filesystem unix socket on the host (a stand-in for a host service); records connections."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)
        self._start()


def _outside_dir() -> Path:
    """A world-readable directory outside every path the worker needs: /srv (as root, the issue's
    old gradebook) or next to the checkout (another course copy)."""
    import secrets as _s

    base = Path("/srv") if IS_ROOT and os.path.isdir("/srv") and os.access("/srv", os.W_OK) else ROOT.parent
    d = base / f".grader-test-outside-{_s.token_hex(4)}"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def walls_run(tmp_path_factory, toy_reference):
    """Grade the wall attacks once, in the sandbox (lowered memory limit)."""
    import secrets as _s

    if not sys.platform.startswith("linux"):
        pytest.skip("the sandbox's walls are Linux namespaces")
    tmp = tmp_path_factory.mktemp("walls")
    package = copy_package(SUBS / "hostile", tmp / "submission")
    outside = _outside_dir()
    try:
        secret = outside / "gradebook.csv"
        secret.write_text("alice,20\n")
        os.chmod(secret, 0o644)
        listener = _UnixListener(outside / "service.sock")
        lock_dir = Path("/run/lock") if os.access("/run/lock", os.W_OK) else outside
        lock_file = lock_dir / f"grader-test-{_s.token_hex(4)}"
        (package / "toy" / "_sandbox_targets.py").write_text(
            f"OUTSIDE_FILE = {str(secret)!r}\nLOCK_FILE = {str(lock_file)!r}\nSOCKET_PATH = {str(listener.path)!r}\n"
            f"HOG_MB = {HOG_MB}\n")
        walls = assignment.load(SANDBOX_ATTACKS)
        reference = toy_reference.__class__(toy_reference.inner)
        options = RunOptions(isolation=IsolationOptions(memory_mb=WALL_MEMORY_MB, fsize_mb=64))
        submission = resolve(package, ["toy"])
        report = grade_submission(submission, [walls], reference, options)
        listener.close()
        left_behind = lock_file.exists()
        if left_behind:
            lock_file.unlink()
        checks = {chk.id: chk for _, chk in report.checks()}
        yield {"report": report, "checks": checks, "listener": listener, "lock_left_behind": left_behind}
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def _mount_namespace(run) -> bool:
    return "mount" in run["report"].isolation.get("namespaces", [])


@pytest.mark.parametrize("component", ["read_outside", "write_run_lock", "unix_socket", "memfd_fds", "memfd_mapped",
                                       "sysv_shm", "expanded_reply", "many_items_reply"])
def test_walls_control_after_each_attack_passes(walls_run, component):
    control = walls_run["checks"][f"{component}.control"]
    assert control.status == "passed", control.message
    assert walls_run["checks"][f"{component}.attack"].score == 0


def test_files_outside_the_allow_list_do_not_exist(walls_run):
    if not _mount_namespace(walls_run):
        pytest.skip("no mount namespace on this kernel: the allow-list needs one")
    chk = walls_run["checks"]["read_outside.attack"]
    assert chk.status == "error" and "FileNotFoundError" in chk.message, chk.message


def test_run_lock_is_not_writable_and_nothing_survives(walls_run):
    if not _mount_namespace(walls_run):
        pytest.skip("no mount namespace on this kernel: the allow-list needs one")
    chk = walls_run["checks"]["write_run_lock.attack"]
    assert chk.status == "error" and "FileNotFoundError" in chk.message, chk.message
    assert not walls_run["lock_left_behind"]


def test_host_unix_sockets_are_unreachable(walls_run):
    if not _mount_namespace(walls_run):
        pytest.skip("no mount namespace on this kernel: the allow-list needs one")
    chk = walls_run["checks"]["unix_socket.attack"]
    assert chk.status == "error", chk.message
    assert walls_run["listener"].received == []


@pytest.mark.parametrize("name", ["memfd_fds", "memfd_mapped"])
def test_memfd_counts_against_the_memory_limit(walls_run, name):
    chk = walls_run["checks"][f"{name}.attack"]
    assert chk.status == "resource_limit" and "memory limit exceeded" in chk.message, chk.message
    assert "memfd" in chk.message


def test_sysv_shared_memory_is_forbidden_or_counted(walls_run):
    iso = walls_run["report"].isolation
    if "ipc" in iso.get("namespaces", []) and not iso.get("sysv_ipc", "").startswith("forbidden"):
        pytest.skip(f"this kernel does not let the worker's IPC namespace forbid SysV IPC: {iso.get('sysv_ipc')}")
    chk = walls_run["checks"]["sysv_shm.attack"]
    if iso.get("sysv_ipc", "").startswith("forbidden"):
        assert chk.status == "error" and "shmget" in chk.message, chk.message
    else:
        assert chk.status == "resource_limit" and "SysV" in chk.message, chk.message


def test_expanded_view_reply_is_refused_by_element_count(walls_run):
    chk = walls_run["checks"]["expanded_reply.attack"]
    assert chk.status == "error", chk.message
    assert "8000000000 elements" in chk.message and "the limit is" in chk.message, chk.message


def test_reply_with_too_many_values_is_refused(walls_run):
    chk = walls_run["checks"]["many_items_reply.attack"]
    assert chk.status == "error" and "the limit is" in chk.message, chk.message


def test_result_element_cap_and_view_compaction(tmp_path):
    """Parent side, without a worker: a stride-0 view is counted by the elements it would
    materialise; an overlapping or sliced view under the cap comes back compact."""
    path = tmp_path / "r.pt"
    torch.save({"out": torch.zeros(1).expand(10_000, 10_000)}, path)
    assert path.stat().st_size < 4096
    with pytest.raises(DataError, match="your probe output has 100000000 elements; the limit is 1000000"):
        load_result(path, 1 << 20, max_elements=1_000_000)
    base = torch.arange(12.0)
    views = {"expanded": torch.ones(1).expand(5), "overlap": base.as_strided((4, 3), (1, 1)),
             "slice": base[2:5], "transposed": base.view(3, 4).t()}
    torch.save(views, path)
    loaded = load_result(path, 1 << 20)
    for name, t in loaded.items():
        assert torch.equal(t, views[name]), name
        assert t.is_contiguous() and t.untyped_storage().nbytes() == t.numel() * t.element_size(), name
    torch.save({"many": list(range(1000))}, path)
    with pytest.raises(DataError, match="the limit is 100"):
        load_result(path, 1 << 20, max_items=100)


# ----------------------------------------------------------------------------------------------
# Given code comes from the course (issue #9.5): fixtures/given, subs/hostile_given
# ----------------------------------------------------------------------------------------------

def test_given_training_loop_is_the_courses(tmp_path, toy_reference):
    """A submission whose train.py reports the right falling loss without its ops working gets the
    course's train.py at grading time (0 points, a remark); a correct package with the course's
    train.py unchanged passes without a remark; one that lacks it is graded with the course's."""
    given = assignment.load(HOSTILE.parent / "given")
    assert given.rubric.given == ("train.py",)
    options = RunOptions(isolation=IsolationOptions(memory_mb=MEMORY_MB, given_dir=str(TOYREF)))
    reports = {}
    for name, src in (("fake", SUBS / "hostile_given"), ("honest", TOYREF), ("no_train", SUBS / "hostile")):
        package = copy_package(src, tmp_path / name)
        if name == "no_train":
            (package / "toy" / "_targets.py").write_text("PORT = 1\nSECRET_FILES = []\nREPORT_FILES = []\n")
        reports[name] = grade_submission(resolve(package, ["toy"]), [given],
                                         toy_reference.__class__(toy_reference.inner), options)
    fake = {c.id: c for _, c in reports["fake"].checks()}["train.losses"]
    assert fake.status != "passed" and reports["fake"].score == 0, fake.message
    assert "not implemented" in fake.message.lower(), fake.message
    assert reports["fake"].isolation["remarks"] == [
        "toy: given code changed: train.py; graded with the course's original"]
    assert reports["honest"].score == 1 and reports["honest"].isolation["remarks"] == []
    assert reports["no_train"].score == 1  # the hostile package's ops are correct
    assert reports["no_train"].isolation["remarks"] == [
        "toy: given code missing: train.py; graded with the course's original"]
    from grader.core import report as report_mod

    for text in (report_mod.terminal_summary(reports["fake"]), report_mod.to_markdown(reports["fake"])):
        assert "given code changed" in text  # the student and the reviewer both see it


def test_real_rubrics_list_exactly_the_reference_files_without_solution_regions():
    """The `given` lists of centernet and detection are the reference's files with no
    `# BEGIN SOLUTION` region (derived, so a new given file cannot be forgotten)."""
    for name in ("centernet", "detection"):
        ref = ROOT / "reference" / name
        if not ref.is_dir():
            pytest.skip("no reference solution in this checkout")
        derived = sorted(p.name for p in ref.glob("*.py") if "# BEGIN SOLUTION" not in p.read_text())
        assert sorted(assignment.load(name).rubric.given) == derived, name
        for f in derived:
            assert (ROOT / "student" / name / f).is_file(), f"student/{name}/{f} (the course's copy) is missing"

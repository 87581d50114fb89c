"""Sweeps on real dask clusters, on loopback only.

A LocalCluster, a standalone ``dask scheduler`` with ``dask worker`` processes,
a worker SIGKILLed mid-sweep, and sweeps interrupted by SIGINT / SIGTERM and
finished with ``--resume``: every result must equal a synchronous run of the
same seed. Every process a test starts is stopped by the test, by its pid.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import xarray as xr

import ntkpaths
from ntkpaths import cli
from ntkpaths.store import StoreError
from conftest import RUN_ATTRS

BIN = Path(sys.executable).parent          # the venv's bin dir: same environment everywhere
DASK = str(BIN / "dask")
NTKPATHS = str(BIN / "ntkpaths")
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0

# Every statistic, several cells and uneven blocks: equality covers the whole schema.
SMALL = ["--depth", "3", "--widths", "8,16", "--nets", "20", "--nets-per-task", "3", "--seed", "11"]
# Adaptive: blocks are submitted as the precision target needs them.
PRECISE = ["--depth", "3", "--widths", "8,16", "--rel-se", "0.03", "--max-nets", "400", "--nets-per-task", "8",
           "--seed", "11"]
# Many small blocks, long enough (a few seconds) to be interrupted part-way.
# Explicit weights, so a block takes tens of ms and the sweep seconds, in-process too: the implicit
# sampler would finish before the signal arrives.
MEDIUM = ["--depth", "8", "--widths", "256", "--nets", "600", "--nets-per-task", "10", "--seed", "2024",
          "--stats", "none", "--method", "explicit"]
MEDIUM_BLOCKS = 60
BLOCKS_BEFORE_SIGNAL = 3


# ------------------------------------------------------------------ helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate one process by its pid, then kill it if it lingers; always reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def describe(p: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{p.pid}: {' '.join(p.cmdline())[:200]}"
    return f"{p.pid}: gone"


def stop_descendants(procs, grace: float = 10.0) -> None:
    """Stop processes a CLI run started (its local dask workers), by pid; psutil guards pid reuse."""
    for p in alive(procs):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, left = psutil.wait_procs(alive(procs), timeout=grace)
    for p in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive(procs), timeout=grace)


def done_blocks(out: Path) -> int:
    try:
        return sum(1 for _ in (out / "_done").iterdir())
    except FileNotFoundError:
        return 0


class CliRun:
    """``ntkpaths sweep ...`` in its own process, stdout and stderr to files."""

    def __init__(self, args: list[str], workdir: Path, name: str):
        self.workdir, self.name = workdir, name
        self._out = open(workdir / f"{name}.stdout", "wb")
        self._err = open(workdir / f"{name}.stderr", "wb")
        self.proc = subprocess.Popen([NTKPATHS, "sweep", *args], cwd=workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)
        self.children: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def note_children(self) -> list[psutil.Process]:
        for p in descendants(self.pid):
            self.children.setdefault(p.pid, p)
        return list(self.children.values())

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name}: ntkpaths sweep still running after {timeout:.0f} s "
                                 f"(hang?); stderr:\n{self.stderr()[-3000:]}") from None

    def stderr(self) -> str:
        self._err.flush()
        return (self.workdir / f"{self.name}.stderr").read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.note_children()
        stop(self.proc)
        stop_descendants(self.children.values())
        self._out.close()
        self._err.close()


@contextlib.contextmanager
def cli_run(args: list[str], workdir: Path, name: str = "cli"):
    run = CliRun(args, workdir, name)
    try:
        yield run
    finally:
        run.close()


def run_cli(args: list[str], workdir: Path, name: str = "cli", timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Run the CLI to the end in its own process; return (exit code, stderr)."""
    with cli_run(args, workdir, name) as run:
        code = run.wait(timeout)
        return code, run.stderr()


def cli_inprocess(args: list[str]) -> int:
    """The console entry point in this process (no interpreter start-up); its exit code."""
    handler = signal.getsignal(signal.SIGTERM)  # cli.main installs its own; give pytest back its own
    try:
        cli.main(["sweep", *args])
    except SystemExit as exc:
        return exc.code
    finally:
        signal.signal(signal.SIGTERM, handler)
    raise AssertionError("cli.main returned without sys.exit")


def comparable(path: Path, ignore_config: tuple[str, ...] = ()) -> xr.Dataset:
    ds = ntkpaths.load(path).load()
    for key in RUN_ATTRS:
        ds.attrs.pop(key, None)
    if ignore_config:
        cfg = json.loads(ds.attrs["config"])
        for key in ignore_config:
            cfg.pop(key)
        ds.attrs["config"] = json.dumps(cfg, sort_keys=True)
    return ds


def assert_same_sweep(path: Path, reference: Path, ignore_config: tuple[str, ...] = ()) -> None:
    xr.testing.assert_identical(comparable(path, ignore_config), comparable(reference, ignore_config))


# ------------------------------------------------------------------ a standalone dask cluster
class RemoteCluster:
    """``dask scheduler`` plus ``dask worker`` processes on 127.0.0.1.

    Workers run without a nanny, so each pid is the worker itself: SIGKILL by
    pid really removes a worker (a nanny would restart it, and killing the
    nanny would orphan its worker).
    """

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.address = f"tcp://{HOST}:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs = []
        self._count = 0

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")
        self._logs.append(log)
        return subprocess.Popen(args, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def start(self, n_workers: int) -> None:
        self.scheduler = self._spawn([DASK, "scheduler", "--host", HOST, "--port", str(self.port),
                                      "--no-dashboard", "--idle-timeout", "900"], "scheduler")

        def listening() -> bool:
            if self.scheduler.poll() is not None:
                raise AssertionError(f"dask scheduler exited with {self.scheduler.returncode}:\n"
                                     f"{self.log('scheduler')[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.5):
                return True
            return False

        wait_for(listening, STARTUP_TIMEOUT, "the dask scheduler to listen", interval=0.1)
        self.ensure_workers(n_workers)

    def start_worker(self) -> subprocess.Popen:
        self._count += 1
        name = f"worker-{self._count}"
        proc = self._spawn([DASK, "worker", self.address, "--host", HOST, "--nthreads", "1", "--no-nanny",
                            "--no-dashboard", "--name", name, "--local-directory", str(self.workdir / name),
                            "--death-timeout", "60"], name)
        proc.worker_name = name
        self.workers.append(proc)
        return proc

    def live_workers(self) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def ensure_workers(self, n: int) -> None:
        """Exactly ``n`` live workers, all registered with the scheduler."""
        while len(self.live_workers()) < n:
            self.start_worker()
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            def registered() -> bool:
                for w in self.workers:
                    if w.poll() is not None and w.returncode not in (-signal.SIGKILL, -signal.SIGTERM, 0):
                        raise AssertionError(f"{w.worker_name} exited with {w.returncode}:\n"
                                             f"{self.log(w.worker_name)[-3000:]}")
                return len(client.scheduler_info(n_workers=-1)["workers"]) == n

            wait_for(registered, STARTUP_TIMEOUT, f"{n} dask workers to register", interval=0.1)

    def stop(self) -> None:
        for w in self.workers:
            stop(w)
        if self.scheduler is not None:
            stop(self.scheduler)
        for log in self._logs:
            log.close()


@pytest.fixture(scope="module")
def remote_cluster(tmp_path_factory):
    cluster = RemoteCluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        cluster.start(2)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(remote_cluster):
    """The shared scheduler with two live workers (a test may have killed one)."""
    remote_cluster.ensure_workers(2)
    return remote_cluster


# ------------------------------------------------------------------ synchronous references
def synchronous_reference(tmp_path_factory, args: list[str], name: str) -> Path:
    path = tmp_path_factory.mktemp("ref") / f"{name}.zarr"
    assert cli_inprocess([*args, "--scheduler", "synchronous", "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def small_ref(tmp_path_factory) -> Path:
    return synchronous_reference(tmp_path_factory, SMALL, "small")


@pytest.fixture(scope="module")
def precise_ref(tmp_path_factory) -> Path:
    return synchronous_reference(tmp_path_factory, PRECISE, "precise")


@pytest.fixture(scope="module")
def medium_ref(tmp_path_factory) -> Path:
    return synchronous_reference(tmp_path_factory, MEDIUM, "medium")


def new_children(before: set[int]) -> list[psutil.Process]:
    """Children of this process that were not there before, apart from multiprocessing's helpers."""
    out = []
    for p in alive(psutil.Process().children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.cmdline())
            if p.pid not in before and "resource_tracker" not in cmd and "forkserver" not in cmd:
                out.append(p)
    return out


# ------------------------------------------------------------------ 1. LocalCluster
def test_local_cluster_cli_matches_synchronous(small_ref, tmp_path):
    out = tmp_path / "local.zarr"
    code, err = run_cli([*SMALL, "--workers", "2", "--out", str(out)], tmp_path)
    assert code == 0, err
    assert_same_sweep(out, small_ref)


def test_local_cluster_with_other_task_size_matches_synchronous(small_ref, tmp_path):
    cfg = ntkpaths.SweepConfig(depth=3, widths=(8, 16), nets=20, nets_per_task=7, seed=11)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    out = tmp_path / "local7.zarr"
    try:
        ntkpaths.run_sweep(cfg, out, workers=2)
        # the local cluster's worker processes are gone once run_sweep returns
        wait_for(lambda: not new_children(before), 20, "the local cluster's workers to exit", interval=0.1)
    finally:
        stop_descendants(new_children(before))
    assert_same_sweep(out, small_ref, ignore_config=("nets_per_task",))


# ------------------------------------------------------------------ 2. standalone scheduler
@pytest.mark.parametrize("sweep", ["fixed-nets", "rel-se"])
def test_remote_scheduler_matches_synchronous(sweep, cluster, tmp_path, request):
    args, reference = {"fixed-nets": (SMALL, "small_ref"), "rel-se": (PRECISE, "precise_ref")}[sweep]
    out = tmp_path / "remote.zarr"
    code, err = run_cli([*args, "--scheduler", cluster.address, "--out", str(out)], tmp_path)
    assert code == 0, err
    assert_same_sweep(out, request.getfixturevalue(reference))


# ------------------------------------------------------------------ 4. interrupt and resume
def _scheduler_args(kind: str, request) -> list[str]:
    if kind == "synchronous":
        return ["--scheduler", "synchronous"]
    if kind == "local":
        return ["--workers", "2"]
    return ["--scheduler", request.getfixturevalue("cluster").address]


def interrupt_after_some_blocks(run: CliRun, out: Path, sig: int) -> int:
    """Wait until a few blocks are on disk, then send ``sig`` to the CLI; its exit code."""
    wait_for(lambda: run.proc.poll() is not None or done_blocks(out) >= BLOCKS_BEFORE_SIGNAL,
             STARTUP_TIMEOUT, "the first finished blocks")
    run.note_children()
    done = done_blocks(out)
    assert run.proc.poll() is None and done < MEDIUM_BLOCKS, (
        f"the sweep ended (exit {run.proc.returncode}, {done} blocks) before it could be interrupted; "
        f"stderr:\n{run.stderr()[-3000:]}")
    os.kill(run.pid, sig)
    return run.wait(60)


@pytest.mark.parametrize(("first", "sig", "then"), [
    ("synchronous", signal.SIGINT, "remote"),
    ("remote", signal.SIGINT, "synchronous"),
    ("remote", signal.SIGTERM, "remote"),
    ("local", signal.SIGINT, "synchronous"),
    ("local", signal.SIGTERM, "synchronous"),
], ids=["sync-SIGINT", "remote-SIGINT", "remote-SIGTERM", "local-SIGINT", "local-SIGTERM"])
def test_interrupted_sweep_resumes_to_the_same_dataset(first, sig, then, medium_ref, tmp_path, request):
    out = tmp_path / "interrupted.zarr"
    args = [*MEDIUM, "--out", str(out)]
    with cli_run([*args, *_scheduler_args(first, request)], tmp_path, "first") as run:
        code = interrupt_after_some_blocks(run, out, sig)
        err = run.stderr()
        # SIGTERM ends a sweep like Ctrl-C: exit 130, a hint to resume, no traceback
        assert code == 130, err
        assert "interrupted" in err and "Traceback" not in err, err
        # the local cluster's workers die with the CLI, even when it gets no chance to clean up
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not alive(run.children.values()), 20, "the CLI's worker processes to exit", 0.1)
        leftover = [describe(p) for p in alive(run.children.values())]
        assert not leftover, f"processes started by the interrupted CLI outlived it: {leftover}"

    assert done_blocks(out) >= BLOCKS_BEFORE_SIGNAL
    with pytest.raises(StoreError, match="unfinished"):
        ntkpaths.load(out)

    code, err = run_cli([*args, "--resume", *_scheduler_args(then, request)], tmp_path, "resume")
    assert code == 0, err
    assert_same_sweep(out, medium_ref)


def test_resume_with_other_options_is_refused(medium_ref, tmp_path, capsys):
    out = tmp_path / "interrupted.zarr"
    args = [*MEDIUM, "--out", str(out)]
    with cli_run([*args, "--scheduler", "synchronous"], tmp_path, "first") as run:
        assert interrupt_after_some_blocks(run, out, signal.SIGINT) == 130
    markers = sorted(p.name for p in (out / "_done").iterdir())
    assert len(markers) >= BLOCKS_BEFORE_SIGNAL

    def refused(option: str | None = None, value: str = "") -> str:
        changed = list(MEDIUM)
        if option is not None:
            changed[changed.index(option) + 1] = value
        resume = [] if option is None else ["--resume"]
        capsys.readouterr()
        code = cli_inprocess([*changed, *resume, "--out", str(out), "--scheduler", "synchronous"])
        _, err = capsys.readouterr()
        assert code == 2, err
        assert "Traceback" not in err and "error:" in err, err
        return err

    errors = {
        "no --resume": refused(),
        "--nets": refused("--nets", "500"),
        "--seed": refused("--seed", "7"),
        "--widths": refused("--widths", "128"),
    }
    assert "--resume" in errors["no --resume"]
    assert "(nets)" in errors["--nets"] and "(seed)" in errors["--seed"] and "(widths)" in errors["--widths"]

    # refusing touched nothing: the store is still unfinished, with the same finished blocks
    assert sorted(p.name for p in (out / "_done").iterdir()) == markers
    with pytest.raises(StoreError, match="unfinished"):
        ntkpaths.load(out)
    assert cli_inprocess([*args, "--resume", "--scheduler", "synchronous"]) == 0
    assert_same_sweep(out, medium_ref)

    # each refusal is a single line on stderr, like every other user error
    for what, err in errors.items():
        assert err.count("\n") == 1 and err.startswith("error:"), f"{what}: stderr is not one line:\n{err}"


# ------------------------------------------------------------------ 3. a worker dies
def test_sweep_survives_a_killed_worker(cluster, medium_ref, tmp_path):
    out = tmp_path / "killed.zarr"
    victim = cluster.live_workers()[0]
    try:
        with cli_run([*MEDIUM, "--scheduler", cluster.address, "--out", str(out)], tmp_path) as run:
            wait_for(lambda: run.proc.poll() is not None or done_blocks(out) >= BLOCKS_BEFORE_SIGNAL,
                     STARTUP_TIMEOUT, "the first finished blocks")
            done = done_blocks(out)
            assert run.proc.poll() is None and done < MEDIUM_BLOCKS, (
                f"the sweep ended before a worker could be killed; stderr:\n{run.stderr()[-3000:]}")
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.wait(10) == -signal.SIGKILL
            code = run.wait()
            assert code == 0, run.stderr()
        wait_for(lambda: f"name: {victim.worker_name}" in "".join(
            line for line in cluster.log("scheduler").splitlines(keepends=True) if "Remove worker" in line),
            10, "the scheduler to notice the lost worker", interval=0.1)
        assert_same_sweep(out, medium_ref)
    finally:
        cluster.ensure_workers(2)


def test_sweep_survives_its_workers_being_replaced(cluster, medium_ref, tmp_path):
    """Every worker that started the sweep dies; a fresh one joins and must finish it."""
    out = tmp_path / "replaced.zarr"
    originals = cluster.live_workers()
    try:
        with cli_run([*MEDIUM, "--scheduler", cluster.address, "--out", str(out)], tmp_path) as run:
            wait_for(lambda: run.proc.poll() is not None or done_blocks(out) >= BLOCKS_BEFORE_SIGNAL,
                     STARTUP_TIMEOUT, "the first finished blocks")
            assert run.proc.poll() is None and done_blocks(out) < MEDIUM_BLOCKS, (
                f"the sweep ended before its workers could be replaced; stderr:\n{run.stderr()[-3000:]}")
            cluster.start_worker()  # still importing when the others die: it holds nothing yet
            for w in originals:
                os.kill(w.pid, signal.SIGKILL)
            for w in originals:
                assert w.wait(10) == -signal.SIGKILL
            code = run.wait()
            assert code == 0, run.stderr()[-3000:]
        assert_same_sweep(out, medium_ref)
    finally:
        cluster.ensure_workers(2)

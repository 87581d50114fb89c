"""Where tasks run: in-process, on a local dask cluster, or on an existing one.

Sweeps and training runs share this loop. A :class:`Plan` says which tasks
to submit next and which finished ones still count; results come back to the
caller in completion order, and the caller's ``on_result`` writes them.
Every task must be a pure function of its arguments (its seeds travel with
it), so where a task ran never changes what it returns.
"""
from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from .config import NtkpathsError

CONNECT_TIMEOUT_S = 10  # a scheduler that does not answer in this time is reported, not waited on
LOCAL_STARTUP_S = 3.0   # measured start-up of a 2-worker local cluster on 2 cores (2.5-3 s)


class Plan(Protocol):
    def next_tasks(self) -> list: ...
    def wanted(self, task) -> bool: ...


class AllTasks:
    """A plan that submits every task once and keeps every result (training runs, census blocks)."""

    def __init__(self, tasks: list):
        self.pending = list(tasks)

    def next_tasks(self) -> list:
        out, self.pending = self.pending, []
        return out

    def wanted(self, task) -> bool:
        return True


@dataclass(frozen=True)
class Execution:
    """The scheduler actually used, and why, in words for the user and the attrs."""

    scheduler: str | None  # "synchronous", None (a local cluster) or an address
    workers: int | None
    note: str


def choose(scheduler: str | None, workers: int | None, work_seconds: float | None) -> Execution:
    """Resolve the default scheduler: in-process when a local cluster would cost more than it saves.

    ``scheduler`` is None (choose), "local", "synchronous" or an address;
    ``work_seconds`` is the estimated single-core time of the whole job.
    Giving ``workers`` asks for a local cluster of that size.
    """
    if scheduler not in (None, "local", "synchronous") and "://" not in scheduler:
        raise NtkpathsError(f"unknown scheduler {scheduler!r}; use 'synchronous', 'local' or an address "
                            "like tcp://HOST:8786")
    if workers is not None and workers < 1:
        raise NtkpathsError(f"workers must be an integer >= 1, got {workers}")
    if scheduler == "synchronous":
        return Execution("synchronous", None, "in-process")
    if scheduler not in (None, "local"):
        _check_reachable(scheduler)
        return Execution(scheduler, None, f"dask scheduler {scheduler}")
    n = workers or os.cpu_count() or 1
    if scheduler is None and workers is None and work_seconds is not None and _small(work_seconds, n):
        return Execution("synchronous", None,
                         f"in-process: ~{work_seconds:.1f} s of work, less than a local cluster would save")
    return Execution(None, n, f"local dask cluster, {n} workers")


def _check_reachable(address: str) -> None:
    """Fail in one line, before any work, when nothing listens at a tcp:// scheduler address."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp":
        return  # other transports (tls, ucx, inproc) are checked when the client connects
    host, _, port = rest.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except ValueError:
        raise NtkpathsError(f"scheduler address {address!r} has no port; use tcp://HOST:PORT") from None
    except OSError as exc:
        raise NtkpathsError(f"cannot reach the dask scheduler at {address}: "
                            f"{exc.strerror or type(exc).__name__}") from None


def _small(work_seconds: float, workers: int) -> bool:
    """A local cluster pays when work / workers + start-up < work."""
    return workers == 1 or work_seconds <= LOCAL_STARTUP_S * workers / (workers - 1)


def run(plan: Plan, call: Callable[[Any], tuple[Callable, tuple]], on_result: Callable[[Any, Any], None],
        execution: Execution, describe: Callable[[Any], str],
        on_client: Callable | None = None) -> None:
    """Run every task the plan asks for; hand each wanted result to ``on_result``.

    ``call(task)`` gives the function and arguments of a task; ``describe(task)``
    names it in error messages.
    """
    if execution.scheduler == "synchronous":
        queue = deque(plan.next_tasks())
        while queue:
            task = queue.popleft()
            if plan.wanted(task):
                fn, args = call(task)
                on_result(task, fn(*args))
            queue.extend(plan.next_tasks())
        return
    with client(execution) as cl:
        if on_client is not None:
            on_client(cl)
        _run_distributed(cl, plan, call, on_result, describe)


def run_all(tasks: list, done: int, total: int, call: Callable[[Any], tuple[Callable, tuple]],
            keep: Callable[[Any, Any], None], execution: Execution, *, size: Callable[[Any], int] = lambda t: 1,
            progress: Callable[[int, int], None] | None = None, on_client: Callable | None = None,
            describe: Callable[[Any], str] = str) -> None:
    """Run every task once and ``keep(task, result)`` each result (a training grid, a census).

    ``progress(done, total)`` counts units of work: ``done`` of them were finished before (resume)
    and each task adds ``size(task)``.
    """
    counter = [done]
    if progress is not None:
        progress(done, total)

    def on_result(task, result) -> None:
        keep(task, result)
        counter[0] += size(task)
        if progress is not None:
            progress(counter[0], total)

    run(AllTasks(tasks), call, on_result, execution, on_client=on_client, describe=describe)


def _run_distributed(cl, plan: Plan, call, on_result, describe) -> None:
    from distributed import as_completed

    tasks: dict = {}

    def submit(batch):
        # Inputs travel inside each task (they are small): scattered data
        # is lost for good when the workers holding it die.
        futures = [cl.submit(*_unpack(call(t)), pure=False) for t in batch]
        tasks.update(zip(futures, batch))
        return futures

    pending = as_completed(submit(plan.next_tasks()))
    for fut in pending:
        task = tasks.pop(fut)
        if plan.wanted(task):
            on_result(task, _result(fut, describe(task)))
        for new in submit(plan.next_tasks()):
            pending.add(new)
        for other, t in list(tasks.items()):
            if not plan.wanted(t):
                other.cancel()


def _unpack(fn_args: tuple[Callable, tuple]) -> tuple:
    fn, args = fn_args
    return (fn, *args)


def _result(fut, what: str):
    """A finished task's value; a task the cluster lost becomes a one-line error."""
    try:
        return fut.result()
    except NtkpathsError:
        raise
    except Exception as exc:
        raise NtkpathsError(f"the cluster lost {what}: {type(exc).__name__}; "
                            "finished work is kept: rerun with --resume") from None


@contextmanager
def client(execution: Execution) -> Iterator:
    """A dask client for a local cluster or an existing scheduler; unreachable ones fail in one line."""
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if execution.scheduler is not None:
            cl = Client(execution.scheduler, timeout=CONNECT_TIMEOUT_S)
        else:
            # Tasks run in a worker thread, whose malloc arena hands every freed
            # weight matrix back to the OS (dask also sets a 64 KiB trim threshold),
            # so the next layer page-faults it in again: 7x the page faults and 35%
            # more time per network. Keep large blocks in the heap instead.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 1 << 30,
                                  "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 1 << 30}):
                cluster = LocalCluster(n_workers=execution.workers, threads_per_worker=1, processes=True,
                                       dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR)  # cancelled surplus tasks are expected
            cl = Client(cluster)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        what = (f"cannot reach the dask scheduler at {execution.scheduler}" if execution.scheduler
                else "cannot start a local dask cluster")
        raise NtkpathsError(f"{what}: {_first_line(exc)}") from None
    try:
        yield cl
    finally:
        cl.close()
        if cluster is not None:
            cluster.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

"""JAX, imported once with XLA's CPU backend on one thread.

Training, sharpness and the accelerator sweep path import JAX through this
module. XLA sizes its CPU thread pool from the process's CPU affinity when the
backend starts, and a multithreaded CPU backend does not return bit-identical
results from one call to the next. So the backend is started while the calling
thread is pinned to one core, and every thread's affinity is restored
afterwards: one XLA thread per dask worker thread, results identical whatever
the scheduler or worker count. GPUs are unaffected.

Examples
--------
>>> from ntkpaths.jaxsetup import jax, jnp  # doctest: +SKIP
"""
from __future__ import annotations

import os


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: nothing to restore
        return []


def _start_backend():
    import jax

    pinnable = hasattr(os, "sched_setaffinity") and not _backend_started(jax)
    if not pinnable:
        jax.devices()
        return jax
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})
    try:
        jax.devices()
    finally:
        for tid in _threads():  # XLA's threads inherited the pin; give them the whole mask back
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:
                pass
    return jax


def _backend_started(jax) -> bool:
    """True when something already started XLA (its thread pool size is then fixed)."""
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):
        return False


jax = _start_backend()
import jax.numpy as jnp  # noqa: E402

__all__ = ["jax", "jnp", "accelerator"]


def accelerator() -> str | None:
    """The platform of JAX's default device when it is not the CPU ('gpu', 'tpu'), else None."""
    platform = jax.default_backend()
    return None if platform == "cpu" else platform

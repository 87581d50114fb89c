"""The explicit sampler and every raw statistic as jit-compiled JAX: a block of networks in, raw statistics out.

:func:`run_block` is the accelerator twin of ``tasks.run_task``: the same
networks (one ``SeedSequence`` child each), the same raw statistics
(``netstats.RAW_DIMS``), drawn and counted on JAX's default device (a GPU when
there is one; the CPU backend works too and is what the tests use). Device and
numpy streams differ, so the two agree in distribution, not draw by draw.
:func:`trace_layers` is the pure tracer, for weights and pre-activations given
from outside, e.g. the numpy sampler's, to check it against ``NetworkTracer``.

Examples
--------
>>> import numpy as np
>>> from ntkpaths import SweepConfig, accel, tasks
>>> cfg = SweepConfig(depth=3, widths=(64,), seed=0, stats=("weights",))
>>> columns = tasks.sweep_inputs(cfg, 64).columns(False)
>>> root = np.random.SeedSequence(cfg.seed)
>>> seeds = [tasks.child_seed(root, tasks.NETWORKS_KEY, 64, 64, net) for net in range(10)]
>>> raw = accel.run_block(cfg, 64, columns, seeds)
>>> raw["weight_num"].shape
(10, 3, 24)
"""
from .block import describe, make_plan, run_block
from .memory import check_memory, free_bytes, pick_batch
from .sample import PRNGS, child_keys, default_prng
from .trace import trace_layers

__all__ = [
    # a block of networks in, raw statistics out
    "run_block",
    "trace_layers",
    "describe",
    "make_plan",
    # device memory
    "pick_batch",
    "check_memory",
    "free_bytes",
    # random streams
    "child_keys",
    "PRNGS",
    "default_prng",
]

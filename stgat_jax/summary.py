r"""Model summary: parameters per block and FLOPs of one sample, from XLA's cost analysis.

    python -m stgat_jax.summary --config=configs/ntu60_xsub.py

Training prints the same summary at start-up. Nothing is allocated: parameters come from
`jax.eval_shape`, FLOPs from the lowered (not compiled) forward pass.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from stgat_jax import errors, models, steps


def _count(tree: Any) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def param_counts(params: Any) -> dict[str, int]:
    """Parameters under each top-level module of the ``params`` collection, plus ``'total'``.

    Works on arrays and on the ``jax.ShapeDtypeStruct`` trees of ``jax.eval_shape``.
    """
    counts = {name: _count(tree) for name, tree in params.items()}
    counts["total"] = _count(params)
    return counts


def summarize(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """{'params': {top-level module: count, 'total': n}, 'gflops_per_sample': forward FLOPs / 1e9}."""
    model = models.build_model(config)
    x = jax.ShapeDtypeStruct(steps.input_shape(config, 1), jnp.float32)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(x.shape), train=False))
    params = param_counts(variables["params"])
    lowered = jax.jit(lambda v, x: model.apply(v, x, train=False)[0]).lower(variables, x)
    cost = lowered.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    flops = float(cost["flops"]) if cost and "flops" in cost else None
    return {"model": type(model).__name__, "input_shape": list(x.shape), "params": params,
            "gflops_per_sample": None if flops is None else flops / 1e9}


def format_summary(summary: dict[str, Any]) -> str:
    width = max(len(k) for k in summary["params"])
    lines = [f"{summary['model']} for input {tuple(summary['input_shape'])} (N, M, T, V, C)"]
    lines += [f"  {name:<{width}}  {count:>12,}" for name, count in summary["params"].items()]
    if summary["gflops_per_sample"] is not None:
        lines.append(f"  forward: {summary['gflops_per_sample']:.3f} GFLOPs per sample "
                     f"({summary['gflops_per_sample'] / 2:.3f} GMACs)")
    return "\n".join(lines)


def main(argv):
    del argv
    with errors.one_line(flags.FLAGS.traceback):
        print(format_summary(summarize(flags.FLAGS.config)))


if __name__ == "__main__":
    config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
    errors.define_traceback_flag()
    app.run(main)

r"""Train-step and eval-step throughput of a config, one JSON line per case.

    python benchmarks/train_step.py --config=configs/ntu60_xsub.py --batch_size=8 --dtypes=float32,bfloat16
    python benchmarks/train_step.py --config=configs/default.py --batch_size=32

Prints, per compute dtype: compile time, steady-state samples/s of the full train step (forward,
backward, optimizer update) and of the eval step, FLOPs and bytes accessed per sample and the
compiled step's memory (`stgat_jax.costs`, the figures `python -m stgat_jax.compile` prints),
achieved FLOP/s and peak device memory in use (where the backend reports it). Inputs are random arrays of
the config's shape: this measures the device program, not the input pipeline
(benchmarks/input_pipeline.py measures that).
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from stgat_jax import costs, steps

config_flags.DEFINE_config_file("config", "configs/ntu60_xsub.py", "Config file.", lock_config=False)
flags.DEFINE_integer("batch_size", 8, "Global batch size (all devices).")
flags.DEFINE_string("dtypes", "float32,bfloat16", "Comma-separated compute dtypes.")
flags.DEFINE_integer("steps", 10, "Timed steps (after two warm-up steps).")
flags.DEFINE_integer("eval_steps", 10, "Timed eval steps.")
FLAGS = flags.FLAGS


def _peak_memory() -> int | None:
    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def _timed(fn, n: int) -> float:
    t = time.perf_counter()
    out = None
    for _ in range(n):
        out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - t


def run_case(config, dtype: str, batch_size: int, num_steps: int, eval_steps: int) -> dict:
    config.model.dtype = dtype
    config.batch_size = config.eval_batch_size = batch_size
    mesh = steps.create_mesh()
    model = steps.create_model(config, mesh)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 100))
    state = steps.init_state(model, tx, config, mesh, 0)
    rng = np.random.default_rng(0)
    shape = steps.input_shape(config, batch_size)
    batch = steps.global_batch({
        "x": rng.normal(size=shape).astype(np.float32),
        "label": rng.integers(0, config.dataset.num_classes, size=batch_size).astype(np.int32)}, mesh)

    t = time.perf_counter()
    compiled = steps.make_train_step(model, tx, mesh).lower(state, batch).compile()
    compile_s = time.perf_counter() - t
    train_cost = costs.step_costs(compiled, jax.device_count(), batch_size)
    state, _ = compiled(state, batch)  # warm-up
    state, _ = compiled(state, batch)
    jax.block_until_ready(state)

    def one_step():
        nonlocal state
        state, metrics = compiled(state, batch)
        return metrics

    train_s = _timed(one_step, num_steps)

    eval_compiled = steps.make_eval_step(model, mesh).lower(state, batch["x"]).compile()
    eval_cost = costs.step_costs(eval_compiled, jax.device_count(), batch_size)
    jax.block_until_ready(eval_compiled(state, batch["x"]))
    eval_s = _timed(lambda: eval_compiled(state, batch["x"]), eval_steps)

    train_sps = num_steps * batch_size / train_s
    train_gflops = train_cost["gflops_per_sample"]
    return {
        "config": config.dataset.benchmark, "model": config.model.name, "dtype": dtype,
        "batch_size": batch_size, "window_frames": config.data.window_frames,
        "devices": jax.device_count(), "platform": jax.devices()[0].platform,
        "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
        "compile_s": round(compile_s, 2),
        "train_samples_per_s": round(train_sps, 2),
        "eval_samples_per_s": round(eval_steps * batch_size / eval_s, 2),
        "train_gflops_per_sample": train_gflops and round(train_gflops, 3),
        "eval_gflops_per_sample": eval_cost["gflops_per_sample"] and round(eval_cost["gflops_per_sample"], 3),
        "train_hbm_gb_per_sample": train_cost["hbm_gb_per_sample"] and round(train_cost["hbm_gb_per_sample"], 3),
        "train_gb_accessed_per_sample": (train_cost["accessed_gb_per_sample"]
                                         and round(train_cost["accessed_gb_per_sample"], 3)),
        "train_temp_bytes": train_cost["temp_bytes"],
        "train_achieved_tflops": train_gflops and round(train_gflops * train_sps / 1e3, 4),
        "peak_memory_bytes": _peak_memory(),
    }


def main(argv):
    del argv
    for dtype in FLAGS.dtypes.split(","):
        config = FLAGS.config.copy_and_resolve_references()
        print(json.dumps(run_case(config, dtype, FLAGS.batch_size, FLAGS.steps, FLAGS.eval_steps)), flush=True)


if __name__ == "__main__":
    jnp.zeros(())  # Initialise the backend before timing anything.
    app.run(main)

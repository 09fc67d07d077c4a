r"""Compile a config's train and eval steps for a TPU topology, from any machine, and cost them.

    pip install -e '.[tpu]'   # libtpu, the TPU compiler, for the pinned jax version
    python -m stgat_jax.compile --config=configs/ntu60_xsub.py --topology=v5e:4x4 --batch_size=256
    python -m stgat_jax.compile --config=configs/ntu60_xsub.py --topology=v5e:4x4 \
        --config.model.dtype=bfloat16 --max_batch
    python -m stgat_jax.compile --config=configs/default.py --topology=local

Compiles the trainer's own jitted steps (`steps.make_train_step`, `steps.make_eval_step`: the
program training runs) for the devices of `--topology`: any topology name libtpu takes
(``v4:2x2x2``, ``v5e:4x4``, ``v5p:2x2x2``, ``v6e:4x4``, ...; ``--num_slices`` for multi-slice), or
``local`` for this process's devices. No TPU is needed: the devices of a topology description
are enough to compile for them. Per step it prints parameters, GFLOPs and HBM traffic per sample
(and XLA's bytes accessed), per-chip memory (arguments, temp, peak) against the chip's HBM,
collectives by kind and a roofline estimate of the step time, samples/s per chip and MFU
(`stgat_jax.costs`, with the table of chip peaks). With ``--max_batch`` it searches the largest
global batch whose train step the compiler accepts (it answers RESOURCE_EXHAUSTED when the step
does not fit the chip's HBM).

Output: one JSON line per step (prefixed ``{"step": ...``) for scripts, then a table for people.
``--config.KEY=VALUE`` overrides any config field, as in ``main.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Callable

import jax
import ml_collections
from absl import app, flags
from ml_collections import config_flags

from stgat_jax import costs, steps

# libtpu's defaults for a machine that is not a TPU VM: no metadata server to ask, one worker, and
# other processes may hold libtpu too (each only compiles). Set before libtpu is first loaded.
_LIBTPU_ENV = {"TPU_SKIP_MDS_QUERY": "1", "TPU_WORKER_HOSTNAMES": "localhost",
               "ALLOW_MULTIPLE_LIBTPU_LOAD": "1"}

FLAGS = flags.FLAGS


def _define_flags():
    """The command line's flags; defined when run as a program, so that importing this module
    (tests, notebooks) leaves absl's global flags to the importer."""
    config_flags.DEFINE_config_file("config", None, "Config file, optionally with ':options'.", lock_config=True)
    flags.DEFINE_string("topology", "local", "A TPU topology name libtpu takes (v4:2x2x2, v5e:4x4, v5p:2x2x2, "
                        "v6e:4x4, ...) or 'local' for this process's devices.")
    flags.DEFINE_integer("num_slices", 1, "Slices of --topology (multi-slice data parallelism).")
    flags.DEFINE_integer("batch_size", 0, "Global batch of both steps; 0: config.batch_size.")
    flags.DEFINE_list("steps", ["train", "eval"], "Which steps to compile and cost.")
    flags.DEFINE_bool("max_batch", False, "Also search the largest global batch whose train step fits.")
    flags.DEFINE_integer("max_batch_limit", 1 << 16, "--max_batch: stop searching at this global batch.")
    flags.DEFINE_integer("max_batch_granularity", 0,
                         "--max_batch: resolution of the search; 0: the device count.")
    flags.mark_flag_as_required("config")


class OutOfMemory(Exception):
    """The compiler's RESOURCE_EXHAUSTED answer: the step does not fit the device memory."""


def topology_devices(topology: str, num_slices: int = 1) -> list[jax.Device]:
    """The devices to compile for: this process's (``'local'``) or those of a TPU topology."""
    if topology == "local":
        if num_slices != 1:
            raise ValueError(f"--num_slices={num_slices} needs a TPU --topology, not 'local'")
        return jax.devices()
    for key, value in _LIBTPU_ENV.items():
        os.environ.setdefault(key, value)
    from jax.experimental import topologies  # Loads libtpu: only when a topology is asked for.

    kwargs = {"num_slices": num_slices} if num_slices > 1 else {}
    try:
        return list(topologies.get_topology_desc(topology_name=topology, platform="tpu", **kwargs).devices)
    except Exception as e:  # libtpu reports bad names and a missing install as runtime errors
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"--topology={topology!r}: no TPU topology ({message}); names look like v5e:4x4, "
                         f"v4:2x2x2, v5p:2x2x2, v6e:4x4, and need libtpu (pip install -e '.[tpu]')") from e


def lower_steps(config: ml_collections.ConfigDict, devices: Sequence[jax.Device],
                batch_size: int) -> tuple[Any, Any, dict[str, Any]]:
    """The model for `devices`, the shapes of its train state, and the train and eval steps
    training builds, lowered for a global batch."""
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.batch_size = config.eval_batch_size = batch_size
    mesh = steps.create_mesh(devices)
    model = steps.create_model(config, mesh)
    # The schedule's steps per epoch is a constant of the LR; it does not change what a step costs.
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 1))
    state, batch = steps.abstract_state(model, tx, config, mesh), steps.abstract_batch(config, batch_size, mesh)
    return model, state, {"train": steps.make_train_step(model, tx, mesh).lower(state, batch),
                          "eval": steps.make_eval_step(model, mesh).lower(state, batch["x"])}


def _compile(lowered):
    try:
        return lowered.compile()
    except Exception as e:  # XlaRuntimeError; its type moved between jax versions
        if "RESOURCE_EXHAUSTED" in str(e):
            raise OutOfMemory(str(e).strip().splitlines()[0]) from e
        raise


def compile_and_cost(config: ml_collections.ConfigDict, devices: Sequence[jax.Device],
                     batch_size: int, step_names: Sequence[str] = ("train", "eval")) -> list[dict[str, Any]]:
    """One dict per step: what it costs on `devices` at `batch_size` (`costs.step_costs`), the
    roofline on their chip where the table has it, parameters and compile time."""
    model, state, lowered = lower_steps(config, devices, batch_size)
    params = sum(x.size for x in jax.tree.leaves(state.params))
    chip = costs.chip_of(devices[0])
    num = len(devices)
    rows = []
    for name in step_names:
        t = time.perf_counter()
        compiled = _compile(lowered[name])
        row = {"step": name, "config": config.dataset.benchmark, "model": config.model.name,
               "dtype": config.model.dtype, "conv_impl": getattr(model, "conv_impl", None),
               "devices": num, "device_kind": devices[0].device_kind, "platform": devices[0].platform,
               "global_batch": batch_size, "batch_per_device": batch_size // num, "params": int(params),
               "compile_s": round(time.perf_counter() - t, 1),
               **costs.step_costs(compiled, num, batch_size)}
        if chip is not None:
            row["roofline"] = costs.roofline(row, chip, config.model.dtype, batch_size // num)
        rows.append(row)
    return rows


def fits(config: ml_collections.ConfigDict, devices: Sequence[jax.Device], batch_size: int) -> bool:
    """Whether the compiler accepts the train step at `batch_size` (False on RESOURCE_EXHAUSTED)."""
    _, _, lowered = lower_steps(config, devices, batch_size)
    try:
        _compile(lowered["train"])
    except OutOfMemory:
        return False
    return True


def max_batch(fits_fn: Callable[[int], bool], start: int, limit: int, granularity: int,
              log=print) -> tuple[int | None, bool]:
    """The largest batch (a multiple of `granularity`) for which `fits_fn` holds, assuming it
    holds up to some bound: doubling from `start`, then bisecting. Also whether the search hit
    `limit` (then the bound is at least that)."""
    lo, hi = 0, None  # lo fits, hi does not
    limit = max(granularity, limit - limit % granularity)
    batch = min(max(granularity, start - start % granularity), limit)
    while hi is None:
        ok = fits_fn(batch)
        log(f"global batch {batch}: {'fits' if ok else 'out of memory'}")
        if not ok:
            hi = batch
        elif batch >= limit:
            return batch, True
        else:
            lo, batch = batch, min(2 * batch, limit)
    while hi - lo > granularity:
        mid = (lo + hi) // 2
        mid -= mid % granularity
        if mid <= lo:
            break
        ok = fits_fn(mid)
        log(f"global batch {mid}: {'fits' if ok else 'out of memory'}")
        lo, hi = (mid, hi) if ok else (lo, mid)
    return (lo or None), False


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`compile_and_cost` as a table with a title line."""
    r0 = rows[0]
    chip = r0.get("roofline")
    hbm = f" / {chip['hbm_gib']:.0f} GiB HBM ({chip['chip']})" if chip else ""
    lines = [f"{r0['config']} {r0['model']} ({r0['dtype']}, conv_impl={r0['conv_impl']}): "
             f"{r0['params']:,} parameters; {r0['devices']} x {r0['device_kind']}, global batch "
             f"{r0['global_batch']} ({r0['batch_per_device']} per device)"]
    head = (f"{'step':<6}{'compile s':>10}{'GFLOP/smp':>11}{'HBM GB/smp':>12}{'XLA GB/smp':>12}{'args GiB':>10}"
            f"{'temp GiB':>10}"
            f"{'peak GiB':>10}  {'collectives':<28}{'est. ms':>9}{'smp/s/chip':>12}{'MFU':>7}  bound")
    lines += [head, "-" * len(head)]
    for r in rows:
        coll = ", ".join(f"{n} {k}" for k, n in r["collectives"].items() if n) or "none"
        roof = r.get("roofline")
        est = (f"{roof['step_ms']:>9.2f}{roof['samples_per_s_per_chip']:>12.1f}{roof['mfu']:>7.1%}  "
               f"{roof['bound']} ({roof['intensity']:.0f} FLOP/B, ridge {roof['ridge']:.0f})") if roof else \
            f"{'-':>9}{'-':>12}{'-':>7}  (no chip peaks for {r['device_kind']})"
        gflops = "-" if r["gflops_per_sample"] is None else f"{r['gflops_per_sample']:.2f}"
        gbytes = "-" if r["hbm_gb_per_sample"] is None else f"{r['hbm_gb_per_sample']:.3f}"
        accessed = "-" if r["accessed_gb_per_sample"] is None else f"{r['accessed_gb_per_sample']:.3f}"
        lines.append(f"{r['step']:<6}{r['compile_s']:>10.1f}{gflops:>11}{gbytes:>12}{accessed:>12}"
                     f"{_gib(r['argument_bytes']):>10}"
                     f"{_gib(r['temp_bytes']):>10}{_gib(r['peak_bytes']):>10}  {coll:<28}{est}")
    if hbm:
        lines.append(f"memory per device{hbm}")
    lines.append("HBM GB/smp: what the scheduled program moves to and from HBM (costs.hbm_traffic); XLA GB/smp: "
                 "XLA's 'bytes accessed', which also counts on-chip copies")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.topology != "local":
        # The process only traces and compiles: its own backend stays the CPU, even on a TPU VM.
        jax.config.update("jax_platforms", "cpu")
    try:
        devices = topology_devices(FLAGS.topology, FLAGS.num_slices)
        config = FLAGS.config
        batch = FLAGS.batch_size or config.batch_size
        if batch < 1 or batch % len(devices):
            raise ValueError(f"--batch_size={batch} must be a positive multiple of the {len(devices)} devices "
                             f"of --topology={FLAGS.topology}")
        unknown = sorted(set(FLAGS.steps) - {"train", "eval"})
        if unknown or not FLAGS.steps:
            raise ValueError(f"--steps={','.join(FLAGS.steps)}: expected train and/or eval")
        rows = compile_and_cost(config, devices, batch, FLAGS.steps)
        for row in rows:
            print(json.dumps(row), flush=True)
        print(format_table(rows), flush=True)
        if FLAGS.max_batch:
            granularity = FLAGS.max_batch_granularity or len(devices)
            if granularity % len(devices):
                raise ValueError(f"--max_batch_granularity={granularity} must be a multiple of the "
                                 f"{len(devices)} devices")
            found, at_limit = max_batch(lambda b: fits(config, devices, b), batch, FLAGS.max_batch_limit,
                                        granularity, log=lambda m: print(m, file=sys.stderr, flush=True))
            print(json.dumps({"max_global_batch": found, "reached_limit": at_limit, "granularity": granularity,
                              "topology": FLAGS.topology, "devices": len(devices)}), flush=True)
            print(f"largest global batch whose train step fits: "
                  f"{'none' if found is None else found}{' (the search limit; may be more)' if at_limit else ''}"
                  f" (searched in steps of {granularity})", flush=True)
    except (ValueError, OutOfMemory) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    _define_flags()
    app.run(main)

r"""Inference speed on this machine: JAX (XLA, jitted eval), onnxruntime, and the official PyTorch model.

    python benchmarks/inference.py --config=configs/ntu60_xsub.py --official_repo=PATH/TO/STGAT

Prints one JSON line per (path, batch size): median and p90 latency of one call, samples/s. The
same model shape in every path (the config's, NTU60: T=128, M=2, V=25), random weights (speed does
not depend on them) and random inputs. The JAX and onnxruntime paths run the eval-mode model as
`stgat_jax.export` exports it; the official `DSTANet` (built as benchmarks/README.md describes,
`.cuda()` made a no-op on the CPU) runs in eval mode under `torch.inference_mode()`. torch is
imported only with `--official_repo`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from stgat_jax import export, models, steps

config_flags.DEFINE_config_file("config", "configs/ntu60_xsub.py", "Config file.", lock_config=True)
flags.DEFINE_list("batch_sizes", ["1", "16"], "Batch sizes.")
flags.DEFINE_list("paths", ["jax", "onnxruntime", "official"], "Paths to time (official needs --official_repo).")
flags.DEFINE_integer("calls", 10, "Timed calls per case at batch 1 (fewer at larger batches, at least 3).")
flags.DEFINE_string("official_repo", None, "Checkout of the official STGAT code (for the official path).")
FLAGS = flags.FLAGS


def _time(fn, x, calls: int) -> dict:
    fn(x)  # warm-up (compiles, allocates)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    times = np.asarray(times)
    return {"latency_median_s": float(np.median(times)), "latency_p90_s": float(np.percentile(times, 90)),
            "samples_per_s": float(len(x) * len(times) / times.sum()), "calls": len(times)}


def official_model(repo: str, config):
    """The official DSTANet of the NTU60 configuration, in eval mode, on the CPU."""
    import torch  # only for this path

    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the model calls .cuda() inside forward
    sys.path.insert(0, repo)  # the model imports the checkout's graph package
    spec = importlib.util.spec_from_file_location("st2ransformer_dsta",
                                                  os.path.join(repo, "model", "st2ransformer_dsta.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    m = config.model
    rows = [[64, 64, 16, 1], [64, 64, 16, 1], [64, 128, 32, 2], [128, 128, 32, 1],
            [128, 256, 64, 2], [256, 256, 64, 1], [256, 256, 64, 1], [256, 256, 64, 1]]
    if [tuple(r[:2]) + (r[3],) for r in rows] != [tuple(b) for b in models.build_model(config).blocks]:
        raise ValueError("the official path is built for the NTU60 block configuration only")
    net = module.DSTANet(num_class=config.dataset.num_classes, num_point=config.dataset.num_joints,
                         num_frame=config.data.window_frames, num_subset=m.get("num_heads", 8), dropout=0.0,
                         config=rows, num_person=config.dataset.num_persons, num_channel=config.data.channels,
                         glo_reg_s=True, att_s=True, glo_reg_t=False, att_t=False, use_temporal_att=False,
                         use_spatial_att=True, attentiondrop=0, dropout2d=0, use_pet=False, use_pes=False)
    net.eval()
    torch.set_num_threads(os.cpu_count())

    def run(x):  # x: (N, M, T, V, C) -> official (N, C, T, V, M)
        with torch.inference_mode():
            return net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 4, 2, 3, 1)))).numpy()

    return run, torch.__version__


def main(argv):
    del argv
    config = FLAGS.config
    model = models.build_model(config)
    shape = steps.input_shape(config, 1)
    variables = jax.jit(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape), train=False))()
    forward = export.forward_fn(model, variables["params"], variables.get("batch_stats", {}))
    dims = ["N"] + list(shape[1:])
    runners, versions = {}, {"jax": jax.__version__}
    if "jax" in FLAGS.paths:
        apply = jax.jit(lambda v, x: model.apply(v, x, train=False)[0])
        runners["jax"] = lambda x: apply(variables, x).block_until_ready()
    if "onnxruntime" in FLAGS.paths:
        import onnxruntime  # export-only dependency

        t0 = time.perf_counter()
        serialized = export.export_onnx(forward, dims)
        print(json.dumps({"onnx_export_s": round(time.perf_counter() - t0, 1)}), flush=True)
        session = onnxruntime.InferenceSession(serialized, providers=["CPUExecutionProvider"])
        runners["onnxruntime"] = lambda x: session.run(None, {export.INPUT_NAME: x})[0]
        versions["onnxruntime"] = onnxruntime.__version__
    if "official" in FLAGS.paths and FLAGS.official_repo:
        runners["official"], versions["torch"] = official_model(FLAGS.official_repo, config)
    rng = np.random.default_rng(0)
    for batch in (int(b) for b in FLAGS.batch_sizes):
        x = rng.standard_normal((batch,) + tuple(shape[1:])).astype(np.float32)
        calls = max(3, FLAGS.calls // batch)
        for name, fn in runners.items():
            result = _time(fn, x, calls)
            print(json.dumps({"path": name, "batch": batch, "input_shape": list(x.shape), **result,
                              "cpus": os.cpu_count(), "versions": versions}), flush=True)


if __name__ == "__main__":
    app.run(main)

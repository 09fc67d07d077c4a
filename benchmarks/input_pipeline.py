r"""Samples/s of the Grain training loader from real TFDS records, per worker count.

    python benchmarks/input_pipeline.py --config=configs/default.py --workers=0,1,2
    python benchmarks/input_pipeline.py --config=configs/ntu60_xsub.py --config.dataset.data_dir=data/tfds

Reads the configured benchmark's train split with the train transforms (stream transform, random
resample and crop, batching) exactly as training does, and prints one JSON line per worker count.
With the default config the synthetic records are prepared first if missing.
"""

from __future__ import annotations

import json
import time

from absl import app, flags
from ml_collections import config_flags

from stgat_jax import input_pipeline, run

config_flags.DEFINE_config_file("config", "configs/default.py", "Config file.", lock_config=False)
flags.DEFINE_string("workers", "0,1,2", "Comma-separated worker counts.")
flags.DEFINE_integer("batches", 40, "Timed batches (after 5 warm-up batches).")
FLAGS = flags.FLAGS


def measure(config, workers: int, batches: int) -> dict:
    config.data.num_workers = workers
    source = input_pipeline.data_source(config, "train")
    it = iter(input_pipeline.create_train_loader(source, config, seed=0))
    t = time.perf_counter()
    for _ in range(5):
        next(it)
    warmup_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
    elapsed = time.perf_counter() - t
    return {"benchmark": config.dataset.benchmark, "stream": config.data.stream, "workers": workers,
            "batch_size": config.batch_size, "window_frames": config.data.window_frames,
            "batch_shape": list(batch["x"].shape), "warmup_s": round(warmup_s, 2),
            "samples_per_s": round(batches * config.batch_size / elapsed, 1)}


def main(argv):
    del argv
    run.ensure_records(FLAGS.config)
    for w in FLAGS.workers.split(","):
        print(json.dumps(measure(FLAGS.config.copy_and_resolve_references(), int(w), FLAGS.batches)), flush=True)


if __name__ == "__main__":
    app.run(main)

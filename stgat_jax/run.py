"""What `main.py` runs: make sure the records exist, then train or evaluate, and summarise."""

from __future__ import annotations

import os

import jax
import ml_collections
from jax.experimental import multihost_utils

from data_prep import prepare
from stgat_jax import evaluate, input_pipeline, train


def ensure_records(config: ml_collections.ConfigDict) -> None:
    """Prepares the synthetic set on first use; for real datasets, fails with the command to run.

    On several processes, process 0 writes and the others wait for it.
    """
    if prepare.is_prepared(config.dataset.benchmark, config.dataset.data_dir):
        return
    if config.dataset.name != "synthetic":
        raise FileNotFoundError(input_pipeline.missing_data_message(config))
    if jax.process_index() == 0:
        prepare.prepare_synthetic(config.dataset.raw_dir, config.dataset.data_dir,
                                  config.dataset.benchmark, seed=config.dataset.synthetic_seed,
                                  performers=config.dataset.synthetic_performers)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("synthetic records prepared")


def run(config: ml_collections.ConfigDict, workdir: str, mode: str) -> dict:
    """Runs `mode` ('train' or 'eval') for `config` in `workdir` and prints a short summary."""
    ensure_records(config)
    if mode == "train":
        results = train.train_and_evaluate(config, workdir)
    elif mode == "eval":
        results = evaluate.evaluate(config, workdir)
    else:
        raise ValueError(f"unknown mode {mode!r}; expected 'train' or 'eval'")
    if jax.process_index() == 0 and "top1" in results:
        print(f"\n{config.dataset.benchmark} ({config.data.stream}) {results['split']} split, step "
              f"{results['step']}: top-1 {results['top1']:.4f}  top-5 {results['top5']:.4f}  "
              f"mean-class {results['mean_class_accuracy']:.4f}  ({results['num_examples']} samples)\n"
              f"results: {os.path.join(workdir, 'results.json')}")
    return results


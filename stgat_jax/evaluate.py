"""Evaluation: every test sample exactly once, metrics, per-sample scores and a confusion matrix.

Writes to the workdir (process 0 only):
- ``results.json``: top1, top5, mean_class_accuracy, num_examples, step, split, benchmark;
- ``scores_{split}.npz``: ``sample_names``, ``logits`` (N, classes), ``labels``, keyed for ensembles;
- ``confusion_{split}.npz`` and ``confusion_{split}.png``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from stgat_jax import input_pipeline, steps

log = logging.getLogger(__name__)


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(true class, predicted class) counts."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (labels, predictions), 1)
    return cm


def compute_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1, top-5 and mean-class accuracy (mean over classes present in `labels`)."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    num_classes = logits.shape[-1]
    pred = logits.argmax(-1)
    k = min(5, num_classes)
    topk = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    cm = confusion_matrix(pred, labels, num_classes)
    support = cm.sum(1)
    present = support > 0
    per_class = np.diag(cm)[present] / support[present]
    return {"top1": float(np.mean(pred == labels)),
            "top5": float(np.mean((topk == labels[:, None]).any(-1))),
            "mean_class_accuracy": float(per_class.mean()) if per_class.size else 0.0,
            "num_examples": int(len(labels)),
            "confusion": cm}


def predict_logits(eval_step: Callable, mesh: jax.sharding.Mesh, state, source,
                   config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every sample of `source`, in source order, on every process.

    `eval_step` (`steps.make_eval_step`) maps (state, global batch on `mesh`) to logits.
    """
    num = len(source)
    out_logits, out_labels = [], []
    total = input_pipeline.num_eval_batches(source, config)
    for i, batch in enumerate(input_pipeline.eval_batches(
            source, config, jax.process_index(), jax.process_count())):
        x = batch["x"]
        clips = x.shape[1] if x.ndim == 6 else 1  # multi-clip testing: (B, clips, M, T, V, C)
        g = steps.global_batch({"x": x.reshape((-1,) + x.shape[-4:]), "label": batch["label"],
                                "index": batch["index"]}, mesh)
        logits = eval_step(state, g["x"])
        if clips > 1:
            logits = logits.reshape(-1, clips, logits.shape[-1]).mean(axis=1)
        gathered = multihost_utils.process_allgather(
            {"logits": logits, "label": g["label"], "index": g["index"]}, tiled=True)
        keep = gathered["index"] < num
        if not np.array_equal(gathered["index"][keep], np.arange(i * config.eval_batch_size,
                                                                 i * config.eval_batch_size + keep.sum())):
            raise RuntimeError("evaluation batches arrived out of order across processes")
        out_logits.append(np.asarray(gathered["logits"])[keep])
        out_labels.append(np.asarray(gathered["label"])[keep])
        if (i + 1) % 50 == 0 or i + 1 == total:
            log.info("evaluated %d/%d batches", i + 1, total)
    logits, labels = np.concatenate(out_logits), np.concatenate(out_labels)
    if len(labels) != num:
        raise RuntimeError(f"evaluated {len(labels)} samples, expected {num}")
    return logits, labels


def test_metrics(eval_step: Callable, mesh: jax.sharding.Mesh, state, source,
                 config: ml_collections.ConfigDict) -> dict[str, float]:
    """Top-1, top-5, mean-class accuracy and mean loss on `source`, without writing files."""
    logits, labels = predict_logits(eval_step, mesh, state, source, config)
    metrics = compute_metrics(logits, labels)
    metrics.pop("confusion")
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    metrics["loss"] = float(-log_probs[np.arange(len(labels)), labels].mean())
    return metrics


def write_results(results: dict[str, Any], workdir: str) -> None:
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


def plot_confusion(cm: np.ndarray, names: list[str], path: str, title: str) -> None:
    import matplotlib  # Slow to import; only drawing needs it.

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = min(4 + 0.3 * n, 40)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    if n <= 60:
        ax.set_xticks(range(n), [s[:24] for s in names], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [s[:24] for s in names], fontsize=7)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_and_write(eval_step: Callable, mesh: jax.sharding.Mesh, state, source,
                       config: ml_collections.ConfigDict, workdir: str, split: str = "test") -> dict[str, Any]:
    """Evaluates `state` on `source` and writes results, scores and the confusion matrix."""
    logits, labels = predict_logits(eval_step, mesh, state, source, config)
    metrics = compute_metrics(logits, labels)
    cm = metrics.pop("confusion")
    results = {**metrics, "step": int(state.step), "split": split,
               "benchmark": config.dataset.benchmark, "stream": config.data.stream}
    if jax.process_index() == 0:
        names = input_pipeline.sample_names(source)
        classes = input_pipeline.class_names(config)
        np.savez(os.path.join(workdir, f"scores_{split}.npz"), sample_names=np.asarray(names),
                 logits=logits, labels=labels)
        np.savez(os.path.join(workdir, f"confusion_{split}.npz"), confusion=cm,
                 class_names=np.asarray(classes))
        plot_confusion(cm, classes, os.path.join(workdir, f"confusion_{split}.png"),
                       f"{config.dataset.benchmark} {split}: top-1 {metrics['top1']:.3f}")
    write_results(results, workdir)
    log.info("%s: top-1 %.4f, top-5 %.4f, mean-class %.4f on %d samples (step %d)", split,
             results["top1"], results["top5"], results["mean_class_accuracy"],
             results["num_examples"], results["step"])
    return results


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Restores a checkpoint from WORKDIR and evaluates it on the test split."""
    test_src = input_pipeline.data_source(config, config.dataset.test_split)
    mesh = steps.create_mesh()
    model, state, _ = steps.restore_for_inference(config, workdir, mesh)
    return evaluate_and_write(steps.make_eval_step(model, mesh), mesh, state, test_src, config, workdir,
                              split=config.dataset.test_split)

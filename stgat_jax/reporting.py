"""Watching a run: metrics as JSON lines and TensorBoard events, and curves drawn as PNG.

Only process 0 writes. TensorBoard event files are written with tensorboardX (no TensorFlow).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import jax
from absl import logging as absl_logging


class _QuietLibraries(logging.Filter):
    """Keeps INFO lines from Orbax and TFDS internals out of a command's log (warnings still show)."""

    NOISY = ("orbax", "tensorflow_datasets", "etils")

    def filter(self, record):
        return record.levelno >= logging.WARNING or not any(n in record.pathname for n in self.NOISY)


def quiet_library_logs() -> None:
    """Filters Orbax's and TFDS's INFO lines from absl's log handler (call inside an absl main)."""
    absl_logging.get_absl_handler().addFilter(_QuietLibraries())


class MetricsWriter:
    """Appends metric records to WORKDIR/metrics.jsonl and WORKDIR/tensorboard/ on process 0."""

    def __init__(self, workdir: str, tensorboard: bool = True):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.enabled = jax.process_index() == 0
        self._tb = None
        if self.enabled and tensorboard:
            from tensorboardX import SummaryWriter  # Only when TensorBoard files are asked for.

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        """`record` must hold 'step'; every other numeric entry becomes a scalar."""
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(workdir: str, path: str | None = None) -> str | None:
    """Draws loss, accuracy and LR against the step into WORKDIR/curves.png; returns the path."""
    records = read_metrics(workdir)
    if not records or jax.process_index() != 0:
        return None
    import matplotlib  # Slow to import; only drawing needs it.

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(key):
        pts = [(r["step"], r[key]) for r in records if key in r]
        return ([p[0] for p in pts], [p[1] for p in pts]) if pts else None

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if s := series("train_loss"):
        axes[0].plot(*s, label="train")
    if s := series("test_loss"):
        axes[0].plot(*s, "o-", label="test")
    axes[0].set_title("loss")
    axes[0].set_yscale("log")
    if s := series("train_accuracy"):
        axes[1].plot(*s, label="train (batch)")
    if s := series("test_top1"):
        axes[1].plot(*s, "o-", label="test top-1")
    axes[1].set_title("accuracy")
    axes[1].set_ylim(0, 1)
    if s := series("lr"):
        axes[2].plot(*s)
    axes[2].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes[:2]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    path = path or os.path.join(workdir, "curves.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

"""Training: one loop over the steps of `steps.py`.

The same program runs on one CPU, every GPU of a host, or every host of a pod: the global batch is
sharded over a ``('data',)`` mesh of all devices, params and optimizer state are replicated, and
BatchNorm statistics are computed over the global batch (XLA inserts the cross-device reductions).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from stgat_jax import checkpoints, evaluate, input_pipeline, reporting, steps, summary

log = logging.getLogger(__name__)


class _Preemption:
    """Turns SIGTERM into a flag the loop checks at step boundaries."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # Not the main thread: no handler, rely on the caller.
            self._previous = None
        return self

    def _handle(self, signum, frame):
        del signum, frame
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _is_time(done: int, every: int, last: int) -> bool:
    """Whether work due every `every` steps, and after the last one, is due after step `done`.

    Never when `every` is 0.
    """
    return every > 0 and (done % every == 0 or done == last)


def _format_seconds(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _check_finite(loss: float, done: int, manager, last_good_step: int | None, workdir: str) -> None:
    """Stops the run on a non-finite loss, naming the last checkpoint saved before it."""
    if not np.isfinite(loss):
        manager.wait_until_finished()
        where = (f"the last good checkpoint is at step {last_good_step} in {checkpoints.checkpoint_dir(workdir)}"
                 if last_good_step is not None else "no checkpoint was saved before it")
        raise FloatingPointError(f"non-finite loss {loss} at step {done}; stopping: {where}")


def _report_train(writer: reporting.MetricsWriter, metrics: dict[str, Any], lr: float, rate: float,
                  done: int, num_steps: int, steps_per_epoch: int, batch_size: int) -> None:
    """A log line with the rate and ETA, and a metrics record, of the train step `done`."""
    log.info("step %d/%d (epoch %.2f) loss %.4f acc %.3f lr %.4g | %.2f steps/s, %.1f samples/s, ETA %s",
             done, num_steps, done / steps_per_epoch, metrics["loss"], metrics["accuracy"], lr, rate,
             rate * batch_size, _format_seconds((num_steps - done) / max(rate, 1e-9)))
    writer.write({"step": done, "epoch": done / steps_per_epoch, "lr": lr, "steps_per_second": rate,
                  **{f"train_{k}": float(v) for k, v in metrics.items()}})


def _report_test(writer: reporting.MetricsWriter, test: dict[str, float], done: int, steps_per_epoch: int) -> None:
    log.info("step %d: test top-1 %.4f, top-5 %.4f, loss %.4f", done, test["top1"], test["top5"], test["loss"])
    writer.write({"step": done, "epoch": done / steps_per_epoch, **{f"test_{k}": v for k, v in test.items()}})


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains (resuming from WORKDIR if a checkpoint is there), then evaluates on the test split.

    Returns the test results, also written to WORKDIR/results.json.
    """
    os.makedirs(workdir, exist_ok=True)
    train_src = input_pipeline.data_source(config, "train")
    test_src = input_pipeline.data_source(config, config.dataset.test_split)
    steps_per_epoch = len(train_src) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the train split has {len(train_src)} samples, fewer than one batch "
                         f"(config.batch_size={config.batch_size})")
    num_steps = int(config.num_train_steps) if config.num_train_steps > 0 else int(
        math.ceil(config.num_epochs * steps_per_epoch))
    eval_every = int(round(config.eval_every_epochs * steps_per_epoch)) if config.eval_every_epochs > 0 else 0

    mesh = steps.create_mesh()
    model = steps.create_model(config, mesh)
    lr_fn = steps.create_learning_rate_fn(config.optim, steps_per_epoch)
    tx = steps.create_optimizer(config.optim, lr_fn)
    train_step = steps.make_train_step(model, tx, mesh)
    eval_step = steps.make_eval_step(model, mesh)
    if jax.process_index() == 0:
        log.info("model summary:\n%s", summary.format_summary(summary.summarize(config)))
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2) + "\n")
        log.info("%d train / %d test samples, %d steps per epoch, %d steps, %d device(s) x %d process(es)",
                 len(train_src), len(test_src), steps_per_epoch, num_steps, jax.device_count(),
                 jax.process_count())

    train_iter = iter(input_pipeline.create_train_loader(train_src, config, seed=config.seed))
    manager = checkpoints.create_manager(workdir, max_to_keep=config.checkpoint.keep,
                                         async_save=config.checkpoint.async_save)
    restored = checkpoints.restore(manager, steps.abstract_state(model, tx, config, mesh), train_iter)
    if restored is None:
        state, last_good_step = steps.init_state(model, tx, config, mesh, config.seed), None
        log.info("initialised a new model: %s parameters",
                 f"{sum(x.size for x in jax.tree.leaves(state.params)):,}")
    else:
        state, last_good_step = restored
        log.info("resumed from the checkpoint at step %d", last_good_step)
    # WORKDIR/best keeps the state of the best test top-1 of periodic evaluations (across resumes).
    best_manager = checkpoints.create_manager(workdir, name="best", max_to_keep=1, best_fn=lambda m: m["top1"],
                                              async_save=False) if eval_every else None
    writer = reporting.MetricsWriter(workdir, tensorboard=config.tensorboard)

    last_log = (int(state.step), time.time())
    with _Preemption() as preemption:
        for step in range(int(state.step), num_steps):
            state, metrics = train_step(state, steps.global_batch(next(train_iter), mesh))
            done, stop = step + 1, preemption.requested
            is_log = _is_time(done, config.log_every_steps, num_steps)
            is_save = _is_time(done, config.checkpoint.every_steps, num_steps) or stop
            is_eval = _is_time(done, eval_every, num_steps)
            if is_log or is_save or is_eval:
                metrics = jax.device_get(metrics)
                _check_finite(metrics["loss"], done, manager, last_good_step, workdir)
            if is_log:
                now = time.time()
                rate, last_log = (done - last_log[0]) / max(now - last_log[1], 1e-9), (done, now)
                _report_train(writer, metrics, float(lr_fn(step)), rate, done, num_steps, steps_per_epoch,
                              config.batch_size)
            if is_save:
                checkpoints.save(manager, done, state, train_iter, force=True)
                last_good_step = done
            if is_eval:
                test = evaluate.test_metrics(eval_step, mesh, state, test_src, config)
                _report_test(writer, test, done, steps_per_epoch)
                checkpoints.save(best_manager, done, state, metrics={"top1": test["top1"]}, force=True)
            if stop:
                manager.wait_until_finished()
                log.warning("SIGTERM received: saved a checkpoint at step %d and stopped", done)
                writer.close()
                return {"preempted": True, "step": done}

    manager.wait_until_finished()
    results = evaluate.evaluate_and_write(eval_step, mesh, state, test_src, config, workdir,
                                          split=config.dataset.test_split)
    if best_manager is not None:
        best = best_manager.best_step()
        if best is not None:
            results.update(best_step=best, best_top1=best_manager.metrics(best)["top1"])
            evaluate.write_results(results, workdir)
        best_manager.close()
    writer.close()
    reporting.plot_curves(workdir)
    manager.close()
    return results

"""Training: small pure functions and one loop.

The same program runs on one CPU, every GPU of a host, or every host of a pod: the global batch is
sharded over a ``('data',)`` mesh of all devices, params and optimizer state are replicated, and
BatchNorm statistics are computed over the global batch (XLA inserts the cross-device reductions).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from stgat_jax import checkpoints, evaluate, host, input_pipeline, models, reporting

log = logging.getLogger(__name__)


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array


# --- Optimisation ------------------------------------------------------------------------------

def create_learning_rate_fn(optim: ml_collections.ConfigDict, steps_per_epoch: int) -> Callable:
    """The official per-epoch LR: linear warm-up over `warmup_epochs`, then x`gamma` at each milestone.

    The LR of epoch e (0-based) is lr*(e+1)/warmup for e < warmup, else lr*gamma^(#milestones <= e),
    constant within an epoch, as the official GradualWarmupScheduler + MultiStepLR set it.
    """
    base, warmup = float(optim.lr), int(optim.warmup_epochs)
    milestones = jnp.asarray(sorted(optim.milestones) or [10**9], jnp.int32)

    def schedule(step):
        epoch = jnp.asarray(step, jnp.int32) // steps_per_epoch
        decayed = base * float(optim.gamma) ** jnp.sum(epoch >= milestones)
        warm = base * (epoch + 1) / max(warmup, 1)
        return jnp.where(epoch < warmup, warm, decayed).astype(jnp.float32)

    return schedule


def create_optimizer(optim: ml_collections.ConfigDict, lr_fn: Callable) -> optax.GradientTransformation:
    """SGD (Nesterov) or Adam with coupled L2 weight decay on every parameter (as torch does)."""
    if optim.name == "sgd":
        base = optax.sgd(lr_fn, momentum=float(optim.momentum) or None, nesterov=bool(optim.nesterov))
    elif optim.name == "adam":
        base = optax.adam(lr_fn)
    else:
        raise ValueError(f"config.optim.name={optim.name!r}; expected 'sgd' or 'adam'")
    return optax.chain(optax.add_decayed_weights(float(optim.weight_decay)), base)


# --- State and steps ---------------------------------------------------------------------------

def input_shape(config: ml_collections.ConfigDict, batch: int) -> tuple[int, ...]:
    d = config.dataset
    return (batch, d.num_persons, config.data.window_frames, d.num_joints, config.data.channels)


def create_train_state(model, tx, rng: jax.Array, shape: tuple[int, ...]) -> TrainState:
    init_rng, state_rng = jax.random.split(rng)
    variables = model.init({"params": init_rng, "dropout": init_rng}, jnp.zeros(shape, jnp.float32), train=False)
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params),
                      rng=state_rng)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()


def train_step(state: TrainState, batch: dict[str, jax.Array], *, model, tx) -> tuple[TrainState, dict]:
    """One SGD step on a global batch; the step is folded into the dropout RNG."""
    rng = jax.random.fold_in(state.rng, state.step)

    def loss_fn(params):
        (logits, _), new_vars = model.apply(
            {"params": params, "batch_stats": state.batch_stats}, batch["x"], train=True,
            mutable=["batch_stats"], rngs={"dropout": rng})
        return cross_entropy(logits, batch["label"]), (logits, new_vars)

    (loss, (logits, new_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"loss": loss,
               "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
               "grad_norm": optax.global_norm(grads),
               "param_norm": optax.global_norm(params)}
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              batch_stats=new_vars.get("batch_stats", state.batch_stats))
    return new_state, metrics


class Trainer:
    """Builds the model, optimizer, shardings and jitted steps for a config."""

    def __init__(self, config: ml_collections.ConfigDict, steps_per_epoch: int):
        self.config = config
        if jax.default_backend() == "cpu":
            host.keep_freed_memory()  # XLA's CPU buffers: no fresh pages every step
        self.mesh = jax.make_mesh((jax.device_count(),), ("data",),
                                  axis_types=(jax.sharding.AxisType.Auto,))
        self.replicated = NamedSharding(self.mesh, P())
        self.data_sharding = NamedSharding(self.mesh, P("data"))
        for name in ("batch_size", "eval_batch_size"):
            if config[name] % jax.device_count():
                raise ValueError(f"config.{name}={config[name]} must be divisible by the device count "
                                 f"{jax.device_count()} (global batch, split over all devices)")
        self.model = models.build_model(config)
        self.steps_per_epoch = steps_per_epoch
        self.lr_fn = create_learning_rate_fn(config.optim, steps_per_epoch)
        self.tx = create_optimizer(config.optim, self.lr_fn)
        self.train_step = jax.jit(
            lambda s, b: train_step(s, b, model=self.model, tx=self.tx),
            in_shardings=(self.replicated, self.data_sharding),
            out_shardings=(self.replicated, self.replicated), donate_argnums=0)
        self.eval_step = jax.jit(
            lambda s, x: self.model.apply({"params": s.params, "batch_stats": s.batch_stats}, x,
                                          train=False)[0].astype(jnp.float32),
            in_shardings=(self.replicated, self.data_sharding), out_shardings=self.data_sharding)

    def init_state(self, seed: int) -> TrainState:
        shape = input_shape(self.config, 1)
        init = jax.jit(lambda r: create_train_state(self.model, self.tx, r, shape),
                       out_shardings=self.replicated)
        return init(jax.random.PRNGKey(seed))

    def abstract_state(self) -> TrainState:
        shape = input_shape(self.config, 1)
        abstract = jax.eval_shape(lambda r: create_train_state(self.model, self.tx, r, shape),
                                  jax.random.PRNGKey(0))
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated),
                            abstract)

    def global_batch(self, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """Assembles per-process batches into global arrays sharded over the mesh."""
        return {k: jax.make_array_from_process_local_data(self.data_sharding, np.asarray(v))
                for k, v in local.items()}


def restore_for_inference(config: ml_collections.ConfigDict, workdir: str) -> tuple[Trainer, TrainState, int]:
    """(trainer, state, step) from WORKDIR's checkpoint: config.eval.checkpoint_step, or the latest."""
    trainer = Trainer(config, steps_per_epoch=1)
    manager = checkpoints.create_manager(workdir, read_only=True)
    step = config.eval.checkpoint_step if config.eval.checkpoint_step >= 0 else None
    restored = checkpoints.restore(manager, trainer.abstract_state(), step=step)
    manager.close()
    if restored is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoints.checkpoint_dir(workdir)}; train first "
                                f"(python main.py --config=... --workdir={workdir}) or convert official "
                                f"weights (python -m stgat_jax.convert)")
    state, step = restored
    log.info("restored the checkpoint at step %d from %s", step, workdir)
    return trainer, state, step


# --- The loop ----------------------------------------------------------------------------------

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


def _format_seconds(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


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
    trainer = Trainer(config, steps_per_epoch)
    if jax.process_index() == 0:
        from stgat_jax import summary

        log.info("model summary:\n%s", summary.format_summary(summary.summarize(config)))
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2) + "\n")
        log.info("%d train / %d test samples, %d steps per epoch, %d steps, %d device(s) x %d process(es)",
                 len(train_src), len(test_src), steps_per_epoch, num_steps, jax.device_count(),
                 jax.process_count())

    train_iter = iter(input_pipeline.create_train_loader(train_src, config, seed=config.seed))
    manager = checkpoints.create_manager(workdir, max_to_keep=config.checkpoint.keep,
                                         async_save=config.checkpoint.async_save)
    restored = checkpoints.restore(manager, trainer.abstract_state(), train_iter)
    if restored is None:
        state = trainer.init_state(config.seed)
        log.info("initialised a new model: %s parameters",
                 f"{sum(x.size for x in jax.tree.leaves(state.params)):,}")
    else:
        state, step = restored
        log.info("resumed from the checkpoint at step %d", step)

    writer = reporting.MetricsWriter(workdir, tensorboard=config.tensorboard)
    best_manager = None
    eval_every = int(round(config.eval_every_epochs * steps_per_epoch)) if config.eval_every_epochs > 0 else 0
    if eval_every:
        best_manager = checkpoints.create_manager(workdir, name="best", max_to_keep=1,
                                                  best_fn=lambda m: m["top1"], async_save=False)
    start_step = int(state.step)
    last_good_step = None if restored is None else start_step
    t0, last_log_step = time.time(), start_step
    with _Preemption() as preemption:
        for step in range(start_step, num_steps):
            batch = trainer.global_batch(next(train_iter))
            state, metrics = trainer.train_step(state, batch)
            done = step + 1
            is_log = done % config.log_every_steps == 0 or done == num_steps
            is_save = done % config.checkpoint.every_steps == 0 or done == num_steps
            is_eval = bool(eval_every) and (done % eval_every == 0 or done == num_steps)
            if is_log or is_save or is_eval or preemption.requested:
                metrics = jax.device_get(metrics)
                if not np.isfinite(metrics["loss"]):
                    manager.wait_until_finished()
                    where = (f"the last good checkpoint is at step {last_good_step} in "
                             f"{checkpoints.checkpoint_dir(workdir)}" if last_good_step is not None
                             else "no checkpoint was saved before it")
                    raise FloatingPointError(f"non-finite loss {metrics['loss']} at step {done}; stopping: {where}")
            if is_log:
                now = time.time()
                rate = (done - last_log_step) / max(now - t0, 1e-9)
                t0, last_log_step = now, done
                lr = float(trainer.lr_fn(step))
                log.info("step %d/%d (epoch %.2f) loss %.4f acc %.3f lr %.4g | %.2f steps/s, %.1f samples/s, "
                         "ETA %s", done, num_steps, done / steps_per_epoch, metrics["loss"],
                         metrics["accuracy"], lr, rate, rate * config.batch_size,
                         _format_seconds((num_steps - done) / max(rate, 1e-9)))
                writer.write({"step": done, "epoch": done / steps_per_epoch, "lr": lr,
                              "steps_per_second": rate,
                              **{f"train_{k}": float(v) for k, v in metrics.items()}})
            if is_save or preemption.requested:
                checkpoints.save(manager, done, state, train_iter, force=True)
                last_good_step = done
            if is_eval:
                test = evaluate.test_metrics(trainer, state, test_src, config)
                log.info("step %d: test top-1 %.4f, top-5 %.4f, loss %.4f", done, test["top1"], test["top5"],
                         test["loss"])
                writer.write({"step": done, "epoch": done / steps_per_epoch,
                              **{f"test_{k}": v for k, v in test.items()}})
                checkpoints.save(best_manager, done, state, metrics={"top1": test["top1"]}, force=True)
            if preemption.requested:
                manager.wait_until_finished()
                log.warning("SIGTERM received: saved a checkpoint at step %d and stopped", done)
                writer.close()
                return {"preempted": True, "step": done}
    manager.wait_until_finished()
    results = evaluate.evaluate_and_write(trainer, state, test_src, config, workdir,
                                          split=config.dataset.test_split)
    if best_manager is not None and best_manager.best_step() is not None:
        best = best_manager.best_step()
        top1 = [r["test_top1"] for r in reporting.read_metrics(workdir) if r.get("step") == best and "test_top1" in r]
        results.update(best_step=best, best_top1=top1[-1] if top1 else None)
        evaluate.write_results(results, workdir)
        best_manager.close()
    writer.close()
    reporting.plot_curves(workdir)
    manager.close()
    return results

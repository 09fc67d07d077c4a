"""The pieces every program that runs the model builds on: state, shapes, mesh, jitted steps.

Training (`train.py`), evaluation and prediction, the benchmarks and ahead-of-time compilation
(`compile.py`) all build their steps here, so they run one program. The global batch is sharded
over a ``('data',)`` mesh of the given devices (default: all of them), params and optimizer state
are replicated, and BatchNorm statistics are computed over the global batch (XLA inserts the
cross-device reductions). The devices may be those of a TPU topology this process does not have
(`jax.experimental.topologies`): the steps then lower and compile for it without running.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from stgat_jax import checkpoints, host, models

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


def eval_step(state: TrainState, x: jax.Array, *, model) -> jax.Array:
    """Float32 logits of a batch with the running BatchNorm statistics."""
    return model.apply({"params": state.params, "batch_stats": state.batch_stats}, x,
                       train=False)[0].astype(jnp.float32)


class Trainer:
    """The model, optimizer, mesh, shardings and jitted steps of a config on a list of devices.

    `devices` (default: all devices of this process's backend) may belong to another platform than
    the process's own, e.g. the devices of a TPU topology description: the steps then lower and
    compile for those devices (ahead of time) and the model picks its layers for their platform.
    """

    def __init__(self, config: ml_collections.ConfigDict, steps_per_epoch: int,
                 devices: Sequence[jax.Device] | None = None):
        self.config = config
        self.devices = list(jax.devices() if devices is None else devices)
        self.platform = self.devices[0].platform
        if self.platform == "cpu":
            host.keep_freed_memory()  # XLA's CPU buffers: no fresh pages every step
        self.mesh = jax.make_mesh((len(self.devices),), ("data",), devices=self.devices,
                                  axis_types=(jax.sharding.AxisType.Auto,))
        self.replicated = NamedSharding(self.mesh, P())
        self.data_sharding = NamedSharding(self.mesh, P("data"))
        for name in ("batch_size", "eval_batch_size"):
            if config[name] % len(self.devices):
                raise ValueError(f"config.{name}={config[name]} must be divisible by the device count "
                                 f"{len(self.devices)} (global batch, split over all devices)")
        self.model = models.build_model(config, platform=self.platform)
        self.steps_per_epoch = steps_per_epoch
        self.lr_fn = create_learning_rate_fn(config.optim, steps_per_epoch)
        self.tx = create_optimizer(config.optim, self.lr_fn)
        self.train_step = jax.jit(
            lambda s, b: train_step(s, b, model=self.model, tx=self.tx),
            in_shardings=(self.replicated, self.data_sharding),
            out_shardings=(self.replicated, self.replicated), donate_argnums=0)
        self.eval_step = jax.jit(
            lambda s, x: eval_step(s, x, model=self.model),
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

    def abstract_batch(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes, dtypes and shardings of a global train batch of `batch_size` samples."""
        return {"x": jax.ShapeDtypeStruct(input_shape(self.config, batch_size), jnp.float32,
                                          sharding=self.data_sharding),
                "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32, sharding=self.data_sharding)}

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

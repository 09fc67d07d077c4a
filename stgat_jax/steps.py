"""The pieces every program that runs the model builds on: state, shapes, mesh, jitted steps.

Training (`train.py`), evaluation and prediction, the benchmarks and ahead-of-time compilation
(`compile.py`) all build their steps with these functions, so they run one program. The global
batch is sharded over a ``('data',)`` mesh of the given devices (default: all of them), params and
optimizer state are replicated, and BatchNorm statistics are computed over the global batch (XLA
inserts the cross-device reductions). The devices may be those of a TPU topology this process does
not have (`jax.experimental.topologies`): the steps then lower and compile for it without running.

Training needs the optimizer (`create_optimizer`, whose schedule needs the steps per epoch);
inference does not: `restore_for_inference` reads only the step, params and BatchNorm statistics
(`EvalState`) of any checkpoint, whatever optimizer state it also holds.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from stgat_jax import checkpoints, host, models

log = logging.getLogger(__name__)


@flax.struct.dataclass
class TrainState:
    """What a checkpoint holds of a run: step, params, BatchNorm statistics, optimizer state, RNG."""
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array


@flax.struct.dataclass
class EvalState:
    """The part of a TrainState that evaluation and prediction use."""
    step: jax.Array
    params: Any
    batch_stats: Any


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


# --- Mesh, shardings and model -----------------------------------------------------------------

def create_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A ``('data',)`` mesh over `devices` (default: every device of every process).

    The devices may belong to another platform than the process's own, e.g. those of a TPU
    topology description: steps built on the mesh then lower and compile for them (ahead of time).
    """
    devices = list(jax.devices() if devices is None else devices)
    if devices[0].platform == "cpu":
        host.keep_freed_memory()  # XLA's CPU buffers: no fresh pages every step
    return jax.make_mesh((len(devices),), ("data",), devices=devices,
                         axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Params, optimizer state and metrics: a full copy on every device."""
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches: split along their first axis over the devices."""
    return NamedSharding(mesh, P("data"))


def create_model(config: ml_collections.ConfigDict, mesh: Mesh) -> nn.Module:
    """The config's model, its layers picked for the platform of the mesh's devices.

    Raises:
      ValueError: a global batch size of the config does not split over the mesh's devices.
    """
    for name in ("batch_size", "eval_batch_size"):
        if config[name] % mesh.size:
            raise ValueError(f"config.{name}={config[name]} must be divisible by the device count "
                             f"{mesh.size} (global batch, split over all devices)")
    return models.build_model(config, platform=mesh.devices.flat[0].platform)


# --- State and steps (pure functions) ----------------------------------------------------------

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


def eval_step(state: TrainState | EvalState, x: jax.Array, *, model) -> jax.Array:
    """Float32 logits of a batch with the running BatchNorm statistics."""
    return model.apply({"params": state.params, "batch_stats": state.batch_stats}, x,
                       train=False)[0].astype(jnp.float32)


# --- On a mesh: states, batches, jitted steps, restoring ---------------------------------------

def _placed(tree: Any, mesh: Mesh) -> Any:
    """Shape/dtype structs of `tree`, replicated over the mesh: targets for restoring and compiling."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated(mesh)), tree)


def init_state(model, tx, config: ml_collections.ConfigDict, mesh: Mesh, seed: int) -> TrainState:
    """A new TrainState from `seed`, replicated over the mesh."""
    init = jax.jit(functools.partial(create_train_state, model, tx, shape=input_shape(config, 1)),
                   out_shardings=replicated(mesh))
    return init(jax.random.PRNGKey(seed))


def abstract_state(model, tx, config: ml_collections.ConfigDict, mesh: Mesh) -> TrainState:
    """Shapes, dtypes and shardings of `init_state`'s result, nothing allocated."""
    shapes = jax.eval_shape(functools.partial(create_train_state, model, tx, shape=input_shape(config, 1)),
                            jax.random.PRNGKey(0))
    return _placed(shapes, mesh)


def abstract_eval_state(model, config: ml_collections.ConfigDict, mesh: Mesh) -> EvalState:
    """Shapes, dtypes and shardings of the EvalState of `model`: no optimizer needed."""
    x = jnp.zeros(input_shape(config, 1), jnp.float32)
    variables = jax.eval_shape(lambda r: model.init({"params": r, "dropout": r}, x, train=False),
                               jax.random.PRNGKey(0))
    return _placed(EvalState(step=jax.ShapeDtypeStruct((), jnp.int32), params=variables["params"],
                             batch_stats=variables.get("batch_stats", {})), mesh)


def abstract_batch(config: ml_collections.ConfigDict, batch_size: int, mesh: Mesh) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes, dtypes and shardings of a global train batch of `batch_size` samples."""
    return {"x": jax.ShapeDtypeStruct(input_shape(config, batch_size), jnp.float32, sharding=batch_sharding(mesh)),
            "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32, sharding=batch_sharding(mesh))}


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assembles per-process batches into global arrays split over the mesh."""
    return {k: jax.make_array_from_process_local_data(batch_sharding(mesh), np.asarray(v))
            for k, v in local.items()}


def make_train_step(model, tx, mesh: Mesh) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """`train_step` jitted over the mesh: (state, global batch) -> (state, metrics); donates the state."""
    return jax.jit(functools.partial(train_step, model=model, tx=tx),
                   in_shardings=(replicated(mesh), batch_sharding(mesh)),
                   out_shardings=(replicated(mesh), replicated(mesh)), donate_argnums=0)


def make_eval_step(model, mesh: Mesh) -> Callable[[TrainState | EvalState, jax.Array], jax.Array]:
    """`eval_step` jitted over the mesh: (state, global x) -> logits, split like the batch."""
    return jax.jit(functools.partial(eval_step, model=model),
                   in_shardings=(replicated(mesh), batch_sharding(mesh)), out_shardings=batch_sharding(mesh))


def restore_for_inference(config: ml_collections.ConfigDict, workdir: str,
                          mesh: Mesh | None = None) -> tuple[nn.Module, EvalState, int]:
    """(model, state, step) from WORKDIR's checkpoint: config.eval.checkpoint_step, or the latest.

    Only the step, params and BatchNorm statistics are read, on `mesh` (default: all devices).
    """
    mesh = create_mesh() if mesh is None else mesh
    model = create_model(config, mesh)
    manager = checkpoints.create_manager(workdir, read_only=True)
    step = config.eval.checkpoint_step if config.eval.checkpoint_step >= 0 else None
    restored = checkpoints.restore(manager, abstract_eval_state(model, config, mesh), step=step, partial=True)
    manager.close()
    if restored is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoints.checkpoint_dir(workdir)}; train first "
                                f"(python main.py --config=... --workdir={workdir}) or convert official "
                                f"weights (python -m stgat_jax.convert)")
    state, step = restored
    log.info("restored the checkpoint at step %d from %s", step, workdir)
    return model, state, step


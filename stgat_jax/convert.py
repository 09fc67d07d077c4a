r"""Official STGAT weights to an Orbax checkpoint of this library.

    python -m stgat_jax.convert --official=FILE --config=configs/ntu60_xsub.py --workdir=DIR
    python main.py --config=configs/ntu60_xsub.py --workdir=DIR --mode=eval

FILE is a state dict of the official PyTorch ``DSTANet`` (``model/st2ransformer_dsta.py``):

* a file written by ``torch.save`` (``.pt``, ``.pth``, the official ``.state``): the state dict
  itself, or a dict holding it under ``'model'`` (what the official training script saves) or
  ``'state_dict'``. Reading it needs PyTorch, imported only for this format.
* an ``.npz`` whose keys are the state-dict names (no PyTorch needed), e.g. written with
  ``np.savez(path, **{k: v.cpu().numpy() for k, v in model.state_dict().items()})``.

Keys may carry the ``module.`` prefix of ``nn.DataParallel``. The configuration must describe the
network the weights come from (classes, input channels, graph, blocks, heads); every tensor is
checked against it, and all unknown, missing and mis-shaped tensors are reported in one error.
The checkpoint holds a :class:`stgat_jax.steps.TrainState` at step 0 with the converted parameters
and BatchNorm running statistics and a fresh optimizer state, written where ``--mode=eval``
restores it.

How tensors are converted (:mod:`stgat_jax.official_names` maps the names): a 1x1 ``Conv2d``
weight ``(O, I, 1, 1)`` becomes a Dense kernel ``w[:, :, 0, 0].T``; a ``(kt, kv)`` conv weight
``(O, I, kt, kv)`` becomes ``w.transpose(2, 3, 1, 0)``; the ``Linear`` weight is transposed;
biases, BatchNorm ``weight``/``bias``/``running_mean``/``running_var`` and ``attention0s`` are
copied. PyTorch's running variance is the unbiased one; it is copied as is, so evaluation
normalises exactly as the official model does. Buffers with no counterpart are accepted and
dropped: ``num_batches_tracked``, the zero attention buffers ``atts``/``attt`` and the positional
tables ``pes.pe``/``pet.pe`` (recomputed here when used).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from stgat_jax import checkpoints, errors, graphs, official_names, steps
from stgat_jax.models import stgat
from stgat_jax.models.stgat import STGAT
from stgat_jax.steps import TrainState

DATA_PARALLEL_PREFIX = 'module.'
# Keys under which torch.save'd dicts hold the state dict.
STATE_DICT_CONTAINER_KEYS = ('model', 'state_dict')


def _official_shape(flax_shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    """The shape an official tensor must have to become a flax leaf of `flax_shape`."""
    if kind == 'dense':  # (I, O) <- (O, I, 1, 1)
        return (flax_shape[1], flax_shape[0], 1, 1)
    if kind == 'conv':  # (kt, kv, I, O) <- (O, I, kt, kv)
        return (flax_shape[3], flax_shape[2], flax_shape[0], flax_shape[1])
    if kind == 'linear':  # (I, O) <- (O, I)
        return (flax_shape[1], flax_shape[0])
    if kind == 'copy':
        return tuple(flax_shape)
    raise ValueError(f'unknown conversion kind {kind!r}')


def _to_flax(value: np.ndarray, kind: str) -> np.ndarray:
    """Converts one official tensor (already shape-checked) to the flax layout, as float32."""
    value = np.asarray(value, dtype=np.float32)
    if kind == 'dense':
        value = value[:, :, 0, 0].T
    elif kind == 'conv':
        value = value.transpose(2, 3, 1, 0)
    elif kind == 'linear':
        value = value.T
    return np.ascontiguousarray(value)


def strip_data_parallel_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Removes the ``module.`` prefix ``nn.DataParallel`` puts on every key.

    Raises:
      ValueError: naming the keys that exist both with and without the prefix.
    """
    out: dict[str, Any] = {}
    clashes = []
    for key, value in state_dict.items():
        name = key[len(DATA_PARALLEL_PREFIX):] if key.startswith(DATA_PARALLEL_PREFIX) else key
        if name in out:
            clashes.append(name)
        out[name] = value
    if clashes:
        raise ValueError(f'state dict keys occur both with and without the {DATA_PARALLEL_PREFIX!r} '
                         f'prefix: {sorted(clashes)}')
    return out


def ignored_buffer_names(model: STGAT) -> set[str]:
    """Official buffers of `model`'s configuration that have no flax counterpart.

    These are accepted when present and dropped: ``num_batches_tracked`` of every BatchNorm, and
    per block ``atts`` and ``pes.pe`` (spatial attention) or ``attt`` and ``pet.pe`` (temporal).
    """
    names = set()
    for key in official_names.official_param_names(model):
        if key.endswith('.running_mean'):
            names.add(key[:-len('running_mean')] + 'num_batches_tracked')
    for i in range(len(model.blocks)):
        if model.use_spatial_att:
            names.update({f'graph_layers.{i}.atts', f'graph_layers.{i}.pes.pe'})
        if model.use_temporal_att:
            names.update({f'graph_layers.{i}.attt', f'graph_layers.{i}.pet.pe'})
    return names


def _abstract_variables(model: STGAT) -> dict[str, Any]:
    """Shapes of `model`'s variables, without computing anything."""

    shape = (1, 1, model.num_frames, graphs.NUM_NODES[model.graph], model.in_channels)
    return jax.eval_shape(
        lambda key: model.init({'params': key, 'dropout': key}, jnp.zeros(shape, jnp.float32),
                               train=False),
        jax.random.PRNGKey(0),
    )


def _describe(model: STGAT) -> str:
    """The fields of `model` that fix the official tensor shapes, for error messages."""
    return (f'STGAT(num_classes={model.num_classes}, in_channels={model.in_channels}, '
            f'graph={model.graph!r}, blocks={tuple(tuple(b) for b in model.blocks)}, '
            f'num_heads={model.num_heads})')


def load_official_state_dict(state_dict: Mapping[str, np.ndarray],
                             model: STGAT) -> tuple[dict[str, Any], dict[str, Any]]:
    """Converts an official STGAT (``DSTANet``) state dict into flax variables for `model`.

    Args:
      state_dict: official key -> array (numpy, or anything ``np.asarray`` accepts); keys may
        carry the ``module.`` prefix.
      model: the :class:`stgat_jax.models.stgat.STGAT` the weights are for.

    Returns:
      ``(params, batch_stats)``: nested dicts of float32 numpy arrays, the ``'params'`` and
      ``'batch_stats'`` collections of `model`.

    Raises:
      TypeError: `model` is not an STGAT.
      ValueError: one error listing every unknown key, every missing key and every tensor whose
        shape is not the one `model` needs (with both shapes).
    """
    if not isinstance(model, stgat.STGAT):
        raise TypeError(f'official weights exist only for STGAT models, got {type(model).__name__}')
    if tuple(getattr(model, 'csta_blocks', ())):
        raise ValueError(f'the official model has no coupled attention: csta_blocks must be empty, '
                         f'got {tuple(model.csta_blocks)}')
    state_dict = strip_data_parallel_prefix(state_dict)
    names = official_names.official_param_names(model)
    ignored = ignored_buffer_names(model)
    abstract = _abstract_variables(model)

    def leaf_shape(path: tuple[str, ...]) -> tuple[int, ...]:
        node = abstract
        for part in path:
            node = node[part]
        return tuple(node.shape)

    unknown = sorted(k for k in state_dict if k not in names and k not in ignored)
    missing = sorted(k for k in names if k not in state_dict)
    wrong = []
    variables: dict[str, Any] = {'params': {}, 'batch_stats': {}}
    for key, (path, kind) in names.items():
        if key not in state_dict:
            continue
        value = state_dict[key]
        got = tuple(np.shape(value))
        expected = _official_shape(leaf_shape(path), kind)
        if got != expected:
            wrong.append(f'{key}: got {got}, expected {expected}')
            continue
        node = variables
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _to_flax(value, kind)

    if unknown or missing or wrong:
        lines = [f'the official state dict does not match {_describe(model)}:']
        if unknown:
            lines.append(f'  unknown keys ({len(unknown)}): {", ".join(unknown)}')
        if missing:
            lines.append(f'  missing keys ({len(missing)}): {", ".join(missing)}')
        if wrong:
            lines.append(f'  wrong shapes ({len(wrong)}): {"; ".join(wrong)}')
        raise ValueError('\n'.join(lines))

    for collection in ('params', 'batch_stats'):
        want = jax.tree_util.tree_structure(abstract.get(collection, {}))
        have = jax.tree_util.tree_structure(variables[collection])
        if want != have:
            raise RuntimeError(f'the official names do not cover the {collection!r} collection of '
                               f'{_describe(model)}: expected {want}, built {have}')
    return variables['params'], variables['batch_stats']


def _tensor_to_numpy(key: str, value: Any) -> np.ndarray:
    """A torch tensor (any float dtype, e.g. bfloat16) or array as a numpy array."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        return value.numpy()
    if isinstance(value, np.ndarray | np.generic | int | float):
        return np.asarray(value)
    raise ValueError(f'state dict entry {key!r} is a {type(value).__name__}, expected a tensor')


def read_official_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads an official state dict from an ``.npz`` or a ``torch.save`` file.

    A ``torch.save`` file may hold the state dict itself or a dict with it under ``'model'`` or
    ``'state_dict'``. The ``module.`` prefix is kept (see :func:`strip_data_parallel_prefix`).

    Raises:
      FileNotFoundError: `path` does not exist.
      ImportError: a PyTorch file but PyTorch is not installed.
      ValueError: the file holds no state dict.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'no such file: {path}')
    if path.endswith('.npz'):
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    try:
        import torch  # Deferred on purpose: PyTorch is needed only for torch.save files.
    except ImportError as e:
        raise ImportError(
            f'reading {path} (a torch.save file) needs PyTorch: pip install torch, or convert it to '
            f'.npz first: np.savez(OUT, **{{k: v.float().numpy() for k, v in state_dict.items()}})'
        ) from e
    obj = torch.load(path, map_location='cpu', weights_only=True)
    for container in STATE_DICT_CONTAINER_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(container), Mapping):
            obj = obj[container]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f'{path} holds a {type(obj).__name__}, expected a non-empty state dict (or a '
                         f'dict holding one under {" or ".join(map(repr, STATE_DICT_CONTAINER_KEYS))})')
    return {str(k): _tensor_to_numpy(str(k), v) for k, v in obj.items()}


def convert_to_checkpoint(state_dict: Mapping[str, np.ndarray], config: ml_collections.ConfigDict,
                          workdir: str | os.PathLike) -> TrainState:
    """Converts `state_dict` for the model of `config` and saves it as step 0 in `workdir`.

    The saved :class:`stgat_jax.steps.TrainState` has the converted params and batch statistics,
    step 0, and the optimizer state and RNG of a new state (``steps.init_state`` with seed 0; the
    optimizer state does not depend on the parameter values: momentum buffers are zero).

    Returns:
      the saved TrainState.

    Raises:
      FileExistsError: `workdir` already holds checkpoints.
      ValueError: see :func:`load_official_state_dict`.
    """
    directory = checkpoints.checkpoint_dir(workdir)
    if os.path.isdir(directory) and os.listdir(directory):
        raise FileExistsError(f'{directory} already holds checkpoints; convert into an empty workdir')
    mesh = steps.create_mesh()
    model = steps.create_model(config, mesh)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 1))
    params, batch_stats = load_official_state_dict(state_dict, model)
    replicated = steps.replicated(mesh)
    state = steps.init_state(model, tx, config, mesh, 0).replace(
        step=jax.device_put(jnp.zeros((), jnp.int32), replicated),
        params=jax.device_put(params, replicated),
        batch_stats=jax.device_put(batch_stats, replicated),
    )
    manager = checkpoints.create_manager(workdir, max_to_keep=None, async_save=False)
    checkpoints.save(manager, 0, state, force=True)
    manager.wait_until_finished()
    manager.close()
    return state


def _flag_values(argv: Sequence[str]) -> flags.FlagValues:
    """The command-line flags for `argv`, in their own FlagValues (importing defines nothing).

    ``--config.KEY=VALUE`` overrides are found in `argv` when the config flag is defined.
    """
    fv = flags.FlagValues()
    flags.DEFINE_string('official', None, 'Official state dict: .pt/.pth/.state (torch.save) or .npz.',
                        flag_values=fv)
    config_flags.DEFINE_config_file('config', None, 'Config file of the model the weights are for, '
                                    'optionally with ":options".', flag_values=fv, lock_config=True,
                                    sys_argv=list(argv))
    flags.DEFINE_string('workdir', None, 'Run folder to write the checkpoint into (must hold none).',
                        flag_values=fv)
    flags.mark_flags_as_required(['official', 'config', 'workdir'], flag_values=fv)
    errors.define_traceback_flag(fv)
    return fv


def main(argv: Sequence[str] | None = None) -> TrainState:
    """Command-line entry point; `argv` includes the program name. Returns the saved TrainState."""

    argv = list(sys.argv if argv is None else argv)
    fv = _flag_values(argv)
    fv(argv)
    state_dict = read_official_file(fv.official)
    state = convert_to_checkpoint(state_dict, fv.config, fv.workdir)
    count = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(state.params))
    config_arg = config_flags.get_config_filename(fv['config'])
    print(f'read {len(state_dict)} tensors from {fv.official}; wrote {count:,} parameters to '
          f'{os.path.join(checkpoints.checkpoint_dir(fv.workdir), "0")}')
    print(f'evaluate with: python main.py --mode=eval --config={config_arg} --workdir={fv.workdir}')
    return state


if __name__ == '__main__':
    with errors.one_line('--traceback' in sys.argv[1:], also=(flags.Error, ImportError)):
        main()

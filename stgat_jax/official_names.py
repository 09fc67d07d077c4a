"""The official PyTorch state-dict names of STGAT, mapped to the flax variables of this library.

Flax names mirror the official module names, so :func:`official_param_names` maps every official
state-dict key onto one flax leaf. Per block ``i`` (``graph_layers.{i}.`` in PyTorch,
``graph_layers_{i}`` here):

=====================================  ==============================================
PyTorch key                             Flax path (collection / module / leaf)
=====================================  ==============================================
``{name}.weight`` / ``.bias``           ``params/{name}/kernel`` / ``bias``
  for ``in_nets``, ``in_nets_upfold``,  (1x1 conv as Dense: ``w[:, :, 0, 0].T``)
  ``diff_net``, ``in_nett``
``{seq}.0.weight`` / ``.0.bias``        ``params/{seq}/conv/kernel`` / ``bias``
``{seq}.1.weight`` / ``.1.bias``        ``params/{seq}/bn/scale`` / ``bias``
``{seq}.1.running_mean`` / ``_var``     ``batch_stats/{seq}/bn/mean`` / ``var``
``attention0s``, ``alphat``,            ``params/attention0s`` etc., same shape
``attention0t``
=====================================  ==============================================

with ``seq`` one of ``out_nets, ff_nets, downs1, downs2, out_nett, ff_nett, downt1, downt2``.
1x1 convs are :class:`~stgat_jax.layers.Dense1x1` layers with ``nn.Dense``'s variables (kernel
``(I, O)``); the (7, 1) temporal conv (:class:`~stgat_jax.layers.TemporalConv`) and the (1, 3)
conv of the no-spatial-attention variant (``nn.Conv``) have ``nn.Conv``'s variables (kernel
``(kt, kv, I, O)`` = ``w.transpose(2, 3, 1, 0)``). Both custom layers compute the same functions
as the flax ones, under the same variable names. The embedding's ``input_map.*`` and
``diff_map{1..4}.*`` live under ``embedding/``, and ``fc.weight`` maps to ``params/fc/kernel``
transposed. Official keys without a counterpart: ``num_batches_tracked``, the zero buffers
``atts``/``attt`` and the positional tables ``pes.pe``/``pet.pe`` (constants here).

:mod:`stgat_jax.convert` converts official weights with this map; the tests check that it covers
every variable of the model once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stgat_jax.models.stgat import STGAT

NameMap = dict[str, tuple[tuple[str, ...], str]]


def _conv_bn_names(torch_prefix: str, flax_path: tuple[str, ...], conv_kind: str) -> NameMap:
    """Official keys of ``nn.Sequential(Conv2d, BatchNorm2d)`` mapped to a ``layers.ConvBN``."""
    return {
        f'{torch_prefix}.0.weight': (('params',) + flax_path + ('conv', 'kernel'), conv_kind),
        f'{torch_prefix}.0.bias': (('params',) + flax_path + ('conv', 'bias'), 'copy'),
        f'{torch_prefix}.1.weight': (('params',) + flax_path + ('bn', 'scale'), 'copy'),
        f'{torch_prefix}.1.bias': (('params',) + flax_path + ('bn', 'bias'), 'copy'),
        f'{torch_prefix}.1.running_mean': (('batch_stats',) + flax_path + ('bn', 'mean'), 'copy'),
        f'{torch_prefix}.1.running_var': (('batch_stats',) + flax_path + ('bn', 'var'), 'copy'),
    }


def _dense_names(torch_prefix: str, flax_path: tuple[str, ...]) -> NameMap:
    """Official keys of a bare 1x1 ``Conv2d`` mapped to a Dense layer."""
    return {
        f'{torch_prefix}.weight': (('params',) + flax_path + ('kernel',), 'dense'),
        f'{torch_prefix}.bias': (('params',) + flax_path + ('bias',), 'copy'),
    }


def official_param_names(model: STGAT) -> NameMap:
    """Maps each official PyTorch state-dict key of `model`'s configuration to a flax leaf.

    Returns:
      ``{torch_key: (flax_path, kind)}`` where ``flax_path`` starts with the collection
      (``'params'`` or ``'batch_stats'``) and ``kind`` says how to convert the tensor:
      ``'dense'``: 1x1 conv ``(O, I, 1, 1)`` -> ``w[:, :, 0, 0].T``; ``'conv'``: ``(O, I, kt, kv)``
      -> ``w.transpose(2, 3, 1, 0)``; ``'linear'``: ``(O, I)`` -> ``w.T``; ``'copy'``: same
      shape. ``num_batches_tracked`` and the constant buffers (``atts``, ``attt``, ``pes.pe``,
      ``pet.pe``) are not listed.
    """
    model.check_config()
    names: NameMap = {}
    names.update(_conv_bn_names('input_map', ('embedding', 'input_map'), 'dense'))
    for i in range(1, 5):
        names.update(_conv_bn_names(f'diff_map{i}', ('embedding', f'diff_map{i}'), 'dense'))
    for i, (c_in, c_out, stride) in enumerate(model.blocks):
        tp, fp = f'graph_layers.{i}', (f'graph_layers_{i}',)
        down = c_in != c_out or stride != 1
        if model.use_spatial_att:
            if model.att_s:
                for name in ('in_nets', 'in_nets_upfold', 'diff_net'):
                    names.update(_dense_names(f'{tp}.{name}', fp + (name,)))
            if model.glo_reg_s:
                names[f'{tp}.attention0s'] = (('params',) + fp + ('attention0s',), 'copy')
            names.update(_conv_bn_names(f'{tp}.out_nets', fp + ('out_nets',), 'dense'))
            names.update(_conv_bn_names(f'{tp}.ff_nets', fp + ('ff_nets',), 'dense'))
            if down:
                names.update(_conv_bn_names(f'{tp}.downs1', fp + ('downs1',), 'dense'))
        else:
            names.update(_conv_bn_names(f'{tp}.out_nets', fp + ('out_nets',), 'conv'))
        if down:
            names.update(_conv_bn_names(f'{tp}.downs2', fp + ('downs2',), 'dense'))
        if model.use_temporal_att:
            if model.att_t:
                names.update(_dense_names(f'{tp}.in_nett', fp + ('in_nett',)))
                names[f'{tp}.alphat'] = (('params',) + fp + ('alphat',), 'copy')
            if model.glo_reg_t:
                names[f'{tp}.attention0t'] = (('params',) + fp + ('attention0t',), 'copy')
            names.update(_conv_bn_names(f'{tp}.out_nett', fp + ('out_nett',), 'dense'))
            names.update(_conv_bn_names(f'{tp}.ff_nett', fp + ('ff_nett',), 'dense'))
            if down:
                names.update(_conv_bn_names(f'{tp}.downt1', fp + ('downt1',), 'dense'))
        else:
            kind = 'dense' if model.temporal_kernel == 1 else 'conv'
            names.update(_conv_bn_names(f'{tp}.out_nett', fp + ('out_nett',), kind))
        if down:
            names.update(_conv_bn_names(f'{tp}.downt2', fp + ('downt2',), 'dense'))
    names['fc.weight'] = (('params', 'fc', 'kernel'), 'linear')
    names['fc.bias'] = (('params', 'fc', 'bias'), 'copy')
    return names

"""The optional STGAT branches compute what the official PyTorch implementation computes.

The shipped configs switch these branches off, so ``test_parity.py`` covers none of them. The
fixture ``tests/fixtures/stgat_parity_branches.npz`` was produced by running the official model
class ``DSTANet`` of ``model/st2ransformer_dsta.py`` at commit f98db4d of the official STGAT
repository (hulianyuyy/STGAT), torch 2.13.0 on CPU in float32, with the same one change as for
``test_parity.py`` (the graph constants moved with ``.to(x.device)`` instead of ``.cuda``).

Common settings: ``num_point=18``, ``num_channel=2`` (the official, shifted Kinetics graph),
``num_class=5``, ``num_frame=8``, ``num_subset=2``, ``num_person=2``,
``config=[[8, 8, 4, 1], [8, 16, 8, 2]]``, all dropouts 0, ``att_s`` on. Cases (keys are
prefixed ``{case}/``):

* ``temporal``: ``use_temporal_att``, ``att_t``, ``glo_reg_t``, ``use_pes``, ``use_pet`` on
  (the temporal attention with its tanh term and learnable ``alphat``, the global temporal term
  ``attention0t``, both sinusoidal encodings), ``glo_reg_s`` on; ``torch.manual_seed(10)``.
  Gradients of every parameter are saved for this case (``grad/{name}``).
* ``no_glo_reg_s``: the spatial global term ``attention0s`` off, no temporal attention;
  ``torch.manual_seed(11)``.
* ``spatial_off``: ``use_spatial_att`` off (the (1, 3) convolution over joints in its place),
  no temporal attention; ``torch.manual_seed(12)``.

``att_s`` off with ``use_spatial_att`` on cannot be compared: the official forward pass then reads
the unfolded windows that only the ``att_s`` branch computes, and fails.

After the official initialisation, every BatchNorm got ``weight ~ U(0.5, 1.5)``,
``bias ~ N(0, 0.2)``; ``attention0s``/``attention0t`` got ``N(0, 0.02)`` noise, ``alphat``
``U(0.5, 1.5)``, ``fc.bias ~ N(0, 0.1)``. Running statistics: one train-mode pass (BatchNorm
momentum 1.0) on another random input, then ``running_mean += N(0, 0.05)`` and
``running_var *= U(0.8, 1.25)``. Saved: ``state_dict/{key}`` without the constant buffers and
``num_batches_tracked``; ``input`` (N=2, C, T, V, M) smooth random trajectories, the second person
of sample 1 zero; ``labels``; ``logits_eval`` (``model.eval()``), ``logits_train`` and
``loss_train`` (``model.train()``, mean cross-entropy).
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np
import pytest

from stgat_jax.convert import load_official_state_dict
from stgat_jax.models.stgat import STGAT
from test_parity import eval_and_train_outputs  # the same eval and train pass as the shipped fixtures

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'stgat_parity_branches.npz')
COMMON = dict(num_classes=5, in_channels=2, graph='openpose', num_heads=2, num_frames=8,
              blocks=((8, 8, 1), (8, 16, 2)))
CASES = {
    'temporal': dict(use_temporal_att=True, att_t=True, glo_reg_t=True, use_pes=True, use_pet=True),
    'no_glo_reg_s': dict(glo_reg_s=False),
    'spatial_off': dict(use_spatial_att=False),
}
ATOL = 1e-4
GRAD_RTOL = 1e-4


@functools.cache
def run_case(case: str) -> dict:
    with np.load(FIXTURE) as data:
        fixture = {k[len(case) + 1:]: data[k] for k in data.files if k.startswith(case + '/')}
    state_dict = {k[len('state_dict/'):]: v for k, v in fixture.items() if k.startswith('state_dict/')}
    model = STGAT(**COMMON, **CASES[case])
    params, batch_stats = load_official_state_dict(state_dict, model)
    x = fixture['input'].transpose(0, 4, 2, 3, 1)  # (N, C, T, V, M) -> (N, M, T, V, C)
    labels = fixture['labels']
    logits_eval, ((loss, logits_train), grads) = eval_and_train_outputs(model, params, batch_stats, x, labels)
    out = dict(fixture=fixture, logits_eval=np.asarray(logits_eval), loss=float(loss),
               logits_train=np.asarray(logits_train), grads=jax.tree.map(np.asarray, grads))
    official_grads = {k[len('grad/'):]: v for k, v in fixture.items() if k.startswith('grad/')}
    if official_grads:
        out['official_grads'], _ = load_official_state_dict({**state_dict, **official_grads}, model)
    return out


@pytest.mark.parametrize('case', sorted(CASES))
def test_logits_and_loss_match_official(case):
    out = run_case(case)
    f = out['fixture']
    assert np.abs(f['logits_eval'] - f['logits_train']).max() > 0.1  # two BatchNorm paths
    np.testing.assert_allclose(out['logits_eval'], f['logits_eval'], rtol=0, atol=ATOL,
                               err_msg=f'{case}: eval-mode logits differ from the official model')
    np.testing.assert_allclose(out['logits_train'], f['logits_train'], rtol=0, atol=ATOL,
                               err_msg=f'{case}: train-mode logits differ from the official model')
    np.testing.assert_allclose(out['loss'], f['loss_train'], rtol=0, atol=ATOL)


def test_the_branches_change_the_model():
    # Each case really runs its branch: the official weights hold its parameters.
    temporal = run_case('temporal')['fixture']
    for key in ('in_nett.weight', 'alphat', 'attention0t', 'downt1.0.weight', 'ff_nett.0.weight'):
        assert f'state_dict/graph_layers.1.{key}' in temporal, key
    assert not any('attention0s' in k for k in run_case('no_glo_reg_s')['fixture'])
    assert not any('in_nets' in k for k in run_case('spatial_off')['fixture'])


def test_temporal_branch_gradients_match_official():
    out = run_case('temporal')
    ours = jax.tree_util.tree_leaves_with_path(out['grads'])
    theirs = jax.tree_util.tree_leaves_with_path(out['official_grads'])
    assert [p for p, _ in ours] == [p for p, _ in theirs]
    largest = max(np.linalg.norm(g) for _, g in theirs)
    failures = []
    for (path, g), (_, g_torch) in zip(ours, theirs):
        name = jax.tree_util.keystr(path)
        # Conv biases before a train-mode BatchNorm and the key bias: zero in exact arithmetic.
        if name.endswith("['conv']['bias']") or name.endswith("['in_nets']['bias']"):
            if max(np.linalg.norm(g), np.linalg.norm(g_torch)) > 1e-4 * largest:
                failures.append(f'{name}: should be ~0')
            continue
        rel = np.linalg.norm(g - g_torch) / max(np.linalg.norm(g_torch), 1e-12)
        if not rel <= GRAD_RTOL:
            failures.append(f'{name}: relative error {rel:.3g}')
    assert not failures, '\n'.join(failures)

"""STGAT computes what the official PyTorch implementation computes, on committed fixtures.

Each fixture ``tests/fixtures/stgat_parity_{case}.npz`` was produced by running the official model
class ``DSTANet`` of ``model/st2ransformer_dsta.py`` at commit f98db4d of the official STGAT
repository (hulianyuyy/STGAT), with torch 2.13.0 on CPU in float32. The only change to that file:
the two lines ``self.graph = self.graph.cuda(x.get_device())`` and
``self.graph_a = self.graph_a.cuda(x.get_device())`` in ``STAttentionBlock.forward`` use
``.to(x.device)`` instead, so that the graph constants stay on the CPU.

Both cases use the official settings of the shipped configs (``num_subset=8``, ``glo_reg_s`` and
``att_s`` on, ``use_spatial_att`` on, ``use_temporal_att``, ``use_pes``, ``use_pet``,
``glo_reg_t`` and ``att_t`` off, all dropouts 0), ``num_frame=16``, ``num_person=2``, and a
reduced width:

* ``ntu``: ``num_point=25``, ``num_channel=3``, ``num_class=10``, the official NTU graph,
  ``config=[[16, 16, 2, 1], [16, 32, 4, 2], [32, 32, 4, 1]]``; ``torch.manual_seed(0)``.
* ``kinetics``: ``num_point=18``, ``num_channel=2``, ``num_class=7``, the official (shifted)
  Kinetics graph, ``config=[[24, 24, 3, 1], [24, 48, 6, 2], [48, 48, 6, 1]]``;
  ``torch.manual_seed(1)``.

After the official initialisation, every BatchNorm got ``weight ~ U(0.5, 1.5)``,
``bias ~ N(0, 0.2)``; every ``attention0s`` got ``N(0, 0.02)`` noise added; ``fc.bias ~ N(0, 0.1)``.
Running statistics: one train-mode forward pass with BatchNorm momentum 1.0 on another random input
(so they are that batch's mean and unbiased variance), then ``running_mean += N(0, 0.05)`` and
``running_var *= U(0.8, 1.25)``. The whole ``state_dict()`` was then saved (``state_dict/{key}``,
including ``num_batches_tracked`` and the ``atts``/``pes.pe`` buffers).

Input ``input``: (N=2, C, T=16, V, M=2) in the official layout, smooth random trajectories
(a normal offset per joint plus the cumulative sum of N(0, 0.1) steps) with the second person of
sample 1 all zero; ``labels``: two random classes. Saved outputs: ``logits_eval`` from
``model.eval()``; ``logits_train`` from ``model.train()`` (batch statistics) and, from that same
pass, ``loss_train = F.cross_entropy(logits_train, labels)`` (mean) and the gradient of every
parameter, ``grad/{name}`` after ``loss.backward()``.

Some gradients are zero in exact arithmetic, so both sides hold only rounding noise there: the bias
of every convolution followed by a train-mode BatchNorm (the mean subtraction removes it) and the
``in_nets`` (key) bias (it shifts a row of logits by a constant, which the softmax ignores). For
those the test checks that both are negligible against the largest gradient; every other gradient
must match within 1e-4 relative (per tensor, in norm).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from stgat_jax.convert import load_official_state_dict
from stgat_jax.models.stgat import CONV_IMPLS, STGAT

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')

CASES = {
    'ntu': dict(num_classes=10, in_channels=3, graph='ntu',
                blocks=((16, 16, 1), (16, 32, 2), (32, 32, 1))),
    'kinetics': dict(num_classes=7, in_channels=2, graph='openpose',
                     blocks=((24, 24, 1), (24, 48, 2), (48, 48, 1))),
}

LOGITS_ATOL = 1e-4
GRAD_RTOL = 1e-4
# Gradients that are zero in exact arithmetic must stay below this fraction of the largest one.
ZERO_GRAD_FRACTION = 1e-4


def load_fixture(case: str) -> dict[str, np.ndarray]:
    """The arrays of one parity fixture."""
    with np.load(os.path.join(FIXTURES, f'stgat_parity_{case}.npz')) as data:
        return {key: data[key] for key in data.files}


def with_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries whose key starts with `prefix`, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def model_for(case: str, conv_impl: str = 'cpu') -> STGAT:
    return STGAT(num_heads=8, num_frames=16, conv_impl=conv_impl, **CASES[case])


def eval_and_train_outputs(model, params, batch_stats, x, labels):
    """Eval-mode logits and ((loss, train-mode logits), gradients) of `model`, as the fixtures hold them."""

    @jax.jit
    def run(params, x):
        logits_eval, _ = model.apply({'params': params, 'batch_stats': batch_stats}, x, train=False)

        def loss_fn(p):
            (logits, _), _ = model.apply({'params': p, 'batch_stats': batch_stats}, x, train=True,
                                         mutable=['batch_stats'])
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, logits

        return logits_eval, jax.value_and_grad(loss_fn, has_aux=True)(params)

    return run(params, x)


@functools.cache
def run_case(case: str, conv_impl: str) -> dict[str, object]:
    """Our eval logits, train logits, loss and gradients for one fixture, plus the fixture."""
    fixture = load_fixture(case)
    state_dict = with_prefix(fixture, 'state_dict/')
    model = model_for(case, conv_impl)
    params, batch_stats = load_official_state_dict(state_dict, model)
    x = jnp.asarray(fixture['input'].transpose(0, 4, 2, 3, 1))  # (N, C, T, V, M) -> (N, M, T, V, C)
    labels = jnp.asarray(fixture['labels'])
    logits_eval, ((loss, logits_train), grads) = eval_and_train_outputs(model, params, batch_stats, x, labels)
    # The official gradients, in our layout: the converter maps them like the weights (all the
    # conversions are linear); the running statistics only fill the batch_stats it also returns.
    torch_grads, _ = load_official_state_dict({**state_dict, **with_prefix(fixture, 'grad/')}, model)
    return {
        'fixture': fixture,
        'logits_eval': np.asarray(logits_eval),
        'logits_train': np.asarray(logits_train),
        'loss': float(loss),
        'grads': jax.tree.map(np.asarray, grads),
        'torch_grads': torch_grads,
    }


@pytest.mark.parametrize('case', sorted(CASES))
def test_fixture_matches_its_description(case):
    fixture = load_fixture(case)
    spec = CASES[case]
    n, c, t, v, m = fixture['input'].shape
    assert (n, t, m, c) == (2, 16, 2, spec['in_channels'])
    assert v == (25 if spec['graph'] == 'ntu' else 18)
    assert fixture['logits_eval'].shape == fixture['logits_train'].shape == (2, spec['num_classes'])
    assert not np.any(fixture['input'][1, :, :, :, 1])  # sample 1 has one person
    # Eval and train mode really differ, so each comparison below tests its own BatchNorm path.
    assert np.abs(fixture['logits_eval'] - fixture['logits_train']).max() > 0.1


@pytest.mark.parametrize('conv_impl', CONV_IMPLS)
@pytest.mark.parametrize('case', sorted(CASES))
def test_eval_logits_match_official(case, conv_impl):
    out = run_case(case, conv_impl)
    np.testing.assert_allclose(out['logits_eval'], out['fixture']['logits_eval'], rtol=0,
                               atol=LOGITS_ATOL)


@pytest.mark.parametrize('conv_impl', CONV_IMPLS)
@pytest.mark.parametrize('case', sorted(CASES))
def test_train_logits_and_loss_match_official(case, conv_impl):
    out = run_case(case, conv_impl)
    np.testing.assert_allclose(out['logits_train'], out['fixture']['logits_train'], rtol=0,
                               atol=LOGITS_ATOL)
    np.testing.assert_allclose(out['loss'], out['fixture']['loss_train'], rtol=0, atol=LOGITS_ATOL)


def is_zero_in_exact_arithmetic(path: str) -> bool:
    """Conv biases before a train-mode BatchNorm, and the key-projection bias."""
    return path.endswith("['conv']['bias']") or path.endswith("['in_nets']['bias']")


@pytest.mark.parametrize('conv_impl', CONV_IMPLS)
@pytest.mark.parametrize('case', sorted(CASES))
def test_gradients_match_official(case, conv_impl):
    out = run_case(case, conv_impl)
    ours = jax.tree_util.tree_leaves_with_path(out['grads'])
    theirs = jax.tree_util.tree_leaves_with_path(out['torch_grads'])
    assert [p for p, _ in ours] == [p for p, _ in theirs]
    largest = max(np.linalg.norm(g) for _, g in theirs)
    assert largest > 0.1
    failures, zero_checked, compared = [], 0, 0
    for (path, g), (_, g_torch) in zip(ours, theirs):
        name = jax.tree_util.keystr(path)
        assert g.shape == g_torch.shape, name
        if is_zero_in_exact_arithmetic(name):
            zero_checked += 1
            for who, value in (('ours', g), ('official', g_torch)):
                if np.linalg.norm(value) > ZERO_GRAD_FRACTION * largest:
                    failures.append(f'{name}: {who} norm {np.linalg.norm(value):.3g} should be ~0')
            continue
        compared += 1
        rel = np.linalg.norm(g - g_torch) / np.linalg.norm(g_torch)
        if not rel <= GRAD_RTOL:
            failures.append(f'{name}: relative error {rel:.3g}')
    assert not failures, '\n'.join(failures)
    # Every block and the embedding contribute both kinds of leaves.
    n_blocks = len(CASES[case]['blocks'])
    assert zero_checked >= 5 + 4 * n_blocks
    assert compared >= 2 * zero_checked

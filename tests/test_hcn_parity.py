"""HCN computes what the public PyTorch HCN computes, with the same weights.

The fixture ``tests/fixtures/hcn_official.npz`` was produced by running the class ``HCN`` of
``model/HCN.py`` of the public HCN-pytorch repository (huguyuehuhu/HCN-pytorch, commit 98b15c5)
with torch 2.13.0 on CPU in float32, in eval mode, with ``in_channel=3, num_joint=25,
num_person=2, out_channel=64, window_size=32, num_class=5`` (fc7 is then 1024 -> 512). Every
tensor of its ``state_dict``, taken in sorted key order (index i), was overwritten with
:func:`official_weight`: ``U(-1, 1)`` from ``np.random.default_rng(i).random`` times
``sqrt(6 / fan_in)`` for weights, times 0.1 for biases; the test rebuilds the same values, so the
fixture holds no weights. ``input``: (N=2, C=3, T=32, V=25, M=2) smooth random trajectories, the
second person of sample 1 zero. Saved: ``position_conv4``, the official position stream up to
conv4 for person 0, (N, 64, 8, 8) in (C, T, W) order; ``logits_official``, its forward pass; and
``logits_zero_first_motion``, the same modules run on the motion input that this project uses.

The one departure, by design: HCN-pytorch's motion stream is the T-1 frame differences resized
bilinearly back to T frames; ours (``csta.temporal_difference``) is ``x[t] - x[t-1]`` with a zero
first frame. The position stream and every layer after the motion input must agree exactly; the
whole-model logits differ by the motion input only (checked to be a real difference).
"""

import os

import jax
import numpy as np

from stgat_jax.models.csta import HCN, HCNStream

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'hcn_official.npz')
# The official state_dict shapes (PyTorch layouts) for the settings above.
OFFICIAL_SHAPES = {
    **{f'{name}.{kind}': shape
       for stream in ('', 'm')
       for name, shape in ((f'conv1{stream}.0', (64, 3, 1, 1)), (f'conv2{stream}', (32, 64, 3, 1)),
                           (f'conv3{stream}.0', (32, 25, 3, 3)), (f'conv4{stream}.0', (64, 32, 3, 3)))
       for kind, shape in (('weight', shape), ('bias', shape[:1]))},
    'conv5.0.weight': (128, 128, 3, 3), 'conv5.0.bias': (128,),
    'conv6.0.weight': (256, 128, 3, 3), 'conv6.0.bias': (256,),
    'fc7.0.weight': (512, 1024), 'fc7.0.bias': (512,),
    'fc8.weight': (5, 512), 'fc8.bias': (5,),
}


def official_weight(index: int, shape: tuple[int, ...]) -> np.ndarray:
    u = np.random.default_rng(index).random(int(np.prod(shape))) * 2 - 1
    scale = 0.1 if len(shape) == 1 else np.sqrt(6.0 / np.prod(shape[1:]))
    return (u * scale).reshape(shape).astype(np.float32)


def our_params() -> dict:
    """The official tensors in our layout: conv (O, I, kh, kw) -> (kh, kw, I, O); linear W.T;
    fc7's input is flattened (C, H, W) there and (H, W, C) here."""
    w = {k: official_weight(i, OFFICIAL_SHAPES[k]) for i, k in enumerate(sorted(OFFICIAL_SHAPES))}

    def conv(name):
        return {'kernel': w[f'{name}.weight'].transpose(2, 3, 1, 0), 'bias': w[f'{name}.bias']}

    params = {stream: {f'conv{j}': conv(f'conv{j}{suffix}' + ('' if j == 2 else '.0')) for j in (1, 2, 3, 4)}
              for stream, suffix in (('position', ''), ('motion', 'm'))}
    params['conv5'], params['conv6'] = conv('conv5.0'), conv('conv6.0')
    fc7 = w['fc7.0.weight'].reshape(512, 256, 2, 2).transpose(2, 3, 1, 0).reshape(1024, 512)
    params['fc7'] = {'kernel': fc7, 'bias': w['fc7.0.bias']}
    params['fc8'] = {'kernel': w['fc8.weight'].T, 'bias': w['fc8.bias']}
    return params


def test_hcn_matches_the_public_implementation_up_to_the_motion_input():
    with np.load(FIXTURE) as f:
        fixture = {k: f[k] for k in f.files}
    model = HCN(num_classes=5, num_frames=32, fc7_features=512)
    params = our_params()
    x = fixture['input'].transpose(0, 4, 2, 3, 1)  # (N, C, T, V, M) -> (N, M, T, V, C)
    shapes = jax.tree.map(np.shape, jax.eval_shape(model.init, jax.random.key(0), x)['params'])
    assert jax.tree.map(np.shape, params) == shapes, 'the name/shape mapping does not cover our HCN'

    @jax.jit
    def run(params, x):
        logits, _ = model.apply({'params': params}, x)
        position, _ = HCNStream().apply({'params': params['position']}, x[:, 0])
        return logits, position

    logits, position = run(params, x)
    # Position stream, person 0: ours (N, T, W, C) against the official (N, C, T, W).
    np.testing.assert_allclose(np.asarray(position).transpose(0, 3, 1, 2), fixture['position_conv4'],
                               rtol=1e-4, atol=1e-4, err_msg='HCN position stream differs from HCN-pytorch')
    np.testing.assert_allclose(logits, fixture['logits_zero_first_motion'], rtol=1e-4, atol=1e-4,
                               err_msg='HCN logits differ from HCN-pytorch run on the same motion input')
    # The departure is real (so the comparison above says something about the motion input).
    assert np.abs(fixture['logits_official'] - fixture['logits_zero_first_motion']).max() > 0.05

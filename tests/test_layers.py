"""Tests of the 1x1 and temporal convolutions and their custom gradients, against numpy and XLA."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stgat_jax import layers


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _conv_reference(x, kernel, bias, stride):
    """Temporal convolution in numpy loops: zero padding kt // 2, stride on T."""
    taps = kernel.shape[0]
    pad = taps // 2
    num_frames = x.shape[1]
    out_frames = (num_frames - 1) // stride + 1
    out = np.zeros(x.shape[:1] + (out_frames,) + x.shape[2:3] + kernel.shape[3:], np.float64)
    for t in range(out_frames):
        for k in range(taps):
            src = stride * t + k - pad
            if 0 <= src < num_frames:
                out[:, t] += x[:, src].astype(np.float64) @ kernel[k, 0].astype(np.float64)
    return out + bias


@pytest.mark.parametrize('cpu_layout', [True, False])
@pytest.mark.parametrize('frames,stride,taps', [(9, 1, 7), (9, 2, 7), (10, 2, 7), (11, 3, 5),
                                                 (4, 2, 7), (8, 2, 3), (7, 4, 1)])
def test_temporal_conv_and_its_gradients(frames, stride, taps, cpu_layout):
    x, kernel, bias = rand((2, frames, 3, 4)), rand((taps, 1, 4, 5), 1), rand((5,), 2)
    out, vjp = jax.vjp(lambda x, k, b: layers.temporal_conv(x, k, b, stride, cpu_layout=cpu_layout),
                       x, kernel, bias)
    np.testing.assert_allclose(out, _conv_reference(x, kernel, bias, stride), rtol=1e-5, atol=1e-5)
    # The gradients against XLA's own transposes of the same convolution.
    pad = taps // 2
    ref_out, ref_vjp = jax.vjp(lambda x, k, b: jax.lax.conv_general_dilated(
        x, k, (stride, 1), ((pad, pad), (0, 0)), dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + b,
        x, kernel, bias)
    g = rand(out.shape, 3)
    for got, want in zip(vjp(g), ref_vjp(g)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('cpu_layout', [True, False])
def test_channel_dense_and_its_gradients(cpu_layout):
    dense = functools.partial(layers.channel_dense, cpu_layout=cpu_layout)
    x, kernel, bias = rand((2, 3, 4, 5)), rand((5, 6), 1), rand((6,), 2)
    out, vjp = jax.vjp(dense, x, kernel, bias)
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-5, atol=1e-5)
    g = rand(out.shape, 3)
    dx, dk, db = vjp(g)
    g2, x2 = g.reshape(-1, 6).astype(np.float64), x.reshape(-1, 5).astype(np.float64)
    np.testing.assert_allclose(dx, (g2 @ kernel.T).reshape(x.shape), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dk, x2.T @ g2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, g2.sum(0), rtol=1e-5, atol=1e-5)
    # bf16 compute: the gradients keep the dtypes of the arguments.
    args = [jnp.asarray(a, jnp.bfloat16) for a in (x, kernel, bias)]
    _, vjp16 = jax.vjp(dense, *args)
    assert [a.dtype for a in vjp16(jnp.asarray(g, jnp.bfloat16))] == [jnp.bfloat16] * 3


@pytest.mark.parametrize('cpu_layout', [True, False])
@pytest.mark.parametrize('op', ['channel_dense', 'temporal_conv'])
def test_bf16_products_accumulate_and_can_return_float32(op, cpu_layout):
    """bf16 operands, float32 result on request: the product of the rounded operands to float32
    accuracy (a bf16 result would be off by ~1e-3), and gradients in the operands' dtypes."""
    c_in = 64
    x16 = jnp.asarray(rand((2, 6, 3, c_in)), jnp.bfloat16)
    bias = jnp.asarray(rand((5,), 2))
    if op == 'channel_dense':
        k16 = jnp.asarray(rand((c_in, 5), 1), jnp.bfloat16)
        fn = functools.partial(layers.channel_dense, out_dtype=jnp.float32, cpu_layout=cpu_layout)
        want = np.asarray(x16, np.float64) @ np.asarray(k16, np.float64) + np.asarray(bias)
    else:
        k16 = jnp.asarray(rand((3, 1, c_in, 5), 1), jnp.bfloat16)
        fn = functools.partial(layers.temporal_conv, stride=2, out_dtype=jnp.float32, cpu_layout=cpu_layout)
        want = _conv_reference(np.asarray(x16, np.float64), np.asarray(k16, np.float64),
                               np.asarray(bias), 2)
    out, vjp = jax.vjp(fn, x16, k16, bias)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    assert fn(x16, k16, bias).dtype == jnp.float32
    default = getattr(layers, op)(x16, k16, bias, cpu_layout=cpu_layout,
                               **({'stride': 2} if op == 'temporal_conv' else {}))
    assert default.dtype == jnp.bfloat16
    grads = vjp(jnp.ones_like(out))
    assert [g.dtype for g in grads] == [jnp.bfloat16, jnp.bfloat16, jnp.float32]

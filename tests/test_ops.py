"""Tests of the attention operations: the definitions of reference_ops.py and the ops against
numpy computations, and the cheaper equivalents the model runs against those definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stgat_jax import graphs, ops
from reference_ops import aggregate_windows, unfold_temporal_window, window_gate, windowed_st_attention


def rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_unfold_temporal_window_indexing():
    x = rand((2, 5, 4, 3))
    u = np.asarray(unfold_temporal_window(jnp.asarray(x), 3))
    assert u.shape == (2, 5, 12, 3)
    for t in range(5):
        for w in range(3):
            for j in range(4):
                src = t + w - 1
                want = x[:, src, j] if 0 <= src < 5 else np.zeros((2, 3), np.float32)
                np.testing.assert_array_equal(u[:, t, w * 4 + j], want)


def test_unfold_temporal_window_five_and_errors():
    x = rand((1, 6, 2, 1))
    u = np.asarray(unfold_temporal_window(jnp.asarray(x), 5))
    assert u.shape == (1, 6, 10, 1)
    np.testing.assert_array_equal(u[:, 0, 0:2], 0)  # frame -2
    np.testing.assert_array_equal(u[:, 0, 4:6], x[:, 0])  # centre
    np.testing.assert_array_equal(u[:, 3, 8:10], x[:, 5])  # frame +2
    with pytest.raises(ValueError, match='window must be a positive odd'):
        unfold_temporal_window(jnp.asarray(x), 2)


def test_masked_softmax():
    logits = rand((3, 6))
    mask = np.array([[1, 0, 1, 0, 0, 1], [1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0]], np.float32)
    p = np.asarray(ops.masked_softmax(jnp.asarray(logits), mask))
    np.testing.assert_array_equal(p[mask == 0], 0.0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    kept = np.exp(logits[0, [0, 2, 5]])
    np.testing.assert_allclose(p[0, [0, 2, 5]], kept / kept.sum(), rtol=1e-6)
    np.testing.assert_allclose(p[2, 3], 1.0)
    # A fully masked row is uniform (fill value -9e15, not -inf): no NaN.
    p0 = np.asarray(ops.masked_softmax(jnp.asarray(logits), np.zeros((3, 6))))
    np.testing.assert_allclose(p0, 1 / 6, rtol=1e-6)


def test_window_gate_matches_definition():
    b, t, v, c, s, w = 2, 4, 5, 6, 3, 3
    d = rand((b, t, v, c), 1)
    u = rand((b, t, w * v, c), 2)
    g = np.asarray(window_gate(jnp.asarray(d), jnp.asarray(u), s))
    assert g.shape == (b, s, w)
    cs = c // s
    for head in range(s):
        for win in range(w):
            ch = slice(head * cs, (head + 1) * cs)  # s-major channel groups
            diff = d[:, :, :, ch] - u[:, :, win * v:(win + 1) * v, ch]
            want = 1 / (1 + np.exp(-diff.mean(axis=(1, 2, 3))))
            np.testing.assert_allclose(g[:, head, win], want, rtol=1e-5)
    with pytest.raises(ValueError, match='num_heads=4 must divide'):
        window_gate(jnp.asarray(d), jnp.asarray(u), 4)


def test_expand_gate_orders():
    g = jnp.asarray(np.array([[[10.0, 20.0, 30.0]]]))  # (B=1, S=1, W=3)
    v = 25
    official = np.asarray(ops.expand_gate(g, v, 'official'))[0, 0]
    window = np.asarray(ops.expand_gate(g, v, 'window'))[0, 0]
    rows = np.arange(3 * v)
    # Quirk O1: row u = w*V + j gets g[u mod 3] (= g[(w + j) mod 3] for V = 25).
    np.testing.assert_array_equal(official, np.array([10.0, 20.0, 30.0])[rows % 3])
    np.testing.assert_array_equal(official[:6], [10, 20, 30, 10, 20, 30])
    np.testing.assert_array_equal(official[25:28], [20, 30, 10])
    np.testing.assert_array_equal(window, np.array([10.0, 20.0, 30.0])[rows // v])
    with pytest.raises(ValueError, match='gate_index must be one of'):
        ops.expand_gate(g, v, 'mod')


def reference_attention(q, k, mask, row_gate, glob):
    """numpy: time/channel-averaged logits, tiled mask, softmax over v, gate, global term."""
    b, t, u, s, c = q.shape
    v = k.shape[2]
    logits = np.einsum('btusc,btvsc->bsuv', q.astype(np.float64), k) / (c * t)
    tiled = np.concatenate([mask] * (u // v), axis=1)  # row w*V + j uses mask row j
    logits = np.where(tiled[None] > 0, logits, -np.inf)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    return p * row_gate[..., None] + glob


def test_windowed_st_attention_matches_reference():
    b, t, v, s, c, w = 2, 6, 25, 4, 3, 3
    q, k = rand((b, t, w * v, s, c), 3), rand((b, t, v, s, c), 4)
    mask = graphs.get_graph('ntu').hop_masks(s)
    row_gate = np.random.default_rng(5).uniform(size=(b, s, w * v)).astype(np.float32)
    glob = rand((1, s, w * v, v), 6)
    att = np.asarray(windowed_st_attention(q, k, mask, row_gate, glob))
    assert att.shape == (b, s, w * v, v) and att.dtype == np.float32
    np.testing.assert_allclose(att, reference_attention(q, k, mask, row_gate, glob), rtol=1e-5, atol=1e-6)
    # Without gate and global term, entries outside the hop ring are exactly zero.
    plain = np.asarray(windowed_st_attention(q, k, mask))
    tiled = np.tile(mask, (1, w, 1))
    np.testing.assert_array_equal(plain[:, tiled == 0], 0.0)
    assert np.all(plain[:, tiled > 0] > 0)
    np.testing.assert_allclose(plain.sum(-1), 1.0, rtol=1e-5)


def test_windowed_st_attention_scale_is_time_average():
    # Repeating the clip in time leaves the time-averaged logits unchanged.
    q, k = rand((1, 3, 6, 2, 4), 7), rand((1, 3, 2, 2, 4), 8)
    a1 = windowed_st_attention(q, k)
    a2 = windowed_st_attention(np.concatenate([q, q], 1), np.concatenate([k, k], 1))
    np.testing.assert_allclose(np.asarray(a1), np.asarray(a2), rtol=1e-5)


def test_aggregate_windows_s_major():
    b, t, v, c, s = 2, 3, 4, 5, 2
    u, att = rand((b, t, 3 * v, c), 9), rand((b, s, 3 * v, v), 10)
    y = np.asarray(aggregate_windows(jnp.asarray(u), jnp.asarray(att)))
    assert y.shape == (b, t, v, s * c)
    for head in range(s):
        want = np.einsum('btuc,buv->btvc', u, att[:, head])
        np.testing.assert_allclose(y[..., head * c:(head + 1) * c], want, rtol=1e-5, atol=1e-5)


def test_temporal_attention_and_aggregation():
    b, t, v, s, c = 2, 5, 4, 3, 2
    q, k = rand((b, t, v, s, c), 11), rand((b, t, v, s, c), 12)
    alpha = np.array([1.0, 0.5, -2.0], np.float32).reshape(1, s, 1, 1)
    att = np.asarray(ops.temporal_attention(q, k, alpha))
    want = np.tanh(np.einsum('btvsc,brvsc->bstr', q, k) / (c * v)) * alpha
    np.testing.assert_allclose(att, want, rtol=1e-5, atol=1e-6)
    y = rand((b, t, v, 6), 13)
    z = np.asarray(ops.aggregate_frames(jnp.asarray(y), jnp.asarray(att)))
    assert z.shape == (b, t, v, s * 6)
    for head in range(s):
        want_h = np.einsum('btvc,btr->brvc', y, att[:, head])
        np.testing.assert_allclose(z[..., head * 6:(head + 1) * 6], want_h, rtol=1e-5, atol=1e-5)


def test_lag_difference():
    x = rand((2, 5, 3, 2), 14)
    d1 = np.asarray(ops.lag_difference(jnp.asarray(x), 1))
    d2 = np.asarray(ops.lag_difference(jnp.asarray(x), 2))
    d3 = np.asarray(ops.lag_difference(jnp.asarray(x), -1))
    d4 = np.asarray(ops.lag_difference(jnp.asarray(x), -2))
    for t in range(5):
        np.testing.assert_array_equal(d1[:, t], x[:, t] - x[:, t - 1] if t >= 1 else 0)
        np.testing.assert_array_equal(d2[:, t], x[:, t] - x[:, t - 2] if t >= 2 else 0)
        np.testing.assert_array_equal(d3[:, t], x[:, t] - x[:, t + 1] if t <= 3 else 0)
        np.testing.assert_array_equal(d4[:, t], x[:, t] - x[:, t + 2] if t <= 2 else 0)
    short = np.asarray(ops.lag_difference(jnp.asarray(x[:, :1]), 2))
    assert short.shape == (2, 1, 3, 2) and not short.any()


def test_sinusoidal_encoding():
    pe = ops.sinusoidal_encoding(np.arange(4), 6)
    assert pe.shape == (4, 6) and pe.dtype == np.float32
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(pe[3, 0], np.sin(3.0), rtol=1e-6)
    np.testing.assert_allclose(pe[3, 1], np.cos(3.0), rtol=1e-6)
    freq = np.exp(2 * -(np.log(10000.0) / 6))
    np.testing.assert_allclose(pe[3, 2], np.sin(3 * freq), rtol=1e-5)
    with pytest.raises(ValueError, match='even number of channels'):
        ops.sinusoidal_encoding(np.arange(4), 5)


def test_ops_jit_and_bf16():
    q = jnp.asarray(rand((1, 4, 75, 2, 3), 15), jnp.bfloat16)
    k = jnp.asarray(rand((1, 4, 25, 2, 3), 16), jnp.bfloat16)
    mask = graphs.get_graph('ntu').hop_masks(2)
    att = jax.jit(windowed_st_attention)(q, k, mask)
    assert att.dtype == jnp.float32
    q32, k32 = np.asarray(q, np.float32), np.asarray(k, np.float32)
    ref = reference_attention(q32, k32, mask, np.ones((1, 2, 75), np.float32), 0.0)
    np.testing.assert_allclose(np.asarray(att), ref, atol=1e-2)


# --- The cheaper equivalents the model runs, each against the definitions -----------------

@pytest.mark.parametrize('window', [1, 3, 5])
def test_unfold_joint_major_is_the_unfold_transposed(window):
    x = rand((2, 6, 4, 3), 20)
    want = np.asarray(unfold_temporal_window(jnp.asarray(x), window)).transpose(0, 2, 1, 3)
    got = np.asarray(ops.unfold_joint_major(jnp.asarray(x), window))
    np.testing.assert_array_equal(got, want)
    edge = np.array([7.0, -1.0, 0.5], np.float32)
    padded = np.asarray(ops.unfold_joint_major(jnp.asarray(x), window, pad_value=edge))
    outside = want == 0
    np.testing.assert_array_equal(padded[~outside], want[~outside])
    np.testing.assert_array_equal(padded[outside], np.broadcast_to(edge, want.shape)[outside])
    with pytest.raises(ValueError, match='window must be a positive odd'):
        ops.unfold_joint_major(jnp.asarray(x), 4)


def test_window_logits_equal_projecting_the_unfolded_window():
    # conv1x1(unfold(x)) == unfold(conv1x1(x)) with the bias outside the clip.
    b, t, v, c_in, s, c, w = 2, 5, 25, 6, 4, 3, 3
    x = rand((b, t, v, c_in), 21)
    kernel, bias = rand((c_in, s * c), 22), rand((s * c,), 23)
    q_unfolded = np.asarray(unfold_temporal_window(jnp.asarray(x), w)) @ kernel + bias
    k = rand((b, t, v, s * c), 24)
    want = np.einsum('btusc,btvsc->bsuv', q_unfolded.reshape(b, t, w * v, s, c),
                     k.reshape(b, t, v, s, c)) / (c * t)
    for heads_major in (True, False):
        got = np.asarray(ops.window_logits(jnp.asarray(x @ kernel + bias), jnp.asarray(k), s, w,
                                           pad_value=jnp.asarray(bias), heads_major=heads_major))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    mask = graphs.get_graph('ntu').hop_masks(s)
    row_gate = np.random.default_rng(25).uniform(size=(b, s, w * v)).astype(np.float32)
    glob = rand((1, s, w * v, v), 26)
    np.testing.assert_allclose(
        np.asarray(ops.attention_from_logits(jnp.asarray(got), mask, row_gate, glob)),
        np.asarray(windowed_st_attention(q_unfolded.reshape(b, t, w * v, s, c),
                                             k.reshape(b, t, v, s, c), mask, row_gate, glob)),
        rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('window', [3, 5])
def test_window_gate_from_means_equals_the_gate(window):
    b, t, v, c, s = 2, 6, 5, 8, 4
    x, d = rand((b, t, v, c), 27), rand((b, t, v, c), 28)
    u = unfold_temporal_window(jnp.asarray(x), window)
    want = np.asarray(window_gate(jnp.asarray(d), u, s))
    means = ops.window_means(jnp.asarray(x), window)
    np.testing.assert_allclose(
        np.asarray(means),
        np.asarray(u).reshape(b, t, window, v, c).mean(axis=(1, 3)), rtol=1e-5, atol=1e-6)
    got = np.asarray(ops.window_gate_from_means(jnp.asarray(d.mean(axis=(1, 2))), means, s))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='must divide the channels'):
        ops.window_gate_from_means(jnp.asarray(d.mean(axis=(1, 2))), means, 3)


@pytest.mark.parametrize('window', [1, 3])
def test_windowed_aggregate_equals_aggregating_the_unfolded_window(window):
    b, t, v, c, s = 2, 4, 5, 3, 2
    x, att = rand((b, t, v, c), 29), rand((b, s, window * v, v), 30)
    want = np.asarray(aggregate_windows(unfold_temporal_window(jnp.asarray(x), window),
                                            jnp.asarray(att)))
    got = np.asarray(ops.windowed_aggregate(jnp.asarray(x), jnp.asarray(att), window))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

"""STGAT attention operations as plain functions of arrays.

All activations are channels-last: a batch of sequences is ``(B, T, V, C)`` with B the batch
(persons folded in), T frames, V joints, C channels. Heads are split s-major: channel
``s * C_head + c`` belongs to head ``s``, as in the official code, so official weights map onto
the model without reordering.

The windowed spatial-temporal attention of one STGAT block, in the order the official code runs it
(see ``models/stgat.py`` for the projections around it):

1. :func:`unfold_temporal_window` stacks the frames ``t-1, t, t+1`` of every joint:
   ``U[b, t, w * V + j] = x[b, t + w - 1, j]`` (zero outside the clip).
2. :func:`windowed_st_attention` computes one ``(W*V, V)`` matrix per sample and head from
   queries on ``U`` and keys on ``x``: logits averaged over time and channels with scale
   ``1 / (C' * T)`` (quirk O4), the hop-ring mask, softmax over the last axis (quirk O3), the
   row gate of :func:`window_gate` / :func:`expand_gate`, and the unmasked global term G (O5).
3. :func:`aggregate_windows` sums the window features with that matrix, giving ``S * C``
   s-major channels.

The model runs the same computation through cheaper equivalents, each tested against the
definitions above: :func:`window_logits` projects the queries on the centre frames and unfolds
the projection (a 1x1 conv commutes with the unfold; frames outside the clip take the conv's
bias), :func:`window_means` and :func:`window_gate_from_means` compute the gate from per-sample
means (the gate is a mean of linear maps), and :func:`windowed_aggregate` contracts the window
joints as one matrix product per sample in a joint-major layout.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

# Fill value the official code gives to masked logits before the softmax.
MASK_FILL = -9e15

GATE_INDEX_MODES = ('official', 'window')


def window_padding(window: int) -> int:
    """Frames a window of odd length `window` reaches on each side of its centre, (W - 1) / 2.

    Raises:
      ValueError: `window` is not a positive odd number.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f'window must be a positive odd number, got {window}')
    return (window - 1) // 2


def unfold_temporal_window(x: jax.Array, window: int) -> jax.Array:
    """Stacks `window` neighbouring frames of every joint along the joint axis.

    Args:
      x: (B, T, V, C).
      window: odd window length W; frame offsets ``-(W-1)/2 .. (W-1)/2``.

    Returns:
      (B, T, W * V, C) with ``out[b, t, w * V + j] = x[b, t + w - (W-1)/2, j]``, zero where that
      frame is outside ``[0, T)``.
    """
    return _unfold(x, window, frame_axis=1, joint_axis=2)


def _unfold(x: jax.Array, window: int, frame_axis: int, joint_axis: int,
            pad_value: jax.Array | None = None) -> jax.Array:
    """Window frame w of every joint along `joint_axis`: ``x`` shifted by ``w - (W-1)/2`` frames.

    `pad_value` (broadcastable to `x` with `frame_axis` of length 1; None for zeros) fills the
    frames outside the clip. The one unfold behind :func:`unfold_temporal_window`,
    :func:`unfold_joint_major` and :func:`window_logits`.
    """
    pad = window_padding(window)
    num_frames = x.shape[frame_axis]
    if pad_value is None:
        widths = [(0, 0)] * x.ndim
        widths[frame_axis] = (pad, pad)
        padded = jnp.pad(x, widths)
    else:
        edge_shape = list(x.shape)
        edge_shape[frame_axis] = pad
        edge = jnp.broadcast_to(jnp.asarray(pad_value, x.dtype), edge_shape)
        padded = jnp.concatenate([edge, x, edge], axis=frame_axis)
    return jnp.concatenate(
        [jax.lax.slice_in_dim(padded, w, w + num_frames, axis=frame_axis) for w in range(window)],
        axis=joint_axis)


def unfold_joint_major(x: jax.Array, window: int, pad_value: jax.Array | None = None) -> jax.Array:
    """The unfolded window in a joint-major layout, for contractions over the window joints.

    Args:
      x: (B, T, V, C).
      window: odd window length W.
      pad_value: (C,) value of the frames outside ``[0, T)``; None for zeros.

    Returns:
      (B, W * V, T, C) with ``out[b, w * V + j, t] = x[b, t + w - (W-1)/2, j]`` (`pad_value`
      outside the clip), i.e. :func:`unfold_temporal_window` with the joint and frame axes swapped.
    """
    return _unfold(x.transpose(0, 2, 1, 3), window, frame_axis=2, joint_axis=1, pad_value=pad_value)


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` accumulated and returned in float32 (XLA's CPU bf16 products are fast only so)."""
    return jnp.matmul(a, b, preferred_element_type=jnp.float32)


def channel_dense(x: jax.Array, kernel: jax.Array, bias: jax.Array, out_dtype=None,
                  cpu_layout: bool = True) -> jax.Array:
    """``x @ kernel + bias`` over the last axis (a 1x1 convolution on channels-last input).

    The same function as ``nn.Dense``, with a backward pass laid out for the CPU: the forward
    pass keeps the input transposed, ``(C_in, N)``, so the kernel gradient is a plain
    ``(C_in, N) x (N, C_out)`` product. Left to itself, XLA's CPU backend transposes the
    incoming gradient for that product inside the fusion that computes it (e.g. a BatchNorm
    backward), which costs more than the product. Products accumulate in float32.

    Args:
      x: (..., C_in).
      kernel: (C_in, C_out), the dtype of `x`.
      bias: (C_out,).
      out_dtype: dtype of the result, default that of `x` (float32 feeds a BatchNorm without a
        round trip through a narrower dtype).
      cpu_layout: the backward pass above; False: plain autodiff of the same product, which
        XLA's TPU and GPU compilers fuse and lay out better (no transposed copy of `x` kept).

    Returns:
      (..., C_out).
    """
    dense = _channel_dense if cpu_layout else _channel_dense_plain
    return dense(x, kernel, bias).astype(out_dtype or x.dtype)


def _channel_dense_plain(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    return _matmul(x, kernel) + bias.astype(jnp.float32)


@jax.custom_vjp
def _channel_dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    return _matmul(x, kernel) + bias.astype(jnp.float32)


def _channel_dense_fwd(x, kernel, bias):
    x2 = x.reshape(-1, x.shape[-1])
    return _channel_dense(x, kernel, bias), (x2.T, kernel, bias, x.shape)


def _channel_dense_bwd(res, g):
    x_t, kernel, bias, shape = res
    g2 = g.reshape(-1, g.shape[-1])
    d_bias = g2.sum(axis=0).astype(bias.dtype)
    g2 = g2.astype(x_t.dtype)  # the operands' dtype for the products
    dx = _matmul(g2, kernel.T).astype(x_t.dtype).reshape(shape)
    return dx, _matmul(x_t, g2).astype(kernel.dtype), d_bias


_channel_dense.defvjp(_channel_dense_fwd, _channel_dense_bwd)


def _temporal_conv(x: jax.Array, kernel: jax.Array, stride: int,
                   padding: tuple[int, int] | None = None) -> jax.Array:
    """Conv of (B, T, V, C) along T, in float32; `padding` (before, after) frames, default
    ``kt // 2`` each."""
    pad = kernel.shape[0] // 2
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, 1), (padding or (pad, pad), (0, 0)),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), preferred_element_type=jnp.float32)


def temporal_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array, stride: int = 1,
                  out_dtype=None, cpu_layout: bool = True) -> jax.Array:
    """Convolution along the frames, ``(kt, 1)`` kernel, zero padding ``kt // 2``, stride on T.

    The same function as ``nn.Conv(kernel_size=(kt, 1), strides=(stride, 1))`` on (B, T, V, C),
    with a backward pass laid out for the CPU:

    * the kernel gradient is one ``(kt * C_in, N) x (N, C_out)`` product on the shifted frames of
      the input, kept transposed, ``(C_in, B, T, V)``, by the forward pass;
    * for a stride above 1 the input gradient is computed per output phase: frames
      ``stride * m + r`` take a stride-1 convolution of the incoming gradient with the taps of
      phase r, instead of XLA's dilated convolution.

    Products accumulate in float32.

    Args:
      x: (B, T, V, C_in).
      kernel: (kt, 1, C_in, C_out), kt odd, the dtype of `x`.
      bias: (C_out,).
      stride: stride along T.
      out_dtype: dtype of the result, default that of `x`.
      cpu_layout: the backward pass above; False: plain autodiff of the same convolution (for
        XLA's TPU and GPU compilers).

    Returns:
      (B, floor((T - 1) / stride) + 1, V, C_out).
    """
    if not cpu_layout:
        return (_temporal_conv(x, kernel, stride) + bias.astype(jnp.float32)).astype(out_dtype or x.dtype)
    return _temporal_conv_f32(x, kernel, bias, stride).astype(out_dtype or x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _temporal_conv_f32(x: jax.Array, kernel: jax.Array, bias: jax.Array, stride: int) -> jax.Array:
    return _temporal_conv(x, kernel, stride) + bias.astype(jnp.float32)


def _temporal_conv_fwd(x, kernel, bias, stride):
    return _temporal_conv_f32(x, kernel, bias, stride), (x.transpose(3, 0, 1, 2), kernel, bias)


def _temporal_conv_bwd(stride, res, g):
    x_t, kernel, bias = res  # x_t: (C_in, B, T, V)
    taps, c_in, c_out = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    pad = taps // 2
    num_frames, out_frames = x_t.shape[2], g.shape[1]
    d_bias = g.reshape(-1, c_out).sum(axis=0).astype(bias.dtype)
    g = g.astype(x_t.dtype)
    g2 = g.reshape(-1, c_out)

    padded = jnp.pad(x_t, ((0, 0), (0, 0), (pad, pad), (0, 0)))
    span = stride * (out_frames - 1) + 1
    cols = jnp.stack([padded[:, :, k:k + span:stride] for k in range(taps)])  # (kt, C, B, T', V)
    d_kernel = _matmul(cols.reshape(taps * c_in, -1), g2).reshape(taps, 1, c_in, c_out)

    if stride == 1:
        dx = _temporal_conv(g, kernel[::-1].transpose(0, 1, 3, 2), 1)
    else:
        # dx[stride * m + r] = sum over taps k = r + pad - stride * j of kernel[k]^T g[m + j].
        phases = []
        length = -(-num_frames // stride)
        for r in range(stride):
            offsets = [(r + pad - k) // stride for k in range(taps) if (r + pad - k) % stride == 0]
            frames = -(-(num_frames - r) // stride)
            if not offsets:  # a stride longer than the kernel skips these frames
                phases.append(jnp.zeros((g.shape[0], length) + g.shape[2:3] + (c_in,), jnp.float32))
                continue
            lo, hi = min(offsets), max(offsets)
            zero = jnp.zeros((1, c_out, c_in), kernel.dtype)
            sub = jnp.stack([
                kernel[k].transpose(0, 2, 1) if 0 <= (k := r + pad - stride * j) < taps else zero
                for j in range(lo, hi + 1)
            ])  # (J, 1, C_out, C_in)
            right = frames - out_frames + lo + (hi - lo)
            phase = _temporal_conv(g, sub, 1, padding=(-lo, right))
            phases.append(jnp.pad(phase, ((0, 0), (0, length - frames), (0, 0), (0, 0))))
        dx = jnp.stack(phases, axis=2)  # (B, length, stride, V, C_in)
        dx = dx.reshape(g.shape[0], length * stride, *dx.shape[3:])[:, :num_frames]
    return dx.astype(x_t.dtype), d_kernel.astype(kernel.dtype), d_bias


_temporal_conv_f32.defvjp(_temporal_conv_fwd, _temporal_conv_bwd)


def tile_window_mask(mask: jax.Array | np.ndarray, window: int) -> jax.Array | np.ndarray:
    """(S, V, V) joint mask -> (S, W * V, V): row ``w * V + j`` is row ``j`` of `mask`."""
    if isinstance(mask, np.ndarray):
        return np.tile(mask, (1, window, 1))
    return jnp.tile(mask, (1, window, 1))


def masked_softmax(logits: jax.Array, mask: jax.Array | np.ndarray, axis: int = -1) -> jax.Array:
    """Softmax of `logits` where ``mask > 0``; masked entries get exactly zero weight.

    As in the official code, masked logits are replaced by ``-9e15`` (not -inf), so a fully
    masked row gives a uniform distribution instead of NaN.

    Args:
      logits: array of any shape.
      mask: array broadcastable to `logits`; entries ``> 0`` are kept.
      axis: axis to normalise over.
    """
    filled = jnp.where(jnp.asarray(mask) > 0, logits, jnp.asarray(MASK_FILL, logits.dtype))
    return jax.nn.softmax(filled, axis=axis)


def window_gate(d: jax.Array, u: jax.Array, num_heads: int) -> jax.Array:
    """Diff-based sigmoid gate, one value per sample, head and window frame.

    ``g[b, s, w] = sigmoid(mean_{t, j, c'} (d[b, t, j, s, c'] - U[b, t, w * V + j, s, c']))``
    with channels split s-major into ``num_heads`` groups of ``C / num_heads``.

    Args:
      d: (B, T, V, C) the gate features (``diff_net(x @ A_norm)`` in STGAT).
      u: (B, T, W * V, C) the unfolded block input.
      num_heads: number of heads S; must divide C.

    Returns:
      (B, S, W) float32.
    """
    b, t, v, c = d.shape
    window = u.shape[2] // v
    if c % num_heads:
        raise ValueError(f'num_heads={num_heads} must divide the channels C={c}')
    diff = jnp.tile(d, (1, 1, window, 1)) - u
    diff = diff.reshape(b, t, window, v, num_heads, c // num_heads)
    mean = jnp.mean(diff.astype(jnp.float32), axis=(1, 3, 5))  # (B, W, S)
    return jax.nn.sigmoid(mean).transpose(0, 2, 1)


def window_means(x: jax.Array, window: int) -> jax.Array:
    """Mean over frames and joints of each window frame of the unfolded input.

    ``out[b, w, c] = mean_{t, j} U[b, t, w * V + j, c]`` with ``U = unfold_temporal_window(x,
    window)`` (zeros outside the clip), computed from per-frame sums without unfolding.

    Args:
      x: (B, T, V, C).
      window: odd window length W.

    Returns:
      (B, W, C) float32.
    """
    pad = window_padding(window)
    num_frames, num_nodes = x.shape[1], x.shape[2]
    frame_sums = jnp.sum(x.astype(jnp.float32), axis=2)  # (B, T, C)
    means = []
    for w in range(window):
        offset = w - pad  # window frame w reads frame t + offset
        lo, hi = max(0, offset), min(num_frames, num_frames + offset)
        means.append(jnp.sum(frame_sums[:, lo:hi], axis=1))
    return jnp.stack(means, axis=1) / (num_frames * num_nodes)


def window_gate_from_means(d_mean: jax.Array, u_mean: jax.Array, num_heads: int) -> jax.Array:
    """:func:`window_gate` from the means of its two inputs.

    The gate is a sigmoid of a mean of ``d - U``, so it only needs ``mean_{t, j} d`` (for
    ``d = conv1x1(x @ A_norm)`` that is the conv of the mean) and :func:`window_means` of U.

    Args:
      d_mean: (B, C) mean of the gate features over frames and joints.
      u_mean: (B, W, C) :func:`window_means` of the block input.
      num_heads: number of heads S; must divide C.

    Returns:
      (B, S, W) float32, equal to ``window_gate(d, unfold_temporal_window(x, W), S)``.
    """
    b, window, c = u_mean.shape
    if c % num_heads:
        raise ValueError(f'num_heads={num_heads} must divide the channels C={c}')
    diff = d_mean.astype(jnp.float32)[:, None, :] - u_mean.astype(jnp.float32)  # (B, W, C)
    mean = jnp.mean(diff.reshape(b, window, num_heads, c // num_heads), axis=-1)  # (B, W, S)
    return jax.nn.sigmoid(mean).transpose(0, 2, 1)


def expand_gate(g: jax.Array, num_nodes: int, gate_index: str = 'official') -> jax.Array:
    """Per-row gate of the (W * V)-row attention matrix.

    Args:
      g: (B, S, W) gate of :func:`window_gate`.
      num_nodes: V.
      gate_index: ``'official'``: row u gets ``g[u mod W]``, the tiling the official code does
        (quirk O1); ``'window'``: row u gets ``g[u // V]``, the gate of its own window frame.

    Returns:
      (B, S, W * V).
    """
    if gate_index == 'official':
        return jnp.tile(g, (1, 1, num_nodes))
    if gate_index == 'window':
        return jnp.repeat(g, num_nodes, axis=-1)
    raise ValueError(f'gate_index must be one of {GATE_INDEX_MODES}, got {gate_index!r}')


def windowed_st_attention(
    q: jax.Array,
    k: jax.Array,
    mask: jax.Array | np.ndarray | None = None,
    row_gate: jax.Array | None = None,
    global_att: jax.Array | None = None,
) -> jax.Array:
    """Windowed spatial-temporal attention matrix of STGAT, one per sample and head.

    ``L[b, s, u, v] = sum_{t, c'} q[b, t, u, s, c'] k[b, t, v, s, c'] / (C' * T)``, masked with
    the hop rings, softmax over v, multiplied by the row gate, plus the global term.

    Args:
      q: (B, T, W * V, S, C') queries on the unfolded window.
      k: (B, T, V, S, C') keys on the centre frame.
      mask: (S, V, V) hop-ring masks (``> 0`` = attend); row j is used for every window frame.
        None: no mask and plain softmax.
      row_gate: (B, S, W * V) gate per row (see :func:`expand_gate`), or None.
      global_att: learnable term broadcastable to (B, S, W * V, V), added last, or None.

    Returns:
      (B, S, W * V, V) float32 attention.
    """
    num_frames, num_rows, _, head_dim = q.shape[1:]
    logits = jnp.einsum('btusc,btvsc->bsuv', q, k, preferred_element_type=jnp.float32)
    return attention_from_logits(logits / (head_dim * num_frames), mask, row_gate, global_att)


def window_logits(q_frames: jax.Array, k: jax.Array, num_heads: int, window: int,
                  pad_value: jax.Array | None = None) -> jax.Array:
    """Scaled logits of :func:`windowed_st_attention` from queries projected on the frames.

    A 1x1 conv commutes with :func:`unfold_temporal_window`, except on the frames outside the
    clip, where the unfolded input is zero and the conv gives its bias: so
    ``conv(unfold(x)) = unfold(conv(x), pad_value=bias)``, at a third of the projection's cost.

    Args:
      q_frames: (B, T, V, S * C') queries projected on the (not unfolded) frames, s-major.
      k: (B, T, V, S * C') keys, s-major.
      num_heads: S.
      window: odd window length W.
      pad_value: (S * C',) query of a frame outside the clip (the projection's bias); None: 0.

    Returns:
      (B, S, W * V, V) float32 ``sum_{t, c'} q[b, t, u, s, c'] k[b, t, v, s, c'] / (C' * T)``.
    """
    b, num_frames, v, c = k.shape
    head_dim = c // num_heads
    # Heads and joints major, (frames, channels) minor: the layout of a product per sample and
    # head over frames and channels. The queries are unfolded after this transpose, so that XLA
    # transposes W times less data.
    qh = q_frames.reshape(b, num_frames, v, num_heads, head_dim).transpose(0, 3, 2, 1, 4)
    kh = k.reshape(b, num_frames, v, num_heads, head_dim).transpose(0, 3, 2, 1, 4)
    if pad_value is not None:
        pad_value = jnp.reshape(pad_value, (1, num_heads, 1, 1, head_dim))
    q = _unfold(qh, window, frame_axis=3, joint_axis=2, pad_value=pad_value)  # (B, S, W*V, T, C')
    logits = jnp.einsum('bsutc,bsvtc->bsuv', q, kh, preferred_element_type=jnp.float32)
    return logits / (head_dim * num_frames)


def attention_from_logits(
    logits: jax.Array,
    mask: jax.Array | np.ndarray | None = None,
    row_gate: jax.Array | None = None,
    global_att: jax.Array | None = None,
) -> jax.Array:
    """Masked softmax over the last axis, row gate and global term of :func:`windowed_st_attention`.

    Args:
      logits: (B, S, W * V, V) scaled logits.
      mask, row_gate, global_att: as in :func:`windowed_st_attention`.

    Returns:
      (B, S, W * V, V) float32 attention.
    """
    window = logits.shape[2] // logits.shape[3]
    if mask is None:
        att = jax.nn.softmax(logits, axis=-1)
    else:
        att = masked_softmax(logits, tile_window_mask(mask, window), axis=-1)
    if row_gate is not None:
        att = att * row_gate[..., None]
    if global_att is not None:
        att = att + global_att
    return att


def aggregate_windows(u: jax.Array, att: jax.Array) -> jax.Array:
    """Sums the window features with the attention matrix (no value projection).

    Args:
      u: (B, T, W * V, C) unfolded features.
      att: (B, S, W * V, V) attention.

    Returns:
      (B, T, V, S * C) with s-major channels: ``y[..., s * C + c] = sum_u u[..., u, c] att[s, u, v]``.
    """
    b, t, _, c = u.shape
    s, v = att.shape[1], att.shape[3]
    y = jnp.einsum('btuc,bsuv->btvsc', u, att.astype(u.dtype))
    return y.reshape(b, t, v, s * c)


def windowed_aggregate(x: jax.Array, att: jax.Array, window: int) -> jax.Array:
    """``aggregate_windows(unfold_temporal_window(x, window), att)``, computed joint-major.

    The window joints are contracted as one (S * V, W * V) x (W * V, T * C) matrix product per
    sample on :func:`unfold_joint_major`, which needs no transpose of the unfolded tensor.

    Args:
      x: (B, T, V, C) block input.
      att: (B, S, W * V, V) attention.
      window: odd window length W.

    Returns:
      (B, T, V, S * C) with s-major channels.
    """
    b, t, v, c = x.shape
    s = att.shape[1]
    u = unfold_joint_major(x, window).reshape(b, window * v, t * c)
    a = att.astype(x.dtype).transpose(0, 1, 3, 2).reshape(b, s * v, window * v)
    y = jnp.einsum('bmu,bux->bmx', a, u)  # (B, S*V, T*C)
    return y.reshape(b, s, v, t, c).transpose(0, 3, 2, 1, 4).reshape(b, t, v, s * c)


def temporal_attention(q: jax.Array, k: jax.Array, alpha: jax.Array) -> jax.Array:
    """Frame-to-frame attention of the (optional) temporal branch.

    ``tanh(sum_{v, c'} q[b, t, v, s, c'] k[b, r, v, s, c'] / (C' * V)) * alpha``.

    Args:
      q: (B, T, V, S, C').
      k: (B, T, V, S, C').
      alpha: broadcastable to (B, S, T, T), e.g. (1, S, 1, 1).

    Returns:
      (B, S, T, T) float32, indexed [b, s, t, r].
    """
    num_nodes, _, head_dim = q.shape[2:]
    logits = jnp.einsum('btvsc,brvsc->bstr', q, k, preferred_element_type=jnp.float32)
    return jnp.tanh(logits / (head_dim * num_nodes)) * alpha


def aggregate_frames(y: jax.Array, att: jax.Array) -> jax.Array:
    """``z[b, r, v, s * C + c] = sum_t y[b, t, v, c] att[b, s, t, r]``.

    Args:
      y: (B, T, V, C).
      att: (B, S, T, T) from :func:`temporal_attention` (plus any global term).

    Returns:
      (B, T, V, S * C) with s-major channels.
    """
    b, t, v, c = y.shape
    s = att.shape[1]
    z = jnp.einsum('btvc,bstr->brvsc', y, att.astype(y.dtype))
    return z.reshape(b, t, v, s * c)


def lag_difference(x: jax.Array, lag: int) -> jax.Array:
    """Frame differences along T of (B, T, ...) arrays, zero padded to length T.

    ``lag > 0``: ``out[t] = x[t] - x[t - lag]`` (zero for t < lag);
    ``lag < 0``: ``out[t] = x[t] - x[t + |lag|]`` (zero for the last |lag| frames).
    """
    num_frames = x.shape[1]
    n = abs(lag)
    if lag == 0 or n >= num_frames:
        return jnp.zeros_like(x)
    pad = [(0, 0)] * x.ndim
    if lag > 0:
        diff = x[:, n:] - x[:, :-n]
        pad[1] = (n, 0)
    else:
        diff = x[:, :-n] - x[:, n:]
        pad[1] = (0, n)
    return jnp.pad(diff, pad)


def sinusoidal_encoding(positions: Sequence[int] | np.ndarray, channels: int) -> np.ndarray:
    """Sinusoidal position table, computed in float32 like the official code.

    ``pe[i, 2k] = sin(p_i * f_k)``, ``pe[i, 2k + 1] = cos(p_i * f_k)``,
    ``f_k = exp(2k * -(ln(10000) / channels))``.

    Args:
      positions: integer positions (joint index or frame index).
      channels: even number of channels.

    Returns:
      (len(positions), channels) float32 numpy array.
    """
    if channels % 2:
        raise ValueError(f'positional encoding needs an even number of channels, got {channels}')
    position = np.asarray(positions, dtype=np.float32)[:, None]
    div_term = np.exp(
        np.arange(0, channels, 2, dtype=np.float32) * np.float32(-(np.log(10000.0) / channels))
    ).astype(np.float32)
    pe = np.zeros((position.shape[0], channels), dtype=np.float32)
    pe[:, 0::2] = np.sin(position * div_term)
    pe[:, 1::2] = np.cos(position * div_term)
    return pe

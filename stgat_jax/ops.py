"""STGAT attention operations as plain functions of arrays.

All activations are channels-last: a batch of sequences is ``(B, T, V, C)`` with B the batch
(persons folded in), T frames, V joints, C channels. Heads are split s-major: channel
``s * C_head + c`` belongs to head ``s``, as in the official code, so official weights map onto
the model without reordering.

The windowed spatial-temporal attention of one STGAT block, as the official code defines it
(reference definitions in ``tests/reference_ops.py``; see ``models/stgat.py`` for the projections
around it): the window frames ``t-1, t, t+1`` of every joint are stacked into ``W * V`` rows
``U[b, t, w * V + j] = x[b, t + w - 1, j]`` (zero outside the clip); one ``(W*V, V)`` matrix per
sample and head comes from queries on ``U`` and keys on ``x``, logits averaged over time and
channels with scale ``1 / (C' * T)`` (quirk O4), the hop-ring mask, softmax over the last axis
(quirk O3), a per-row sigmoid gate (:func:`expand_gate`) and the unmasked global term G (O5); the
window features summed with that matrix give ``S * C`` s-major channels.

The model computes this through cheaper equivalents, each tested against the definitions:
:func:`window_logits` projects the queries on the centre frames and unfolds the projection (a
1x1 conv commutes with the unfold; frames outside the clip take the conv's bias),
:func:`window_means` and :func:`window_gate_from_means` compute the gate from per-sample means
(the gate is a mean of linear maps), :func:`attention_from_logits` masks, normalises and gates,
and :func:`windowed_aggregate` contracts the window joints as one matrix product per sample in a
joint-major layout.
"""

from __future__ import annotations

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


def _unfold(x: jax.Array, window: int, frame_axis: int, joint_axis: int,
            pad_value: jax.Array | None = None) -> jax.Array:
    """Window frame w of every joint along `joint_axis`: ``x`` shifted by ``w - (W-1)/2`` frames.

    `pad_value` (broadcastable to `x` with `frame_axis` of length 1; None for zeros) fills the
    frames outside the clip. The one unfold behind :func:`unfold_joint_major` and
    :func:`window_logits`.
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
      outside the clip), i.e. the unfolded window ``U`` with the joint and frame axes swapped.
    """
    return _unfold(x.transpose(0, 2, 1, 3), window, frame_axis=2, joint_axis=1, pad_value=pad_value)


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


def window_means(x: jax.Array, window: int) -> jax.Array:
    """Mean over frames and joints of each window frame of the unfolded input.

    ``out[b, w, c] = mean_{t, j} U[b, t, w * V + j, c]`` with ``U`` the unfolded window of `x`
    (zeros outside the clip), computed from per-frame sums without unfolding.

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
    """The window gate, one value per sample, head and window frame, from the means of its inputs.

    ``g[b, s, w] = sigmoid(mean_{t, j, c'} (d[b, t, j, s, c'] - U[b, t, w * V + j, s, c']))``
    with channels split s-major into heads, ``d`` the gate features (``diff_net(x @ A_norm)``)
    and ``U`` the unfolded block input. The gate is a sigmoid of a mean of ``d - U``, so it only
    needs ``mean_{t, j} d`` (for ``d = conv1x1(x @ A_norm)`` that is the conv of the mean) and
    :func:`window_means` of U.

    Args:
      d_mean: (B, C) mean of the gate features over frames and joints.
      u_mean: (B, W, C) :func:`window_means` of the block input.
      num_heads: number of heads S; must divide C.

    Returns:
      (B, S, W) float32.
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
      g: (B, S, W) gate of :func:`window_gate_from_means`.
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


def window_logits(q_frames: jax.Array, k: jax.Array, num_heads: int, window: int,
                  pad_value: jax.Array | None = None, heads_major: bool = True) -> jax.Array:
    """Scaled logits of the windowed attention from queries projected on the frames.

    A 1x1 conv commutes with the window unfold, except on the frames outside the
    clip, where the unfolded input is zero and the conv gives its bias: so
    ``conv(unfold(x)) = unfold(conv(x), pad_value=bias)``, at a third of the projection's cost.

    Args:
      q_frames: (B, T, V, S * C') queries projected on the (not unfolded) frames, s-major.
      k: (B, T, V, S * C') keys, s-major.
      num_heads: S.
      window: odd window length W.
      pad_value: (S * C',) query of a frame outside the clip (the projection's bias); None: 0.
      heads_major: transpose queries and keys to heads and joints major before unfolding (the
        faster program on XLA's CPU backend); False: unfold the channels-last frames along the
        joint axis and contract them as they are, with no transposes, which XLA's TPU compiler
        schedules with less HBM traffic (``benchmarks/RESULTS.md``).

    Returns:
      (B, S, W * V, V) float32 ``sum_{t, c'} q[b, t, u, s, c'] k[b, t, v, s, c'] / (C' * T)``.
    """
    b, num_frames, v, c = k.shape
    head_dim = c // num_heads
    if heads_major:
        # Heads and joints major, (frames, channels) minor: the layout of a product per sample and
        # head over frames and channels. The queries are unfolded after this transpose, so that XLA
        # transposes W times less data.
        qh = q_frames.reshape(b, num_frames, v, num_heads, head_dim).transpose(0, 3, 2, 1, 4)
        kh = k.reshape(b, num_frames, v, num_heads, head_dim).transpose(0, 3, 2, 1, 4)
        if pad_value is not None:
            pad_value = jnp.reshape(pad_value, (1, num_heads, 1, 1, head_dim))
        q = _unfold(qh, window, frame_axis=3, joint_axis=2, pad_value=pad_value)  # (B, S, W*V, T, C')
        logits = jnp.einsum('bsutc,bsvtc->bsuv', q, kh, preferred_element_type=jnp.float32)
    else:
        if pad_value is not None:
            pad_value = jnp.reshape(pad_value, (1, 1, 1, c))
        q = _unfold(q_frames, window, frame_axis=1, joint_axis=2, pad_value=pad_value)  # (B, T, W*V, S*C')
        logits = jnp.einsum('btusc,btvsc->bsuv', q.reshape(b, num_frames, window * v, num_heads, head_dim),
                            k.reshape(b, num_frames, v, num_heads, head_dim), preferred_element_type=jnp.float32)
    return logits / (head_dim * num_frames)


def attention_from_logits(
    logits: jax.Array,
    mask: jax.Array | np.ndarray | None = None,
    row_gate: jax.Array | None = None,
    global_att: jax.Array | None = None,
) -> jax.Array:
    """Masked softmax over the last axis, then the row gate, then the global term.

    Args:
      logits: (B, S, W * V, V) scaled logits (:func:`window_logits`).
      mask: (S, V, V) hop-ring masks (``> 0`` = attend); row j is used for every window frame.
        None: no mask and plain softmax.
      row_gate: (B, S, W * V) gate per row (see :func:`expand_gate`), or None.
      global_att: learnable term broadcastable to (B, S, W * V, V), added last, or None.

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


def windowed_aggregate(x: jax.Array, att: jax.Array, window: int) -> jax.Array:
    """The window features summed with the attention matrix, computed joint-major.

    ``y[b, t, v, s * C + c] = sum_u U[b, t, u, c] att[b, s, u, v]`` with ``U`` the unfolded
    window of `x` (no value projection).

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

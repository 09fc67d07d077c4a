"""Definitions of STGAT's windowed spatial-temporal attention, in the order the official code runs it.

The model computes the same attention through the cheaper equivalents of ``stgat_jax/ops.py``;
``test_ops.py`` checks each of them against these definitions, and these against numpy loops.

1. :func:`unfold_temporal_window` stacks the frames ``t-1, t, t+1`` of every joint:
   ``U[b, t, w * V + j] = x[b, t + w - 1, j]`` (zero outside the clip).
2. :func:`windowed_st_attention` computes one ``(W*V, V)`` matrix per sample and head from
   queries on ``U`` and keys on ``x``: logits averaged over time and channels with scale
   ``1 / (C' * T)`` (quirk O4), the hop-ring mask, softmax over the last axis (quirk O3), the
   row gate of :func:`window_gate` / ``ops.expand_gate``, and the unmasked global term G (O5).
3. :func:`aggregate_windows` sums the window features with that matrix, giving ``S * C``
   s-major channels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stgat_jax import ops


def unfold_temporal_window(x: jax.Array, window: int) -> jax.Array:
    """Stacks `window` neighbouring frames of every joint along the joint axis.

    Args:
      x: (B, T, V, C).
      window: odd window length W; frame offsets ``-(W-1)/2 .. (W-1)/2``.

    Returns:
      (B, T, W * V, C) with ``out[b, t, w * V + j] = x[b, t + w - (W-1)/2, j]``, zero where that
      frame is outside ``[0, T)``.
    """
    pad = ops.window_padding(window)
    num_frames = x.shape[1]
    padded = jnp.pad(x, ((0, 0), (pad, pad), (0, 0), (0, 0)))
    return jnp.concatenate([padded[:, w:w + num_frames] for w in range(window)], axis=2)


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
      row_gate: (B, S, W * V) gate per row (see ``ops.expand_gate``), or None.
      global_att: learnable term broadcastable to (B, S, W * V, V), added last, or None.

    Returns:
      (B, S, W * V, V) float32 attention.
    """
    num_frames, num_rows, _, head_dim = q.shape[1:]
    logits = jnp.einsum('btusc,btvsc->bsuv', q, k, preferred_element_type=jnp.float32)
    return ops.attention_from_logits(logits / (head_dim * num_frames), mask, row_gate, global_att)


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

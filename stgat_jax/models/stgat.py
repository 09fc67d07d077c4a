"""STGAT: spatial-temporal graph attention network (Hu, Liu & Feng), in Flax linen.

The model computes what the official PyTorch code computes, including its quirks; where a quirk
is a mistake, a field switches the correction on. Reproduced by default:

* O1: the window gate ``g[b, s, w]`` is tiled over the 3V attention rows as ``g[u mod 3]``
  (``gate_index='official'``); ``gate_index='window'`` gives row ``u = w*V + j`` its own frame's
  gate ``g[u // V]``.
* O3: the softmax normalises over the V centre-frame joints (last axis), while the aggregation
  sums over the 3V window rows.
* O4: one attention matrix per sample and head for the whole clip: logits summed over time and
  channels and scaled by ``1 / (C' * T)``.
* O5: the learnable global term G (init 1/V) is added after mask, softmax and gate, unmasked.
* O7: ``graph='openpose'`` uses the official Kinetics graph, which is the true skeleton relabelled
  by one (node k = joint (k+1) mod 18); ``openpose_fixed=True`` uses the true skeleton.
* O10: both spatial residuals start from the block input.

Layout: the input is ``(N, M, T, V, C)`` float (persons second, channels last); persons are
folded into the batch (index ``n * M + m``) and all activations are ``(B, T, V, C)``.

Network (defaults = the official NTU60 config):

* ``embedding``: five branches ``Conv1x1 -> BN -> LeakyReLU(0.1)`` on x and on the frame
  differences ``x[t]-x[t-1]``, ``x[t]-x[t-2]``, ``x[t]-x[t+1]``, ``x[t]-x[t+2]`` (zero padded),
  with ``C/2, C/8, C/8, C/8, C/8`` channels, concatenated in that order.
* ``graph_layers_{i}``: one :class:`STAttentionBlock` per entry ``(C_in, C_out, stride)`` of
  ``blocks``.
* Mean over persons, frames and joints, then ``fc`` (Linear).

Flax names mirror the official module names (``graph_layers_{i}`` for ``graph_layers.{i}``);
:mod:`stgat_jax.official_names` maps every official state-dict key onto one flax leaf. 1x1 convs
are :class:`~stgat_jax.layers.Dense1x1` layers, the temporal convs
:class:`~stgat_jax.layers.TemporalConv`, each with a BatchNorm in a
:class:`~stgat_jax.layers.ConvBN` where the official code has ``nn.Sequential(Conv2d,
BatchNorm2d)``.

BatchNorm follows PyTorch (eps 1e-5, momentum 0.1, i.e. flax momentum 0.9); in train mode both
normalise with the biased batch variance. PyTorch's running variance uses the unbiased variance,
flax's the biased one, which differs by a factor ``n / (n - 1)`` with n = B*T*V values per channel.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stgat_jax import graphs, ops
from stgat_jax.layers import ConvBN, Dense1x1
from stgat_jax.models.csta import CSTAConfig

NTU60_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1),
    (128, 256, 2), (256, 256, 1), (256, 256, 1), (256, 256, 1),
)

LEAKY_SLOPE = 0.1
# The STAttentionBlock fields each block sets itself; the others are STGAT fields.
PER_BLOCK_FIELDS = ('in_channels', 'out_channels', 'stride', 'num_frames')
# How the 1x1 and temporal convs are differentiated (STGAT.conv_impl).
CONV_IMPLS = ('cpu', 'xla')
# Rematerialisation of each block in the backward pass (STGAT.remat): the `jax.checkpoint` policy
# of what the forward pass keeps; 'none' keeps everything, 'full' recomputes the block.
REMAT_POLICIES = {
    'none': None,
    'full': None,
    'dots': jax.checkpoint_policies.dots_saveable,
    'dots_no_batch': jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}

# xavier_normal_ for the classifier weight.
FC_KERNEL_INIT = nn.initializers.variance_scaling(1.0, 'fan_avg', 'normal')


def leaky_relu(x: jax.Array) -> jax.Array:
    """LeakyReLU with slope 0.1, as in the official code."""
    return jax.nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)


class InputEmbedding(nn.Module):
    """Joint positions and four frame differences, each mapped to channels and concatenated.

    Output channels ``[x: C/2 | d1: C/8 | d2: C/8 | d3: C/8 | d4: C/8]`` with
    ``d1 = x[t]-x[t-1]``, ``d2 = x[t]-x[t-2]``, ``d3 = x[t]-x[t+1]``, ``d4 = x[t]-x[t+2]``.
    """

    features: int = 64
    dtype: Any = jnp.float32
    conv_impl: str = 'cpu'

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Maps (B, T, V, C0) to (B, T, V, features)."""
        parts = [leaky_relu(ConvBN(self.features // 2, dtype=self.dtype, impl=self.conv_impl, name='input_map')(x, train))]
        for i, lag in enumerate((1, 2, -1, -2)):
            branch = ConvBN(self.features // 8, dtype=self.dtype, impl=self.conv_impl,
                            name=f'diff_map{i + 1}')
            parts.append(leaky_relu(branch(ops.lag_difference(x, lag), train)))
        return jnp.concatenate(parts, axis=-1)


class STAttentionBlock(nn.Module):
    """One STGAT block: windowed spatial-temporal attention, then a temporal conv (or attention).

    `in_channels`, `out_channels` and `stride` come from the block's entry of ``STGAT.blocks``,
    `num_frames` is this block's input length (used by the positional encodings and the temporal
    attention), `stride` subsamples T in the temporal part. Every other field is the
    :class:`STGAT` field of the same name: STGAT hands its blocks one constructor with those set.
    """

    in_channels: int
    out_channels: int
    stride: int = 1
    graph: str = 'ntu'
    openpose_fixed: bool = False
    num_heads: int = 8
    window: int = 3
    num_frames: int = 128
    use_spatial_att: bool = True
    use_temporal_att: bool = False
    use_pes: bool = False
    use_pet: bool = False
    att_s: bool = True
    glo_reg_s: bool = True
    att_t: bool = False
    glo_reg_t: bool = False
    gate_index: str = 'official'
    attention_dropout: float = 0.0
    temporal_kernel: int = 7
    dtype: Any = jnp.float32
    conv_impl: str = 'cpu'

    def _residual(self, x: jax.Array, train: bool, name: str, stride: int = 1) -> jax.Array:
        """Identity, or Conv1x1 + BN when the channels or the stride change."""
        if self.in_channels != self.out_channels or self.stride != 1:
            return ConvBN(self.out_channels, stride=stride, dtype=self.dtype, impl=self.conv_impl,
                          name=name)(x, train)
        return x

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Maps (B, T, V, C_in) to (B, ceil(T / stride), V, C_out) and an aux dict.

        The aux dict holds the attention maps of the branches the block has:
        ``spatial_attention`` (B, S, W*V, V), ``gate`` (B, S, W) (with `att_s`) and
        ``temporal_attention`` (B, S, T, T). Where nothing reads them, XLA drops them.
        """
        aux: dict[str, jax.Array] = {}
        if self.use_spatial_att:
            y = self._spatial_attention(x, train, aux)
        else:
            y = ConvBN(self.out_channels, kernel=(1, 3), dtype=self.dtype, impl=self.conv_impl,
                       name='out_nets')(x, train)
            y = leaky_relu(self._residual(x, train, 'downs2') + y)

        if self.use_temporal_att:
            z = self._temporal_attention(y, train, aux)
        else:
            z = ConvBN(
                self.out_channels,
                kernel=(self.temporal_kernel, 1),
                stride=self.stride,
                dtype=self.dtype,
                impl=self.conv_impl,
                name='out_nett',
            )(y, train)
            z = leaky_relu(self._residual(y, train, 'downt2', self.stride) + z)
        return z, aux

    def _spatial_attention(self, x: jax.Array, train: bool, aux: dict[str, jax.Array]) -> jax.Array:
        """Windowed spatial-temporal attention and its two residual 1x1 stages."""
        batch, num_frames, num_nodes, channels = x.shape
        heads = self.num_heads
        head_dim = self.out_channels // heads
        graph = graphs.get_graph(self.graph, self.openpose_fixed)

        y = x
        if self.use_pes:
            pe = ops.sinusoidal_encoding(np.arange(num_nodes), channels)  # (V, C)
            y = x + jnp.asarray(pe, self.dtype)

        global_att = None
        if self.glo_reg_s:
            global_att = self.param(
                'attention0s',
                nn.initializers.constant(1.0 / num_nodes),
                (1, heads, self.window * num_nodes, num_nodes),
                jnp.float32,
            )

        if self.att_s:
            # What the official code computes, through cheaper equivalents (ops module docstring):
            # the queries of the unfolded window are the unfolded queries of the frames (with the
            # conv's bias outside the clip), and the gate only needs means over frames and joints.
            k = Dense1x1(heads * head_dim, channels, self.dtype, impl=self.conv_impl, name='in_nets')(y)
            q_net = Dense1x1(heads * head_dim, channels, self.dtype, impl=self.conv_impl, name='in_nets_upfold')
            q = q_net(y)
            q_outside = q_net(jnp.zeros((1, channels), self.dtype))[0]  # the bias
            logits = ops.window_logits(q, k, heads, self.window, pad_value=q_outside,
                                       heads_major=self.conv_impl == 'cpu')
            # mean_{t,j} diff_net(y @ A_norm) = diff_net(mean_{t,j} y @ A_norm): one row per sample.
            a_rows = jnp.asarray(graph.A_norm.sum(axis=1), jnp.float32)  # (V,)
            y_mean = jnp.einsum('btvc,v->bc', y.astype(jnp.float32), a_rows) / (num_frames * num_nodes)
            d_mean = Dense1x1(channels, channels, self.dtype, impl=self.conv_impl, name='diff_net')(y_mean.astype(self.dtype))
            gate = ops.window_gate_from_means(d_mean, ops.window_means(y, self.window), heads)
            row_gate = ops.expand_gate(gate, num_nodes, self.gate_index)
            att = ops.attention_from_logits(
                logits, graph.hop_masks(heads), row_gate=row_gate, global_att=global_att
            )
            aux['gate'] = gate
        else:
            att = jnp.broadcast_to(global_att, (batch,) + global_att.shape[1:])

        att = nn.Dropout(self.attention_dropout)(att, deterministic=not train)
        aux['spatial_attention'] = att
        y = ops.windowed_aggregate(y, att, self.window)  # (B, T, V, S*C_in)

        y = ConvBN(self.out_channels, dtype=self.dtype, impl=self.conv_impl, name='out_nets')(y, train)
        y = leaky_relu(self._residual(x, train, 'downs1') + y)
        y = ConvBN(self.out_channels, dtype=self.dtype, impl=self.conv_impl, name='ff_nets')(y, train)
        return leaky_relu(self._residual(x, train, 'downs2') + y)

    def _temporal_attention(self, y: jax.Array, train: bool, aux: dict[str, jax.Array]) -> jax.Array:
        """Frame-to-frame attention branch (off in the official configs)."""
        batch, num_frames, num_nodes, channels = y.shape
        heads = self.num_heads
        head_dim = self.out_channels // heads
        if num_frames != self.num_frames:
            raise ValueError(
                f'use_temporal_att needs inputs of exactly num_frames frames per block: block '
                f'expects {self.num_frames}, got {num_frames}'
            )
        z = y
        if self.use_pet:
            pe = ops.sinusoidal_encoding(np.arange(num_frames), channels)  # (T, C)
            z = y + jnp.asarray(pe[:, None, :], self.dtype)

        att = None
        if self.att_t:
            qk = Dense1x1(2 * heads * head_dim, channels, self.dtype, impl=self.conv_impl, name='in_nett')(z)
            qk = qk.reshape(batch, num_frames, num_nodes, 2, heads, head_dim)
            alpha = self.param('alphat', nn.initializers.ones, (1, heads, 1, 1), jnp.float32)
            att = ops.temporal_attention(qk[:, :, :, 0], qk[:, :, :, 1], alpha)
        if self.glo_reg_t:
            eye = jnp.broadcast_to(jnp.eye(num_frames, dtype=jnp.float32), (1, heads, num_frames, num_frames))
            global_att = self.param('attention0t', lambda key: eye)
            att = global_att if att is None else att + global_att
            att = jnp.broadcast_to(att, (batch,) + att.shape[1:])

        att = nn.Dropout(self.attention_dropout)(att, deterministic=not train)
        aux['temporal_attention'] = att
        z = ops.aggregate_frames(y, att)  # (B, T, V, S*C_out)
        z = ConvBN(self.out_channels, dtype=self.dtype, impl=self.conv_impl, name='out_nett')(z, train)
        z = leaky_relu(self._residual(y, train, 'downt1') + z)
        z = ConvBN(self.out_channels, stride=self.stride, dtype=self.dtype, impl=self.conv_impl,
                   name='ff_nett')(z, train)
        return leaky_relu(self._residual(y, train, 'downt2', self.stride) + z)


class STGAT(nn.Module):
    """STGAT classifier; defaults are the official NTU60 configuration.

    Attributes:
      num_classes: number of classes (60 NTU60, 120 NTU120, 400 Kinetics).
      in_channels: coordinates per joint (3 for NTU, 2 for Kinetics).
      graph: ``'ntu'`` (25 joints), ``'openpose'`` (18 joints) or ``'kinect_v1'`` (20 joints).
      openpose_fixed: use the true OpenPose graph instead of the official shifted one (O7).
      blocks: ``(C_in, C_out, stride)`` per block; the first C_in is the embedding width.
      num_heads: attention heads S; head s attends within the exact (s+1)-hop ring.
      window: frames per temporal window W (odd).
      num_frames: input length T; needed by the temporal attention (its global term is T x T).
      use_spatial_att / use_temporal_att: which attention branches exist.
      use_pes / use_pet: sinusoidal joint / frame encodings added before the attention.
      att_s / glo_reg_s: data-dependent spatial attention / learnable global term G.
      att_t / glo_reg_t: same for the temporal branch.
      gate_index: ``'official'`` (O1 tiling ``u mod 3``) or ``'window'`` (``u // V``).
      attention_dropout / dropout / dropout2d: rates for the attention maps, the pooled feature,
        and whole (person, frame, joint) feature vectors before pooling.
      temporal_kernel: kernel length of the temporal conv.
      dtype: compute dtype; parameters stay float32.
      conv_impl: how the 1x1 and temporal convs are differentiated: ``'cpu'``, with the layouts
        and backward passes of :func:`layers.channel_dense` / :func:`layers.temporal_conv` written for
        XLA's CPU backend, or ``'xla'``, plain autodiff, which XLA's TPU and GPU compilers
        schedule better (``models.build_model`` resolves the config's ``'auto'`` by platform).
      remat: rematerialise each block in the backward pass to save memory: ``'none'``,
        ``'full'`` (recompute the block), ``'dots'`` / ``'dots_no_batch'`` (keep the products,
        recompute the elementwise work; `jax.checkpoint_policies`). Same function, same gradients.
      csta_blocks: indices of the blocks whose output goes through a coupled spatial-temporal
        attention (:class:`~stgat_jax.models.csta.CoupledAttention`, module ``csta_{i}``); empty
        (the default) adds nothing, so the official model is unchanged.
      csta_config: the settings of those CoupledAttention modules; its ``subnet_input``:
        ``'features'`` (the subnetworks read the block output), ``'coordinates'`` (they read the
        model input, subsampled in time like the blocks) or ``'motion'`` (the relative joint
        speeds of that subsampled input, which the motion prior also uses).
    """

    num_classes: int = 60
    in_channels: int = 3
    graph: str = 'ntu'
    openpose_fixed: bool = False
    blocks: Sequence[Sequence[int]] = NTU60_BLOCKS
    num_heads: int = 8
    window: int = 3
    num_frames: int = 128
    use_spatial_att: bool = True
    use_temporal_att: bool = False
    use_pes: bool = False
    use_pet: bool = False
    att_s: bool = True
    glo_reg_s: bool = True
    att_t: bool = False
    glo_reg_t: bool = False
    gate_index: str = 'official'
    attention_dropout: float = 0.0
    dropout: float = 0.0
    dropout2d: float = 0.0
    temporal_kernel: int = 7
    dtype: Any = jnp.float32
    conv_impl: str = 'cpu'
    remat: str = 'none'
    csta_blocks: Sequence[int] = ()
    csta_config: CSTAConfig = CSTAConfig()

    def check_config(self) -> None:
        """Raises ValueError naming the field when the configuration is inconsistent."""
        if self.graph not in graphs.GRAPH_NAMES:
            raise ValueError(f'graph must be one of {graphs.GRAPH_NAMES}, got {self.graph!r}')
        if self.gate_index not in ops.GATE_INDEX_MODES:
            raise ValueError(
                f'gate_index must be one of {ops.GATE_INDEX_MODES}, got {self.gate_index!r}'
            )
        if self.conv_impl not in CONV_IMPLS:
            raise ValueError(f'conv_impl must be one of {CONV_IMPLS}, got {self.conv_impl!r}')
        if self.remat not in REMAT_POLICIES:
            raise ValueError(f'remat must be one of {tuple(REMAT_POLICIES)}, got {self.remat!r}')
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f'window must be a positive odd number, got {self.window}')
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f'temporal_kernel must be a positive odd number, got {self.temporal_kernel}')
        if self.num_heads < 1:
            raise ValueError(f'num_heads must be >= 1, got {self.num_heads}')
        if not self.blocks:
            raise ValueError('blocks must name at least one (C_in, C_out, stride) block')
        previous = None
        for i, block in enumerate(self.blocks):
            if len(block) != 3 or min(block) < 1:
                raise ValueError(f'blocks[{i}] must be (C_in, C_out, stride) of positive ints, got {block}')
            c_in, c_out, _ = block
            if previous is not None and c_in != previous:
                raise ValueError(
                    f'blocks[{i}] C_in={c_in} must equal the C_out={previous} of blocks[{i - 1}]'
                )
            if c_out % self.num_heads or c_in % self.num_heads:
                raise ValueError(
                    f'blocks[{i}] channels ({c_in}, {c_out}) must be multiples of num_heads={self.num_heads}'
                )
            previous = c_out
        if self.blocks[0][0] % 8:
            raise ValueError(f'blocks[0] C_in must be a multiple of 8 (embedding), got {self.blocks[0][0]}')
        if self.use_spatial_att and not (self.att_s or self.glo_reg_s):
            raise ValueError('use_spatial_att needs att_s or glo_reg_s (else the attention is zero)')
        if self.use_temporal_att and not (self.att_t or self.glo_reg_t):
            raise ValueError('use_temporal_att needs att_t or glo_reg_t (else the attention is zero)')
        for i in self.csta_blocks:
            if not 0 <= i < len(self.blocks) or list(self.csta_blocks).count(i) > 1:
                raise ValueError(
                    f'csta_blocks must hold distinct block indices in [0, {len(self.blocks)}), '
                    f'got {tuple(self.csta_blocks)}'
                )

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, Any]]:
        """Classifies a batch of skeleton sequences.

        Args:
          x: (N, M, T, V, C) float; M persons, V joints of `graph`, C = `in_channels`.
          train: batch statistics and dropout (rng 'dropout') when True.

        Returns:
          logits (N, num_classes) float32, and aux: ``features`` (N, C_last) float32, the pooled
          feature; ``blocks``, the aux dict of each block (attention maps and gates, see
          :class:`STAttentionBlock`); with `csta_blocks` also ``csta``, ``{block index:
          {'joint_weights': (N, M, V), 'frame_weights': (N, M, T_i), 'map': (N, M, T_i, V)}}``
          with T_i the frames of that block's output.
        """
        self.check_config()
        num_nodes = graphs.NUM_NODES[self.graph]
        if x.ndim != 5 or x.shape[3] != num_nodes or x.shape[4] != self.in_channels:
            raise ValueError(
                f'x must have shape (N, M, T, V={num_nodes}, C={self.in_channels}) for '
                f'graph={self.graph!r}, in_channels={self.in_channels}; got {x.shape}'
            )
        n, m, t = x.shape[:3]
        if self.use_temporal_att and t != self.num_frames:
            raise ValueError(f'use_temporal_att needs T == num_frames={self.num_frames}, got T={t}')

        h = x.reshape(n * m, t, num_nodes, self.in_channels).astype(self.dtype)
        coords = h
        h = InputEmbedding(self.blocks[0][0], dtype=self.dtype, conv_impl=self.conv_impl,
                           name='embedding')(h, train)

        block_aux = []
        csta_aux: dict[int, dict[str, jax.Array]] = {}
        context = coords  # the model input: CSTA's 'coordinates' / 'motion' input, motion prior
        frames = t
        block_cls = STAttentionBlock
        if self.remat != 'none':  # argument 2 of __call__ (self, x, train) is static
            block_cls = nn.remat(STAttentionBlock, static_argnums=(2,), policy=REMAT_POLICIES[self.remat])
        # One constructor for every block, with the STGAT fields the block shares.
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(STAttentionBlock)
                  if f.name not in PER_BLOCK_FIELDS + ('parent', 'name')}
        block = functools.partial(block_cls, **shared)
        for i, (c_in, c_out, stride) in enumerate(self.blocks):
            h, aux_i = block(in_channels=c_in, out_channels=c_out, stride=stride, num_frames=frames,
                             name=f'graph_layers_{i}')(h, train)
            block_aux.append(aux_i)
            frames = h.shape[1]
            context = context[:, ::stride]  # the frames a strided block keeps
            if i in self.csta_blocks:
                h, weights = self.csta_config.build(dtype=self.dtype, name=f'csta_{i}')(h, context)
                csta_aux[i] = {k: w.reshape(n, m, *w.shape[1:]) for k, w in weights.items()}

        c_last = self.blocks[-1][1]
        h = h.astype(jnp.float32).reshape(n, m, frames, num_nodes, c_last)
        h = nn.Dropout(self.dropout2d, broadcast_dims=(4,))(h, deterministic=not train)
        features = jnp.mean(h, axis=(1, 2, 3))
        pooled = nn.Dropout(self.dropout)(features, deterministic=not train)
        logits = nn.Dense(
            self.num_classes,
            dtype=jnp.float32,
            param_dtype=jnp.float32,
            kernel_init=FC_KERNEL_INIT,
            bias_init=nn.initializers.zeros,
            name='fc',
        )(pooled)

        aux: dict[str, Any] = {'features': features, 'blocks': block_aux}
        if self.csta_blocks:
            aux['csta'] = csta_aux
        return logits, aux

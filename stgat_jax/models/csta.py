"""Coupled spatial-temporal attention (CSTA) and the CSTA-CNN model (HCN + CSTA).

CSTA (Wang, arXiv 1909.10214) learns one weight per joint and one weight per
frame with two small subnetworks, and couples them with an outer product into a
(T, V) map that rescales the features at one point of a hierarchical CNN. The
base network is HCN (Li et al., "Co-occurrence Feature Learning from Skeleton
Data for Action Recognition and Detection with Hierarchical Aggregation", IJCAI
2018).

Only the idea of CSTA is known from the paper's abstract: two subnetworks give
joint and frame weights, and their "cross product" (an outer product for vectors
of lengths V and T) gives the coupled attention. The subnetwork design, the
normalisation of the weights and the insertion point are reconstructions, so
every such choice is a field of the modules below (the ``csta_*`` fields of
:class:`HCN`, set by ``configs/csta_base.py``). The defaults, and why:

- position ``conv2``: where the map multiplies the features: ``input`` (C=3),
  ``conv1`` (C=64) or ``conv2`` (C=32, the last tensor that still has a joint
  axis before conv3 mixes the joints; the most "CNN" choice).
- subnet_input ``features``: the subnetworks read the tensor they rescale;
  ``coordinates`` makes them read the stream's input (positions or motion);
  ``motion`` the joint speeds of the model input, relative to the clip's mean
  speed.
- pooling ``mean`` (or ``max``): over frames for the joint net, over joints for
  the frame net. hidden_features 64: width of both two-layer subnetworks;
  activation ``relu`` (relu|gelu|tanh|sigmoid) between the two layers.
- normalization ``softmax_rescaled``: softmax over joints and over frames, map
  times T*V (mean 1: uniform attention is the identity); ``sigmoid`` gates;
  ``residual`` F * (1 + A).
- motion_prior 1.0 in CSTA-CNN's configs (0 where CSTA is plugged into STGAT,
  where it has not been measured): the weight g of a prior added to the
  subnetworks' logits, g * log(share of the clip's motion) per joint and per
  frame, from the joint speeds of the model input (both streams). With the
  softmax, joint weight = (motion share)^g x learned factor, renormalised, and
  frames alike; 0 gives the plain learned attention. Not from the paper. Why on:
  the paper's aim is weights that show which joints and frames matter, and the
  classification loss alone does not make them do so: a per-joint gain shared by
  all samples is absorbed by conv3, whose input channels are the joints, and the
  set is learnt before the subnetworks move much. Without the prior the weights
  stay near uniform on the synthetic set and do not follow a waving arm; with it
  the waving arm holds most of the joint weight, and the largest frame weights
  fall where the arm is raised and lowered. The preference comes from the prior
  (the learned factor stays near uniform there), so the picture shows where the
  body moves, re-weighted by what the subnetworks learnt. On real data (NW-UCLA)
  the prior did not cost accuracy. The figures are in ``benchmarks/RESULTS.md``.
- Fixed, not fields: separate CSTA parameters per stream (position, motion),
  shared by the persons of a sample; the map is a plain outer product (no
  learned layer after it). From the HCN paper: 32-frame clips (64 is skelact's
  and HCN-pytorch's), fc7 of 256 features, dropout 0.5.

What the paper reports (from an AI-generated summary of the paper, not its
tables; unverified): CSTA-CNN top-1 95.6 on UESTC (the protocol is not stated;
taken here as cross-view I, it may be cross-subject), 81.1 on UESTC cross-view
II, 84.9 and 89.9 on NTU RGB+D 60 cross-subject and cross-view. HCN's own paper
reports 86.5 / 91.1 on NTU 60, so CSTA-CNN is said to be slightly below HCN
there; 84.9 equals HCN-pytorch's T=64 reimplementation exactly. The UESTC
cross-view splits of the dataset paper were not available, so
``data_prep.uestc`` makes them options.

All tensors are channels-last. A skeleton batch is (N, M, T, V, C): batch,
persons, frames, joints, coordinates.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

NORMALIZATIONS = ('softmax_rescaled', 'sigmoid', 'residual')
POOLINGS = ('mean', 'max')
SUBNET_INPUTS = ('features', 'coordinates', 'motion')
CSTA_POSITIONS = ('input', 'conv1', 'conv2')
# Relative speeds below this count as this much in the motion prior's log (no log(0)).
MOTION_PRIOR_FLOOR = 1e-3
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    'relu': nn.relu,
    'gelu': nn.gelu,
    'tanh': jnp.tanh,
    'sigmoid': nn.sigmoid,
}

# Initialisers of HCN: Xavier-uniform for convolutions, N(0, 0.01) for linear layers.
CONV_INIT = nn.initializers.xavier_uniform()
DENSE_INIT = nn.initializers.normal(stddev=0.01)


def _dense(features: int, dtype: Any, name: str) -> nn.Dense:
    """Linear layer with HCN's N(0, 0.01) kernel init and zero bias."""
    return nn.Dense(features, dtype=dtype, kernel_init=DENSE_INIT, name=name)


def outer_map(frame_weights: Array, joint_weights: Array) -> Array:
    """Couples frame weights (B, T) and joint weights (B, V) into a (B, T, V) map.

    A[b, t, v] = frame_weights[b, t] * joint_weights[b, v], so every map is rank 1.
    """
    return frame_weights[:, :, None] * joint_weights[:, None, :]


def normalize_softmax_rescaled(
    joint_logits: Array, frame_logits: Array
) -> tuple[Array, Array, Array]:
    """Softmax over joints and over frames; the map is multiplied by T * V.

    Each weight vector is a distribution (sums to 1). Their outer product sums
    to 1 over the T * V cells, so it is rescaled by T * V to have mean 1: a
    uniform attention leaves the features unchanged, and the feature scale does
    not shrink by 1 / (T * V).

    Returns:
        (joint_weights (B, V), frame_weights (B, T), map (B, T, V)).
    """
    joint = jax.nn.softmax(joint_logits, axis=-1)
    frame = jax.nn.softmax(frame_logits, axis=-1)
    scale = joint.shape[-1] * frame.shape[-1]
    return joint, frame, scale * outer_map(frame, joint)


def normalize_sigmoid(
    joint_logits: Array, frame_logits: Array
) -> tuple[Array, Array, Array]:
    """Independent sigmoid gates in (0, 1) for every joint and every frame.

    Weights do not compete with each other; the map is their plain outer
    product, so the features can only be kept or damped.

    Returns:
        (joint_weights (B, V), frame_weights (B, T), map (B, T, V)).
    """
    joint = jax.nn.sigmoid(joint_logits)
    frame = jax.nn.sigmoid(frame_logits)
    return joint, frame, outer_map(frame, joint)


def normalize_residual(
    joint_logits: Array, frame_logits: Array
) -> tuple[Array, Array, Array]:
    """Softmax weights and an unscaled map (sums to 1), applied as F * (1 + A).

    The features always pass through; the attention only adds to them. Because
    the map sums to 1, the added part is small unless the weights are peaked.

    Returns:
        (joint_weights (B, V), frame_weights (B, T), map (B, T, V)).
    """
    joint = jax.nn.softmax(joint_logits, axis=-1)
    frame = jax.nn.softmax(frame_logits, axis=-1)
    return joint, frame, outer_map(frame, joint)


def coupled_attention(
    features: Array,
    joint_weights: Array,
    frame_weights: Array,
    *,
    mode: str = 'softmax_rescaled',
) -> tuple[Array, dict[str, Array]]:
    """Applies coupled spatial-temporal attention to features.

    Args:
        features: (B, T, V, C) features, channels-last.
        joint_weights: (B, V) raw (unnormalised) outputs of the joint subnetwork.
        frame_weights: (B, T) raw (unnormalised) outputs of the frame subnetwork.
        mode: how the raw outputs become the attention map.
            'softmax_rescaled' (default): softmax over V and over T, map times
                T * V (mean 1), output F * A. Default because a uniform attention
                is the identity, the weights read as distributions over joints
                and frames for visualisation, and the feature scale is kept.
            'sigmoid': independent sigmoid gates, output F * A.
            'residual': softmax weights, map summing to 1, output F * (1 + A).

    Returns:
        (attended features (B, T, V, C), {'joint_weights': (B, V),
        'frame_weights': (B, T), 'map': (B, T, V)}) with normalised weights.
    """
    if mode == 'softmax_rescaled':
        joint, frame, attention = normalize_softmax_rescaled(joint_weights, frame_weights)
    elif mode == 'sigmoid':
        joint, frame, attention = normalize_sigmoid(joint_weights, frame_weights)
    elif mode == 'residual':
        joint, frame, attention = normalize_residual(joint_weights, frame_weights)
    else:
        raise ValueError(f'unknown CSTA normalisation {mode!r}; expected one of {NORMALIZATIONS}')
    gain = attention.astype(features.dtype)[..., None]
    if mode == 'residual':
        attended = features * (1 + gain)
    else:
        attended = features * gain
    return attended, {'joint_weights': joint, 'frame_weights': frame, 'map': attention}


def joint_speed(x: Array) -> Array:
    """Per-joint speed |x[t] - x[t - 1]| (Euclidean over C); the first frame takes the second's.

    Unlike HCN's motion stream (`temporal_difference`, whose first frame is zero), no frame
    looks still only because it is the first. A single frame has speed 0.

    Args:
        x: (..., T, V, C) coordinates.

    Returns:
        (..., T, V, 1) speeds.
    """
    diff = x[..., 1:, :, :] - x[..., :-1, :, :]
    diff = jnp.concatenate([diff[..., :1, :, :], diff], axis=-3) if diff.shape[-3] else jnp.zeros_like(x)
    squared = jnp.sum(jnp.square(diff), axis=-1, keepdims=True)
    # The inner where keeps the gradient finite (zero) where a joint does not move.
    moving = squared > 0
    return jnp.where(moving, jnp.sqrt(jnp.where(moving, squared, 1.0)), 0.0)


def relative_speed(x: Array, eps: float = 1e-6) -> Array:
    """Joint speeds divided by the clip's mean speed over its frames and joints.

    The result has mean 1 over (T, V) whatever the body size, the units or the
    tempo, so it says which joints and frames move more than the rest. A clip
    without motion (e.g. an absent person, all zeros) gives zeros.

    Args:
        x: (B, T, V, C) coordinates.

    Returns:
        (B, T, V, 1) relative speeds.
    """
    speed = joint_speed(x)
    return speed / (jnp.mean(speed, axis=(1, 2, 3), keepdims=True) + eps)


def motion_prior_logits(skeleton: Array) -> tuple[Array, Array]:
    """Log motion shares of the joints and of the frames: the logits of the motion prior.

    With r = `relative_speed(skeleton)`, the joint prior is log(mean_t r + floor)
    and the frame prior log(mean_v r + floor). Added to the subnetworks' logits
    with weight g, a softmax turns them into weights proportional to
    (motion share)^g * exp(learned logit): joints and frames that move more
    than the rest start with more weight.

    Args:
        skeleton: (B, T, V, C) coordinates.

    Returns:
        (joint prior (B, V), frame prior (B, T)), float32.
    """
    r = relative_speed(skeleton.astype(jnp.float32))[..., 0]
    joint = jnp.log(jnp.mean(r, axis=1) + MOTION_PRIOR_FLOOR)
    frame = jnp.log(jnp.mean(r, axis=2) + MOTION_PRIOR_FLOOR)
    return joint, frame


def temporal_difference(x: Array) -> Array:
    """Motion stream of HCN: x[t] - x[t - 1] along axis -3, with a zero first frame.

    Args:
        x: (..., T, V, C) coordinates.

    Returns:
        (..., T, V, C) frame differences.
    """
    diff = x[..., 1:, :, :] - x[..., :-1, :, :]
    first = jnp.zeros_like(x[..., :1, :, :])
    return jnp.concatenate([first, diff], axis=-3)


class CoupledAttention(nn.Module):
    """CSTA: joint and frame subnetworks whose outputs are coupled by an outer product.

    Joint subnetwork: pool the source over time -> (B, V, C), flatten to C * V,
    Dense(H) -> activation -> Dense(V). Frame subnetwork: pool over joints ->
    (B, T, C), flatten to C * T, Dense(H) -> activation -> Dense(T). T and V
    are taken from the input shape, so the layer sizes are fixed at init.

    Attributes:
        hidden_features: width H of both subnetworks.
        pooling: 'mean' or 'max' pooling before each subnetwork.
        subnet_input: what both subnetworks read. 'features': the attended tensor.
            'coordinates': the `context` tensor (e.g. the stream's input).
            'motion': the per-joint speed |s[t] - s[t - 1]| of the `skeleton`
            coordinates relative to the clip's mean speed, (B, T, V, 1)
            (`relative_speed`): the joint net sees how much each joint moves
            over the clip, the frame net how much the body moves per frame.
        motion_prior: weight g of the motion prior (`motion_prior_logits`, read
            from `skeleton`) added to the joint and frame logits; 0 turns it
            off. With a softmax normalisation the weights become proportional
            to (motion share)^g times the learned softmax factor.
        normalization: see `coupled_attention`.
        activation: name in ACTIVATIONS.
        dtype: compute dtype of the dense layers.
    """

    hidden_features: int = 64
    pooling: str = 'mean'
    subnet_input: str = 'features'
    normalization: str = 'softmax_rescaled'
    activation: str = 'relu'
    motion_prior: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, features: Array, context: Array | None = None, skeleton: Array | None = None
    ) -> tuple[Array, dict[str, Array]]:
        """Attends over joints and frames.

        Args:
            features: (B, T, V, C) tensor to be rescaled.
            context: (B, T, V, C') tensor the subnetworks read when
                subnet_input == 'coordinates'.
            skeleton: (B, T, V, C'') coordinates whose joint speeds the
                subnetworks read (subnet_input 'motion') and the motion prior
                uses; defaults to `context`.

        Returns:
            (attended (B, T, V, C), {'joint_weights': (B, V),
            'frame_weights': (B, T), 'map': (B, T, V)}).
        """
        if self.pooling not in POOLINGS:
            raise ValueError(f'unknown pooling {self.pooling!r}; expected one of {POOLINGS}')
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f'unknown activation {self.activation!r}; expected one of {tuple(ACTIVATIONS)}'
            )
        skeleton = context if skeleton is None else skeleton
        if self.subnet_input == 'features':
            source = features
        elif self.subnet_input == 'coordinates':
            if context is None:
                raise ValueError("subnet_input='coordinates' needs a context tensor")
            source = context
        elif self.subnet_input == 'motion':
            if skeleton is None:
                raise ValueError("subnet_input='motion' needs a skeleton (or context) tensor")
            source = relative_speed(skeleton)
        else:
            raise ValueError(
                f'unknown subnet_input {self.subnet_input!r}; expected one of {SUBNET_INPUTS}'
            )
        if self.motion_prior < 0:
            raise ValueError(f'motion_prior must be >= 0, got {self.motion_prior}')
        if self.motion_prior and skeleton is None:
            raise ValueError('motion_prior > 0 needs a skeleton (or context) tensor')
        batch, frames, joints = features.shape[:3]
        for name, other in (('input', source), ('skeleton', skeleton)):
            if other is not None and other.shape[:3] != (batch, frames, joints):
                raise ValueError(
                    f'CSTA {name} shape {other.shape} does not match features {features.shape}')

        pool = jnp.mean if self.pooling == 'mean' else jnp.max
        act = ACTIVATIONS[self.activation]
        source = source.astype(self.dtype)

        per_joint = pool(source, axis=1).reshape(batch, -1)  # (B, V * C)
        h = _dense(self.hidden_features, self.dtype, 'joint_fc1')(per_joint)
        joint_logits = _dense(joints, self.dtype, 'joint_fc2')(act(h))

        per_frame = pool(source, axis=2).reshape(batch, -1)  # (B, T * C)
        h = _dense(self.hidden_features, self.dtype, 'frame_fc1')(per_frame)
        frame_logits = _dense(frames, self.dtype, 'frame_fc2')(act(h))

        # Normalise in float32 so softmax stays accurate under bfloat16 compute.
        joint_logits = joint_logits.astype(jnp.float32)
        frame_logits = frame_logits.astype(jnp.float32)
        if self.motion_prior:
            joint_prior, frame_prior = motion_prior_logits(skeleton)
            joint_logits = joint_logits + self.motion_prior * joint_prior
            frame_logits = frame_logits + self.motion_prior * frame_prior
        return coupled_attention(features, joint_logits, frame_logits, mode=self.normalization)


@dataclasses.dataclass(frozen=True)
class CSTAConfig:
    """The settings of a :class:`CoupledAttention`, one value for the models that insert it.

    Same names, meanings and defaults as the module's fields; ``config.model.csta_{name}`` sets
    one of them (``models.build_model`` collects them here).
    """

    hidden_features: int = 64
    pooling: str = 'mean'
    subnet_input: str = 'features'
    normalization: str = 'softmax_rescaled'
    activation: str = 'relu'
    motion_prior: float = 0.0

    def build(self, **kwargs: Any) -> CoupledAttention:
        """A CoupledAttention with these settings and `kwargs` (``dtype``, ``name``)."""
        return CoupledAttention(**dataclasses.asdict(self), **kwargs)


def _conv(features: int, kernel: tuple[int, int], dtype: Any, name: str) -> nn.Conv:
    """HCN convolution: stride 1, 'same' zero padding (k // 2), Xavier-uniform kernel."""
    padding = tuple((k // 2, k // 2) for k in kernel)
    return nn.Conv(features, kernel, padding=padding, dtype=dtype, kernel_init=CONV_INIT, name=name)


def _max_pool(x: Array) -> Array:
    """2x2 max pooling with stride 2 over the two spatial axes of (B, H, W, C)."""
    return nn.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding='VALID')


class HCNStream(nn.Module):
    """One HCN stream (position or motion) from the input up to conv4, with optional CSTA.

    Attributes:
        dropout: dropout rate after conv4.
        csta: settings of the CoupledAttention inserted at `csta_position`; None: none.
        csta_position: 'input' (raw stream input, C=3), 'conv1' (after conv1 +
            ReLU, C=64) or 'conv2' (after conv2, C=32).
        dtype: compute dtype.
    """

    dropout: float = 0.5
    csta: CSTAConfig | None = None
    csta_position: str = 'conv2'
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, x: Array, train: bool = False, skeleton: Array | None = None
    ) -> tuple[Array, dict[str, Array]]:
        """Maps (B, T, V, C) stream input to (B, T/4, 8, 64) conv4 features and CSTA weights.

        CSTA's subnetworks read `x` with subnet_input 'coordinates'; `skeleton`
        (B, T, V, C), default `x`, is whose joint speeds subnet_input 'motion'
        and the motion prior use.
        """
        if self.csta is not None and self.csta_position not in CSTA_POSITIONS:
            raise ValueError(
                f'unknown csta_position {self.csta_position!r}; expected one of {CSTA_POSITIONS}'
            )
        x = x.astype(self.dtype)
        skeleton = x if skeleton is None else skeleton
        attention = None
        if self.csta is not None:
            attention = self.csta.build(dtype=self.dtype, name='csta')
        aux: dict[str, Array] = {}
        h = x
        if attention is not None and self.csta_position == 'input':
            h, aux = attention(h, x, skeleton)
        h = _conv(64, (1, 1), self.dtype, 'conv1')(h)
        h = nn.relu(h)
        if attention is not None and self.csta_position == 'conv1':
            h, aux = attention(h, x, skeleton)
        h = _conv(32, (3, 1), self.dtype, 'conv2')(h)
        if attention is not None and self.csta_position == 'conv2':
            h, aux = attention(h, x, skeleton)
        # Joints become channels: (B, T, V, 32) -> (B, T, 32, V).
        h = jnp.swapaxes(h, 2, 3)
        h = _conv(32, (3, 3), self.dtype, 'conv3')(h)
        h = _max_pool(h)
        h = _conv(64, (3, 3), self.dtype, 'conv4')(h)
        h = _max_pool(h)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return h, aux


class HCN(nn.Module):
    """HCN two-stream hierarchical CNN, optionally with CSTA (then it is CSTA-CNN).

    Attributes:
        num_classes: number of action classes.
        in_channels: coordinates per joint.
        num_joints: joints per skeleton (V).
        num_frames: frames per clip (T); 32 (HCN paper) or 64 (skelact default).
        fc7_features: width of fc7.
        dropout: dropout rate used throughout.
        csta: insert CoupledAttention in both streams (separate weights per stream).
        csta_position: 'input', 'conv1' or 'conv2' (default, before the joints
            are mixed by conv3).
        csta_config: the CoupledAttention settings (subnet_input 'motion' and
            the motion prior read the joint speeds of the model input `x` in
            both streams).
        dtype: compute dtype; parameters stay float32 and logits are float32.
    """

    num_classes: int
    in_channels: int = 3
    num_joints: int = 25
    num_frames: int = 32
    fc7_features: int = 256
    dropout: float = 0.5
    csta: bool = False
    csta_position: str = 'conv2'
    csta_config: CSTAConfig = CSTAConfig()
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> tuple[Array, dict[str, Any]]:
        """Classifies skeleton clips.

        Args:
            x: (N, M, T, V, C) skeletons, channels-last.
            train: enables dropout (needs a 'dropout' RNG).

        Returns:
            (logits (N, num_classes) float32, aux). With CSTA, aux is
            {'position': w, 'motion': w} where w holds 'joint_weights' (N, M, V),
            'frame_weights' (N, M, T) and 'map' (N, M, T, V); otherwise aux is {}.
        """
        n, m, t, v, c = x.shape
        expected = (self.num_frames, self.num_joints, self.in_channels)
        if (t, v, c) != expected:
            raise ValueError(f'expected (N, M, T, V, C) with (T, V, C) = {expected}, got {x.shape}')
        x = x.reshape(n * m, t, v, c)
        stream_kwargs = dict(
            dropout=self.dropout,
            csta=self.csta_config if self.csta else None,
            csta_position=self.csta_position,
            dtype=self.dtype,
        )
        # Joint speeds (subnet_input='motion', the motion prior) come from the model input in
        # both streams, not from the motion stream's own input.
        position, position_aux = HCNStream(name='position', **stream_kwargs)(x, train, x)
        motion, motion_aux = HCNStream(name='motion', **stream_kwargs)(
            temporal_difference(x), train, x)

        h = jnp.concatenate([position, motion], axis=-1)
        h = _conv(128, (3, 3), self.dtype, 'conv5')(h)
        h = nn.relu(_max_pool(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = _conv(256, (3, 3), self.dtype, 'conv6')(h)
        h = nn.relu(_max_pool(h))

        # Flatten per person, then keep the strongest response over persons.
        h = h.reshape(n, m, -1).max(axis=1)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = _dense(self.fc7_features, self.dtype, 'fc7')(h)
        h = nn.relu(h)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        logits = _dense(self.num_classes, self.dtype, 'fc8')(h)

        aux: dict[str, Any] = {}
        if self.csta:
            aux['position'] = _per_person(position_aux, n, m)
            aux['motion'] = _per_person(motion_aux, n, m)
        return logits.astype(jnp.float32), aux


def _per_person(weights: dict[str, Array], n: int, m: int) -> dict[str, Array]:
    """Reshapes CSTA weights from a (N * M, ...) batch to (N, M, ...)."""
    return {key: value.reshape(n, m, *value.shape[1:]) for key, value in weights.items()}


class CSTACNN(HCN):
    """CSTA-CNN: HCN with coupled spatial-temporal attention in both streams."""

    csta: bool = True

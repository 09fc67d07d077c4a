"""Coupled spatial-temporal attention (CSTA) and the CSTA-CNN model (HCN + CSTA).

CSTA learns one weight per joint and one weight per frame with two small
subnetworks, and couples them with an outer product into a (T, V) map that
rescales the features at one point of a hierarchical CNN. The base network is
HCN (Li et al., "Co-occurrence Feature Learning from Skeleton Data for Action
Recognition and Detection with Hierarchical Aggregation", IJCAI 2018).

Only the idea of CSTA is known from the paper's abstract: two subnetworks give
joint and frame weights, and their "cross product" (an outer product for vectors
of lengths V and T) gives the coupled attention. The subnetwork design, the
normalisation of the weights and the insertion point are reconstructions, so
every such choice is a field of the modules below.

All tensors are channels-last. A skeleton batch is (N, M, T, V, C): batch,
persons, frames, joints, coordinates.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

NORMALIZATIONS = ('softmax_rescaled', 'sigmoid', 'residual')
POOLINGS = ('mean', 'max')
SUBNET_INPUTS = ('features', 'coordinates')
CSTA_POSITIONS = ('input', 'conv1', 'conv2')
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
        subnet_input: 'features' (the subnetworks read the attended tensor) or
            'coordinates' (they read the `context` tensor, e.g. the raw stream input).
        normalization: see `coupled_attention`.
        activation: name in ACTIVATIONS.
        dtype: compute dtype of the dense layers.
    """

    hidden_features: int = 64
    pooling: str = 'mean'
    subnet_input: str = 'features'
    normalization: str = 'softmax_rescaled'
    activation: str = 'relu'
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, features: Array, context: Array | None = None
    ) -> tuple[Array, dict[str, Array]]:
        """Attends over joints and frames.

        Args:
            features: (B, T, V, C) tensor to be rescaled.
            context: (B, T, V, C') tensor the subnetworks read when
                subnet_input == 'coordinates'; ignored otherwise.

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
        if self.subnet_input == 'features':
            source = features
        elif self.subnet_input == 'coordinates':
            if context is None:
                raise ValueError("subnet_input='coordinates' needs a context tensor")
            source = context
        else:
            raise ValueError(
                f'unknown subnet_input {self.subnet_input!r}; expected one of {SUBNET_INPUTS}'
            )
        batch, frames, joints = features.shape[:3]
        if source.shape[:3] != (batch, frames, joints):
            raise ValueError(f'context shape {source.shape} does not match features {features.shape}')

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
        return coupled_attention(
            features,
            joint_logits.astype(jnp.float32),
            frame_logits.astype(jnp.float32),
            mode=self.normalization,
        )


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
        csta: insert a CoupledAttention at `csta_position`.
        csta_position: 'input' (raw stream input, C=3), 'conv1' (after conv1 +
            ReLU, C=64) or 'conv2' (after conv2, C=32).
        csta_kwargs: fields passed to CoupledAttention.
        dtype: compute dtype.
    """

    dropout: float = 0.5
    csta: bool = False
    csta_position: str = 'conv2'
    csta_kwargs: dict[str, Any] | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> tuple[Array, dict[str, Array]]:
        """Maps (B, T, V, C) skeletons to (B, T/4, 8, 64) conv4 features and CSTA weights."""
        if self.csta and self.csta_position not in CSTA_POSITIONS:
            raise ValueError(
                f'unknown csta_position {self.csta_position!r}; expected one of {CSTA_POSITIONS}'
            )
        x = x.astype(self.dtype)
        attention = None
        if self.csta:
            attention = CoupledAttention(dtype=self.dtype, name='csta', **(self.csta_kwargs or {}))
        aux: dict[str, Array] = {}
        h = x
        if attention is not None and self.csta_position == 'input':
            h, aux = attention(h, x)
        h = _conv(64, (1, 1), self.dtype, 'conv1')(h)
        h = nn.relu(h)
        if attention is not None and self.csta_position == 'conv1':
            h, aux = attention(h, x)
        h = _conv(32, (3, 1), self.dtype, 'conv2')(h)
        if attention is not None and self.csta_position == 'conv2':
            h, aux = attention(h, x)
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
        csta_hidden_features, csta_pooling, csta_subnet_input,
        csta_normalization, csta_activation: CoupledAttention fields.
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
    csta_hidden_features: int = 64
    csta_pooling: str = 'mean'
    csta_subnet_input: str = 'features'
    csta_normalization: str = 'softmax_rescaled'
    csta_activation: str = 'relu'
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
            csta=self.csta,
            csta_position=self.csta_position,
            csta_kwargs=dict(
                hidden_features=self.csta_hidden_features,
                pooling=self.csta_pooling,
                subnet_input=self.csta_subnet_input,
                normalization=self.csta_normalization,
                activation=self.csta_activation,
            ),
            dtype=self.dtype,
        )
        position, position_aux = HCNStream(name='position', **stream_kwargs)(x, train)
        motion, motion_aux = HCNStream(name='motion', **stream_kwargs)(temporal_difference(x), train)

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

"""Convolution and BatchNorm layers of STGAT, with backward passes laid out for XLA's CPU backend.

:func:`channel_dense` (a 1x1 convolution) and :func:`temporal_conv` (a ``(kt, 1)`` convolution
along the frames) compute what ``nn.Dense`` and ``nn.Conv`` compute; with ``cpu_layout`` their
custom VJPs keep the layouts that XLA's CPU backend multiplies fastest, without it they are plain
autodiff (for TPU and GPU). The flax layers :class:`Dense1x1`, :class:`TemporalConv`,
:class:`BatchNorm` and :class:`ConvBN` wrap them with the official initialisation and the
variables of the flax layers they stand for, so official weights map onto them unchanged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


# kaiming_normal_(mode='fan_out') with the default gain sqrt(2).
CONV_KERNEL_INIT = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


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


def torch_bias_init(fan_in: int) -> nn.initializers.Initializer:
    """PyTorch's default conv bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init



def conv_params(module: nn.Module, kernel_shape: Sequence[int],
                fan_in: int) -> tuple[jax.Array, jax.Array]:
    """A conv's float32 ``kernel`` (`kernel_shape`, output channels last) and ``bias``, with the
    official init (kaiming-normal fan-out kernel, PyTorch's uniform bias), created in `module`."""
    kernel = module.param('kernel', CONV_KERNEL_INIT, tuple(kernel_shape), jnp.float32)
    bias = module.param('bias', torch_bias_init(fan_in), (kernel_shape[-1],), jnp.float32)
    return kernel, bias



class Dense1x1(nn.Module):
    """A 1x1 convolution on channels-last input, with the official init.

    Variables as ``nn.Dense`` (``kernel`` (I, O), ``bias`` (O,), float32), computed by
    :func:`channel_dense` on `dtype` operands with float32 accumulation; the result has
    `out_dtype` (default `dtype`).
    """

    features: int
    fan_in: int
    dtype: Any = jnp.float32
    out_dtype: Any = None
    impl: str = 'cpu'  # 'cpu': the CPU layout and backward pass; 'xla': plain autodiff

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, bias = conv_params(self, (x.shape[-1], self.features), self.fan_in)
        return channel_dense(x.astype(self.dtype), kernel.astype(self.dtype), bias, self.out_dtype,
                             cpu_layout=self.impl == 'cpu')


class TemporalConv(nn.Module):
    """A ``(kernel, 1)`` convolution along the frames, zero padding ``kernel // 2``, stride on T.

    Variables as ``nn.Conv`` (``kernel`` (kt, 1, I, O), ``bias`` (O,), float32), computed by
    :func:`temporal_conv` on `dtype` operands with float32 accumulation; the result has
    `out_dtype` (default `dtype`).
    """

    features: int
    kernel_size: int
    stride: int
    fan_in: int
    dtype: Any = jnp.float32
    out_dtype: Any = None
    impl: str = 'cpu'  # 'cpu': the CPU layout and backward pass; 'xla': plain autodiff

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (self.kernel_size, 1, x.shape[-1], self.features)
        kernel, bias = conv_params(self, shape, self.fan_in)
        return temporal_conv(
            x.astype(self.dtype), kernel.astype(self.dtype), bias, self.stride, self.out_dtype,
            cpu_layout=self.impl == 'cpu')


def mean_per_axis(x: jax.Array) -> jax.Array:
    """Mean over every axis but the last, reduced one axis at a time (last-but-one first).

    A single float32 reduction over all B*T*V values (what XLA compiles on CPU) accumulates an
    error of order (B*T*V) * eps in the mean; reducing axis by axis keeps it at the order of the
    sum of the axis lengths times eps.
    """
    for axis in range(x.ndim - 2, -1, -1):
        x = jnp.mean(x, axis=axis)
    return x


class BatchNorm(nn.Module):
    """BatchNorm over every axis but the last, as PyTorch's ``BatchNorm2d`` computes it.

    eps 1e-5, running averages ``momentum * old + (1 - momentum) * batch`` (PyTorch momentum 0.1),
    the running variance updated with the biased batch variance. Variables as ``nn.BatchNorm``:
    params ``scale``, ``bias``; batch_stats ``mean``, ``var``, all float32.

    Statistics and the normalisation are computed in (at least) float32, the means with
    :func:`mean_per_axis`. With one long float32 reduction (``nn.BatchNorm`` on CPU) the
    train-mode gradients of the layers before a BatchNorm, whose exact gradient is nearly
    orthogonal to their weights, came out up to a few percent off a float64 computation; with
    per-axis means they stay within about 1e-5 of it, as PyTorch's float32 ones do.
    """

    use_running_average: bool
    momentum: float = 0.9
    epsilon: float = 1e-5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalises (..., C) per channel C."""
        features = x.shape[-1]
        scale = self.param('scale', nn.initializers.ones, (features,), jnp.float32)
        bias = self.param('bias', nn.initializers.zeros, (features,), jnp.float32)
        ra_mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros((features,), jnp.float32))
        ra_var = self.variable('batch_stats', 'var', lambda: jnp.ones((features,), jnp.float32))
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))  # at least float32
        if self.use_running_average:
            mean, var = ra_mean.value, ra_var.value
        else:
            mean = mean_per_axis(x)
            var = mean_per_axis(jnp.square(x - mean))
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1.0 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1.0 - self.momentum) * var
        y = (x - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias
        return y.astype(self.dtype)


class ConvBN(nn.Module):
    """Conv (:class:`Dense1x1`, :class:`TemporalConv` for odd (kt, 1) kernels, else ``nn.Conv``
    over (T, V)) followed by BatchNorm.

    Matches ``nn.Sequential(Conv2d, BatchNorm2d)``: ``conv`` = ``.0``, ``bn`` = ``.1``.
    Padding is ``kernel // 2`` on each side, ``stride`` acts on T only. The 1x1 and temporal
    convs hand the BatchNorm their float32 accumulations, also when `dtype` is narrower.
    """

    features: int
    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    dtype: Any = jnp.float32
    impl: str = 'cpu'  # of the 1x1 and temporal convs: 'cpu' or 'xla' (STGAT.conv_impl)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        """Maps (B, T, V, C) to (B, ceil(T / stride), V, features)."""
        fan_in = x.shape[-1] * self.kernel[0] * self.kernel[1]
        if self.kernel == (1, 1):
            x = x[:, ::self.stride]
            x = Dense1x1(self.features, fan_in, self.dtype, jnp.float32, self.impl, name='conv')(x)
        elif self.kernel[1] == 1 and self.kernel[0] % 2:
            x = TemporalConv(self.features, self.kernel[0], self.stride, fan_in, self.dtype,
                             jnp.float32, self.impl, name='conv')(x)
        else:
            kt, kv = self.kernel
            x = nn.Conv(
                self.features,
                kernel_size=(kt, kv),
                strides=(self.stride, 1),
                padding=((kt // 2, kt // 2), (kv // 2, kv // 2)),
                dtype=self.dtype,
                param_dtype=jnp.float32,
                kernel_init=CONV_KERNEL_INIT,
                bias_init=torch_bias_init(fan_in),
                name='conv',
            )(x)
        return BatchNorm(use_running_average=not train, dtype=self.dtype, name='bn')(x)

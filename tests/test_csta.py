"""Tests for coupled spatial-temporal attention and the HCN / CSTA-CNN models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stgat_jax.models.csta import (
    CSTACNN,
    HCN,
    CoupledAttention,
    CSTAConfig,
    coupled_attention,
    joint_speed,
    motion_prior_logits,
    relative_speed,
    temporal_difference,
)
from stgat_jax.models.csta import MOTION_PRIOR_FLOOR

V = 25


def key(seed: int) -> jax.Array:
    """A PRNG key whose random ops compile quickly on CPU (keeps the tests fast)."""
    return jax.random.key(seed, impl='rbg')


def normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> jax.Array:
    """Gaussian test data drawn with NumPy, so no JAX random op has to compile."""
    return jnp.asarray(scale * np.random.default_rng(seed).normal(size=shape), dtype=jnp.float32)


attend = jax.jit(coupled_attention, static_argnames='mode')


def count_params(tree) -> int:
    """Number of scalars in a parameter tree."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def conv_params(k_h: int, k_w: int, c_in: int, c_out: int) -> int:
    """Kernel plus bias of a convolution."""
    return k_h * k_w * c_in * c_out + c_out


def dense_params(d_in: int, d_out: int) -> int:
    """Kernel plus bias of a linear layer."""
    return d_in * d_out + d_out


def hcn_params_by_hand(frames: int, num_classes: int) -> int:
    """HCN size from its layer table: two streams conv1-conv4, then conv5, conv6, fc7, fc8."""
    stream = (
        conv_params(1, 1, 3, 64)
        + conv_params(3, 1, 64, 32)
        + conv_params(3, 3, V, 32)
        + conv_params(3, 3, 32, 64)
    )
    flat = 256 * 2 * frames // 16
    return (
        2 * stream
        + conv_params(3, 3, 128, 128)
        + conv_params(3, 3, 128, 256)
        + dense_params(flat, 256)
        + dense_params(256, num_classes)
    )


def abstract_params(model, frames: int):
    """Parameter shapes of a model without allocating them."""
    x = jax.ShapeDtypeStruct((1, 2, frames, V, 3), jnp.float32)
    return jax.eval_shape(model.init, jax.random.key(0), x)['params']


@pytest.fixture(scope='module')
def skeletons() -> jax.Array:
    """(N=2, M=2, T=32, V, 3) random clips."""
    return normal(1, (2, 2, 32, V, 3))


@pytest.fixture(scope='module')
def csta_model_and_params(skeletons):
    """A CSTA-CNN at T=32 and its initialised variables."""
    model = CSTACNN(num_classes=10, num_frames=32)
    variables = jax.jit(model.init)(key(0), skeletons)
    return model, variables


@pytest.fixture(scope='module')
def forward(csta_model_and_params):
    """Jitted (variables, x, train, dropout_key) -> (logits, aux) of the CSTA-CNN fixture."""
    model, _ = csta_model_and_params

    def apply(variables, x, train, key):
        return model.apply(variables, x, train=train, rngs={'dropout': key})

    return jax.jit(apply, static_argnums=2)


@pytest.mark.parametrize('frames', [32, 64])
def test_hcn_parameter_count_matches_layer_table(frames):
    expected = hcn_params_by_hand(frames, num_classes=60)
    got = count_params(abstract_params(HCN(num_classes=60, num_frames=frames), frames))
    assert got == expected
    if frames == 64:
        # skelact reports 1.047 M for its default clip length of 64.
        assert got == 1_047_036
    else:
        assert got == 784_892


def test_csta_adds_two_subnetworks_per_stream():
    hidden, frames, channels = 64, 32, 32
    per_stream = (
        dense_params(channels * V, hidden)
        + dense_params(hidden, V)
        + dense_params(channels * frames, hidden)
        + dense_params(hidden, frames)
    )
    plain = count_params(abstract_params(HCN(num_classes=60, num_frames=frames), frames))
    params = abstract_params(CSTACNN(num_classes=60, num_frames=frames, csta_config=CSTAConfig(hidden_features=hidden)), frames)
    assert count_params(params) == plain + 2 * per_stream
    assert params['position']['csta']['joint_fc1']['kernel'].shape == (channels * V, hidden)
    assert params['motion']['csta']['frame_fc1']['kernel'].shape == (channels * frames, hidden)


@pytest.mark.parametrize('position, channels', [('input', 3), ('conv1', 64), ('conv2', 32)])
def test_csta_position_sets_subnetwork_input_size(position, channels):
    model = CSTACNN(num_classes=5, num_frames=32, csta_position=position,
                    csta_config=CSTAConfig(hidden_features=16))
    params = abstract_params(model, 32)
    assert params['position']['csta']['joint_fc1']['kernel'].shape == (channels * V, 16)
    assert params['position']['csta']['frame_fc1']['kernel'].shape == (channels * 32, 16)


@pytest.mark.parametrize('frames', [32, 64])
@pytest.mark.parametrize('csta', [False, True])
def test_output_shapes(frames, csta):
    x = jnp.zeros((3, 2, frames, V, 3))
    model = HCN(num_classes=7, num_frames=frames, csta=csta)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    logits, aux = jax.eval_shape(model.apply, variables, x)
    assert logits.shape == (3, 7)
    if csta:
        assert set(aux) == {'position', 'motion'}
        for stream in aux.values():
            assert stream['joint_weights'].shape == (3, 2, V)
            assert stream['frame_weights'].shape == (3, 2, frames)
            assert stream['map'].shape == (3, 2, frames, V)
    else:
        assert aux == {}


def test_wrong_clip_length_is_rejected():
    model = HCN(num_classes=3, num_frames=64)
    with pytest.raises(ValueError, match=r'\(T, V, C\) = \(64, 25, 3\), got \(1, 1, 32, 25, 3\)'):
        model.init(jax.random.key(0), jnp.zeros((1, 1, 32, V, 3)))


def test_temporal_difference():
    x = normal(2, (2, 5, V, 3))
    motion = jax.jit(temporal_difference)(x)
    assert motion.shape == x.shape
    np.testing.assert_array_equal(motion[:, 0], 0.0)
    np.testing.assert_allclose(motion[:, 3], x[:, 3] - x[:, 2], rtol=1e-6)


def random_inputs(seed: int = 3, batch: int = 2, frames: int = 6, channels: int = 4):
    """Features (B, T, V, C) and raw joint (B, V) and frame (B, T) logits."""
    features = normal(seed, (batch, frames, V, channels))
    joint = normal(seed + 1, (batch, V), scale=2.0)
    frame = normal(seed + 2, (batch, frames), scale=2.0)
    return features, joint, frame


@pytest.mark.parametrize('mode', ['softmax_rescaled', 'sigmoid', 'residual'])
def test_map_is_outer_product_of_rank_one(mode):
    features, joint, frame = random_inputs()
    _, weights = attend(features, joint, frame, mode=mode)
    attention = np.asarray(weights['map'])
    alpha, beta = np.asarray(weights['joint_weights']), np.asarray(weights['frame_weights'])
    scale = attention.shape[1] * attention.shape[2] if mode == 'softmax_rescaled' else 1.0
    np.testing.assert_allclose(attention, scale * np.einsum('bt,bv->btv', beta, alpha), rtol=1e-5)
    for sample in attention:
        singular = np.linalg.svd(sample, compute_uv=False)
        assert singular[1] < 1e-5 * singular[0]
    # Not a constant map: random logits give varied weights.
    assert attention.std() > 0.1 * attention.mean()


def test_softmax_rescaled_normalisation():
    features, joint, frame = random_inputs()
    attended, weights = attend(features, joint, frame, mode='softmax_rescaled')
    np.testing.assert_allclose(weights['joint_weights'].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(weights['frame_weights'].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(weights['map'].mean(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(attended, features * weights['map'][..., None], rtol=1e-5)


def test_softmax_rescaled_uniform_weights_are_identity():
    features, _, _ = random_inputs()
    batch, frames = features.shape[:2]
    attended, _ = attend(features, jnp.zeros((batch, V)), jnp.zeros((batch, frames)))
    np.testing.assert_allclose(attended, features, rtol=1e-5)


def test_sigmoid_normalisation():
    features, joint, frame = random_inputs()
    attended, weights = attend(features, joint, frame, mode='sigmoid')
    for key in ('joint_weights', 'frame_weights', 'map'):
        assert float(weights[key].min()) > 0.0
        assert float(weights[key].max()) < 1.0
    np.testing.assert_allclose(weights['joint_weights'], jax.nn.sigmoid(joint), rtol=1e-6)
    np.testing.assert_allclose(attended, features * weights['map'][..., None], rtol=1e-5)


def test_residual_normalisation():
    features, joint, frame = random_inputs()
    attended, weights = attend(features, joint, frame, mode='residual')
    np.testing.assert_allclose(weights['map'].sum(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(attended, features + features * weights['map'][..., None], rtol=1e-5)


def test_unknown_mode_is_rejected():
    features, joint, frame = random_inputs()
    with pytest.raises(ValueError, match="unknown CSTA normalisation 'softmax'"):
        attend(features, joint, frame, mode='softmax')


@pytest.mark.parametrize('pooling', ['mean', 'max'])
def test_coupled_attention_module(pooling):
    features, _, _ = random_inputs(frames=8, channels=5)
    module = CoupledAttention(hidden_features=16, pooling=pooling, activation='tanh')
    variables = jax.jit(module.init)(key(0), features)
    params = variables['params']
    assert params['joint_fc1']['kernel'].shape == (5 * V, 16)
    assert params['frame_fc1']['kernel'].shape == (5 * 8, 16)
    assert params['joint_fc2']['kernel'].shape == (16, V)
    assert params['frame_fc2']['kernel'].shape == (16, 8)
    attended, weights = jax.jit(module.apply)(variables, features)
    assert attended.shape == features.shape
    np.testing.assert_allclose(attended, features * weights['map'][..., None], rtol=1e-5)
    singular = np.linalg.svd(np.asarray(weights['map'][0]), compute_uv=False)
    assert singular[1] < 1e-5 * singular[0]


def test_coupled_attention_reads_coordinates_when_asked():
    features, _, _ = random_inputs(frames=8, channels=5)
    coordinates = normal(4, (2, 8, V, 3))
    module = CoupledAttention(hidden_features=16, subnet_input='coordinates')
    variables = jax.jit(module.init)(key(0), features, coordinates)
    assert variables['params']['joint_fc1']['kernel'].shape == (3 * V, 16)
    apply = jax.jit(module.apply)
    _, first = apply(variables, features, coordinates)
    _, second = apply(variables, 2.0 * features, coordinates)
    np.testing.assert_allclose(first['map'], second['map'], rtol=1e-6)
    with pytest.raises(ValueError, match="subnet_input='coordinates' needs a context tensor"):
        module.apply(variables, features)


def test_joint_speed_is_the_norm_of_the_frame_difference():
    x = normal(5, (2, 6, V, 3))
    speed = jax.jit(joint_speed)(x)
    assert speed.shape == (2, 6, V, 1)
    expected = np.linalg.norm(np.asarray(temporal_difference(x)), axis=-1)
    np.testing.assert_allclose(speed[:, 1:, :, 0], expected[:, 1:], rtol=1e-5, atol=1e-5)
    # The first frame has no predecessor and takes the second frame's speed.
    np.testing.assert_allclose(speed[:, 0], speed[:, 1], rtol=1e-6)
    np.testing.assert_array_equal(jax.jit(joint_speed)(x[:, :1]), 0.0)
    # Speeds do not change when the whole clip is moved.
    np.testing.assert_allclose(jax.jit(joint_speed)(x + 3.0), speed, rtol=1e-4, atol=1e-5)


def test_coupled_attention_reads_joint_speeds_for_motion():
    features, _, _ = random_inputs(frames=8, channels=5)
    coordinates = normal(4, (2, 8, V, 3))
    module = CoupledAttention(hidden_features=16, subnet_input='motion')
    variables = jax.jit(module.init)(key(0), features, coordinates)
    # One input per joint (its speed) for the joint net, one per frame for the frame net.
    assert variables['params']['joint_fc1']['kernel'].shape == (V, 16)
    assert variables['params']['frame_fc1']['kernel'].shape == (8, 16)
    apply = jax.jit(module.apply)
    _, first = apply(variables, features, coordinates)
    _, scaled_features = apply(variables, 2.0 * features, coordinates)
    _, moved = apply(variables, features, 3.0 * coordinates - 1.5)
    _, other_motion = apply(variables, features, coordinates.at[:, ::2, 7].add(1.0))
    np.testing.assert_allclose(first['map'], scaled_features['map'], rtol=1e-6)
    # Relative speeds: the same whatever the position and the units of the skeleton.
    np.testing.assert_allclose(first['map'], moved['map'], rtol=1e-4)
    assert not np.allclose(first['joint_weights'], other_motion['joint_weights'], rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match=r"subnet_input='motion' needs a skeleton \(or context\) tensor"):
        module.apply(variables, features)


def one_moving_hand(frames: int = 8) -> jax.Array:
    """(2, T, V, 3) clips: still joints with a little noise; in clip 0 joint 7 is moved in frames 2-5."""
    x = normal(8, (2, frames, V, 3), scale=1e-3) + normal(9, (1, 1, V, 3))
    swing = np.zeros((frames,))
    swing[2:6] = [0.3, -0.3, 0.3, -0.3]
    return x.at[0, :, 7, 0].add(jnp.asarray(swing))


def test_relative_speed_has_mean_one_and_ignores_scale():
    x = one_moving_hand()
    r = jax.jit(relative_speed)(x)
    np.testing.assert_allclose(r.mean(axis=(1, 2, 3)), 1.0, rtol=1e-3)
    np.testing.assert_allclose(jax.jit(relative_speed)(10.0 * x), r, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(jax.jit(relative_speed)(jnp.zeros((1, 4, V, 3))), 0.0)


def test_motion_prior_logits_favour_the_moving_joint_and_frames():
    joint, frame = jax.jit(motion_prior_logits)(one_moving_hand())
    assert joint.shape == (2, V) and frame.shape == (2, 8)
    assert int(jnp.argmax(joint[0])) == 7
    # Joint 7 leaves its place at frame 2 and is back at frame 6.
    assert float(frame[0, 2:7].min()) > float(frame[0, [0, 1, 7]].max())
    # No frame is still only because it is the first.
    np.testing.assert_allclose(frame[:, 0], frame[:, 1], rtol=1e-6)
    # Without motion every joint and frame gets the same prior.
    joint, frame = motion_prior_logits(jnp.zeros((1, 4, V, 3)))
    np.testing.assert_allclose(joint, np.log(MOTION_PRIOR_FLOOR))
    np.testing.assert_allclose(frame, np.log(MOTION_PRIOR_FLOOR))


def test_motion_prior_multiplies_the_learned_weights_by_the_motion_shares():
    features = normal(10, (2, 8, V, 4))
    skeleton = one_moving_hand()
    module = CoupledAttention(hidden_features=8, motion_prior=0.5)
    variables = jax.jit(module.init)(key(0), features, None, skeleton)
    apply = jax.jit(module.apply)
    # Zero subnetworks: the weights are the motion shares to the power 0.5, normalised.
    zero = jax.tree.map(jnp.zeros_like, variables)
    _, weights = apply(zero, features, None, skeleton)
    r = np.asarray(relative_speed(skeleton))[..., 0]
    share = (r.mean(axis=1) + MOTION_PRIOR_FLOOR) ** 0.5
    np.testing.assert_allclose(weights['joint_weights'], share / share.sum(-1, keepdims=True), rtol=1e-5)
    assert int(jnp.argmax(weights['joint_weights'][0])) == 7
    # Learned logits are added to the prior: weights = prior share x learned softmax factor.
    _, learned = jax.jit(CoupledAttention(hidden_features=8).apply)(variables, features)
    _, both = apply(variables, features, None, skeleton)
    product = (share * np.asarray(learned['joint_weights']))
    np.testing.assert_allclose(both['joint_weights'], product / product.sum(-1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match=r'motion_prior > 0 needs a skeleton \(or context\) tensor'):
        module.apply(variables, features)
    with pytest.raises(ValueError, match='motion_prior must be >= 0, got -1.0'):
        CoupledAttention(motion_prior=-1.0).init(key(0), features, None, skeleton)


def test_motion_subnet_input_reads_the_skeleton_speeds_in_both_streams(skeletons):
    model = CSTACNN(num_classes=10, num_frames=32, csta_config=CSTAConfig(subnet_input='motion'))
    variables = jax.jit(model.init)(key(0), skeletons)
    # Non-zero subnetwork weights so that the attention depends on its input.
    params = jax.tree.map(lambda p: p + 0.3 * normal(p.size, p.shape).reshape(p.shape), variables['params'])
    _, aux = jax.jit(model.apply)({'params': params}, skeletons)
    positions = skeletons.reshape(-1, *skeletons.shape[2:])
    placeholder = jnp.zeros((*positions.shape[:3], 32))  # conv2 features; 'motion' does not read them
    for stream in ('position', 'motion'):
        module = CoupledAttention(hidden_features=64, subnet_input='motion')
        _, expected = module.apply({'params': params[stream]['csta']}, placeholder, positions)
        np.testing.assert_allclose(
            aux[stream]['joint_weights'].reshape(-1, V), expected['joint_weights'], rtol=1e-5)
        np.testing.assert_allclose(
            aux[stream]['frame_weights'].reshape(-1, 32), expected['frame_weights'], rtol=1e-5)


def test_aux_exposes_csta_weights_per_stream(csta_model_and_params, forward, skeletons):
    _, variables = csta_model_and_params
    _, aux = forward(variables, skeletons, False, key(0))
    for stream in ('position', 'motion'):
        weights = aux[stream]
        np.testing.assert_allclose(weights['joint_weights'].sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(weights['frame_weights'].sum(-1), 1.0, rtol=1e-5)
        expected = 32 * V * np.einsum('nmt,nmv->nmtv', weights['frame_weights'], weights['joint_weights'])
        np.testing.assert_allclose(weights['map'], expected, rtol=1e-5)
    # Separate parameters per stream give different maps.
    assert not np.allclose(aux['position']['map'], aux['motion']['map'])


def test_gradients_are_finite(csta_model_and_params, skeletons):
    model, variables = csta_model_and_params
    labels = jnp.array([1, 4])

    def loss_fn(params):
        logits, _ = model.apply({'params': params}, skeletons, train=True, rngs={'dropout': key(5)})
        log_probs = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(log_probs, labels[:, None], axis=1).mean()

    loss, grads = jax.jit(jax.value_and_grad(loss_fn))(variables['params'])
    assert np.isfinite(float(loss))
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(leaf))
    for stream in ('position', 'motion'):
        assert float(jnp.abs(grads[stream]['csta']['joint_fc2']['kernel']).max()) > 0.0
        assert float(jnp.abs(grads[stream]['csta']['frame_fc2']['kernel']).max()) > 0.0


def test_dropout_only_in_training(csta_model_and_params, forward, skeletons):
    _, variables = csta_model_and_params
    eval_a, _ = forward(variables, skeletons, False, key(6))
    eval_b, _ = forward(variables, skeletons, False, key(7))
    np.testing.assert_array_equal(eval_a, eval_b)
    train_a, _ = forward(variables, skeletons, True, key(6))
    train_b, _ = forward(variables, skeletons, True, key(7))
    train_c, _ = forward(variables, skeletons, True, key(6))
    np.testing.assert_array_equal(train_a, train_c)
    assert not np.allclose(train_a, train_b)
    assert not np.allclose(train_a, eval_a)


def test_bfloat16_compute_keeps_float32_params_and_logits():
    x = jax.ShapeDtypeStruct((2, 2, 32, V, 3), jnp.float32)
    model = CSTACNN(num_classes=4, num_frames=32, dtype=jnp.bfloat16)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
    logits, aux = jax.eval_shape(model.apply, variables, x)
    assert logits.dtype == jnp.float32
    assert aux['position']['joint_weights'].dtype == jnp.float32


def test_persons_are_pooled_by_max_before_fc7(csta_model_and_params, skeletons):
    model, variables = csta_model_and_params

    def run(variables, x):
        return model.apply(variables, x, capture_intermediates=True, mutable=['intermediates'])

    _, state = jax.jit(run)(variables, skeletons)
    conv6 = state['intermediates']['conv6']['__call__'][0]
    fc7 = state['intermediates']['fc7']['__call__'][0]
    n, m = skeletons.shape[:2]
    assert conv6.shape == (n * m, 4, 4, 256)
    pooled = jnp.maximum(conv6.reshape(n * m, 2, 2, 2, 2, 256).max(axis=(2, 4)), 0.0)
    flat = pooled.reshape(n, m, -1).max(axis=1)
    assert flat.shape == (n, 256 * 2 * 32 // 16)
    params = variables['params']['fc7']
    np.testing.assert_allclose(fc7, flat @ params['kernel'] + params['bias'], rtol=1e-4, atol=1e-6)

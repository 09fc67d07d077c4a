"""Tests of the STGAT model: parameter counts, name mapping, forward/backward, switches.

The full-size model is only traced with ``jax.eval_shape``; numeric tests use a tiny width.
"""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stgat_jax import graphs
from stgat_jax.models.stgat import InputEmbedding, STAttentionBlock, STGAT
from stgat_jax.official_names import official_param_names
from stgat_jax.summary import param_counts

TINY = dict(blocks=((16, 16, 1), (16, 32, 2)), num_heads=4)
X_SHAPE = (2, 2, 8, 25, 3)  # N, M, T, V, C


def abstract_variables(model: STGAT, t: int = 128, m: int = 2, n: int = 1):
    v = graphs.NUM_NODES[model.graph]
    x = jax.ShapeDtypeStruct((n, m, t, v, model.in_channels), jnp.float32)
    return jax.eval_shape(functools.partial(model.init, jax.random.key(0)), x)


@pytest.mark.parametrize(
    'kwargs,total',
    [
        ({}, 5_607_740),
        ({'num_classes': 120}, 5_623_160),
        ({'num_classes': 400, 'in_channels': 2, 'graph': 'openpose'}, 5_637_264),
    ],
)
def test_official_parameter_counts(kwargs, total):
    counts = param_counts(abstract_variables(STGAT(**kwargs))['params'])
    assert counts['total'] == total


def test_per_block_parameter_counts():
    counts = param_counts(abstract_variables(STGAT())['params'])
    blocks = [counts[f'graph_layers_{i}'] for i in range(8)]
    assert blocks == [93_592, 93_592, 267_480, 327_832, 1_019_672, 1_263_256, 1_263_256, 1_263_256]
    assert counts['embedding'] == 384
    assert counts['fc'] == 256 * 60 + 60


def test_official_param_names_examples():
    names = official_param_names(STGAT())
    assert names['graph_layers.0.in_nets.weight'] == (
        ('params', 'graph_layers_0', 'in_nets', 'kernel'), 'dense')
    assert names['graph_layers.2.out_nett.0.weight'] == (
        ('params', 'graph_layers_2', 'out_nett', 'conv', 'kernel'), 'conv')
    assert names['graph_layers.4.downt2.1.running_mean'] == (
        ('batch_stats', 'graph_layers_4', 'downt2', 'bn', 'mean'), 'copy')
    assert names['fc.weight'] == (('params', 'fc', 'kernel'), 'linear')
    assert 'graph_layers.0.downs1.0.weight' not in names  # identity residual in 64 -> 64 blocks
    # Every official tensor of the shipped model: 5 embedding ConvBNs, fc, and per block.
    assert len(names) == 5 * 6 + 2 + 8 * (6 + 1 + 3 * 6) + 2 * 3 * 6


def torch_shape(flax_shape, kind):
    """Shape the official tensor has, from the flax leaf shape and the conversion kind."""
    if kind == 'dense':
        return (flax_shape[1], flax_shape[0], 1, 1)
    if kind == 'conv':
        kt, kv, i, o = flax_shape
        return (o, i, kt, kv)
    if kind == 'linear':
        return tuple(reversed(flax_shape))
    return tuple(flax_shape)


@pytest.mark.parametrize(
    'kwargs',
    [
        {},
        dict(use_temporal_att=True, att_t=True, glo_reg_t=True, use_pet=True, use_pes=True, num_frames=32),
        dict(use_spatial_att=False, use_temporal_att=True, att_t=True, num_frames=32),
        dict(att_s=False, temporal_kernel=1),
    ],
)
def test_official_param_names_cover_every_leaf_once(kwargs):
    model = STGAT(**kwargs)
    variables = abstract_variables(model, t=model.num_frames)
    leaves = {
        tuple(k.key for k in path): leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(flax.core.unfreeze(variables))
    }
    names = official_param_names(model)
    mapped = [path for path, _ in names.values()]
    assert len(mapped) == len(set(mapped))
    assert set(mapped) == set(leaves)
    # The official shapes of the mapped 'params' tensors add up to the official count.
    n_params = sum(
        int(np.prod(torch_shape(leaves[path].shape, kind)))
        for path, kind in names.values()
        if path[0] == 'params'
    )
    assert n_params == param_counts(variables['params'])['total']
    assert names['input_map.1.running_var'] == (
        ('batch_stats', 'embedding', 'input_map', 'bn', 'var'), 'copy')


def filled_variables(module, *args, seed: int = 0):
    """Variables of `module` with random values, without compiling its initialiser.

    Kernels, biases and attention terms are N(0, 0.2); BN scale U(0.5, 1.5), bias N(0, 0.2);
    running means 0 and variances 1.
    """
    shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = path[-1].key
        if name == 'mean':
            return np.zeros(leaf.shape, np.float32)
        if name == 'var':
            return np.ones(leaf.shape, np.float32)
        if name == 'scale':
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        return rng.normal(0.0, 0.2, leaf.shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, flax.core.unfreeze(shapes))


def apply_train(model, variables, x, **kwargs):
    return jax.jit(
        lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats'], **kwargs)
    )(variables, x)


@pytest.fixture(scope='module')
def tiny():
    """A tiny model, random variables, an input batch, and in one compiled call: the train-mode
    loss, logits, aux and batch-stat updates, the gradients, and the eval-mode logits."""
    model = STGAT(**TINY)
    x = jax.random.normal(jax.random.key(1), X_SHAPE)
    variables = filled_variables(model, x)
    labels = jnp.array([3, 7])

    def loss_fn(params, batch_stats, x):
        (logits, aux), updates = model.apply(
            {'params': params, 'batch_stats': batch_stats}, x, train=True, mutable=['batch_stats']
        )
        loss = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), labels])
        return loss, (logits, aux, updates)

    def run(variables, x):
        (loss, (logits, aux, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            variables['params'], variables['batch_stats'], x
        )
        eval_logits, eval_aux = STGAT(**TINY).apply(variables, x)
        return dict(loss=loss, logits=logits, aux=aux, updates=updates, grads=grads,
                    eval_logits=eval_logits, eval_aux=eval_aux)

    out = jax.jit(run)(variables, x)
    return dict(model=model, variables=variables, x=x, **out)


def test_forward_train_and_eval(tiny):
    logits, aux = tiny['logits'], tiny['aux']
    assert logits.shape == (2, 60) and logits.dtype == jnp.float32
    assert aux['features'].shape == (2, 32)
    assert np.all(np.isfinite(logits)) and np.isfinite(tiny['loss'])
    assert len(aux['blocks']) == 2
    assert aux['blocks'][0]['spatial_attention'].shape == (4, 4, 75, 25)
    assert aux['blocks'][1]['gate'].shape == (4, 4, 3)
    # Train mode updates the running statistics (exact values: test_running_statistics_...).
    old = tiny['variables']['batch_stats']['graph_layers_0']['out_nets']['bn']['var']
    new = tiny['updates']['batch_stats']['graph_layers_0']['out_nets']['bn']['var']
    assert not np.allclose(old, new)
    # Eval mode uses the running statistics; aux is filled the same way.
    eval_logits = tiny['eval_logits']
    assert eval_logits.shape == (2, 60) and np.all(np.isfinite(eval_logits))
    assert not np.allclose(eval_logits, logits)
    assert set(tiny['eval_aux']) == {'features', 'blocks'}
    assert set(tiny['eval_aux']['blocks'][0]) == {'spatial_attention', 'gate'}


def test_running_statistics_after_one_train_step_are_torch_momentum_0_1():
    """Every BatchNorm of the model, after one train-mode pass, holds
    ``0.9 * old + 0.1 * batch`` (PyTorch momentum 0.1) of the mean and of the biased variance of
    what its convolution fed it (read back with ``capture_intermediates``), computed here in
    float64. The old statistics are random, so the weight of the old value is checked too."""
    model = STGAT(**TINY)
    x = jax.random.normal(jax.random.key(5), X_SHAPE)
    variables = filled_variables(model, x, seed=3)
    rng = np.random.default_rng(4)
    variables['batch_stats'] = jax.tree_util.tree_map_with_path(
        lambda path, v: (rng.normal(0.0, 0.5, v.shape) if path[-1].key == 'mean'
                         else rng.uniform(0.5, 2.0, v.shape)).astype(np.float32),
        variables['batch_stats'])
    _, updated = jax.jit(lambda v, x: model.apply(
        v, x, train=True, mutable=['batch_stats', 'intermediates'],
        capture_intermediates=lambda mdl, method: mdl.name == 'conv'))(variables, x)
    checked = []
    for path, old_mean in jax.tree_util.tree_leaves_with_path(variables['batch_stats']):
        if path[-1].key != 'mean':
            continue
        keys = [p.key for p in path[:-2]]  # ... -> ConvBN -> 'bn' -> 'mean'
        name = '/'.join(keys)
        fed = updated['intermediates']
        for key in keys + ['conv']:
            fed = fed[key]
        fed = np.asarray(fed['__call__'][0], np.float64).reshape(-1, old_mean.shape[-1])
        old_var = variables['batch_stats']
        new = updated['batch_stats']
        for key in keys + ['bn']:
            old_var, new = old_var[key], new[key]
        want_mean = 0.9 * old_mean + 0.1 * fed.mean(0)
        want_var = 0.9 * old_var['var'] + 0.1 * fed.var(0)  # biased, as stgat.py documents
        np.testing.assert_allclose(new['mean'], want_mean, rtol=1e-5, atol=1e-6,
                                   err_msg=f'{name}: running mean is not 0.9 old + 0.1 batch mean')
        np.testing.assert_allclose(new['var'], want_var, rtol=1e-5, atol=1e-6,
                                   err_msg=f'{name}: running var is not 0.9 old + 0.1 batch var')
        checked.append(name)
    # The embedding's five, three per block and the three downsampling ones of the second block.
    assert len(checked) == len(jax.tree.leaves(variables['batch_stats'])) // 2 == 5 + 3 + 6


def test_gradients_are_finite(tiny):
    grads = tiny['grads']
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
    for path in [('graph_layers_0', 'attention0s'), ('graph_layers_0', 'in_nets', 'kernel'),
                 ('graph_layers_0', 'diff_net', 'kernel'), ('graph_layers_1', 'out_nett', 'conv', 'kernel'),
                 ('embedding', 'diff_map4', 'conv', 'kernel'), ('fc', 'kernel')]:
        g = grads
        for key in path:
            g = g[key]
        assert np.abs(g).sum() > 0, path


def test_init_follows_official_scheme():
    model = STGAT(**TINY)
    x = jnp.zeros(X_SHAPE)

    def some_params(key):  # only these leaves are compiled
        p = model.init(key, x)['params']
        b1 = p['graph_layers_1']
        return dict(
            glob=p['graph_layers_0']['attention0s'],
            fc_kernel=p['fc']['kernel'],
            fc_bias=p['fc']['bias'],
            bn_scale=b1['ff_nets']['bn']['scale'],
            bn_bias=b1['ff_nets']['bn']['bias'],
            out_kernel=b1['out_nets']['conv']['kernel'],
            t_kernel=b1['out_nett']['conv']['kernel'],
            t_bias=b1['out_nett']['conv']['bias'],
        )

    p = jax.tree_util.tree_map(np.asarray, jax.jit(some_params)(jax.random.key(0)))
    np.testing.assert_array_equal(p['glob'], np.float32(1 / 25))
    np.testing.assert_array_equal(p['fc_bias'], 0)
    np.testing.assert_array_equal(p['bn_scale'], 1)
    np.testing.assert_array_equal(p['bn_bias'], 0)
    # kaiming_normal fan_out: std sqrt(2 / C_out) for 1x1 convs (out_nets of block 1: 64 -> 32).
    assert p['out_kernel'].shape == (64, 32)
    assert p['out_kernel'].std() == pytest.approx(np.sqrt(2 / 32), rel=0.1)
    # Temporal conv (7, 1, 32, 32): fan_out = 7 * 32.
    assert p['t_kernel'].shape == (7, 1, 32, 32)
    assert p['t_kernel'].std() == pytest.approx(np.sqrt(2 / (7 * 32)), rel=0.1)
    # Conv biases: U(+-1/sqrt(fan_in)), fan_in = 7 * 32.
    assert np.abs(p['t_bias']).max() <= 1 / np.sqrt(7 * 32)
    assert np.abs(p['t_bias']).max() > 0.5 / np.sqrt(7 * 32)
    # xavier_normal: std sqrt(2 / (fan_in + fan_out)).
    assert p['fc_kernel'].std() == pytest.approx(np.sqrt(2 / (32 + 60)), rel=0.15)


def test_bfloat16_compute_is_close_to_float32(tiny):
    model16 = STGAT(**TINY, dtype=jnp.bfloat16)
    (l16, _), upd16 = apply_train(model16, tiny['variables'], tiny['x'])
    assert l16.dtype == jnp.float32
    assert upd16['batch_stats']['graph_layers_1']['ff_nets']['bn']['var'].dtype == jnp.float32
    l32 = np.asarray(tiny['logits'])
    np.testing.assert_allclose(np.asarray(l16), l32, atol=0.05 * np.abs(l32).max())


def test_stride_halves_time():
    block = STAttentionBlock(in_channels=8, out_channels=16, stride=2, num_heads=2)
    for t, t_out in [(8, 4), (7, 4)]:
        x = jnp.ones((1, t, 25, 8))
        out = jax.eval_shape(lambda x: block.init_with_output(jax.random.key(0), x)[0][0], x)
        assert out.shape == (1, t_out, 25, 16)


def test_gate_index_switch_changes_output(tiny):
    model = STGAT(**TINY, gate_index='window')
    (window, aux_w), _ = apply_train(model, tiny['variables'], tiny['x'])
    assert not np.allclose(tiny['logits'], window, atol=1e-7, rtol=0)
    # Rows of the softmax part sum to 1, so each row sum of (attention - G) is that row's gate:
    # official: row u = w*V + j gets g[u mod 3] (quirk O1); window: g[u // V].
    glob = np.asarray(tiny['variables']['params']['graph_layers_0']['attention0s'])
    for aux, index in [(tiny['aux'], np.arange(75) % 3), (aux_w, np.arange(75) // 25)]:
        blk = aux['blocks'][0]
        row_sums = (np.asarray(blk['spatial_attention']) - glob).sum(-1)  # (B, S, 75)
        np.testing.assert_allclose(row_sums, np.asarray(blk['gate'])[:, :, index], rtol=1e-4)


def test_hop_masks_really_mask(tiny):
    masks = np.tile(graphs.get_graph('ntu').hop_masks(4), (1, 3, 1))  # (S, 75, 25)
    assert (masks == 0).sum() > 0.5 * masks.size
    for i in range(2):
        att = np.asarray(tiny['aux']['blocks'][i]['spatial_attention'])
        glob = np.broadcast_to(tiny['variables']['params'][f'graph_layers_{i}']['attention0s'], att.shape)
        # Outside the hop ring only the global term G is left: zero softmax weight.
        np.testing.assert_array_equal(att[:, masks == 0], glob[:, masks == 0])
        assert np.all(att[:, masks > 0] >= glob[:, masks > 0])


def test_official_kinetics_graph_differs_from_fixed():
    model = STGAT(blocks=((16, 16, 1),), num_heads=2, num_classes=5, in_channels=2, graph='openpose')
    x = jax.random.normal(jax.random.key(2), (1, 2, 6, 18, 2))
    variables = filled_variables(model, x)
    out = jax.jit(model.apply)(variables, x)[0]
    out_fixed = jax.jit(model.clone(openpose_fixed=True).apply)(variables, x)[0]
    assert out.shape == (1, 5) and np.all(np.isfinite(out))
    assert not np.allclose(out, out_fixed)


def test_optional_branches_run():
    model = STGAT(
        blocks=((16, 32, 2),), num_heads=4, num_frames=6, use_temporal_att=True, att_t=True,
        glo_reg_t=True, use_pes=True, use_pet=True,
    )
    x = jax.random.normal(jax.random.key(3), (1, 2, 6, 25, 3))
    init_t = jax.jit(lambda key: {k: model.init(key, x)['params']['graph_layers_0'][k]
                                  for k in ('attention0t', 'alphat')})(jax.random.key(0))
    eye = np.broadcast_to(np.eye(6, dtype=np.float32), (1, 4, 6, 6))
    np.testing.assert_array_equal(init_t['attention0t'], eye)
    np.testing.assert_array_equal(init_t['alphat'], 1)
    variables = filled_variables(model, x)
    (logits, aux), _ = apply_train(model, variables, x)
    assert logits.shape == (1, 60) and np.all(np.isfinite(logits))
    assert aux['blocks'][0]['temporal_attention'].shape == (2, 4, 6, 6)
    with pytest.raises(ValueError, match='num_frames=6'):
        model.apply(variables, x[:, :, :4])


def test_spatial_attention_off_variant_runs():
    model = STGAT(blocks=((16, 32, 2),), num_heads=4, use_spatial_att=False)
    x = jax.random.normal(jax.random.key(3), (1, 2, 6, 25, 3))
    variables = filled_variables(model, x)
    assert 'in_nets' not in variables['params']['graph_layers_0']
    assert variables['params']['graph_layers_0']['out_nets']['conv']['kernel'].shape == (1, 3, 16, 32)
    logits, _ = jax.jit(model.apply)(variables, x)
    assert logits.shape == (1, 60) and np.all(np.isfinite(logits))


def test_dropout_uses_rng_only_in_train(tiny):
    variables, x = tiny['variables'], tiny['x']
    model = STGAT(**TINY, dropout=0.5, dropout2d=0.5, attention_dropout=0.5)
    run = jax.jit(lambda key: model.apply(
        variables, x, train=True, mutable=['batch_stats'], rngs={'dropout': key})[0][0])
    assert not np.allclose(run(jax.random.key(1)), run(jax.random.key(2)))
    # Eval mode needs no 'dropout' rng (tracing would fail if any dropout were active).
    logits, _ = jax.eval_shape(model.apply, variables, x)
    assert logits.shape == (2, 60)


@pytest.mark.parametrize(
    'kwargs,shape,match',
    [
        ({}, (1, 2, 8, 18, 3), r'V=25'),
        ({}, (1, 2, 8, 25, 2), r'C=3'),
        ({}, (2, 8, 25, 3), r'\(N, M, T, V=25, C=3\)'),
        ({'graph': 'kinetics'}, (1, 2, 8, 25, 3), 'graph must be one of'),
        ({'gate_index': 'mod3'}, (1, 2, 8, 25, 3), 'gate_index must be one of'),
        ({'blocks': ((16, 16, 1), (32, 32, 1))}, (1, 2, 8, 25, 3), r'blocks\[1\] C_in=32'),
        ({'num_heads': 3}, (1, 2, 8, 25, 3), 'multiples of num_heads=3'),
        ({'window': 4}, (1, 2, 8, 25, 3), 'window must be'),
        ({'att_s': False, 'glo_reg_s': False}, (1, 2, 8, 25, 3), 'att_s or glo_reg_s'),
    ],
)
def test_bad_configuration_errors(kwargs, shape, match):
    model = STGAT(**{**TINY, **kwargs})
    with pytest.raises(ValueError, match=match):
        x = jax.ShapeDtypeStruct(shape, jnp.float32)
        jax.eval_shape(functools.partial(model.init, jax.random.key(0)), x)


# ---------------------------------------------------------------------------------------------
# One block against a plain numpy transcription of the official computation in (N, C, T, V).


def np_conv1x1(x, p):
    return np.einsum('nctv,co->notv', x, p['kernel']) + p['bias'][None, :, None, None]


def np_bn_train(x, p, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * p['scale'][None, :, None, None] + p['bias'][None, :, None, None]


def np_conv_bn(x, p, stride=1):
    return np_bn_train(np_conv1x1(x[:, :, ::stride], p['conv']), p['bn'])


def np_temporal_conv_bn(x, p, stride):
    kernel = p['conv']['kernel']  # (7, 1, I, O)
    kt = kernel.shape[0]
    pad = kt // 2
    t = x.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (0, 0)))
    starts = range(0, t + 2 * pad - kt + 1, stride)
    out = np.stack(
        [np.einsum('nckv,kco->nov', xp[:, :, s:s + kt], kernel[:, 0]) for s in starts], axis=2
    )
    return np_bn_train(out + p['conv']['bias'][None, :, None, None], p['bn'])


def lrelu(x):
    return np.where(x > 0, x, 0.1 * x)


def np_official_block(x, p, a_sep, a_norm, heads, stride):
    """STGAT block, train mode, written directly from the official (N, C, T, V) formulation."""
    n, c, t, v = x.shape
    w = 3
    c_out = p['out_nets']['conv']['kernel'].shape[1]
    cp = c_out // heads
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    upfold = np.concatenate([xp[:, :, i:i + t] for i in range(w)], axis=3)  # (N, C, T, 3V)
    k = np_conv1x1(x, p['in_nets']).reshape(n, heads, cp, t, v)
    q = np_conv1x1(upfold, p['in_nets_upfold']).reshape(n, heads, cp, t, w * v)
    att = np.einsum('nsctu,nsctv->nsuv', q, k) / (cp * t)
    masks = np.stack([np.tile(a_sep[i], (w, 1)) for i in range(heads)])  # graph[i].repeat(3, 1)
    att = np.where(masks[None] > 0, att, -9e15)
    att = np.exp(att - att.max(-1, keepdims=True))
    att = att / att.sum(-1, keepdims=True)
    dg = np_conv1x1(np.einsum('nctu,uv->nctv', x, a_norm), p['diff_net'])
    diff = (np.tile(dg, (1, 1, 1, w)) - upfold).reshape(n, heads, c // heads, t, w, v)
    gate = 1 / (1 + np.exp(-diff.mean(-1).mean(2).mean(2)))  # (N, S, W)
    att = att * np.tile(gate[..., None], (1, 1, v, 1))  # .repeat(1, 1, V, 1): row u -> g[u mod 3]
    att = att + p['attention0s']
    y = np.einsum('nctu,nsuv->nsctv', upfold, att).reshape(n, heads * c, t, v)
    y = np_conv_bn(y, p['out_nets'])
    y = lrelu(np_conv_bn(x, p['downs1']) + y)
    y = np_conv_bn(y, p['ff_nets'])
    y = lrelu(np_conv_bn(x, p['downs2']) + y)
    z = np_temporal_conv_bn(y, p['out_nett'], stride)
    return lrelu(np_conv_bn(y, p['downt2'], stride) + z)


def test_block_matches_official_formulation():
    heads, stride = 4, 2
    block = STAttentionBlock(in_channels=16, out_channels=32, stride=stride, num_heads=heads)
    x = jax.random.normal(jax.random.key(4), (2, 6, 25, 16))
    variables = filled_variables(block, x)  # random G and BN affine, so their layouts matter
    params = variables['params']
    (out, _), _ = jax.jit(lambda v, x: block.apply(v, x, train=True, mutable=['batch_stats']))(variables, x)
    graph = graphs.get_graph('ntu')
    np_params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    x_nctv = np.asarray(x, np.float64).transpose(0, 3, 1, 2)
    want = np_official_block(x_nctv, np_params, graph.A_sep, graph.A_norm.astype(np.float64), heads, stride)
    assert out.shape == (2, 3, 25, 32)
    np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2), want, rtol=1e-4, atol=1e-4)


def test_embedding_matches_official_formulation():
    embed = InputEmbedding(features=16)
    x = jax.random.normal(jax.random.key(5), (2, 5, 25, 3))
    variables = filled_variables(embed, x, False)
    (out, _) = jax.jit(lambda v, x: embed.apply(v, x, True, mutable=['batch_stats']))(variables, x)
    assert out.shape == (2, 5, 25, 16)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), flax.core.unfreeze(variables['params']))
    xn = np.asarray(x, np.float64).transpose(0, 3, 1, 2)  # (N, C, T, V)
    zeros = np.zeros_like(xn[:, :, :2])
    diffs = [
        np.concatenate([zeros[:, :, :1], xn[:, :, 1:] - xn[:, :, :-1]], axis=2),
        np.concatenate([zeros, xn[:, :, 2:] - xn[:, :, :-2]], axis=2),
        np.concatenate([xn[:, :, :-1] - xn[:, :, 1:], zeros[:, :, :1]], axis=2),
        np.concatenate([xn[:, :, :-2] - xn[:, :, 2:], zeros], axis=2),
    ]
    parts = [lrelu(np_conv_bn(xn, p['input_map']))]
    parts += [lrelu(np_conv_bn(d, p[f'diff_map{i + 1}'])) for i, d in enumerate(diffs)]
    want = np.concatenate(parts, axis=1)  # channel order [x | d1 | d2 | d3 | d4]
    assert [part.shape[1] for part in parts] == [8, 2, 2, 2, 2]
    np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('remat', ['full', 'dots'])
def test_remat_keeps_parameters_and_gradients(remat):
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 2, 8, 25, 3))
    kwargs = dict(num_classes=5, blocks=((16, 16, 1), (16, 32, 2)), num_heads=2, num_frames=8)
    base, remat_model = STGAT(**kwargs), STGAT(remat=remat, **kwargs)
    variables = base.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(remat_model.init(jax.random.PRNGKey(0), x)) == jax.tree.structure(variables)

    def grads(model):
        def loss(params):
            (logits, _), _ = model.apply({'params': params, 'batch_stats': variables['batch_stats']}, x,
                                         train=True, mutable=['batch_stats'])
            return jnp.sum(logits ** 2)
        return jax.jit(jax.grad(loss))(variables['params'])

    for a, b in zip(jax.tree.leaves(grads(remat_model)), jax.tree.leaves(grads(base))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='remat must be one of'):
        STGAT(remat='some', **kwargs).init(jax.random.PRNGKey(0), x)

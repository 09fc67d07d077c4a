"""CSTA beyond CSTA-CNN: the STGAT plug-in, the UESTC / CSTA-CNN configs and the attention picture."""

import dataclasses
import functools
import pathlib

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import csta_base, default, uestc_xsub, uestc_xview1, uestc_xview2
from data_prep import prepare, synthetic
from stgat_jax import checkpoints, models, steps, visualize
from stgat_jax.models.csta import CSTACNN, CoupledAttention, CSTAConfig
from stgat_jax.models.stgat import STGAT
from stgat_jax.summary import param_counts

V = 25
TINY = dict(blocks=((16, 16, 1), (16, 32, 2)), num_heads=4, num_classes=5)
X_SHAPE = (2, 2, 8, V, 3)  # N, M, T, V, C
HIDDEN = 8


def read_png(path) -> np.ndarray:
    """(H, W, 3) RGB values in [0, 1] of a PNG file."""
    import matplotlib.image  # matplotlib is a dependency of the pictures under test

    return matplotlib.image.imread(str(path))[..., :3]


def assert_drawn(pixels: np.ndarray, what: str) -> None:
    """Not blank: a good part of the picture is not background, in many colours."""
    drawn = (pixels < 0.95).any(-1).mean()
    colours = len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert drawn > 0.1 and colours > 100, f'{what} looks blank: {drawn:.1%} drawn, {colours} colours'


def skeletons(shape=X_SHAPE, seed=0) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def subnet_params(channels: int, frames: int, hidden: int = HIDDEN) -> int:
    """Joint net (C*V -> H -> V) plus frame net (C*T -> H -> T), kernels and biases."""
    joint = channels * V * hidden + hidden + hidden * V + V
    frame = channels * frames * hidden + hidden + hidden * frames + frames
    return joint + frame


def abstract_variables(model, shape=X_SHAPE):
    return jax.eval_shape(functools.partial(model.init, jax.random.key(0)),
                          jax.ShapeDtypeStruct(shape, jnp.float32))


# --- STGAT plug-in ---------------------------------------------------------------------------------

@pytest.mark.parametrize('subnet_input,channels',
                         [('features', (16, 32)), ('coordinates', (3, 3)), ('motion', (1, 1))])
def test_plugin_adds_exactly_the_two_subnetworks(subnet_input, channels):
    off = param_counts(abstract_variables(STGAT(**TINY))['params'])
    on = param_counts(abstract_variables(STGAT(
        **TINY, csta_blocks=(0, 1),
        csta_config=CSTAConfig(hidden_features=HIDDEN, subnet_input=subnet_input)))['params'])
    # Block 0 keeps T=8 frames, block 1 (stride 2) outputs 4.
    assert on['csta_0'] == subnet_params(channels[0], 8)
    assert on['csta_1'] == subnet_params(channels[1], 4)
    assert on['total'] - off['total'] == on['csta_0'] + on['csta_1']
    assert {k: v for k, v in on.items() if not k.startswith('csta') and k != 'total'} == {
        k: v for k, v in off.items() if k != 'total'}


def test_plugin_off_by_default_leaves_the_model_unchanged():
    variables = abstract_variables(STGAT(**TINY))
    assert not [k for k in variables['params'] if k.startswith('csta')]


@pytest.fixture(scope='module')
def plugged():
    """A tiny STGAT with CSTA after block 1, its variables, and the same model without CSTA."""
    on = STGAT(**TINY, csta_blocks=(1,), csta_config=CSTAConfig(hidden_features=HIDDEN))
    x = skeletons()
    variables = jax.jit(on.init)(jax.random.key(1), x)
    return on, STGAT(**TINY), variables, x


def test_plugin_changes_outputs_and_is_identity_at_uniform_attention(plugged):
    on, off, variables, x = plugged
    params = flax.core.unfreeze(variables['params'])
    off_vars = {'params': {k: v for k, v in params.items() if k != 'csta_1'},
                'batch_stats': variables['batch_stats']}
    logits_off, _ = jax.jit(off.apply)(off_vars, x)
    logits_on, _ = jax.jit(on.apply)(variables, x)
    assert not np.allclose(logits_on, logits_off, atol=1e-4)

    # Zero last layers -> uniform softmax weights -> rescaled map of ones -> the plain model.
    csta = params['csta_1']
    for name in ('joint_fc2', 'frame_fc2'):
        csta[name] = jax.tree.map(jnp.zeros_like, csta[name])
    uniform = {'params': params, 'batch_stats': variables['batch_stats']}
    logits_uniform, aux = jax.jit(on.apply)(uniform, x)
    np.testing.assert_allclose(logits_uniform, logits_off, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(aux['csta'][1]['map'], 1.0, rtol=1e-6)


def test_plugin_aux_shapes(plugged):
    on, _, variables, x = plugged
    _, aux = jax.jit(on.apply)(variables, x)
    weights = aux['csta'][1]
    assert weights['joint_weights'].shape == (2, 2, V)
    assert weights['frame_weights'].shape == (2, 2, 4)
    assert weights['map'].shape == (2, 2, 4, V)
    np.testing.assert_allclose(weights['joint_weights'].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        weights['map'], 4 * V * weights['frame_weights'][..., None] * weights['joint_weights'][..., None, :],
        rtol=1e-5)
    assert set(aux['csta']) == {1}


@pytest.mark.parametrize('blocks', [(2,), (-1,), (0, 0)])
def test_plugin_rejects_bad_block_indices(blocks):
    with pytest.raises(ValueError, match='csta_blocks'):
        abstract_variables(STGAT(**TINY, csta_blocks=blocks))


def test_add_csta_to_stgat_reaches_the_model():
    config = default.get_config()
    csta_base.add_csta_to_stgat(config)
    model = models.build_model(config)
    assert model.csta_blocks == (len(config.model.blocks) - 1,)
    assert model.csta_config == CSTAConfig(hidden_features=64, pooling='mean', subnet_input='features',
                                           normalization='softmax_rescaled', activation='relu',
                                           motion_prior=0.0)
    params = abstract_variables(model, (1, 2, config.data.window_frames, V, 3))['params']
    assert f'csta_{len(config.model.blocks) - 1}' in params
    with pytest.raises(ValueError, match="expected 'stgat'"):
        csta_base.add_csta_to_stgat(default.get_config('model=csta_cnn'))


# --- Configs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('module,benchmark', [(uestc_xsub, 'uestc_xsub'), (uestc_xview1, 'uestc_xview1'),
                                               (uestc_xview2, 'uestc_xview2')])
def test_uestc_configs(module, benchmark):
    config = module.get_config()
    assert config.dataset.benchmark == benchmark
    assert benchmark in prepare.benchmark_names(config.dataset.name)
    assert (config.dataset.num_classes, config.dataset.num_persons, config.dataset.num_joints) == (40, 1, V)
    assert config.model.name == 'csta_cnn' and config.data.sampling == 'crop_resize'
    model = models.build_model(config)
    shape = (1, 1, config.data.window_frames, V, 3)
    out = jax.eval_shape(lambda x: model.init_with_output(jax.random.key(0), x)[0], jnp.zeros(shape))
    logits, aux = out
    assert logits.shape == (1, 40)
    assert aux['position']['map'].shape == (1, 1, config.data.window_frames, V)
    assert module.get_config('model=hcn').model.name == 'hcn'
    with pytest.raises(ValueError, match='model='):
        module.get_config('model=stgat')


def test_csta_recipe_fields_are_explicit():
    config = default.get_config('model=csta_cnn')
    for key in ('csta_position', 'csta_subnet_input', 'csta_pooling', 'csta_hidden_features',
                'csta_activation', 'csta_normalization', 'csta_motion_prior'):
        assert key in config.model, key
    assert config.model.csta_motion_prior == 1.0
    model = models.build_model(config)
    assert isinstance(model, CSTACNN)
    assert model.csta_config.motion_prior == 1.0
    assert config.optim.name == 'adam'


@pytest.mark.parametrize('name', ['stgat', 'csta_cnn', 'hcn'])
def test_csta_keys_set_the_csta_config_and_typos_are_errors(name):
    if name == 'stgat':
        config = csta_base.add_csta_to_stgat(default.get_config())
    else:
        config = default.get_config('model=csta_cnn')
        config.model.name = name
    config.model.csta_hidden_features = 24
    config.model.csta_subnet_input = 'motion'
    model = models.build_model(config)
    assert (model.csta_config.hidden_features, model.csta_config.subnet_input) == (24, 'motion')
    config.model.csta_hiden_features = 8
    with pytest.raises(ValueError, match=r"\['csta_hiden_features'\].*'csta_hidden_features'"):
        models.build_model(config)


def test_csta_config_defaults_are_the_modules():
    settings = dataclasses.asdict(CSTAConfig())
    assert {name: getattr(CoupledAttention(), name) for name in settings} == settings


# --- Attention picture -----------------------------------------------------------------------------

def test_csta_weights_rejects_a_model_without_csta():
    with pytest.raises(ValueError, match='no CSTA weights'):
        visualize.csta_weights({'features': np.zeros((1, 4))})


def test_body_parts_cover_every_joint_once():
    joints = sorted(j for part in visualize.BODY_PARTS.values() for j in part)
    assert joints == list(range(V))
    masses = visualize.part_weights(np.full((3, V), 1.0 / V))
    assert masses['left arm'] == pytest.approx(np.full(3, 6 / V))
    assert masses['right arm'] == pytest.approx(np.full(3, 6 / V))
    for side in ('left', 'right'):
        part = set(visualize.BODY_PARTS[f'{side} arm']) | set(visualize.BODY_PARTS[f'{side} leg'])
        assert part == (visualize.LEFT_JOINTS if side == 'left' else visualize.RIGHT_JOINTS)


def test_raw_files_split_follows_the_benchmark(tmp_path):
    names = ['S001C001P001R001A001', 'S001C001P003R001A001']  # performer 1 trains, 3 tests (xsub)
    for name in names:
        (tmp_path / f'{name}.skeleton').write_text('0\n')
    config = default.get_config('model=csta_cnn')
    assert [f.stem for f in visualize.raw_files(tmp_path, config, 'test')] == [names[1]]
    assert [f.stem for f in visualize.raw_files(tmp_path, config, 'train')] == [names[0]]
    assert len(visualize.raw_files(tmp_path)) == 2
    with pytest.raises(ValueError, match='split'):
        visualize.raw_files(tmp_path, config, 'val')
    with pytest.raises(ValueError, match='NTU-format'):
        visualize.raw_files(tmp_path, None, 'test')
    # A benchmark with its own split rule: the official STGAT X-Set trains on odd setups.
    (tmp_path / 'S002C001P001R001A001.skeleton').write_text('0\n')
    config.dataset.name, config.dataset.benchmark = 'ntu120', 'ntu120_xset_official_stgat'
    assert [f.stem[:4] for f in visualize.raw_files(tmp_path, config, 'test')] == ['S002']
    config.dataset.benchmark = 'ntu120_unknown'
    with pytest.raises(ValueError, match='unknown benchmark'):
        visualize.raw_files(tmp_path, config, 'test')


def test_projection_axes_show_the_front_view():
    pose = np.zeros((V, 3))
    pose[20] = (0, 0, 1)   # up is +z (the NTU normalisation)
    pose[4] = (0.2, 0, 1)  # left shoulder at +x
    pose[8] = (-0.2, 0, 1)
    assert visualize.projection_axes(pose) == (0, 2, 1.0, 1.0)
    pose[:, 1], pose[:, 2] = -pose[:, 2], 0.0  # up is -y
    assert visualize.projection_axes(pose) == (0, 1, 1.0, -1.0)


def test_draw_attention_writes_a_png_and_checks_shapes(tmp_path):
    rng = np.random.default_rng(0)
    joint, frame = rng.dirichlet(np.ones(V)), rng.dirichlet(np.ones(8))
    weights = {name: {'joint_weights': joint, 'frame_weights': frame,
                      'map': 8 * V * frame[:, None] * joint[None]} for name in ('position', 'motion')}
    skeleton = rng.normal(size=(16, V, 3))  # the stream maps have half the frames: allowed
    path = visualize.draw_attention(skeleton, weights, tmp_path / 'sub' / 'att.png', title='t')
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000
    # A 17-inch-wide figure at 90 dpi, trimmed to its content; one row of panels per stream.
    pixels = read_png(path)
    one_row = read_png(visualize.draw_attention(skeleton, {'position': weights['position']},
                                                tmp_path / 'one.png'))
    assert 1100 <= pixels.shape[1] <= 17 * 90 and pixels.shape[1] == one_row.shape[1], pixels.shape
    assert 1.7 < pixels.shape[0] / one_row.shape[0] < 2.1, (pixels.shape, one_row.shape)
    assert_drawn(pixels, 'the attention picture')
    assert_drawn(one_row, 'the one-stream attention picture')
    with pytest.raises(ValueError, match='joint_weights'):
        visualize.draw_attention(skeleton[:, :20], weights, tmp_path / 'bad.png',
                                 joint_names=visualize.JOINT_NAMES[:20])
    with pytest.raises(ValueError, match='skeleton must be'):
        visualize.draw_attention(skeleton[0], weights, tmp_path / 'bad.png')


def test_visualize_restores_a_checkpoint_and_draws_a_raw_file(tmp_path):
    raw = synthetic.generate(tmp_path / 'raw', performers=(3,), setups=(1,), cameras=(1,),
                             replications=(1,), actions=(2,), min_frames=30, max_frames=40,
                             progress=False)[0]
    config = default.get_config('model=csta_cnn')
    config.dataset.data_dir = str(tmp_path / 'tfds')  # no records: class names fall back to indices
    config.data.window_frames = config.data.resample_frames = config.data.crop_min_frames = 16
    config.batch_size = config.eval_batch_size = 4
    mesh = steps.create_mesh()
    model = steps.create_model(config, mesh)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 1))
    manager = checkpoints.create_manager(tmp_path / 'run', async_save=False)
    checkpoints.save(manager, 3, steps.init_state(model, tx, config, mesh, 0))
    manager.wait_until_finished()
    manager.close()

    record = visualize.load_record(raw)
    assert record.ndim == 4 and record.shape[1:] == (2, V, 3)
    x, positions = visualize.eval_inputs(config, record)
    assert x.shape == positions.shape == (2, 16, V, 3)
    assert visualize.pick_person(positions) == 0  # a one-person action: the second slot is empty

    out = visualize.visualize(config, tmp_path / 'run', raw)  # an untrained CSTA-CNN
    assert out == tmp_path / 'run' / f'attention_{raw.stem}.png'
    assert out.stat().st_size > 10_000
    pixels = read_png(out)  # two streams: two rows of panels
    assert 1100 <= pixels.shape[1] <= 17 * 90 and 700 <= pixels.shape[0] <= 2 * 4.6 * 90, pixels.shape
    assert_drawn(pixels, 'the attention picture of a raw file')

    # The summary of the same file: the untrained subnetworks are nearly uniform, so the weights
    # are the motion prior's, which favours the waving (right) arm in both streams.
    assert visualize.raw_files(raw.parent) == [raw]
    assert visualize.raw_files(raw.parent / '*A002.skeleton') == [raw]
    with pytest.raises(FileNotFoundError, match=r"no raw skeleton files match '.*\*A001\.skeleton'"):
        visualize.raw_files(raw.parent / '*A001.skeleton')
    summary = visualize.summarize(config, tmp_path / 'run', [raw])
    assert list(summary) == [1] and sorted(summary[1]) == ['motion', 'position']
    for row in summary[1].values():
        assert sum(float(row[part][0]) for part in visualize.BODY_PARTS) == pytest.approx(1.0, abs=1e-5)
        assert float(row['right arm'][0]) > 2 * float(row['left arm'][0])
    assert "'wave right hand'" in visualize.format_summary(summary, ['wave left hand', 'wave right hand'])
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        visualize.visualize(config, tmp_path / 'empty', raw)
    with pytest.raises(ValueError, match='.skeleton, .txt or .mat'):
        visualize.load_record(tmp_path / 'sample.json')

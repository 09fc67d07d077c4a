"""The official-weights converter: state dict -> checks -> Orbax checkpoint -> restored model.

Uses the ``ntu`` parity fixture (see ``test_parity.py``): its official state dict, input and
eval-mode logits.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import textwrap

import jax
import ml_collections
import numpy as np
import pytest

from stgat_jax import convert, steps
from stgat_jax.models.stgat import STGAT

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'stgat_parity_ntu.npz')

# A config whose model is the one of the fixture.
TINY_CONFIG = textwrap.dedent('''
    from configs import default


    def get_config(arg=None):
        config = default.get_config(arg)
        config.dataset.num_classes = 10
        config.data.channels = 3
        config.data.window_frames = 16
        config.model.blocks = ((16, 16, 1), (16, 32, 2), (32, 32, 1))
        config.model.num_heads = 8
        config.batch_size = 4
        config.eval_batch_size = 4
        return config
''')


@pytest.fixture(scope='module')
def fixture() -> dict[str, np.ndarray]:
    """All arrays of the ntu parity fixture."""
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope='module')
def state_dict(fixture) -> dict[str, np.ndarray]:
    """The official state dict of the fixture, keys as ``DSTANet.state_dict()`` has them."""
    return {k[len('state_dict/'):]: v for k, v in fixture.items() if k.startswith('state_dict/')}


@pytest.fixture(scope='module')
def model() -> STGAT:
    """Our model of the fixture's configuration."""
    return STGAT(num_classes=10, in_channels=3, graph='ntu', num_heads=8, num_frames=16,
                 blocks=((16, 16, 1), (16, 32, 2), (32, 32, 1)))


def write_config(tmp_path: pathlib.Path) -> str:
    """Writes TINY_CONFIG into `tmp_path`; returns its path."""
    path = tmp_path / 'tiny_stgat.py'
    path.write_text(TINY_CONFIG)
    return str(path)


def load_config(path: str) -> ml_collections.ConfigDict:
    """The config of a config file, loaded the way ``--config=FILE`` loads it."""
    spec = importlib.util.spec_from_file_location('tiny_stgat', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def test_cli_round_trip_restores_official_logits(tmp_path, fixture, state_dict):
    # DataParallel-style keys, as .npz, through the command line.
    official = tmp_path / 'official.npz'
    np.savez(official, **{f'module.{k}': v for k, v in state_dict.items()})
    config_path = write_config(tmp_path)
    workdir = tmp_path / 'run'
    convert.main(['convert', f'--official={official}', f'--config={config_path}',
                  f'--workdir={workdir}'])

    # Restore exactly as `main.py --mode=eval` does.
    config = load_config(config_path)
    mesh = steps.create_mesh()
    model, state, step = steps.restore_for_inference(config, str(workdir), mesh)
    assert step == 0 and int(state.step) == 0

    x = fixture['input'].transpose(0, 4, 2, 3, 1)  # official (N, C, T, V, M) -> (N, M, T, V, C)
    batch = np.concatenate([x, x])  # the eval batch must split over the 4 test devices
    logits = np.asarray(steps.make_eval_step(model, mesh)(state, steps.global_batch({'x': batch}, mesh)['x']))
    np.testing.assert_allclose(logits[:2], fixture['logits_eval'], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(logits[2:], logits[:2])

    # The checkpoint holds the official running statistics, not fresh ones.
    np.testing.assert_array_equal(
        np.asarray(state.batch_stats['graph_layers_1']['downt2']['bn']['var']),
        state_dict['graph_layers.1.downt2.1.running_var'])

    # A second conversion into the same workdir is refused.
    with pytest.raises(FileExistsError, match='already holds checkpoints'):
        convert.main(['convert', f'--official={official}', f'--config={config_path}',
                      f'--workdir={workdir}'])


def test_layouts_of_converted_tensors(state_dict, model):
    params, batch_stats = convert.load_official_state_dict(state_dict, model)
    w = state_dict['graph_layers.0.in_nets.weight']  # (O, I, 1, 1)
    np.testing.assert_array_equal(params['graph_layers_0']['in_nets']['kernel'], w[:, :, 0, 0].T)
    w = state_dict['graph_layers.1.out_nett.0.weight']  # (O, I, 7, 1)
    np.testing.assert_array_equal(params['graph_layers_1']['out_nett']['conv']['kernel'],
                                  w.transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params['fc']['kernel'], state_dict['fc.weight'].T)
    np.testing.assert_array_equal(params['graph_layers_2']['attention0s'],
                                  state_dict['graph_layers.2.attention0s'])
    np.testing.assert_array_equal(params['embedding']['diff_map3']['bn']['scale'],
                                  state_dict['diff_map3.1.weight'])
    np.testing.assert_array_equal(batch_stats['embedding']['diff_map3']['bn']['mean'],
                                  state_dict['diff_map3.1.running_mean'])
    assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves((params, batch_stats)))


def test_module_prefix_is_stripped(state_dict, model):
    plain = convert.load_official_state_dict(state_dict, model)
    prefixed = convert.load_official_state_dict({f'module.{k}': v for k, v in state_dict.items()}, model)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(prefixed)):
        np.testing.assert_array_equal(a, b)
    both = {**state_dict, 'module.fc.bias': state_dict['fc.bias']}
    with pytest.raises(ValueError, match=r"both with and without the 'module\.' prefix: \['fc\.bias'\]"):
        convert.load_official_state_dict(both, model)


def test_all_mismatches_are_one_error(state_dict, model):
    bad = dict(state_dict)
    bad['graph_layers.0.bogus'] = np.zeros(3, np.float32)  # unknown
    bad['graph_layers.7.atts'] = np.zeros(3, np.float32)  # a buffer of a block that does not exist
    del bad['fc.bias']  # missing
    del bad['graph_layers.2.ff_nets.1.running_var']  # missing
    bad['fc.weight'] = state_dict['fc.weight'].T  # wrong shape: (32, 10) instead of (10, 32)
    with pytest.raises(ValueError) as info:
        convert.load_official_state_dict(bad, model)
    message = str(info.value)
    assert 'unknown keys (2): graph_layers.0.bogus, graph_layers.7.atts' in message
    assert 'missing keys (2): fc.bias, graph_layers.2.ff_nets.1.running_var' in message
    assert 'wrong shapes (1): fc.weight: got (32, 10), expected (10, 32)' in message


def test_buffers_without_counterpart_are_optional(state_dict, model):
    # num_batches_tracked, atts and pes.pe may be absent (older torch, hand-made dicts).
    kept = {k: v for k, v in state_dict.items()
            if not k.endswith(('num_batches_tracked', '.atts', '.pes.pe'))}
    assert len(kept) < len(state_dict)
    params, _ = convert.load_official_state_dict(kept, model)
    assert params['fc']['bias'].shape == (10,)


def test_weights_for_another_model_are_rejected(state_dict):
    # Same keys, but the config asks for 60 classes and 4 heads: every mis-shaped tensor is named.
    other = STGAT(num_classes=60, in_channels=3, graph='ntu', num_heads=4, num_frames=16,
                  blocks=((16, 16, 1), (16, 32, 2), (32, 32, 1)))
    expected = r'attention0s: got \(1, 8, 75, 25\), expected \(1, 4, 75, 25\)'
    with pytest.raises(ValueError, match=expected) as info:
        convert.load_official_state_dict(state_dict, other)
    assert 'fc.weight: got (10, 32), expected (60, 32)' in str(info.value)
    assert 'unknown keys' not in str(info.value) and 'missing keys' not in str(info.value)


def test_torch_file_without_torch_says_what_to_do(tmp_path, monkeypatch):
    path = tmp_path / 'weights.pth'
    path.write_bytes(b'not read')
    monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` fails, as where it is not installed
    with pytest.raises(ImportError, match=r'needs PyTorch.*\.npz'):
        convert.read_official_file(path)


def test_reads_npz_and_reports_missing_file(tmp_path, state_dict):
    path = tmp_path / 'sd.npz'
    np.savez(path, **state_dict)
    read = convert.read_official_file(path)
    assert sorted(read) == sorted(state_dict)
    np.testing.assert_array_equal(read['fc.weight'], state_dict['fc.weight'])
    with pytest.raises(FileNotFoundError, match='no such file'):
        convert.read_official_file(tmp_path / 'absent.npz')


def test_cli_requires_its_flags(tmp_path):
    from absl import flags

    with pytest.raises(flags.IllegalFlagValueError, match='official'):
        convert.main(['convert', f'--config={write_config(tmp_path)}', f'--workdir={tmp_path}'])


def test_cli_config_must_describe_the_weights(tmp_path, state_dict):
    official = tmp_path / 'official.npz'
    np.savez(official, **state_dict)
    workdir = tmp_path / 'run'
    with pytest.raises(ValueError, match=r'fc\.weight: got \(10, 32\), expected \(12, 32\)'):
        convert.main(['convert', f'--official={official}', f'--config={write_config(tmp_path)}',
                      '--config.dataset.num_classes=12', f'--workdir={workdir}'])
    assert not (workdir / 'checkpoints').exists() or not os.listdir(workdir / 'checkpoints')


def test_non_stgat_model_is_rejected(state_dict):
    import flax.linen as nn

    with pytest.raises(TypeError, match='only for STGAT models, got Dense'):
        convert.load_official_state_dict(state_dict, nn.Dense(3))

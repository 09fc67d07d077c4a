"""main.py as users run it, in separate processes: two JAX processes against one, a run killed
with SIGKILL and resumed, a run stopped with SIGTERM, and config typos.

The tiny configuration is configs/default.py's get_testing_config(), passed to main.py as
--config.KEY=VALUE overrides, so these runs and the in-process reference run the same config.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from ml_collections import config_dict

from configs import default
from data_prep import prepare, synthetic
from stgat_jax import checkpoints, steps, train

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 6


def _flat(c, prefix=""):
    out = {}
    for k, v in c.items():
        if isinstance(v, config_dict.ConfigDict):
            out.update(_flat(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def tiny_config(root):
    config = default.get_testing_config()
    config.dataset.data_dir = str(root / "tfds")
    config.dataset.raw_dir = str(root / "raw")
    config.num_train_steps = STEPS
    config.log_every_steps = 1
    config.tensorboard = False
    return config


def main_command(config, workdir, *extra):
    """main.py with the overrides that turn configs/default.py into `config`."""
    base = _flat(default.get_config())
    overrides = [f"--config.{k}={v}" for k, v in _flat(config).items() if base[k] != v]
    return [sys.executable, os.path.join(REPO, "main.py"), f"--config={REPO}/configs/default.py",
            f"--workdir={workdir}", *overrides, *extra]


def env_with_devices(n):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    synthetic.generate(root / "raw", seed=0, performers=(1, 3), setups=(1,), cameras=(1, 2),
                       replications=(1,), min_frames=30, max_frames=60, progress=False)
    prepare.prepare("synthetic", root / "raw", root / "tfds", benchmarks=["synthetic_xsub"], num_workers=1)
    return root


@pytest.fixture(scope="module")
def reference(root, tmp_path_factory):
    """An uninterrupted run in this process, on 4 fake devices."""
    workdir = str(tmp_path_factory.mktemp("reference"))
    train.train_and_evaluate(tiny_config(root), workdir)
    return workdir


def final_params(workdir, config):
    _, state, step = steps.restore_for_inference(config, workdir)
    return jax.device_get(state.params), step


def losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return {r["step"]: r["train_loss"] for r in map(json.loads, f) if "train_loss" in r}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(root, reference, tmp_path):
    config = tiny_config(root)
    workdir = str(tmp_path / "two")
    port = free_port()
    procs = [subprocess.Popen(main_command(config, workdir, f"--coordinator_address=127.0.0.1:{port}",
                                           "--num_processes=2", f"--process_id={i}"),
                              env=env_with_devices(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=400)[0] for p in procs]
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i} exited with {p.returncode}; its output ends:\n{out[-3000:]}"
    assert "process 1/2" in outs[1] and "4 global devices" in outs[0]
    ref_losses, two_losses = losses(reference), losses(workdir)
    assert sorted(two_losses) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([two_losses[s] for s in sorted(two_losses)],
                               [ref_losses[s] for s in sorted(ref_losses)], atol=1e-5)
    a, _ = final_params(reference, config)
    b, step = final_params(workdir, config)
    assert step == STEPS
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, atol=1e-5)
    # Every test sample counted exactly once, in both.
    ref = np.load(os.path.join(reference, "scores_test.npz"))
    two = np.load(os.path.join(workdir, "scores_test.npz"))
    assert len(set(two["sample_names"])) == len(two["sample_names"]) == 24
    np.testing.assert_array_equal(ref["sample_names"], two["sample_names"])
    assert json.load(open(os.path.join(workdir, "results.json")))["num_examples"] == 24


def _wait_for(predicate, proc, timeout=300):
    t = time.time()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early:\n{proc.stdout.read()[-3000:]}")
        if time.time() - t > timeout:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


def _finalized(step_dir: str) -> bool:
    """Orbax's own test: a finished save is renamed from its temporary name (local disks) or
    carries commit_success.txt (object stores); which one depends on the Orbax version and path."""
    return os.path.isdir(step_dir) and ocp.utils.is_checkpoint_finalized(step_dir)


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(root, reference, tmp_path):
    config = tiny_config(root)
    workdir = str(tmp_path / "killed")
    cmd = main_command(config, workdir)
    proc = subprocess.Popen(cmd, env=env_with_devices(4), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: _finalized(os.path.join(workdir, "checkpoints", "2")), proc)
    proc.send_signal(signal.SIGKILL)  # mid-epoch: 3 steps per epoch, checkpoint at step 2
    proc.wait()
    assert not os.path.exists(os.path.join(workdir, "results.json"))
    # Resumed with main.py's --host_devices instead of XLA_FLAGS: the same 4 devices.
    env = {k: v for k, v in env_with_devices(4).items() if k != "XLA_FLAGS"}
    done = subprocess.run(cmd + ["--host_devices=4"], env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from the checkpoint at step" in done.stderr
    assert "4 local / 4 global devices" in done.stderr
    a, _ = final_params(reference, config)
    b, step = final_params(workdir, config)
    assert step == STEPS
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


def test_sigterm_saves_the_current_step(root, tmp_path):
    config = tiny_config(root)
    config.num_train_steps = 1000
    config.checkpoint.every_steps = 1000
    workdir = str(tmp_path / "term")
    proc = subprocess.Popen(main_command(config, workdir), env=env_with_devices(4),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: os.path.exists(os.path.join(workdir, "metrics.jsonl")), proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    assert "SIGTERM received: saved a checkpoint at step" in out
    step = int(out.split("saved a checkpoint at step ")[1].split()[0])
    assert 1 <= step < 1000
    assert _finalized(os.path.join(workdir, "checkpoints", str(step))), f"checkpoint {step} is not finalized"


@pytest.mark.parametrize("flag, message", [
    ("--config.optim.lrr=0.1", "lrr"),
    ("--config=configs/default.py:strem=bone", "strem"),
    ("--host_devices=-2", "--host_devices must be >= 0"),
])
def test_config_typos_are_errors(flag, message):
    out = subprocess.run([sys.executable, os.path.join(REPO, "main.py"), flag], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode != 0 and message in out.stderr

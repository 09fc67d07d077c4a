"""Export to StableHLO and ONNX, checked against the JAX model on samples read from raw files.

Checkpoints are real: STGAT ones converted from the official-style state dicts of the parity
fixtures (``stgat_jax.convert``), HCN and CSTA-CNN ones written after a few train steps. The JAX
logits are those of ``--mode=predict`` (restore, data_prep's reader, the eval transform, the
jitted eval step); the exports run on the same inputs with two batch sizes.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from data_prep import synthetic
from stgat_jax import checkpoints, convert, export, models, predict, steps

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
ATOL = 1e-4


# --- Raw files in three formats ----------------------------------------------------------------

def write_ntu_files(out: pathlib.Path) -> pathlib.Path:
    """Three synthetic NTU `.skeleton` files (one- and two-person actions) in `out`."""
    synthetic.generate(out, performers=(3,), setups=(1,), cameras=(1,), replications=(1,),
                       actions=(1, 2, 12), min_frames=30, max_frames=60, progress=False)
    return out


def write_kinetics_files(out: pathlib.Path) -> pathlib.Path:
    """Three Kinetics-skeleton `.json` files: 18 OpenPose joints, 1-3 people, missing joints."""
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, frames in enumerate((40, 55, 70)):
        data = []
        for t in range(frames):
            people = []
            for _ in range(1 + (t + i) % 3):
                pose = np.round(rng.uniform(0, 1, 36), 3)
                score = np.round(rng.uniform(0.05, 0.95, 18), 3)
                lost = rng.integers(0, 18, 2)
                pose.reshape(18, 2)[lost] = 0
                score[lost] = 0
                people.append({"pose": pose.tolist(), "score": score.tolist()})
            data.append({"frame_index": t + 1, "skeleton": people})
        doc = {"data": data, "label": "unknown", "label_index": i}
        (out / f"video_{i}.json").write_text(json.dumps(doc))
    return out


def write_uestc_files(out: pathlib.Path) -> pathlib.Path:
    """Three UESTC `.txt` files: per frame a ``#`` line and 25 joints of 3 lines each."""
    out.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i, frames in enumerate((35, 50, 64)):
        lines = []
        for _ in range(frames):
            lines.append("#")
            for j, (x, y, z) in enumerate(rng.uniform([-0.8, -0.9, 2.0], [0.8, 0.9, 3.5], (25, 3))):
                lines += [f"{x:.6f} {y:.6f} {z:.6f} 0", f"{480 + 3 * j:.4f} {270 + 2 * j:.4f} 1",
                          f"{256 + j:.4f} {212 - j:.4f} 2"]
        (out / f"a{i + 1}_d1_p{i + 1:03d}_c1.txt").write_text("\n".join(lines) + "\n")
    return out


# --- Checkpoints -------------------------------------------------------------------------------

def stgat_config(case: str):
    """The model of the `case` parity fixture (tests/test_parity.py), at 16 frames."""
    config = default.get_config()
    config.data.window_frames = 16
    config.model.num_heads = 8
    config.batch_size = config.eval_batch_size = 4
    if case == "ntu":
        config.dataset.num_classes = 10
        config.model.blocks = ((16, 16, 1), (16, 32, 2), (32, 32, 1))
    else:
        config.dataset.name = "kinetics400"
        config.dataset.num_classes = 7
        config.dataset.num_joints = 18
        config.dataset.graph = "openpose"
        config.data.channels = 2
        config.data.stream = "bone"
        config.model.blocks = ((24, 24, 1), (24, 48, 2), (48, 48, 1))
    return config


def cnn_config(name: str, uestc: bool):
    """HCN / CSTA-CNN at 16 frames; on UESTC's layout (one person) or NTU's with bone motion."""
    config = default.get_config("model=csta_cnn")
    config.model.name = name  # hcn: the same network and recipe without CSTA
    if uestc:
        config.dataset.name = "uestc"
        config.dataset.num_persons = 1
        config.dataset.num_classes = 40
    else:
        config.data.stream = "bone_motion"
    config.data.window_frames = config.data.resample_frames = config.data.crop_min_frames = 16
    config.batch_size = config.eval_batch_size = 4
    return config


def convert_official(case: str, workdir: pathlib.Path):
    """A checkpoint converted from the official-style state dict of a parity fixture."""
    with np.load(FIXTURES / f"stgat_parity_{case}.npz") as data:
        state_dict = {k[len("state_dict/"):]: data[k] for k in data.files if k.startswith("state_dict/")}
    config = stgat_config(case)
    convert.convert_to_checkpoint(state_dict, config, workdir)
    return config


def train_a_few_steps(config, raw_dir: pathlib.Path, workdir: pathlib.Path, num_steps: int = 3):
    """A checkpoint after `num_steps` train steps on the raw files (moved BatchNorm statistics)."""
    _, x = predict.load_inputs(str(raw_dir), config)
    x = np.concatenate([x, x[:1]])[:4]
    labels = np.arange(4, dtype=np.int32) % config.dataset.num_classes
    model = models.build_model(config)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 1))
    state = steps.create_train_state(model, tx, jax.random.PRNGKey(0), steps.input_shape(config, 1))
    step = jax.jit(functools.partial(steps.train_step, model=model, tx=tx))
    for _ in range(num_steps):
        state, _ = step(state, {"x": jnp.asarray(x), "label": jnp.asarray(labels)})
    manager = checkpoints.create_manager(workdir, async_save=False)
    checkpoints.save(manager, num_steps, state)
    manager.wait_until_finished()
    manager.close()
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{case: (config, workdir, raw_dir)} for each model and file format."""
    root = tmp_path_factory.mktemp("export")
    ntu = write_ntu_files(root / "ntu")
    out = {}
    out["stgat_ntu"] = (convert_official("ntu", root / "stgat_ntu"), root / "stgat_ntu", ntu)
    kinetics = write_kinetics_files(root / "kinetics")
    out["stgat_kinetics"] = (convert_official("kinetics", root / "stgat_kinetics"), root / "stgat_kinetics",
                             kinetics)
    uestc = write_uestc_files(root / "uestc")
    config = train_a_few_steps(cnn_config("csta_cnn", uestc=True), uestc, root / "csta_uestc")
    out["csta_cnn_uestc"] = (config, root / "csta_uestc", uestc)
    config = train_a_few_steps(cnn_config("hcn", uestc=False), ntu, root / "hcn_ntu")
    out["hcn_ntu"] = (config, root / "hcn_ntu", ntu)
    return out


def jax_logits(runs, case: str) -> np.ndarray:
    """Logits of `--mode=predict` for the raw files of `case` (computed once)."""
    config, workdir, raw_dir = runs[case]
    out = workdir / "predictions.npz"
    if not out.exists():
        predict.predict(config, str(workdir), str(raw_dir), out=str(out))
    with np.load(out) as data:
        return data["logits"]


def exported(runs, case: str, fmt: str) -> tuple[pathlib.Path, dict]:
    """Exports `case` once per format; returns the file and its metadata."""
    config, workdir, _ = runs[case]
    path = workdir / "export" / f"model{export.FORMATS[fmt]}"
    if not path.exists():
        export.export(config, str(workdir), fmt)
    return path, json.loads(pathlib.Path(f"{path}.json").read_text())


# --- Tests -------------------------------------------------------------------------------------

CASES = ["stgat_ntu", "stgat_kinetics", "csta_cnn_uestc", "hcn_ntu"]


@pytest.mark.slow  # shares the checkpoints of `runs` (about 40 s to make)
@pytest.mark.parametrize("fmt", ["stablehlo", "onnx"])
@pytest.mark.parametrize("case", CASES)
def test_export_matches_jax_on_raw_files(runs, case, fmt):
    config, workdir, raw_dir = runs[case]
    _, x = predict.load_inputs(str(raw_dir), config)
    expected = jax_logits(runs, case)
    assert len(x) == 3 and np.max(np.abs(expected)) > 0.1
    path, meta = exported(runs, case, fmt)
    serialized = path.read_bytes()
    run = export.RUNNERS[fmt]
    # One export, two batch sizes.
    np.testing.assert_allclose(run(serialized, x), expected, rtol=0, atol=ATOL)
    np.testing.assert_allclose(run(serialized, x[1:2]), expected[1:2], rtol=0, atol=ATOL)

    step = 0 if case.startswith("stgat") else 3
    assert meta["step"] == step and meta["format"] == fmt and meta["file"] == path.name
    assert meta["model"] == config.model.name
    assert meta["input"]["name"] == "x" and meta["output"]["name"] == "logits"
    assert meta["input"]["shape"][0] == "N" and meta["input"]["shape"][1:] == [
        config.dataset.num_persons, meta["input"]["shape"][2], config.dataset.num_joints, config.data.channels]
    assert meta["output"]["shape"] == ["N", config.dataset.num_classes]
    assert len(meta["class_names"]) == config.dataset.num_classes
    assert meta["check_max_abs_diff"] <= ATOL
    p = meta["preprocessing"]
    assert (p["stream"], p["sampling"], p["window_frames"]) == (
        config.data.stream, config.data.sampling, config.data.window_frames)
    assert p["reader"] == {"ntu": "data_prep.ntu.load_sample", "kinetics": "data_prep.kinetics.load_sample",
                           "uestc": "data_prep.uestc.load_sample"}[case.rpartition("_")[2]]


@pytest.mark.slow  # shares the checkpoints of `runs` (about 40 s to make)
def test_metadata_names_the_classes_and_the_frames_rule(runs):
    _, meta = exported(runs, "stgat_ntu", "stablehlo")
    assert meta["input"]["shape"] == ["N", 2, "T", 25, 3]
    assert "multiple of 2" in meta["input"]["frames"]
    config, _, _ = runs["hcn_ntu"]
    _, meta = exported(runs, "hcn_ntu", "onnx")
    assert meta["input"]["shape"] == ["N", 2, 16, 25, 3] and "hcn" in meta["input"]["frames"]
    assert meta["class_names"] == predict.class_names(config)[:12]
    assert meta["preprocessing"]["bone_target"][:3] == [0, 1, 2]


@pytest.mark.slow  # shares the checkpoints of `runs` (about 40 s to make)
def test_stablehlo_takes_other_frame_counts(runs):
    config, workdir, _ = runs["stgat_ntu"]
    model, state, _ = steps.restore_for_inference(config, str(workdir))
    path, _ = exported(runs, "stgat_ntu", "stablehlo")
    call = jax.export.deserialize(bytearray(path.read_bytes())).call
    rng = np.random.default_rng(0)
    for frames in (16, 24, 6):
        x = rng.standard_normal((2, 2, frames, 25, 3)).astype(np.float32)
        ref = model.apply({"params": state.params, "batch_stats": state.batch_stats}, x, train=False)[0]
        np.testing.assert_allclose(np.asarray(call(x)), np.asarray(ref), rtol=0, atol=ATOL)
    with pytest.raises(Exception, match="shape|dimension"):
        call(rng.standard_normal((1, 2, 15, 25, 3)).astype(np.float32))  # not a multiple of the stride


def test_an_operation_onnx_cannot_express_is_named():
    def forward(x):
        doubled = jax.pure_callback(lambda a: np.asarray(a) * 2, jax.ShapeDtypeStruct(x.shape, x.dtype), x)
        return doubled.sum(axis=(1, 2, 3, 4))[:, None]

    with pytest.raises(export.ExportError, match=r"operation 'pure_callback' used at .*test_export\.py:\d+"):
        export.export_onnx(forward, ["N", 2, 16, 25, 3])


def test_an_export_that_differs_from_jax_is_refused():
    model = models.build_model(cnn_config("hcn", uestc=False))
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2, 16, 25, 3)), train=False)
    forward = export.forward_fn(model, variables["params"], variables.get("batch_stats", {}))
    serialized = export.export_stablehlo(forward, ["N", 2, 16, 25, 3])
    shapes = [(2, 2, 16, 25, 3)]
    assert export.check_export(serialized, "stablehlo", forward, shapes) <= ATOL
    other = export.forward_fn(model, jax.tree.map(lambda p: p + 0.05, variables["params"]),
                              variables.get("batch_stats", {}))
    with pytest.raises(export.ExportError, match="differ from the JAX model"):
        export.check_export(serialized, "stablehlo", other, shapes)


def readme_example() -> str:
    """The python block of README's 'Deploying a model' section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Deploying a model", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "README's deploying section should hold one python block"
    return blocks[0]


@pytest.mark.slow  # shares the checkpoints of `runs` (about 40 s to make)
@pytest.mark.parametrize("case", ["stgat_ntu", "hcn_ntu"])  # joint and bone-motion, both samplings
def test_readme_example_classifies_a_raw_file_without_jax(runs, case, tmp_path):
    config, workdir, raw_dir = runs[case]
    path, _ = exported(runs, case, "onnx")
    for name in ("model.onnx", "model.onnx.json"):
        shutil.copy(path.parent / name, tmp_path / name)
    raw = sorted(raw_dir.glob("*.skeleton"))[2]  # a two-person action
    shutil.copy(raw, tmp_path / "S001C001P001R001A001.skeleton")
    code = readme_example() + textwrap.dedent("""
        import sys
        assert not [m for m in sys.modules if m == "jax" or m.startswith(("jax.", "stgat_jax"))]
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]

    logits = jax_logits(runs, case)[2]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    classes = json.loads((tmp_path / "model.onnx.json").read_text())["class_names"]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5
    for line, k in zip(lines, np.argsort(-probs)[:5]):
        name, _, value = line.rpartition(": ")
        assert name == classes[k] and abs(float(value) - probs[k]) <= 2e-5, (line, classes[k], probs[k])


@pytest.mark.slow
def test_command_line(runs, tmp_path):
    config_file = tmp_path / "tiny_stgat.py"
    config_file.write_text(textwrap.dedent("""
        from configs import default


        def get_config(arg=None):
            config = default.get_config(arg)
            config.dataset.num_classes = 10
            config.data.window_frames = 16
            config.model.blocks = ((16, 16, 1), (16, 32, 2), (32, 32, 1))
            config.model.num_heads = 8
            config.batch_size = config.eval_batch_size = 4
            return config
    """))
    _, workdir, raw_dir = runs["stgat_ntu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "stgat_jax.export", f"--config={config_file}", "--format=onnx"]
    output = tmp_path / "out" / "tiny.onnx"
    out = subprocess.run(command + [f"--workdir={workdir}", f"--output={output}",
                                    "--config.eval.checkpoint_step=0"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"wrote {output}" in out.stdout
    meta = json.loads(pathlib.Path(f"{output}.json").read_text())
    assert meta["step"] == 0 and meta["input"]["shape"] == ["N", 2, 16, 25, 3]
    _, x = predict.load_inputs(str(raw_dir), runs["stgat_ntu"][0])
    np.testing.assert_allclose(export.run_onnx(output.read_bytes(), x),
                               jax_logits(runs, "stgat_ntu"), rtol=0, atol=ATOL)

    out = subprocess.run(command + [f"--workdir={tmp_path / 'empty'}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no checkpoint in") and "Traceback" not in out.stderr

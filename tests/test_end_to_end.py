"""The whole path: generated raw files -> TFDS records -> Grain batches -> sharded training on four
fake CPU devices -> Orbax checkpoint -> restore -> evaluation, plus exact resume."""

import json
import os

import jax
import numpy as np
import pytest

from configs import default
from data_prep import prepare, synthetic
from stgat_jax import checkpoints, evaluate, input_pipeline, predict, reporting, run, steps, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A small synthetic set: every class, performer 1 trains and performer 3 tests (cross-subject)."""
    root = tmp_path_factory.mktemp("synthetic")
    synthetic.generate(root / "raw", seed=0, performers=(1, 3), setups=(1,), cameras=(1, 2),
                       replications=(1,), min_frames=30, max_frames=60, progress=False)
    prepare.prepare("synthetic", root / "raw", root / "tfds", benchmarks=["synthetic_xsub"], num_workers=1)
    return root


def read_png(path) -> np.ndarray:
    """(H, W, 3) RGB values in [0, 1] of a PNG file."""
    import matplotlib.image  # matplotlib is a dependency of the pictures under test

    return matplotlib.image.imread(path)[..., :3]


def tiny_config(data_dir, **overrides):
    config = default.get_testing_config()
    config.dataset.data_dir = str(data_dir / "tfds")
    config.dataset.raw_dir = str(data_dir / "raw")
    for key, value in overrides.items():
        config[key] = value
    return config


def test_records_hold_real_length_sequences_and_a_report(data_dir):
    config = tiny_config(data_dir)
    train_src = input_pipeline.data_source(config, "train")
    test_src = input_pipeline.data_source(config, "test")
    assert len(train_src) == len(test_src) == 12 * 2  # 12 classes x 2 cameras, one performer each
    names = input_pipeline.sample_names(train_src)
    assert all("P001" in n for n in names)
    assert all("P003" in n for n in input_pipeline.sample_names(test_src))
    lengths = {train_src[i]["skeleton"].shape[0] for i in range(len(train_src))}
    assert len(lengths) > 1 and max(lengths) <= 60  # not padded to a common length
    rec = train_src[0]
    assert rec["skeleton"].shape[1:] == (2, 25, 3) and rec["skeleton"].dtype == np.float32
    assert rec["label"] == int(rec["sample_name"][-3:]) - 1
    report = json.loads((prepare.builder_for("synthetic_xsub", config.dataset.data_dir).data_path
                         / "prepare_report.json").read_text())
    assert report["splits"]["train"]["examples"] == 24 and report["splits"]["test"]["examples"] == 24


def test_train_checkpoint_restore_and_eval(data_dir, tmp_path):
    assert jax.device_count() == 4, "tests run on four fake CPU devices (see conftest.py)"
    config = tiny_config(data_dir)
    config.eval_every_epochs = 1.0  # 3 steps per epoch: test evaluations at steps 3 and 4
    workdir = str(tmp_path / "run")
    results = run.run(config, workdir, "train")
    on_disk = json.loads(open(os.path.join(workdir, "results.json")).read())
    for key in ("top1", "top5", "mean_class_accuracy", "num_examples", "step"):
        assert key in on_disk
    assert on_disk["num_examples"] == 24 and on_disk["step"] == config.num_train_steps
    assert 0.0 <= on_disk["top1"] <= on_disk["top5"] <= 1.0
    scores = np.load(os.path.join(workdir, "scores_test.npz"))
    assert scores["logits"].shape == (24, 12) and len(set(scores["sample_names"])) == 24
    # What results.json says is what the saved scores say, recomputed here.
    labels = np.asarray([int(str(n)[-3:]) - 1 for n in scores["sample_names"]])
    np.testing.assert_array_equal(scores["labels"], labels, err_msg="scores_test.npz labels do not match the names")
    ranked = np.argsort(-scores["logits"], axis=1, kind="stable")
    assert on_disk["top1"] == np.mean(ranked[:, 0] == labels), "results.json top1 is not the scores' top-1"
    assert on_disk["top5"] == np.mean((ranked[:, :5] == labels[:, None]).any(1)), "results.json top5"
    recall = [np.mean(ranked[labels == c, 0] == c) for c in range(12)]
    assert on_disk["mean_class_accuracy"] == pytest.approx(np.mean(recall)), "results.json mean_class_accuracy"
    confusion = np.load(os.path.join(workdir, "confusion_test.npz"))["confusion"]
    assert confusion.sum() == 24 and np.trace(confusion) == round(24 * on_disk["top1"])
    np.testing.assert_array_equal(confusion.sum(1), np.bincount(labels, minlength=12))
    np.testing.assert_array_equal(confusion.sum(0), np.bincount(ranked[:, 0], minlength=12))
    pixels = read_png(os.path.join(workdir, "confusion_test.png"))
    assert pixels.shape[:2] == (760, 760), pixels.shape  # (4 + 0.3 x 12 classes) inches at 100 dpi
    blue = (pixels[..., 2] - pixels[..., 0] > 0.3).mean()  # the filled cells and the colour bar
    assert (pixels < 0.95).any(-1).mean() > 0.05 and blue > 0.01, "confusion_test.png looks blank"
    records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["step"] for r in records if "train_loss" in r] == [2, 4]
    tests = [r for r in records if "test_top1" in r]
    assert [r["step"] for r in tests] == [3, 4]
    assert tests[-1]["test_top1"] == on_disk["top1"]  # the periodic and the final evaluation agree
    assert on_disk["best_step"] in (3, 4)
    assert on_disk["best_top1"] == max(r["test_top1"] for r in tests)
    assert os.listdir(os.path.join(workdir, "best")) == [str(on_disk["best_step"])]
    pixels = read_png(os.path.join(workdir, "curves.png"))
    assert pixels.shape[:2] == (360, 1350), pixels.shape  # 15 x 4 inches at 90 dpi
    assert (pixels < 0.95).any(-1).mean() > 0.05, "curves.png looks blank"
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(workdir, "tensorboard")))

    # Eval mode restores the checkpoint and reproduces the training run's metrics and logits.
    again = evaluate.evaluate(config, workdir)
    assert again["top1"] == results["top1"] and again["step"] == results["step"]
    np.testing.assert_allclose(np.load(os.path.join(workdir, "scores_test.npz"))["logits"],
                               scores["logits"], atol=1e-6)

    # Multi-clip testing averages three crops per sample; still every sample once.
    config.eval.num_test_clips = 3
    multi = evaluate.evaluate(config, workdir)
    assert multi["num_examples"] == 24 and 0.0 <= multi["top1"] <= 1.0
    config.eval.num_test_clips = 1

    # Prediction on raw files goes through the same preprocessing and gives the same logits.
    names = list(scores["sample_names"])
    raw = sorted((data_dir / "raw").glob("*P003*.skeleton"))[:3]
    out = predict.predict(config, workdir, str(raw[0]))
    np.testing.assert_allclose(out["logits"][0], scores["logits"][names.index(raw[0].stem)], atol=1e-5)
    folder = data_dir / "predict_folder"
    folder.mkdir(exist_ok=True)
    for f in raw:
        (folder / f.name).write_bytes(f.read_bytes())
    out = predict.predict(config, workdir, str(folder), out=str(tmp_path / "p.npz"))
    assert out["sample_names"] == [f.stem for f in raw]
    np.testing.assert_allclose(out["logits"], scores["logits"][[names.index(f.stem) for f in raw]], atol=1e-5)
    # An .npy in the official (N, C, T, V, M) layout is fed as it is.
    src = input_pipeline.data_source(config, "test")
    x = input_pipeline.EvalSample(config.data, "ntu").map(src[0])["x"]  # (M, T, V, C)
    np.save(tmp_path / "x.npy", x.transpose(3, 1, 2, 0)[None])
    out = predict.predict(config, workdir, str(tmp_path / "x.npy"))
    np.testing.assert_allclose(out["logits"][0], scores["logits"][0], atol=1e-5)
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 8, 18, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(M, V, C\) = \(2, 18, 3\)"):
        predict.predict(config, workdir, str(tmp_path / "bad.npy"))


def _params(workdir, config):
    _, state, step = steps.restore_for_inference(config, workdir)
    return jax.device_get(state.params), step


def test_resume_continues_with_the_same_batches(data_dir, tmp_path):
    # Uninterrupted: 6 steps. Interrupted: 4 steps, stop, then resume to 6 from the checkpoint.
    straight = str(tmp_path / "straight")
    train.train_and_evaluate(tiny_config(data_dir, num_train_steps=6), straight)
    resumed = str(tmp_path / "resumed")
    train.train_and_evaluate(tiny_config(data_dir, num_train_steps=4), resumed)
    train.train_and_evaluate(tiny_config(data_dir, num_train_steps=6), resumed)
    a, step_a = _params(straight, tiny_config(data_dir))
    b, step_b = _params(resumed, tiny_config(data_dir))
    assert step_a == step_b == 6
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


def test_the_synthetic_set_is_written_and_prepared_on_first_use(tmp_path):
    """What `python main.py` does before training when data/ is empty, on two performers."""
    config = default.get_config()
    config.dataset.data_dir = str(tmp_path / "tfds")
    config.dataset.raw_dir = str(tmp_path / "raw")
    config.dataset.synthetic_performers = (1, 3)  # 1 trains, 3 tests (cross-subject)
    run.ensure_records(config)
    assert len(list((tmp_path / "raw").glob("*.skeleton"))) == 2 * 3 * 2 * 12
    assert prepare.is_prepared("synthetic_xsub", tmp_path / "tfds")
    assert len(input_pipeline.data_source(config, "train")) == 72
    assert len(input_pipeline.data_source(config, "test")) == 72


def test_a_benchmark_without_records_fails_at_once_with_the_prepare_command(tmp_path):
    from configs import ntu60_xsub

    config = ntu60_xsub.get_config()
    config.dataset.data_dir = str(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="python -m data_prep.prepare --dataset=ntu60"):
        run.run(config, str(tmp_path / "run"), "train")


def test_a_non_finite_loss_stops_the_run_and_names_the_last_good_checkpoint(data_dir, tmp_path):
    config = tiny_config(data_dir, num_train_steps=6)
    config.optim.lr = 1e30  # the first update sends the parameters to inf
    workdir = str(tmp_path / "diverged")
    with pytest.raises(FloatingPointError, match=r"non-finite loss .* at step 2; stopping: no checkpoint was saved before it"):
        train.train_and_evaluate(config, workdir)
    assert not os.path.exists(os.path.join(workdir, "checkpoints", "2"))  # nothing non-finite was saved


def test_a_run_learns_and_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(data_dir, tmp_path, caplog):
    # 24 steps (8 epochs of 3 batches, the LR x0.1 at epochs 4 and 5): enough to learn this set.
    config = tiny_config(data_dir, num_train_steps=24)
    config.checkpoint.every_steps = 12
    workdir = str(tmp_path / "run")
    results = train.train_and_evaluate(config, workdir)  # checkpoints at steps 12 and 24
    losses = [r["train_loss"] for r in reporting.read_metrics(workdir) if "train_loss" in r]
    assert len(losses) == 12
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.8 * first, f"training does not learn: train loss {first:.3f} at the start, {last:.3f} at the end"
    # Chance is 1/12; this run reaches about 0.58 on the unseen performer.
    assert results["top1"] >= 0.3, f"training does not learn: test top-1 {results['top1']:.3f} after 24 steps"

    state_dir = os.path.join(workdir, "checkpoints", "24", "state")
    for root, _, files in os.walk(state_dir):  # damage every file of the latest state
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"damaged")
    # The whole train state, as a resumed run restores it.
    config, mesh = tiny_config(data_dir), steps.create_mesh()
    model = steps.create_model(config, mesh)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 3))
    abstract = steps.abstract_state(model, tx, config, mesh)
    manager = checkpoints.create_manager(workdir, read_only=True)
    state, step = checkpoints.restore(manager, abstract)
    assert step == 12 and int(state.step) == 12
    assert "falling back to step 12" in caplog.text
    with pytest.raises(ValueError, match=r"checkpoint at step 24 in .*checkpoints cannot be restored"):
        checkpoints.restore(manager, abstract, step=24)  # asked for by name: no fallback

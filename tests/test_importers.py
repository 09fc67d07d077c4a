"""Importing files other toolkits prepared (PYSKL / MMAction2 pickles, CTR-GCN npz, STGAT numpy)
into the records the raw files give.

The files are built in the published layouts from synthetic raw `.skeleton` files, so that what the
importers make of them can be compared with what the raw path makes of the same skeletons.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default, ntu60_xsub
from data_prep import imported, ntu, prepare, records, synthetic
from stgat_jax import errors, input_pipeline, models, predict, run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """12 synthetic files: performer 1 (x-sub train) and 3 (test), 2 cameras, 3 actions."""
    root = tmp_path_factory.mktemp("raw")
    synthetic.generate(root, seed=0, performers=(1, 3), setups=(1,), cameras=(1, 2),
                       replications=(1,), actions=(1, 2, 3), min_frames=20, max_frames=40,
                       progress=False)
    return sorted(root.glob("*.skeleton"))


def camera_coordinates(path) -> np.ndarray:
    """(M, T, 25, 3) raw camera xyz after body selection: what PYSKL's 3D files hold."""
    data = ntu.select_bodies(ntu.read_skeleton(path))
    return data[:, data.reshape(2, len(data[0]), -1).any(-1).any(0)]


def is_train(path) -> bool:
    return ntu.is_training(path, "ntu60", "xsub")


def read_records(data_dir, name, split):
    source = prepare.builder_for(name, data_dir).as_data_source(split=split)
    return [source[i] for i in range(len(source))]


def report(data_dir, name):
    return records.read_report(prepare.builder_for(name, data_dir).data_dir)


def pyskl_file(path, raw, extra=(), keypoints=np.float16, none_entries=1):
    """A 3D annotation pickle: 'xsub_train' / 'xsub_val' lists, one None entry, and optionally
    more annotations."""
    annotations = [{"frame_dir": p.stem, "label": int(p.stem[-3:]) - 1,
                    "keypoint": camera_coordinates(p).astype(keypoints),
                    "total_frames": camera_coordinates(p).shape[1]} for p in raw]
    annotations[1:1] = [None] * none_entries
    annotations += list(extra)
    split = {"xsub_train": [p.stem for p in raw if is_train(p)],
             "xsub_val": [p.stem for p in raw if not is_train(p)]}
    with open(path, "wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f)
    return path


# --------------------------------------------------------------------------------------------
# PYSKL / MMAction2


def test_pyskl_3d_import_normalises_as_the_raw_path(raw, tmp_path):
    extra = [{"frame_dir": "S001C001P002R001A001", "label": 0, "total_frames": 5,
              "keypoint": np.ones((1, 5, 25, 3), np.float16)}]  # in no split list
    path = pyskl_file(tmp_path / "ntu60_3danno.pkl", raw, extra)
    with open(path, "rb") as f:
        data = pickle.load(f)
    data["split"]["xsub_val"].append("S001C002P003R001A099")  # listed, never annotated
    with open(path, "wb") as f:
        pickle.dump(data, f)
    out = tmp_path / "tfds"
    prepare.prepare("ntu60", path, out, ["ntu60_xsub_pyskl"], source="pyskl")

    train = read_records(out, "ntu60_xsub_pyskl", "train")
    test = read_records(out, "ntu60_xsub_pyskl", "test")
    assert [r["sample_name"].decode() for r in train] == [p.stem for p in raw if is_train(p)]
    assert len(train) == len(test) == 6
    for record in train + test:
        p = next(q for q in raw if q.stem == record["sample_name"].decode())
        assert record["label"] == int(p.stem[-3:]) - 1
        want = ntu.load_sample(p).transpose(1, 3, 2, 0)  # the raw path's record
        x = record["skeleton"]
        assert x.shape == want.shape  # real length, 2 bodies
        # The same normalisation; float16 keypoints cost about 1e-3 of a spine length.
        np.testing.assert_allclose(x, want, atol=2e-2)
        kp = data["annotations"][data["annotations"].index(next(
            a for a in data["annotations"] if a and a["frame_dir"] == p.stem))]["keypoint"]
        np.testing.assert_allclose(x, ntu.normalize(kp.astype(np.float64)).transpose(1, 0, 2, 3),
                                   atol=1e-6)
        np.testing.assert_allclose(x[0, 0, 0], 0, atol=1e-6)  # spine base of frame 0: origin
        np.testing.assert_allclose(x[0, 0, 20], [0, 0, 1], atol=1e-5)  # unit spine along +z

    rep = report(out, "ntu60_xsub_pyskl")
    assert rep["source"] == "pyskl" and "ntu.normalize" in rep["normalisation"]
    assert rep["examples"] == 12 and rep["raw_files"] == 14
    assert rep["skipped_by_reason"] == {"empty_annotation": 1, "not_in_split": 1,
                                        "not_annotated": 1}
    assert rep["outside_splits"]["skipped_samples"][0] == {
        "sample": "annotations[1]", "reason": "empty_annotation",
        "detail": f"{path}: annotations[1] is None"}
    assert rep["splits"]["test"]["skipped_samples"][0]["sample"] == "S001C002P003R001A099"
    assert set(rep["reasons"]) == {"empty_annotation", "not_in_split", "not_annotated"}


def test_pyskl_2d_import(tmp_path):
    rng = np.random.default_rng(0)
    h, w, t = 480, 640, 6
    kp = rng.uniform(0, 1, (3, t, 17, 2)) * [w, h]
    score = rng.uniform(0.1, 1, (3, t, 17))
    score[0] *= 0.1  # the least confident person is dropped
    score[:, 2] = 0  # a frame without any detection is cut
    score[2, 4, 5] = 0  # one undetected keypoint is zero
    ann = {"frame_dir": "S001C001P001R001A002", "label": 1, "img_shape": (h, w),
           "original_shape": (h, w), "total_frames": t, "keypoint": kp.astype(np.float16),
           "keypoint_score": score.astype(np.float16)}
    other = dict(ann, frame_dir="S001C001P003R001A002")
    path = tmp_path / "ntu60_2d.pkl"
    with open(path, "wb") as f:
        pickle.dump({"split": {"xsub_train": [ann["frame_dir"]],
                               "xsub_val": [other["frame_dir"]]},
                     "annotations": [ann, other]}, f)
    prepare.prepare("ntu60", path, tmp_path / "tfds", ["ntu60_xsub_pyskl_2d"], source="pyskl_2d")
    (record,) = read_records(tmp_path / "tfds", "ntu60_xsub_pyskl_2d", "train")
    x = record["skeleton"]
    assert x.shape == (t - 1, 2, 17, 3) and record["label"] == 1
    kp16, s16 = ann["keypoint"].astype(np.float64), ann["keypoint_score"].astype(np.float64)
    frames = [0, 1, 3, 4, 5]
    for slot, person in enumerate((2, 1)):  # by total score, highest first
        want = np.stack([kp16[person, frames, :, 0] / w - 0.5, 0.5 - kp16[person, frames, :, 1] / h,
                         s16[person, frames]], -1)
        want[s16[person, frames] == 0] = 0
        np.testing.assert_allclose(x[:, slot], want, atol=1e-6)
    assert (x[3, 0, 5] == 0).all()  # frame 4 of person 2, keypoint 5: score 0


def test_pyskl_default_builds_every_benchmark_of_the_file(raw, tmp_path):
    path = pyskl_file(tmp_path / "a.pkl", raw, none_entries=0)
    with open(path, "rb") as f:
        data = pickle.load(f)
    data["split"]["xview_train"] = [p.stem for p in raw if "C002" in p.stem]
    data["split"]["xview_val"] = [p.stem for p in raw if "C001" in p.stem]
    with open(path, "wb") as f:
        pickle.dump(data, f)
    prepare.run(["--dataset=ntu60", "--format=pyskl", f"--raw_dir={path}",
                 f"--data_dir={tmp_path / 'tfds'}", "--num_workers=1"])
    assert len(read_records(tmp_path / "tfds", "ntu60_xview_pyskl", "test")) == 6
    assert len(read_records(tmp_path / "tfds", "ntu60_xsub_pyskl", "test")) == 6


# --------------------------------------------------------------------------------------------
# CTR-GCN npz and STGAT numpy


def ctrgcn_row(path) -> np.ndarray:
    """A sample as CTR-GCN's seq_transformation stores it: (300, 150), translated so that body 1's
    spine middle at its first frame is the origin, absent bodies zero, zero-padded."""
    x = camera_coordinates(path).transpose(1, 0, 2, 3).reshape(-1, 150).astype(np.float32)
    missing = [x[:, :75].sum(1) == 0, x[:, 75:].sum(1) == 0]
    x -= np.tile(x[0, 3:6], 50)
    x[missing[0], :75] = 0
    x[missing[1], 75:] = 0
    if missing[1].all():
        x[:, 75:] = 0
    out = np.zeros((300, 150), np.float32)
    out[:len(x)] = x
    return out


def test_ctrgcn_npz_import(raw, tmp_path):
    train = [p for p in raw if is_train(p)]
    test = [p for p in raw if not is_train(p)]

    def one_hot(paths):
        y = np.zeros((len(paths), 60))
        y[np.arange(len(paths)), [int(p.stem[-3:]) - 1 for p in paths]] = 1
        return y

    path = tmp_path / "NTU60_CS.npz"
    np.savez(path, x_train=np.stack([ctrgcn_row(p) for p in train]), y_train=one_hot(train),
             x_test=np.stack([ctrgcn_row(p) for p in test]), y_test=one_hot(test))
    assert isinstance(imported.read_npz(str(path))["x_train"], np.memmap)
    imported.close()
    prepare.run(["--dataset=ntu60", "--format=ctrgcn", "--split=xsub", f"--raw_dir={path}",
                 f"--data_dir={tmp_path / 'tfds'}"])
    got = read_records(tmp_path / "tfds", "ntu60_xsub_ctrgcn", "test")
    assert [r["sample_name"].decode() for r in got] == [f"test_{i:06d}" for i in range(6)]
    for record, p in zip(got, test):
        assert record["label"] == int(p.stem[-3:]) - 1
        # Only translated by CTR-GCN, normalised here: the raw path's record, real length.
        want = ntu.load_sample(p).transpose(1, 3, 2, 0)
        assert record["skeleton"].shape == want.shape
        np.testing.assert_allclose(record["skeleton"], want, atol=1e-4)
    rep = report(tmp_path / "tfds", "ntu60_xsub_ctrgcn")
    assert "train_000000 is x_train[0]" in rep["sample_names"] and rep["examples"] == 12


def stgat_folder(folder, raw):
    """{train,val}_data_joint.npy (N, 3, 300, 25, 2) and {train,val}_label.pkl as STGAT's gendata
    writes them."""
    folder.mkdir(exist_ok=True)
    for split, paths in (("train", [p for p in raw if is_train(p)]),
                         ("val", [p for p in raw if not is_train(p)])):
        data = np.zeros((len(paths), 3, 300, 25, 2), np.float32)
        for i, p in enumerate(paths):
            x = ntu.load_sample(p)
            data[i, :, :x.shape[1]] = x
        np.save(folder / f"{split}_data_joint.npy", data)
        with open(folder / f"{split}_label.pkl", "wb") as f:
            pickle.dump(([p.name for p in paths], [int(p.stem[-3:]) - 1 for p in paths]), f)
    return folder


def test_stgat_numpy_import_equals_the_raw_records(raw, tmp_path):
    folder = stgat_folder(tmp_path / "xsub", raw)
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    for p in raw:
        (raw_dir / p.name).write_bytes(p.read_bytes())
    prepare.prepare("synthetic", raw_dir, tmp_path / "tfds", ["synthetic_xsub"], num_workers=1)
    prepare.prepare("synthetic", folder, tmp_path / "tfds", ["synthetic_xsub_stgat"],
                    source="stgat")
    for split in ("train", "test"):
        a = read_records(tmp_path / "tfds", "synthetic_xsub", split)
        b = read_records(tmp_path / "tfds", "synthetic_xsub_stgat", split)
        assert [r["sample_name"] for r in a] == [r["sample_name"] for r in b]
        for ra, rb in zip(a, b):
            assert ra["label"] == rb["label"]
            np.testing.assert_array_equal(ra["skeleton"], rb["skeleton"])


@pytest.mark.slow
def test_a_model_trained_on_imported_records_evaluates_and_predicts_as_from_raw_files(tmp_path):
    raw_dir = tmp_path / "raw"
    paths = synthetic.generate(raw_dir, seed=1, performers=(1, 3), setups=(1,), cameras=(1,),
                               replications=(1,), min_frames=30, max_frames=50, progress=False)
    stgat_folder(tmp_path / "xsub", paths)
    prepare.prepare("synthetic", raw_dir, tmp_path / "tfds", ["synthetic_xsub"], num_workers=1)
    prepare.prepare("synthetic", tmp_path / "xsub", tmp_path / "tfds", ["synthetic_xsub_stgat"],
                    source="stgat")
    test_files = [p for p in paths if not is_train(p)][:3]
    out = {}
    for benchmark in ("synthetic_xsub", "synthetic_xsub_stgat"):
        config = default.get_testing_config()
        config.dataset.data_dir = str(tmp_path / "tfds")
        config.dataset.raw_dir = str(raw_dir)
        config.dataset.benchmark = benchmark
        workdir = str(tmp_path / benchmark)
        results = run.run(config, workdir, "train")
        scores = np.load(os.path.join(workdir, "scores_test.npz"))
        folder = tmp_path / "predict"
        folder.mkdir(exist_ok=True)
        for p in test_files:
            (folder / p.name).write_bytes(p.read_bytes())
        predicted = predict.predict(config, workdir, str(folder), out=str(tmp_path / "p.npz"))
        out[benchmark] = (results, scores, predicted)
    (raw_results, raw_scores, raw_pred), (imp_results, imp_scores, imp_pred) = out.values()
    assert imp_results["num_examples"] == raw_results["num_examples"] == 12
    assert imp_results["top1"] == raw_results["top1"]
    assert list(imp_scores["sample_names"]) == list(raw_scores["sample_names"])
    np.testing.assert_allclose(imp_scores["logits"], raw_scores["logits"], atol=1e-5)
    assert imp_pred["sample_names"] == raw_pred["sample_names"] == [p.stem for p in test_files]
    np.testing.assert_allclose(imp_pred["logits"], raw_pred["logits"], atol=1e-5)
    # Prediction on the raw files agrees with the evaluation of the imported records.
    names = list(imp_scores["sample_names"])
    np.testing.assert_allclose(imp_pred["logits"],
                               imp_scores["logits"][[names.index(p.stem) for p in test_files]],
                               atol=1e-5)


@pytest.mark.parametrize("source,joints,graph", [("pyskl", 25, "ntu"), ("pyskl_2d", 17, "coco")])
def test_benchmark_configs_train_on_imported_records(source, joints, graph, tmp_path):
    config = ntu60_xsub.get_config(f"source={source},stream=bone")
    assert config.dataset.benchmark == f"ntu60_xsub_{source}" and config.dataset.graph == graph
    shape = prepare.builder_for(config.dataset.benchmark, tmp_path).info.features["skeleton"].shape
    assert shape[1:3] == (config.dataset.num_persons, config.dataset.num_joints) == (2, joints)
    record = {"skeleton": np.random.default_rng(0).normal(size=(40, *shape[1:])).astype(np.float32),
              "label": 3}
    x = input_pipeline.EvalSample(config.data, graph).map(record)["x"][None]
    assert x.shape[-2:] == (joints, 2 if source == "pyskl_2d" else 3)
    model = models.build_model(config)
    out = jax.eval_shape(lambda: model.init_with_output({"params": jax.random.PRNGKey(0)},
                                                        jnp.asarray(x), train=False)[0][0])
    assert out.shape == (1, 60)


# --------------------------------------------------------------------------------------------
# Wrong files


def build(fmt, path, tmp_path, split="xsub"):
    prepare.prepare("ntu60", path, tmp_path / "tfds", [f"ntu60_{split}_{fmt}"], source=fmt)


def dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


GOOD = {"frame_dir": "S001C001P001R001A001", "label": 0, "total_frames": 4,
        "keypoint": np.ones((1, 4, 25, 3), np.float16)}


@pytest.mark.parametrize("annotation,match", [
    ({**GOOD, "keypoint": np.ones((1, 4, 25, 2), np.float16)},
     r"annotations\[0\]\['keypoint'\]: expected a float array \(M, T, 25, 3\), got float16 array "
     r"of shape \(1, 4, 25, 2\)"),
    ({**GOOD, "keypoint": np.ones((1, 4, 25, 3), np.int64)},
     r"annotations\[0\]\['keypoint'\]: expected a float array .* got int64 array"),
    ({**GOOD, "keypoint": np.ones((1, 4, 17, 2), np.float16)},
     r"annotations\[0\]\['keypoint'\]: .* got float16 array of shape \(1, 4, 17, 2\): a 2D file; "
     r"import it with --format=pyskl_2d"),
    ({k: v for k, v in GOOD.items() if k != "label"},
     r"annotations\[0\]\['label'\]: expected a value \(the key is missing\)"),
    ({**GOOD, "label": 60}, r"annotations\[0\]\['label'\]: expected a class index in \[0, 60\)"),
    ({**GOOD, "keypoint": np.where(np.arange(25)[:, None] == 3, np.nan, GOOD["keypoint"])},
     r"annotations\[0\]\['keypoint'\]: expected finite numbers, got nan at index \(0, 0, 3, 0\)"),
    ({**GOOD, "total_frames": 7}, r"annotations\[0\]\['total_frames'\]: expected the keypoint's frame count 4"),
])
def test_wrong_annotation_is_one_error_naming_file_and_key(tmp_path, annotation, match):
    path = dump(tmp_path / "bad.pkl", {"split": {"xsub_train": [], "xsub_val": []},
                                       "annotations": [annotation]})
    with pytest.raises(imported.ImportFormatError, match=f"^{tmp_path / 'bad.pkl'}: {match}"):
        build("pyskl", path, tmp_path)


def test_wrong_pickle_layouts(tmp_path):
    path = dump(tmp_path / "a.pkl", {"annotations": []})
    with pytest.raises(ValueError, match=r"a.pkl: the top level: expected a dict with keys 'split' "
                                         r"and 'annotations'"):
        build("pyskl", path, tmp_path)
    imported.close()
    path = dump(tmp_path / "b.pkl", {"split": {"xsub_train": [], "xsub_val": []},
                                     "annotations": [GOOD]})
    with pytest.raises(ValueError, match=r"b.pkl: 'split'\['xview_train'\]: expected the xview "
                                         r"lists .* got only the lists \['xsub_train', 'xsub_val'\]"):
        build("pyskl", path, tmp_path, split="xview")
    path = dump(tmp_path / "c.pkl", {"split": {"xsub_train": [], "xsub_val": []},
                                     "annotations": [dict(GOOD, keypoint_score=1)]})
    with pytest.raises(ValueError, match=r"c.pkl: annotations\[0\]\['img_shape'\]: expected a value"):
        build("pyskl_2d", path, tmp_path)


def test_pickles_that_would_run_code_are_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = dump(tmp_path / "evil.pkl", {"split": {}, "annotations": [Exploit()]})
    with pytest.raises(ValueError, match=r"evil.pkl: the pickle: expected only containers, strings, "
                                         r"numbers and NumPy arrays .* got the global (posix|os)"):
        imported.load_pickle(path)
    assert not (tmp_path / "ran").exists()
    # What the published files hold loads, with every pickle protocol.
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        obj = {"a": [np.arange(3, dtype=np.float16), np.int64(4), np.float32(1.5), ("x", 2)]}
        with open(tmp_path / "ok.pkl", "wb") as f:
            pickle.dump(obj, f, protocol=protocol)
        back = imported.load_pickle(tmp_path / "ok.pkl")
        np.testing.assert_array_equal(back["a"][0], obj["a"][0])
        assert back["a"][1:] == obj["a"][1:]


def test_wrong_npz_and_numpy_files(tmp_path):
    x, y = np.zeros((2, 300, 150), np.float32), np.eye(60)[[0, 1]]
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x)
    with pytest.raises(ValueError, match=r"a.npz: y_test: expected an array \(keys x_train, "
                                         r"y_train, x_test, y_test\), got the keys"):
        build("ctrgcn", tmp_path / "a.npz", tmp_path)
    np.savez(tmp_path / "b.npz", x_train=x[..., :75], y_train=y, x_test=x, y_test=y)
    with pytest.raises(ValueError, match=r"b.npz: x_train: expected a float array \(N, T, 150\)"):
        build("ctrgcn", tmp_path / "b.npz", tmp_path)
    np.savez(tmp_path / "c.npz", x_train=x, y_train=y, x_test=x, y_test=y * 2)
    with pytest.raises(ValueError, match=r"c.npz: y_test\[0\]: expected a one-hot row"):
        build("ctrgcn", tmp_path / "c.npz", tmp_path)
    bad = x.copy()
    bad[1, 0, :3], bad[1, 1, :75] = np.inf, 1.0
    np.savez(tmp_path / "e.npz", x_train=bad, y_train=y, x_test=bad, y_test=y)
    with pytest.raises(records.CorruptDataError, match=r"e.npz: train_000001: expected finite "
                                                        r"numbers, got inf at index \(0, 0\)"):
        build("ctrgcn", tmp_path / "e.npz", tmp_path)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.eye(120)[[0, 1]], x_test=x,
             y_test=np.eye(120)[[0, 1]])
    with pytest.raises(ValueError, match=r"d.npz: y_train: expected one-hot rows of 60 classes"):
        build("ctrgcn", tmp_path / "d.npz", tmp_path)

    folder = tmp_path / "xsub"
    folder.mkdir()
    np.save(folder / "train_data_joint.npy", np.zeros((2, 3, 300, 18, 2), np.float32))
    dump(folder / "train_label.pkl", (["a", "b"], [0, 1]))
    with pytest.raises(ValueError, match=r"train_data_joint.npy: the array: expected a float "
                                         r"array \(N, C=3, T, V=25, M=2\)"):
        build("stgat", folder, tmp_path)
    np.save(folder / "train_data_joint.npy", np.zeros((2, 3, 300, 25, 2), np.float32))
    dump(folder / "train_label.pkl", (["a"], [0]))
    with pytest.raises(ValueError, match=r"train_label.pkl: \(names, labels\): expected 2 of each"):
        build("stgat", folder, tmp_path)
    dump(folder / "train_label.pkl", (["a", "b"], [0, 1]))
    with pytest.raises(FileNotFoundError, match=r"val_data_joint.npy does not exist"):
        build("stgat", folder, tmp_path)


# --------------------------------------------------------------------------------------------
# On the command line: one line on stderr, exit status 1


def command(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)


def test_prepare_reports_a_bad_file_in_one_line(tmp_path):
    path = dump(tmp_path / "bad.pkl", {"split": {"xsub_train": [], "xsub_val": []},
                                       "annotations": [{**GOOD, "keypoint": np.ones((4, 25))}]})
    args = ["-m", "data_prep.prepare", "--dataset=ntu60", "--format=pyskl", f"--raw_dir={path}",
            "--split=xsub", f"--data_dir={tmp_path / 'tfds'}"]
    out = command(*args)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: {path}: annotations[0]['keypoint']: expected a float array (M, T, 25, 3), got "
        f"float64 array of shape (4, 25)")
    out = command(*args, "--traceback")
    assert out.returncode == 1 and "Traceback" in out.stderr and "ImportFormatError" in out.stderr
    out = command(*args[:-2], "--split=xset", f"--data_dir={tmp_path / 'tfds'}")
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == (
        "error: unknown split 'xset' of ntu60; expected one of ['xsub', 'xview']")


def test_main_predict_reports_a_missing_input_in_one_line(tmp_path):
    out = command("main.py", "--mode=predict", f"--workdir={tmp_path}",
                  f"--input={tmp_path / 'missing.skeleton'}")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "missing.skeleton" in last


def test_one_line_messages():
    with pytest.raises(SystemExit) as exit_info:
        with errors.one_line():
            raise ValueError("f.pkl: key: expected a\n  b")
    assert exit_info.value.code == 1
    assert errors.message(ValueError("a\n  b\n")) == "a b"
    assert errors.message(KeyError("x_train")) == "key x_train not found"
    assert errors.message(ValueError("x" * 5000)).endswith("(--traceback shows the whole message)")
    with pytest.raises(ValueError):
        with errors.one_line(show_traceback=True):
            raise ValueError("shown")
    with pytest.raises(ZeroDivisionError):  # not an input error: the traceback shows
        with errors.one_line():
            raise ZeroDivisionError()

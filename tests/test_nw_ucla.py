"""NW-UCLA: the JSON reader, its errors, names and split, the nw_ucla records and a tiny run.

Files are generated in exactly the layout of CTR-GCN's release: one line, no trailing newline,
``{"file_name": ..., "skeletons": [T][20][3], "label": 1..10}``, T from 1 to 201, and v02/v03
pairs holding identical arrays.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest

from configs import nw_ucla as nw_ucla_config
from data_prep import nw_ucla, prepare, records
from data_prep.kinetics import JsonFormatError
from data_prep.ntu import EmptySkeletonError, SkeletonFormatError


def make_joints(num_frames: int, seed: int) -> np.ndarray:
    """(T, 20, 3) world coordinates in metres with 6 decimals, z about 2-4 as in the release."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([-0.9, -0.8, 2.0], [0.9, 0.9, 4.0], size=(1, 20, 3))
    return np.round(base + rng.normal(scale=0.02, size=(num_frames, 20, 3)), 6)


def sample_text(name: str, joints: np.ndarray, label: int | None = None) -> str:
    """A file as the release writes it: `json.dumps` on one line, no newline at the end."""
    label = nw_ucla.parse_sample_name(name).label + 1 if label is None else label
    return json.dumps({"file_name": name, "skeletons": joints.tolist(), "label": label})


def write_sample(folder: pathlib.Path, name: str, joints: np.ndarray, **kwargs) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(sample_text(name, joints, **kwargs))
    return path


# --------------------------------------------------------------------------------------------
# Reader


@pytest.mark.parametrize("num_frames", [1, 31, 201])
def test_load_sample_keeps_world_coordinates(tmp_path, num_frames):
    joints = make_joints(num_frames, seed=num_frames)
    path = write_sample(tmp_path, "a12_s10_e04_v03", joints)
    assert "\n" not in path.read_text()
    out = nw_ucla.load_sample(path)
    assert out.shape == (3, num_frames, 20, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], joints.transpose(2, 0, 1), rtol=1e-6)
    name, array, label = nw_ucla.read_json(path)
    assert name == "a12_s10_e04_v03" and label == 10 and array.dtype == np.float64


def test_integer_coordinates_are_numbers(tmp_path):
    path = tmp_path / "a01_s01_e00_v01.json"
    frame = [[1, 2, 3]] * 20
    path.write_text(json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": [frame], "label": 1}))
    np.testing.assert_array_equal(nw_ucla.load_sample(path)[:, 0, 0, 0], [1, 2, 3])


def _set(doc: dict, where: tuple, value) -> dict:
    target = doc
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    return doc


DAMAGE = [
    # (change to the document, JSON path in the message, what was expected)
    (lambda d: _set(d, ("skeletons", 2), d["skeletons"][2][:19]), r"\$\.skeletons\[2\]",
     "a list of 20 joints, got 19 joints"),
    (lambda d: _set(d, ("skeletons", 1, 7), [0.1, 0.2]), r"\$\.skeletons\[1\]\[7\]",
     r"a list of 3 numbers \(x, y, z\), got 2 values"),
    (lambda d: _set(d, ("skeletons", 0, 3, 2), "1.5"), r"\$\.skeletons\[0\]\[3\]\[2\]",
     'a finite number, got "1.5"'),
    (lambda d: _set(d, ("skeletons", 4, 0, 0), True), r"\$\.skeletons\[4\]\[0\]\[0\]",
     "a finite number, got true"),
    (lambda d: _set(d, ("skeletons", 4, 19, 1), None), r"\$\.skeletons\[4\]\[19\]\[1\]",
     "a finite number, got null"),
    (lambda d: _set(d, ("skeletons", 3, 5, 0), float("nan")), r"\$\.skeletons\[3\]\[5\]\[0\]",
     "a finite number, got NaN"),
    (lambda d: _set(d, ("skeletons", 3), {"x": 1}), r"\$\.skeletons\[3\]", "a list of 20 joints"),
    (lambda d: _set(d, ("skeletons",), "frames"), r"\$\.skeletons", "a list of frames"),
    (lambda d: _set(d, ("label",), 11), r"\$\.label", "an integer from 1 to 10, got 11"),
    (lambda d: _set(d, ("label",), "3"), r"\$\.label", 'an integer from 1 to 10, got "3"'),
    (lambda d: _set(d, ("label",), 4), r"\$\.label", r"3 \(action a03, drop trash\), got 4"),
    (lambda d: _set(d, ("file_name",), "a03_s02_e01_v02"), r"\$\.file_name",
     "the file's own name 'a03_s02_e01_v01'"),
    (lambda d: {k: v for k, v in d.items() if k != "label"}, r"\$", "the keys"),
    (lambda d: _set(d, ("length",), 5), r"\$", r"only the keys .*also \['length'\]"),
]


@pytest.mark.parametrize("change,json_path,expected", DAMAGE)
def test_damaged_file_names_file_and_json_path(tmp_path, change, json_path, expected):
    doc = json.loads(sample_text("a03_s02_e01_v01", make_joints(6, seed=0)))
    path = tmp_path / "a03_s02_e01_v01.json"
    path.write_text(json.dumps(change(doc)))
    with pytest.raises(JsonFormatError, match=rf"^{path}: {json_path}: expected {expected}") as err:
        nw_ucla.load_sample(path)
    assert err.value.path == str(path)


@pytest.mark.parametrize("text,message", [
    ('{"file_name": "a01_s01_e00_v01", "skeletons": [[[1, 2', ":1: expected valid JSON"),
    ("[1, 2]", r": \$: expected an object"),
    ('{"file_name": "a01_s01_e00_v01", "label": 1, "label": 1, "skeletons": []}',
     'each key at most once per JSON object, got "label" twice'),
])
def test_invalid_json(tmp_path, text, message):
    path = tmp_path / "a01_s01_e00_v01.json"
    path.write_text(text)
    with pytest.raises(SkeletonFormatError, match=message):
        nw_ucla.load_sample(path)


def test_no_frame_is_empty(tmp_path):
    path = write_sample(tmp_path, "a01_s01_e00_v01", np.zeros((0, 20, 3)))
    with pytest.raises(EmptySkeletonError, match="no frame"):
        nw_ucla.load_sample(path)


@pytest.mark.parametrize("name,want", [
    ("a01_s01_e00_v01", (1, 1, 0, 1)), ("a12_s10_e08_v03.json", (12, 10, 8, 3)),
    ("/some/where/a08_s03_e02_v02.json", (8, 3, 2, 2)),
])
def test_parse_sample_name(name, want):
    parsed = nw_ucla.parse_sample_name(name)
    assert tuple(parsed) == want and str(parsed) == pathlib.Path(name).name.removesuffix(".json")


@pytest.mark.parametrize("name,message", [
    ("a1_s01_e00_v01", "expected a sample name like a01_s01_e00_v01"),
    ("a07_s01_e00_v01", "expected an action from"),
    ("a10_s01_e00_v01", "got a10"),
    ("a01_s01_e00_v04", "expected a view from v01 to v03, got v04"),
])
def test_bad_sample_names(name, message):
    with pytest.raises(ValueError, match=message):
        nw_ucla.parse_sample_name(name)


def test_labels_and_split():
    labels = [nw_ucla.parse_sample_name(f"a{a:02d}_s01_e00_v01").label for a in nw_ucla.ACTIONS]
    assert labels == list(range(10)) and len(nw_ucla.ACTION_NAMES) == 10
    assert [nw_ucla.sample_split(f"a05_s02_e01_v0{v}") for v in (1, 2, 3)] == ["train", "train", "test"]


# --------------------------------------------------------------------------------------------
# Records


def ucla_corpus(folder: pathlib.Path, subjects=(1, 2), actions=nw_ucla.ACTIONS) -> dict[str, np.ndarray]:
    """Every action x subject in three views; each v03 file repeats its v02 twin's array, as 95
    pairs of the release do, and lengths run from 1 to 201 frames."""
    arrays, k = {}, 0
    for a in actions:
        for s in subjects:
            for v in (1, 2):
                num_frames = (1, 201, 17, 52, 30)[k % 5]
                arrays[f"a{a:02d}_s{s:02d}_e00_v{v:02d}"] = make_joints(num_frames, seed=k)
                k += 1
            arrays[f"a{a:02d}_s{s:02d}_e00_v03"] = arrays[f"a{a:02d}_s{s:02d}_e00_v02"]
    for name, joints in arrays.items():
        write_sample(folder, name, joints)
    return arrays


def test_records_counts_and_report(tmp_path):
    arrays = ucla_corpus(tmp_path / "NW-UCLA" / "all_sqe")
    # raw_dir may be the release's NW-UCLA folder (with all_sqe/ inside) or all_sqe/ itself.
    out = prepare.prepare("nw_ucla", tmp_path / "NW-UCLA", tmp_path / "tfds", num_workers=1)
    report = records.read_report(out["nw_ucla"])
    assert report["splits"]["train"]["examples"] == 40 and report["splits"]["test"]["examples"] == 20
    assert report["raw_files"] == 60 and report["skipped"] == 0
    builder = prepare.builder_for("nw_ucla", tmp_path / "tfds")
    assert builder.info.features["label"].names == list(nw_ucla.ACTION_NAMES)
    for split, views in (("train", ("v01", "v02")), ("test", ("v03",))):
        source = builder.as_data_source(split=split)
        for i in range(len(source)):
            record = source[i]
            name = record["sample_name"].decode()
            assert name[-3:] in views
            assert record["label"] == nw_ucla.parse_sample_name(name).label
            np.testing.assert_allclose(record["skeleton"][:, 0], arrays[name], rtol=1e-6)


def test_damaged_and_misnamed_files(tmp_path, capsys):
    raw = tmp_path / "raw"
    ucla_corpus(raw, subjects=(1,), actions=(1, 2))
    (raw / "a02_s01_e00_v03.json").write_text('{"file_name": "a02_s01_e00_v03", "skeletons": [')
    with pytest.raises(records.CorruptDataError, match=r"a02_s01_e00_v03\.json:1: expected valid JSON"):
        prepare.prepare("nw_ucla", raw, tmp_path / "tfds", num_workers=1)
    out = prepare.prepare("nw_ucla", raw, tmp_path / "tfds", num_workers=1, skip_corrupt=True)
    report = records.read_report(out["nw_ucla"])
    assert report["splits"]["test"]["examples"] == 1
    assert report["splits"]["test"]["skipped_by_reason"] == {"corrupt": 1}
    (raw / "notes.json").write_text("{}")
    with pytest.raises(ValueError, match="notes.json: expected a sample name"):
        prepare.prepare("nw_ucla", raw, tmp_path / "tfds2", num_workers=1)
    # On the command line: one line on stderr and exit status 1.
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        prepare.run(["--dataset=nw_ucla", f"--raw_dir={tmp_path / 'empty'}",
                     f"--data_dir={tmp_path / 'tfds3'}", "--num_workers=1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: raw_dir") and "holds no .json files" in err
    assert err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# A tiny run on the nw_ucla config


def tiny_config(data_dir: pathlib.Path, arg: str = "recipe=cpu"):
    config = nw_ucla_config.get_config(arg)
    config.dataset.data_dir = str(data_dir)
    config.data.resample_frames = config.data.window_frames = 16  # HCN pools the clip 4 times
    if config.model.name == "stgat":
        config.model.blocks = ((8, 8, 1), (8, 8, 2))
        config.model.num_heads = 2
    config.batch_size = 8
    config.eval_batch_size = 8
    config.num_train_steps = 3
    config.eval_every_epochs = 0.0
    config.log_every_steps = 1
    config.checkpoint.every_steps = 3
    return config


@pytest.mark.slow
@pytest.mark.parametrize("arg", ["recipe=cpu,stream=bone_motion", "model=csta_cnn"])
def test_train_eval_predict_on_nw_ucla_records(tmp_path, arg):
    from stgat_jax import predict, run

    raw = tmp_path / "raw"
    ucla_corpus(raw, subjects=(1,))
    prepare.prepare("nw_ucla", raw, tmp_path / "tfds", num_workers=1)
    config = tiny_config(tmp_path / "tfds", arg)
    workdir = str(tmp_path / "run")
    results = run.run(config, workdir, "train")
    assert results["num_examples"] == 10 and results["step"] == 3
    scores = np.load(os.path.join(workdir, "scores_test.npz"))
    assert scores["logits"].shape == (10, 10)
    # A raw v03 file through predict gives the logits the evaluation gave its record.
    names = list(scores["sample_names"])
    out = predict.predict(config, workdir, str(raw / "a04_s01_e00_v03.json"))
    np.testing.assert_allclose(out["logits"][0], scores["logits"][names.index("a04_s01_e00_v03")],
                               atol=1e-5)

"""Tests of data_prep.builders, .records, .parallel: NTU, Kinetics, UESTC raw files -> records.

Each dataset is built from a handful of files written here in its real layouts (and the variants
real files show), then from damaged copies: records, splits, labels, the report and the errors
are checked against the readers' own output.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.io

from data_prep import kinetics, loaders, ntu, parallel, prepare, records, synthetic, uestc

ID0 = 72057594037927936  # 2**56, the prefix of Kinect v2 body IDs.


# --------------------------------------------------------------------------------------------
# NTU RGB+D files


def ntu_body(t: int, seed: int, offset: float = 0.0, wave: float = 0.2) -> np.ndarray:
    """(25, 12) joint rows of a standing person at frame t: a waving right arm, tiny
    orientation values (written with capital-E exponents) and tracking state 2."""
    rng = np.random.default_rng(seed)
    xyz = np.zeros((25, 3))
    xyz[:, 0] = np.linspace(-0.3, 0.3, 25) + offset
    xyz[:, 1] = np.linspace(-0.9, 0.5, 25)
    xyz[:, 1] = np.where(np.arange(25) % 2, xyz[:, 1], -xyz[:, 1] * 0.5)
    xyz[:, 2] = 3.0 + 0.05 * rng.standard_normal(25)
    xyz[[9, 10, 11], 1] += wave * math.sin(0.4 * t + seed)
    xyz[0] = [offset, -0.3, 3.0]
    xyz[20] = [offset, 0.25, 3.02]
    xyz[5] = [offset - 0.25, 0.0, 3.03]
    rest = np.tile([256.0, 212.0, 960.0, 540.0, 0.5, 8.094816e-05, -1e-06, 0.5, 2.0], (25, 1))
    return np.column_stack([xyz, rest])


def body(body_id: int, t: int, seed: int, **kwargs) -> synthetic.SkeletonBody:
    return synthetic.SkeletonBody(body_id, (0, 1, 1, 1, 1, 0, -1.0, -1.0, 2),
                                  ntu_body(t, seed, **kwargs))


def write_ntu(folder: pathlib.Path, name: str, frames, crlf: bool = False) -> pathlib.Path:
    return synthetic.write_skeleton_file(folder / f"{name}.skeleton", frames, crlf=crlf)


def ntu_corpus(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """Eight NTU RGB+D 60 files covering what real files show. P001 trains in xsub, P003 tests;
    cameras 2 and 3 train in xview, camera 1 tests."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    # One person, LF.
    files["one"] = write_ntu(folder, "S001C001P001R001A001",
                             [[body(ID0 + 1, t, 1)] for t in range(12)])
    # Two persons, CRLF, empty frames inside and at the start.
    frames = [[body(ID0 + 2, t, 2), body(ID0 + 3, t, 3, offset=0.7)] for t in range(14)]
    frames[0] = frames[6] = []
    files["two_crlf"] = write_ntu(folder, "S001C002P003R001A050", frames, crlf=True)
    # Three bodies in every frame (a third, calm one), CRLF.
    frames = [[body(ID0 + 4, t, 4, wave=0.4), body(ID0 + 5, t, 5, offset=0.8),
               body(ID0 + 6, t, 6, offset=-0.8, wave=0.0)] for t in range(10)]
    files["three"] = write_ntu(folder, "S001C003P001R002A051", frames, crlf=True)
    # Neighbouring 17-digit IDs that are one float: two bodies, one after the other.
    first, second = 72057594037931101, 72057594037931102
    assert float(first) == float(second)
    frames = [[body(first, t, 7)] for t in range(6)] + [[body(second, t, 8, offset=0.6)]
                                                         for t in range(6, 12)]
    files["colliding_ids"] = write_ntu(folder, "S001C001P003R002A002", frames)
    # A file of empty frames only (not on the missing list): read, then skipped as empty.
    files["all_empty"] = write_ntu(folder, "S001C002P001R001A003", [[] for _ in range(5)])
    # On the official missing-skeleton list: skipped unread, whatever it holds.
    files["listed_missing"] = write_ntu(folder, "S001C002P005R002A008",
                                        [[body(ID0 + 9, t, 9)] for t in range(4)])
    # An NTU RGB+D 120 sample (setup 18): outside ntu60.
    files["ntu120_only"] = write_ntu(folder, "S018C001P001R001A001",
                                     [[body(ID0 + 10, t, 10)] for t in range(4)])
    files["test_view"] = write_ntu(folder, "S002C001P003R001A004",
                                   [[body(ID0 + 11, t, 11)] for t in range(9)])
    return files


def damage_joint_line(path: pathlib.Path, line: int = 9) -> int:
    """Gives joint line `line` (1-based) a 13th field, as real damaged files show; returns it."""
    raw = path.read_bytes()
    newline = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = raw.split(newline)
    lines[line - 1] += b" 7"
    path.write_bytes(newline.join(lines))
    return line


def read_records(data_dir: pathlib.Path, name: str, split: str) -> dict[str, dict]:
    source = prepare.builder_for(name, data_dir).as_data_source(split=split)
    out = {}
    for i in range(len(source)):
        rec = source[i]
        out[rec["sample_name"].decode()] = rec
    return out


def report_of(data_dir: pathlib.Path, name: str) -> dict:
    return records.read_report(prepare.builder_for(name, data_dir).data_dir)


@pytest.fixture(scope="module")
def ntu_built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu")
    files = ntu_corpus(root / "raw")
    prepare.prepare("ntu60", root / "raw", root / "tfds", num_workers=1)
    return root, files


def test_ntu_records_equal_the_reader_and_follow_the_splits(ntu_built):
    root, files = ntu_built
    split_of = {"xsub": {"train": {"one", "three", "all_empty"},
                         "test": {"two_crlf", "colliding_ids", "test_view"}},
                "xview": {"train": {"two_crlf", "three", "all_empty"},
                          "test": {"one", "colliding_ids", "test_view"}}}
    for benchmark, expected in split_of.items():
        for split, keys in expected.items():
            recs = read_records(root / "tfds", f"ntu60_{benchmark}", split)
            want = {files[k].stem for k in keys if k != "all_empty"}
            assert set(recs) == want, (benchmark, split)
            for name, rec in recs.items():
                reference = ntu.load_sample(files_by_name(files)[name])
                np.testing.assert_array_equal(rec["skeleton"], reference.transpose(1, 3, 2, 0))
                assert rec["skeleton"].shape[1:] == (2, 25, 3)
                assert rec["label"] == ntu.parse_sample_name(name).label
    names = prepare.builder_for("ntu60_xsub", root / "tfds").info.features["label"].names
    assert len(names) == 60 and names[0] == ntu.action_names("ntu60")[0]


def files_by_name(files: dict[str, pathlib.Path]) -> dict[str, pathlib.Path]:
    return {p.stem: p for p in files.values()}


def test_ntu_real_world_variants_read_as_intended(ntu_built):
    root, files = ntu_built
    recs = read_records(root / "tfds", "ntu60_xsub", "test")
    # Colliding IDs: two persons, never in the same frame.
    present = recs["S001C001P003R002A002"]["skeleton"].any(axis=(2, 3))  # (T, M)
    assert present[:, 0].sum() == 6 and present[:, 1].sum() == 6
    assert not (present[:, 0] & present[:, 1]).any()
    # Empty frames are cut: 14 frames, 2 of them empty.
    assert recs["S001C002P003R001A050"]["skeleton"].shape[0] == 12
    # Three bodies: the calm third one is dropped, two are kept.
    three = read_records(root / "tfds", "ntu60_xsub", "train")["S001C003P001R002A051"]["skeleton"]
    assert three.shape == (10, 2, 25, 3) and three[:, 1].any()


def test_ntu_report_counts_every_skipped_sample(ntu_built):
    root, _ = ntu_built
    report = report_of(root / "tfds", "ntu60_xsub")
    assert report["complete"] and report["raw_files"] == 8 and report["examples"] == 5
    assert report["splits"]["train"]["examples"] == 2 and report["splits"]["test"]["examples"] == 3
    train = {s["sample"]: s for s in report["splits"]["train"]["skipped_samples"]}
    test = {s["sample"]: s for s in report["splits"]["test"]["skipped_samples"]}
    assert train["S001C002P001R001A003"]["reason"] == "empty"
    assert "no body in 5 frame(s)" in train["S001C002P001R001A003"]["detail"]
    assert train["S001C002P005R002A008"]["reason"] == "missing_list"  # P005 trains
    assert test == {}
    outside = report["outside_splits"]["skipped_samples"]
    assert [(s["sample"], s["reason"]) for s in outside] == [("S018C001P001R001A001",
                                                              "not_in_dataset")]
    assert report["skipped_by_reason"] == {"empty": 1, "missing_list": 1, "not_in_dataset": 1}
    assert report["skipped"] == 3 and set(report["reasons"]) == {"empty", "missing_list",
                                                                 "not_in_dataset"}


def test_ntu_damage_fails_naming_every_file_and_leaves_nothing_prepared(tmp_path):
    files = ntu_corpus(tmp_path / "raw")
    line_a = damage_joint_line(files["one"])  # train in xsub
    line_b = damage_joint_line(files["test_view"], 20)  # test in xsub
    data_dir = tmp_path / "tfds"
    with pytest.raises(records.CorruptDataError) as info:
        prepare.prepare("ntu60", tmp_path / "raw", data_dir, benchmarks=["ntu60_xsub"],
                        num_workers=1)
    message = str(info.value)
    assert f"{files['one']}:{line_a}: expected a joint line (12 numbers), got 13 fields" in message
    assert f"{files['test_view']}:{line_b}: expected a joint line" in message
    assert "2 problem(s)" in message and "skip_corrupt" in message
    builder = prepare.builder_for("ntu60_xsub", data_dir)
    assert not builder.is_prepared()
    config_dir = pathlib.Path(builder.data_dir).parent
    assert sorted(p.name for p in config_dir.iterdir()) == [records.FAILED_REPORT_NAME]
    failed = json.loads((config_dir / records.FAILED_REPORT_NAME).read_text())
    assert not failed["complete"] and failed["skipped_by_reason"]["corrupt"] == 2

    # --skip_corrupt builds without them; the report lists them; the failed report goes.
    prepare.prepare("ntu60", tmp_path / "raw", data_dir, benchmarks=["ntu60_xsub"],
                    num_workers=1, skip_corrupt=True)
    assert builder.is_prepared() and not (config_dir / records.FAILED_REPORT_NAME).exists()
    report = report_of(data_dir, "ntu60_xsub")
    corrupt = [s for split in ("train", "test")
               for s in report["splits"][split]["skipped_samples"] if s["reason"] == "corrupt"]
    assert {s["sample"] for s in corrupt} == {files["one"].stem, files["test_view"].stem}
    assert report["splits"]["train"]["examples"] == 1 and report["splits"]["test"]["examples"] == 2


def test_worker_processes_give_the_same_records_and_small_shards(tmp_path):
    ntu_corpus(tmp_path / "raw")
    one = tmp_path / "one"
    prepare.prepare("ntu60", tmp_path / "raw", one, benchmarks=["ntu60_xview"], num_workers=1)
    builder = prepare.builder_for("ntu60_xview", tmp_path / "many", raw_dir=tmp_path / "raw",
                                  num_workers=2)
    builder.shard_bytes = 1  # One record per shard.
    builder.download_and_prepare()
    shards = sorted(p.name for p in pathlib.Path(builder.data_dir).glob("*train.array_record*"))
    assert len(shards) == 2 and shards[-1].endswith("-00001-of-00002")
    for split in ("train", "test"):
        a = prepare.builder_for("ntu60_xview", one).as_data_source(split=split)
        b = builder.as_data_source(split=split)
        assert len(a) == len(b) > 0
        for i in range(len(a)):
            assert a[i]["sample_name"] == b[i]["sample_name"]
            np.testing.assert_array_equal(a[i]["skeleton"], b[i]["skeleton"])


def test_benchmarks_of_one_run_read_each_file_once(tmp_path):
    """xview, built after xsub with the run's cache, copies xsub's records and skips: with every
    raw file overwritten by garbage in between, it still gives what a build of its own gives."""
    files = ntu_corpus(tmp_path / "raw")
    alone = tmp_path / "alone"
    prepare.prepare("ntu60", tmp_path / "raw", alone, benchmarks=["ntu60_xview"], num_workers=1)
    cache = records.RecordCache()
    shared = tmp_path / "shared"
    for name in ("ntu60_xsub", "ntu60_xview"):
        builder = prepare.builder_for(name, shared, raw_dir=tmp_path / "raw", num_workers=2,
                                      record_cache=cache)
        builder.download_and_prepare()
        for path in files.values():
            path.write_bytes(b"not a skeleton file\n")
    cache.close()
    for split in ("train", "test"):
        want, got = (read_records(folder, "ntu60_xview", split) for folder in (alone, shared))
        assert sorted(want) == sorted(got) and want
        for name in want:
            np.testing.assert_array_equal(got[name]["skeleton"], want[name]["skeleton"])
            assert got[name]["label"] == want[name]["label"]
    assert report_of(alone, "ntu60_xview") == report_of(shared, "ntu60_xview")


@pytest.mark.parametrize("num_workers", [1, 2])
def test_sample_reader_keeps_the_order_with_known_outcomes_in_between(tmp_path, num_workers):
    """More samples than the tasks allowed in flight, some already known (copied from another
    benchmark) between runs of 2 and 7 to read: each comes back once, in order, read or with its
    known outcome."""
    paths = sorted(ntu_corpus(tmp_path / "raw").values())
    samples = [loaders.Sample(f"s{i:03d}", str(paths[i % len(paths)]), 0) for i in range(70)]
    known = {s.name: ("copied", i) for i, s in enumerate(samples) if i % 11 in (0, 3)}
    want = {s.name: loaders.process(loaders.load_ntu, (2, 25, 3), [s])[0] for s in samples}
    with parallel.SampleReader(loaders.load_ntu, (2, 25, 3), num_workers, 56) as reader:
        got = list(reader.results(samples, "test", lambda s: known.get(s.name)))
    assert [s for s, _ in got] == samples
    for sample, outcome in got:
        assert outcome == known.get(sample.name, want[sample.name])


def test_worker_processes_import_no_tfds():
    """What a spawned worker imports (the main module when run with -m, and the loaders) leaves
    TFDS out, so workers start quickly."""
    code = ("import sys, data_prep.prepare, data_prep.loaders; "
            "print(sorted(m for m in ('tensorflow_datasets', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def test_ntu_raw_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        prepare.prepare("ntu60", tmp_path / "nowhere", tmp_path / "tfds", num_workers=1)
    (tmp_path / "raw").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no .skeleton files"):
        prepare.prepare("ntu60", tmp_path / "raw", tmp_path / "tfds", num_workers=1)
    write_ntu(tmp_path / "raw", "S001C001P001R001A001", [[body(ID0, t, 1)] for t in range(3)])
    (tmp_path / "raw" / "notes.skeleton").write_text("1\n0\n")
    with pytest.raises(ValueError, match=r"(?s)1 raw file\(s\) cannot be ntu60 samples.*notes"):
        prepare.prepare("ntu60", tmp_path / "raw", tmp_path / "tfds", num_workers=1)


# --------------------------------------------------------------------------------------------
# Kinetics-Skeleton


def kinetics_person(rng: np.random.Generator, lost: int = 2) -> dict:
    """One OpenPose person with 3-decimal values, `lost` joints not found (score 0)."""
    pose = np.round(rng.uniform(0.1, 1.02, 36), 3)
    score = np.round(rng.uniform(0.1, 0.95, 18), 3)
    for v in rng.choice(18, lost, replace=False):
        pose[2 * v: 2 * v + 2] = 0
        score[v] = 0
    return {"pose": pose.tolist(), "score": score.tolist()}


def kinetics_video(seed: int, label_index: int, people: list[int]) -> dict:
    """A video whose frame t (frame_index from 1) holds people[t] persons."""
    rng = np.random.default_rng(seed)
    data = [{"frame_index": t + 1, "skeleton": [kinetics_person(rng) for _ in range(n)]}
            for t, n in enumerate(people)]
    return {"data": data, "label": kinetics.action_names()[label_index],
            "label_index": label_index}


def kinetics_corpus(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """The release layout: 3 training videos (one without skeleton), 2 validation videos."""
    videos = {
        "train": {"vid_a": (5, [1, 0, 2, 11, 3, 0, 1]), "vid_b": (123, [2, 2, 1, 0, 2]),
                  "vid_c": (399, [])},
        "val": {"vid_d": (0, [0, 0, 1, 1, 6]), "vid_e": (42, [1, 1, 1])},
    }
    files = {}
    for split, entries in videos.items():
        folder = root / f"kinetics_{split}"
        folder.mkdir(parents=True)
        labels = {}
        for k, (vid, (label_index, people)) in enumerate(entries.items()):
            doc = kinetics_video(k + len(split), label_index, people)
            files[vid] = folder / f"{vid}.json"
            files[vid].write_text(json.dumps(doc))
            labels[vid] = {"has_skeleton": bool(people), "label": doc["label"],
                           "label_index": label_index}
        (root / f"kinetics_{split}_label.json").write_text(json.dumps(labels))
    return files


def test_kinetics_records_labels_and_report(tmp_path):
    files = kinetics_corpus(tmp_path / "raw")
    prepare.prepare("kinetics400", tmp_path / "raw", tmp_path / "tfds", num_workers=1)
    builder = prepare.builder_for("kinetics400", tmp_path / "tfds")
    assert list(builder.info.splits) == ["train", "val"]
    assert builder.info.features["label"].names == list(kinetics.action_names())
    train = read_records(tmp_path / "tfds", "kinetics400", "train")
    val = read_records(tmp_path / "tfds", "kinetics400", "val")
    assert set(train) == {"vid_a", "vid_b"} and set(val) == {"vid_d", "vid_e"}
    labels = {"vid_a": 5, "vid_b": 123, "vid_d": 0, "vid_e": 42}
    for name, rec in {**train, **val}.items():
        assert rec["label"] == labels[name]
        reference = kinetics.load_sample(files[name]).transpose(1, 3, 2, 0)
        np.testing.assert_array_equal(rec["skeleton"], reference)
        assert rec["skeleton"].shape[1:] == (2, 18, 3)
    assert train["vid_a"]["skeleton"].shape[0] == 5  # frames with nobody are cut
    assert val["vid_d"]["skeleton"].shape[0] == 3
    report = report_of(tmp_path / "tfds", "kinetics400")
    assert report["raw_files"] == 5 and report["examples"] == 4
    assert report["splits"]["train"]["skipped_samples"] == [{
        "sample": "vid_c", "reason": "no_skeleton",
        "detail": f"has_skeleton is false in {tmp_path / 'raw' / 'kinetics_train_label.json'}"}]


def test_kinetics_problems_are_all_reported(tmp_path):
    raw = tmp_path / "raw"
    files = kinetics_corpus(raw)
    text = files["vid_a"].read_text()
    files["vid_a"].write_text(text[: len(text) // 2])  # truncated
    doc = json.loads(files["vid_d"].read_text())
    doc["label_index"] = 7  # disagrees with the label file (0)
    files["vid_d"].write_text(json.dumps(doc))
    label_file = raw / "kinetics_val_label.json"
    labels = json.loads(label_file.read_text())
    labels["vid_f"] = {"has_skeleton": True, "label": "abseiling", "label_index": 0}
    label_file.write_text(json.dumps(labels))  # vid_f: labelled, absent
    stray = raw / "kinetics_val" / "vid_z.json"
    shutil.copy(files["vid_b"], stray)  # not in the label file
    with pytest.raises(records.CorruptDataError) as info:
        prepare.prepare("kinetics400", raw, tmp_path / "tfds", num_workers=1)
    message = str(info.value)
    assert "4 problem(s)" in message
    assert f"{files['vid_a']}:1: expected valid JSON" in message
    assert (f"{files['vid_d']}: expected label_index 0, as {label_file} gives for 'vid_d' "
            f"(abseiling), got label_index 7") in message
    assert (f"{label_file}: 'vid_f' has a skeleton, but {raw / 'kinetics_val' / 'vid_f.json'} "
            "does not exist") in message
    assert f"{stray}: the video 'vid_z' is not in {label_file}" in message
    assert not prepare.is_prepared("kinetics400", tmp_path / "tfds")

    prepare.prepare("kinetics400", raw, tmp_path / "tfds", num_workers=1, skip_corrupt=True)
    report = report_of(tmp_path / "tfds", "kinetics400")
    assert report["splits"]["train"]["examples"] == report["splits"]["val"]["examples"] == 1
    assert report["splits"]["train"]["skipped_by_reason"] == {"corrupt": 1, "no_skeleton": 1}
    assert report["splits"]["val"]["skipped_by_reason"] == {"corrupt": 1, "missing_file": 1,
                                                            "unlabelled": 1}


def test_kinetics_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="kinetics_train does not exist"):
        prepare.prepare("kinetics400", tmp_path, tmp_path / "tfds", num_workers=1)
    kinetics_corpus(tmp_path / "raw")
    (tmp_path / "raw" / "kinetics_val_label.json").write_text('{"vid_d": {"label": "x"}}')
    with pytest.raises(ntu.SkeletonFormatError, match=r'kinetics_val_label.json: \$\["vid_d"\]'):
        prepare.prepare("kinetics400", tmp_path / "raw", tmp_path / "tfds", num_workers=1)


# --------------------------------------------------------------------------------------------
# UESTC


def uestc_joints(num_frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform([-0.8, -0.9, 2.0], [0.8, 0.9, 3.5], (num_frames, 25, 3)), 6)


def uestc_txt(joints: np.ndarray, empty_frames: tuple[int, ...] = (), newline: str = "\n"
              ) -> bytes:
    out = []
    for t, frame in enumerate(joints):
        out.append("#")
        if t in empty_frames:
            continue
        for j, (x, y, z) in enumerate(frame):
            out += [f"{x:.6f} {y:.6f} {z:.6f} 0", f"{480 + j}.5 {270 - j}.25 1",
                    f"{256 + j} {212 - j} 2"]
    return (newline.join(out) + newline).encode()


def uestc_corpus(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """Subjects 1, 2, 12 train in xsub (3, 5 test); xview uses camera c2 only."""
    folder.mkdir(parents=True)
    files = {}
    specs = {"a0_d1_p001_c2": ("txt", 7), "a1_d2_p003_c2": ("mat_v", 5),
             "a2_d8_p002_c2": ("txt_crlf", 6), "a3_d3_p012_c1": ("mat_skel", 4),
             "a39_d4_p005_c2": ("txt", 3)}
    for k, (name, (kind, frames)) in enumerate(specs.items()):
        joints = uestc_joints(frames, k)
        if kind.startswith("txt"):
            path = folder / f"{name}_skeleton.txt"
            newline = "\r\n" if kind == "txt_crlf" else "\n"
            path.write_bytes(uestc_txt(joints, empty_frames=(1,), newline=newline))
        else:
            path = folder / f"{name}_skeleton.mat"
            value = joints.reshape(frames, 75) if kind == "mat_v" else joints
            scipy.io.savemat(path, {"v" if kind == "mat_v" else "skel": value})
        files[name] = path
    return files


def test_uestc_benchmarks_records_and_not_in_split(tmp_path):
    files = uestc_corpus(tmp_path / "raw")
    prepare.prepare("uestc", tmp_path / "raw", tmp_path / "tfds", num_workers=1)
    expected = {
        "uestc_xsub": ({"a0_d1_p001_c2", "a2_d8_p002_c2", "a3_d3_p012_c1"},
                       {"a1_d2_p003_c2", "a39_d4_p005_c2"}, set()),
        "uestc_xview1": ({"a0_d1_p001_c2"}, {"a1_d2_p003_c2", "a2_d8_p002_c2", "a39_d4_p005_c2"},
                         {"a3_d3_p012_c1"}),
        "uestc_xview2": ({"a0_d1_p001_c2"}, {"a1_d2_p003_c2", "a2_d8_p002_c2", "a39_d4_p005_c2"},
                         {"a3_d3_p012_c1"}),
    }
    for name, (train, test, outside) in expected.items():
        got = {split: read_records(tmp_path / "tfds", name, split) for split in ("train", "test")}
        assert set(got["train"]) == train and set(got["test"]) == test, name
        for rec_name, rec in {**got["train"], **got["test"]}.items():
            reference = uestc.load_sample(files[rec_name]).transpose(1, 3, 2, 0)
            np.testing.assert_array_equal(rec["skeleton"], reference)
            assert rec["skeleton"].shape[1:] == (1, 25, 3)
            assert rec["label"] == uestc.parse_sample_name(rec_name).action
        report = report_of(tmp_path / "tfds", name)
        assert {s["sample"] for s in report["outside_splits"]["skipped_samples"]} == outside
        assert report["examples"] + report["skipped"] == report["raw_files"] == 5
    test = read_records(tmp_path / "tfds", "uestc_xsub", "test")
    assert test["a39_d4_p005_c2"]["skeleton"].shape[0] == 2  # one of 3 frames is empty
    names = prepare.builder_for("uestc_xsub", tmp_path / "tfds").info.features["label"].names
    assert len(names) == 40 and names[39] == "a39"


def test_uestc_damage_and_duplicates(tmp_path):
    files = uestc_corpus(tmp_path / "raw")
    lines = files["a0_d1_p001_c2"].read_bytes().split(b"\n")
    lines[2] = lines[2][:-2] + b" 7"  # the colour-pixel line of joint 1 with the wrong flag
    files["a0_d1_p001_c2"].write_bytes(b"\n".join(lines))
    with pytest.raises(records.CorruptDataError, match=rf"{files['a0_d1_p001_c2']}:3: "):
        prepare.prepare("uestc", tmp_path / "raw", tmp_path / "tfds",
                        benchmarks=["uestc_xsub"], num_workers=1)
    # With the training split's only sample of xview1 gone, xview1 has no training data.
    with pytest.raises(ValueError, match=r"no sample left in split\(s\) \['train'\]"):
        prepare.prepare("uestc", tmp_path / "raw", tmp_path / "tfds",
                        benchmarks=["uestc_xview1"], num_workers=1, skip_corrupt=True)
    scipy.io.savemat(tmp_path / "raw" / "a1_d2_p003_c2_skeleton_copy.mat", {"v": np.zeros((1, 75))})
    (tmp_path / "raw" / "a1_d2_p003_c2_skeleton.txt").write_bytes(
        uestc_txt(uestc_joints(2, 9)))
    with pytest.raises(ValueError, match=r"2 raw file\(s\) cannot be uestc samples") as info:
        prepare.prepare("uestc", tmp_path / "raw", tmp_path / "tfds", num_workers=1)
    assert "skeleton_copy" in str(info.value) and "also in" in str(info.value)

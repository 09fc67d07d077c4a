"""Tests of the Kinetics-Skeleton reader, the official preprocessing and the label files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from data_prep import kinetics
from data_prep.ntu import EmptySkeletonError, SkeletonFormatError

FIXTURE = Path(__file__).parent / "fixtures" / "kinetics_official.npz"


# --------------------------------------------------------------------------------------------
# Deterministic test files (pure Python, so they are the same on every platform)


def _uniform(seed: int) -> Iterator[float]:
    """Endless uniform [0, 1) numbers from a linear congruential generator."""
    state = seed
    while True:
        state = (state * 1103515245 + 12345) % 2**31
        yield state / 2**31


def _person(rng: Iterator[float], missing: int = 3, top: float = 1.02) -> dict[str, list]:
    """One OpenPose person: 3-decimal values like the release, `missing` joints not found
    (pose 0, 0 and score 0), coordinates up to `top` (slightly above 1 occurs)."""
    pose: list[float | int] = []
    score: list[float | int] = []
    lost = {int(next(rng) * kinetics.NUM_JOINTS) for _ in range(missing)}
    for v in range(kinetics.NUM_JOINTS):
        if v in lost:
            pose += [0, 0]
            score.append(0)
        else:
            pose += [round(next(rng) * top, 3), round(next(rng) * top, 3)]
            score.append(round(0.05 + 0.9 * next(rng), 3))
    return {"pose": pose, "score": score}


def _video(entries: list[dict], label_index: int = 7) -> dict[str, Any]:
    return {"data": entries, "label": kinetics.action_names()[label_index],
            "label_index": label_index}


def fidelity_videos() -> dict[str, dict[str, Any]]:
    """The files the official code was run on to make ``fixtures/kinetics_official.npz``."""
    rng = _uniform(2024)
    # a: frame_index from 1, 45 frames, 0-3 people, empty frames listed with "skeleton": [].
    a = [{"frame_index": t, "skeleton": [_person(rng) for _ in range([0, 1, 2, 3, 1, 2][t % 6])]}
         for t in range(1, 46)]
    # b: out of order, gaps, frames with 6 and 11 people (the later ones score higher than the
    # first five), a frame whose people all have score 0, the last frame index (299).
    b = []
    for t in [299, 12, 3, 4, 5, 20, 21, 22, 0, 1, 2, 150]:
        people = [_person(rng) for _ in range({3: 6, 4: 11, 21: 11}.get(t, 2))]
        if t in (4, 21):
            for person in people[5:]:
                person["score"] = [1.0] * kinetics.NUM_JOINTS
        if t == 5:
            for person in people:
                person["score"] = [0] * kinetics.NUM_JOINTS
        b.append({"frame_index": t, "skeleton": people})
    # c: three frames, values above 1, a person whose score is all 0 between two others.
    c = [{"frame_index": t, "skeleton": [_person(rng, missing=0, top=1.1)]} for t in (1, 2, 3)]
    c[1]["skeleton"][0]["score"] = [0] * kinetics.NUM_JOINTS
    return {"fid_a": _video(a, 0), "fid_b": _video(b, 123), "fid_c": _video(c, 399)}


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def one_person(x: float, y: float, score: float) -> dict[str, list]:
    """A person with every joint at (x, y) and the given score."""
    return {"pose": [x, y] * kinetics.NUM_JOINTS, "score": [score] * kinetics.NUM_JOINTS}


# --------------------------------------------------------------------------------------------
# Fidelity to the official code


def test_matches_official_feeder(tmp_path):
    """``fixtures/kinetics_official.npz`` holds the official output for the three
    :func:`fidelity_videos`. It was made by running ``Feeder_kinetics.__getitem__`` of the
    official STGAT ``prepare/kinetics/kinetics_gendata.py`` (commit f98db4d) unchanged, except
    that torch's ``Dataset`` base class was replaced by ``object``, on these files and a label
    file listing them, then cutting each (3, 300, 18, 2) float32 result to the frames whose
    x, y values are not all zero, as the official loader does (``data[:, :2]`` then
    ``sum(0).sum(-1).sum(-1) != 0``).
    """
    expected = np.load(FIXTURE)
    videos = fidelity_videos()
    assert sorted(expected.files) == sorted(videos)
    for name, doc in videos.items():
        got = kinetics.load_sample(write_json(tmp_path / f"{name}.json", doc))
        assert got.dtype == np.float32
        assert got.shape == expected[name].shape, name
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=1e-5, err_msg=name)


def test_fidelity_files_cover_the_real_world_variants():
    """Guards the generator: the fixture is only worth something if these cases are in it."""
    videos = fidelity_videos()
    frames_a = [e["frame_index"] for e in videos["fid_a"]["data"]]
    assert frames_a[0] == 1 and len(frames_a) < kinetics.MAX_FRAMES
    assert any(not e["skeleton"] for e in videos["fid_a"]["data"])
    counts_b = [len(e["skeleton"]) for e in videos["fid_b"]["data"]]
    assert 11 in counts_b and 6 in counts_b
    values = [v for doc in videos.values() for e in doc["data"] for p in e["skeleton"]
              for v in p["pose"]]
    assert max(values) > 1.0


# --------------------------------------------------------------------------------------------
# Preprocessing, by hand


def test_centring_sign_and_sorting(tmp_path):
    low = one_person(0.6, 0.2, 0.4)   # total score 7.2
    high = one_person(0.3, 0.9, 0.5)  # total score 9.0
    path = write_json(tmp_path / "v.json", _video([{"frame_index": 0, "skeleton": [low, high]}]))
    out = kinetics.load_sample(path)
    assert out.shape == (3, 1, 18, 2)
    # The higher total score goes first; x - 0.5, -(y - 0.5).
    np.testing.assert_allclose(out[:, 0, 0, 0], [-0.2, -0.4, 0.5], atol=1e-6)
    np.testing.assert_allclose(out[:, 0, 0, 1], [0.1, 0.3, 0.4], atol=1e-6)


def test_zero_score_joints_are_zeroed(tmp_path):
    person = one_person(0.7, 0.6, 0.8)
    person["score"][3] = 0
    path = write_json(tmp_path / "v.json", _video([{"frame_index": 0, "skeleton": [person]}]))
    out = kinetics.load_sample(path)
    np.testing.assert_array_equal(out[:, 0, 3, 0], [0, 0, 0])
    np.testing.assert_allclose(out[:, 0, 4, 0], [0.2, -0.1, 0.8], atol=1e-6)


def test_frame_whose_x_and_y_cancel_is_dropped(tmp_path):
    """As in the official loader, emptiness is judged on x and y only: a person on the
    diagonal x == y sums to zero after centring, so the frame goes although its scores are not 0.
    """
    entries = [{"frame_index": 0, "skeleton": [one_person(0.7, 0.7, 0.8)]},
               {"frame_index": 1, "skeleton": [one_person(0.7, 0.6, 0.8)]}]
    out = kinetics.load_sample(write_json(tmp_path / "v.json", _video(entries)))
    assert out.shape == (3, 1, 18, 2)
    np.testing.assert_allclose(out[1, 0, :, 0], -0.1, atol=1e-6)


def test_frame_index_is_the_time_axis(tmp_path):
    entries = [{"frame_index": t, "skeleton": [one_person(0.5 + t / 100, 0.5, 0.5)]}
               for t in (9, 1, 4)]
    entries.append({"frame_index": 2, "skeleton": []})
    out = kinetics.load_sample(write_json(tmp_path / "v.json", _video(entries)))
    # Frames 0, 2, 3, 5-8 are empty and dropped; the rest come in frame_index order.
    np.testing.assert_allclose(out[0, :, 0, 0], [0.01, 0.04, 0.09], atol=1e-6)
    full = kinetics.to_array(kinetics.read_video(tmp_path / "v.json"))
    assert full.shape == (3, 300, 18, 2) and full.dtype == np.float32
    assert np.flatnonzero(full.any(axis=(0, 2, 3))).tolist() == [1, 4, 9]


def test_only_the_first_five_people_are_read(tmp_path):
    people = [one_person(0.5 + k / 100, 0.5, 0.1 + k / 100) for k in range(11)]
    people[7] = one_person(0.9, 0.9, 1.0)  # The best score, but in the eighth place.
    path = write_json(tmp_path / "v.json", _video([{"frame_index": 0, "skeleton": people}]))
    out = kinetics.load_sample(path)
    # Of the first five, k = 4 and k = 3 have the highest scores.
    np.testing.assert_allclose(out[0, 0, 0], [0.04, 0.03], atol=1e-6)


def test_ties_keep_list_order(tmp_path):
    people = [one_person(0.1, 0.5, 0.5), one_person(0.2, 0.5, 0.5), one_person(0.3, 0.5, 0.5)]
    path = write_json(tmp_path / "v.json", _video([{"frame_index": 0, "skeleton": people}]))
    np.testing.assert_allclose(kinetics.load_sample(path)[0, 0, 0], [-0.4, -0.3], atol=1e-6)


def test_frames_whose_people_have_no_score_are_dropped(tmp_path):
    entries = [{"frame_index": 0, "skeleton": [one_person(0.2, 0.3, 0)] * 3},
               {"frame_index": 1, "skeleton": [one_person(0.2, 0.3, 0.3)]}]
    out = kinetics.load_sample(write_json(tmp_path / "v.json", _video(entries)))
    assert out.shape == (3, 1, 18, 2)


@pytest.mark.parametrize("entries", [
    [],
    [{"frame_index": t, "skeleton": []} for t in range(1, 300)],
    [{"frame_index": 1, "skeleton": [one_person(0.3, 0.3, 0)]}],
], ids=["no-entries", "all-frames-empty", "only-zero-scores"])
def test_file_without_a_skeleton_raises(tmp_path, entries):
    path = write_json(tmp_path / "empty.json", _video(entries))
    with pytest.raises(EmptySkeletonError, match=re.escape(str(path))) as info:
        kinetics.load_sample(path)
    assert info.value.num_frames == len(entries)


def test_read_video_fields(tmp_path):
    doc = fidelity_videos()["fid_b"]
    video = kinetics.read_video(write_json(tmp_path / "b.json", doc))
    assert video.num_entries == 12 and video.label_index == 123
    assert video.label == kinetics.action_names()[123]
    assert video.pose.shape == (len(video.frame), 18, 2) and video.score.shape[1] == 18
    assert video.frame[0] == 299 and video.slot.max() == 10
    assert kinetics.video_id(tmp_path / "b.json") == "b"


# --------------------------------------------------------------------------------------------
# Damaged video files


def _damage(doc: dict, change: str) -> Any:
    """A copy of `doc` with one kind of damage."""
    doc = json.loads(json.dumps(doc))
    person = doc["data"][3]["skeleton"][1]
    if change == "short-pose":
        person["pose"] = person["pose"][:34]
    elif change == "long-score":
        person["score"] = person["score"] + [0.5]
    elif change == "string-value":
        person["pose"][4] = "0.5"
    elif change == "bool-value":
        person["score"][2] = True
    elif change == "null-value":
        person["pose"][0] = None
    elif change == "pose-not-list":
        person["pose"] = {"x": 1}
    elif change == "no-score":
        del person["score"]
    elif change == "frame-300":
        doc["data"][3]["frame_index"] = 300
    elif change == "frame-negative":
        doc["data"][3]["frame_index"] = -1
    elif change == "frame-float":
        doc["data"][3]["frame_index"] = 4.0
    elif change == "frame-repeated":
        doc["data"][3]["frame_index"] = doc["data"][1]["frame_index"]
    elif change == "no-skeleton":
        del doc["data"][3]["skeleton"]
    elif change == "skeleton-null":
        doc["data"][3]["skeleton"] = None
    elif change == "no-data":
        del doc["data"]
    elif change == "no-label-index":
        del doc["label_index"]
    elif change == "label-index-400":
        doc["label_index"] = 400
    elif change == "label-number":
        doc["label"] = 5
    elif change == "top-list":
        doc = [doc]
    return doc


@pytest.mark.parametrize("change,message", [
    ("short-pose", "$.data[3].skeleton[1].pose: expected a list of 36 numbers, got 34 values"),
    ("long-score", "$.data[3].skeleton[1].score: expected a list of 18 numbers, got 19 values"),
    ("string-value", '$.data[3].skeleton[1].pose[4]: expected a number, got "0.5"'),
    ("bool-value", "$.data[3].skeleton[1].score[2]: expected a number, got true"),
    ("null-value", "$.data[3].skeleton[1].pose[0]: expected a number, got null"),
    ("pose-not-list", '$.data[3].skeleton[1].pose: expected a list, got {"x": 1}'),
    ("no-score", """$.data[3].skeleton[1]: expected a key "score", got the keys ['pose']"""),
    ("frame-300", "$.data[3].frame_index: expected an integer from 0 to 299, got 300"),
    ("frame-negative", "$.data[3].frame_index: expected an integer from 0 to 299, got -1"),
    ("frame-float", "$.data[3].frame_index: expected an integer from 0 to 299, got 4.0"),
    ("frame-repeated", "$.data[3].frame_index: expected a frame_index not used before "
                       "(it is also in $.data[1]), got 2"),
    ("no-skeleton", """$.data[3]: expected a key "skeleton", got the keys ['frame_index']"""),
    ("skeleton-null", "$.data[3].skeleton: expected a list, got null"),
    ("no-data", "$: expected a key \"data\", got the keys ['label', 'label_index']"),
    ("no-label-index", "$: expected a key \"label_index\", got the keys ['data', 'label']"),
    ("label-index-400", "$.label_index: expected an integer from 0 to 399, got 400"),
    ("label-number", "$.label: expected a string, got 5"),
    ("top-list", "$: expected an object, got [{"),
])
def test_damaged_video_names_file_and_json_path(tmp_path, change, message):
    doc = _video([{"frame_index": t, "skeleton": [one_person(0.4, 0.4, 0.5)] * 2}
                  for t in range(1, 6)])
    path = write_json(tmp_path / "bad.json", _damage(doc, change))
    with pytest.raises(kinetics.JsonFormatError) as info:
        kinetics.load_sample(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert isinstance(info.value, SkeletonFormatError) and info.value.path == str(path)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1" + "0" * 400])
def test_non_finite_numbers_are_rejected(tmp_path, literal):
    person = one_person(0.4, 0.4, 0.5)
    person["pose"][7] = 12345.678
    doc = _video([{"frame_index": 1, "skeleton": [person]}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc).replace("12345.678", literal))
    with pytest.raises(kinetics.JsonFormatError,
                       match=re.escape(f"{path}: $.data[0].skeleton[0].pose[7]: expected a "
                                       "finite number")):
        kinetics.load_sample(path)


def test_invalid_json_names_line_and_column(tmp_path):
    doc = _video([{"frame_index": t, "skeleton": [one_person(0.4, 0.4, 0.5)]} for t in range(3)])
    text = json.dumps(doc, indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[:len(text) // 2])
    with pytest.raises(SkeletonFormatError) as info:
        kinetics.load_sample(path)
    assert info.value.line == text[:len(text) // 2].count("\n") + 1
    assert re.fullmatch(re.escape(f"{path}:{info.value.line}: expected valid JSON, got ") +
                        r".* \(column \d+\)", str(info.value))


def test_repeated_key_and_bad_encoding(tmp_path):
    path = tmp_path / "twice.json"
    path.write_text('{"data": [], "label_index": 1, "data": []}')
    with pytest.raises(SkeletonFormatError,
                       match=re.escape(f'{path}: expected each key at most once per JSON '
                                       'object, got "data" twice')):
        kinetics.load_sample(path)
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"data": [],\n "label": "caf\xe9", "label_index": 1}')
    with pytest.raises(SkeletonFormatError, match=re.escape(f"{path}:2: expected UTF-8 text")):
        kinetics.load_sample(path)


# --------------------------------------------------------------------------------------------
# Label files and class names


def test_read_label_file(tmp_path):
    names = kinetics.action_names()
    doc = {"abc": {"has_skeleton": True, "label": names[5], "label_index": 5},
           "-x_Y9": {"has_skeleton": False, "label": names[399], "label_index": 399}}
    entries = kinetics.read_label_file(write_json(tmp_path / "kinetics_val_label.json", doc))
    assert list(entries) == ["abc", "-x_Y9"]
    assert entries["abc"] == kinetics.LabelEntry(True, names[5], 5)
    assert entries["-x_Y9"].has_skeleton is False


@pytest.mark.parametrize("entry,message", [
    ({"has_skeleton": True, "label": "x", "label_index": "x"},
     '$["abc"].label_index: expected an integer, got "x"'),
    ({"has_skeleton": True, "label": "x", "label_index": -1},
     '$["abc"].label_index: expected an integer from 0 to 399, got -1'),
    ({"has_skeleton": 1, "label": "x", "label_index": 3},
     '$["abc"].has_skeleton: expected true or false, got 1'),
    ({"has_skeleton": True, "label_index": 3},
     """$["abc"]: expected a key "label", got the keys ['has_skeleton', 'label_index']"""),
    ({"has_skeleton": True, "label": None, "label_index": 3},
     '$["abc"].label: expected a string, got null'),
    ([1, 2], '$["abc"]: expected an object, got [1, 2]'),
])
def test_damaged_label_file(tmp_path, entry, message):
    path = write_json(tmp_path / "kinetics_val_label.json", {"ok": {
        "has_skeleton": True, "label": "y", "label_index": 0}, "abc": entry})
    with pytest.raises(kinetics.JsonFormatError) as info:
        kinetics.read_label_file(path)
    assert str(info.value) == f"{path}: {message}"


def test_action_names():
    names = kinetics.action_names()
    assert len(names) == 400 and len(set(names)) == 400
    assert names[0] == "abseiling" and names[-1] == "zumba"
    assert list(names) == sorted(names)

"""Kinetics-Skeleton 400 (ST-GCN release): a strict reader and the official STGAT preprocessing.

One JSON file per video (OpenPose, 18 joints)::

    {"data": [{"frame_index": i,
               "skeleton": [{"pose": [x0, y0, x1, y1, ..., x17, y17],
                             "score": [s0, s1, ..., s17]},
                            ...]},           # one object per detected person, possibly none
              ...],
     "label": "abseiling",                   # optional in this reader
     "label_index": 0}

x and y are normalised to [0, 1] by the frame size (values slightly outside occur); a joint
OpenPose did not find has score 0. ``frame_index`` is the time index (it starts at 1 in the
release; frames without a person are often listed with ``"skeleton": []`` or left out). Unknown
keys are ignored.

The label files ``kinetics_{train,val}_label.json`` map video ids (file names without ``.json``)
to ``{"has_skeleton": bool, "label": name, "label_index": k}``; videos without a skeleton are
dropped by the official code.

Preprocessing follows the official STGAT feeder (``prepare/kinetics/kinetics_gendata.py``, the
ST-GCN code):

1. An array (C=3: x, y, score; T=300; V=18; M=5) is filled with the first five persons of each
   frame in list order (persons after the fifth are ignored); ``frame_index`` is the time index.
2. x -= 0.5, y = -(y - 0.5); x = y = 0 where the score is 0.
3. In every frame the five slots are sorted by the person's total score, descending, and the top
   two kept (so the person in slot 0 may change identity between frames).
4. The result is stored as float32.

:func:`load_sample` then cuts the array to its non-empty frames as the official per-sample
transform does. The official Kinetics loader keeps only x and y before that cut, so a frame is
dropped when its x, y values sum to 0 (summed in float32 in the official order); the score
channel is still returned.

Ties in step 3 (two persons with the same total score) are broken by slot order (a stable sort).
The official default ``argsort`` sorts five elements by insertion sort, which does the same, on
most NumPy builds; SIMD builds of recent NumPy may order ties differently. A ``frame_index``
outside 0-299, which the official code either wraps (negative) or crashes on, is an error here,
and so is the same ``frame_index`` twice, which the official code silently merges.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from data_prep.ntu import EmptySkeletonError, SkeletonFormatError

NUM_JOINTS = 18
"""OpenPose COCO joints: 0 nose, 1 neck, 2-4 right arm, 5-7 left arm, 8-10 right leg,
11-13 left leg, 14/15 eyes, 16/17 ears."""

NUM_CLASSES = 400
"""Kinetics-400 actions."""

MAX_FRAMES = 300
"""Length of the official time axis; ``frame_index`` must be below it."""

MAX_PERSONS_IN = 5
"""Persons read per frame (in list order) by the official feeder."""

MAX_PERSONS = 2
"""Persons kept per frame (the highest total scores)."""

_ACTION_NAMES_FILE = "action_names_400.txt"
_NUMBER_TYPES = frozenset({int, float})


class JsonFormatError(SkeletonFormatError):
    """A JSON file parses but does not hold what the format expects.

    A :class:`~data_prep.ntu.SkeletonFormatError` whose location is a JSON path such as
    ``$.data[3].skeleton[1].pose`` (``line`` is None).

    Attributes:
      json_path: where in the document the problem is.
    """

    def __init__(self, path: str | os.PathLike, json_path: str, expected: str, got: str):
        super().__init__(path, None, expected, got)
        self.json_path = json_path
        self.args = (f"{self.path}: {json_path}: expected {expected}, got {got}",)


class LabelEntry(NamedTuple):
    """One video of a label file."""

    has_skeleton: bool
    label: str
    label_index: int


class KineticsVideo(NamedTuple):
    """The contents of one video file, one row per person record, in file order.

    Attributes:
      num_entries: entries in ``data`` (listed frames, empty ones included).
      frame: (P,) int64, the ``frame_index`` of each person record.
      slot: (P,) int64, the record's position in its frame's ``skeleton`` list.
      pose: (P, 18, 2) float64, x and y of each joint.
      score: (P, 18) float64, OpenPose confidence of each joint.
      label: the ``label`` field, or None when the file has none.
      label_index: the ``label_index`` field.
    """

    num_entries: int
    frame: np.ndarray
    slot: np.ndarray
    pose: np.ndarray
    score: np.ndarray
    label: str | None
    label_index: int


# --------------------------------------------------------------------------------------------
# Reading


def read_video(path: str | os.PathLike, max_frames: int = MAX_FRAMES) -> KineticsVideo:
    """Reads one video file strictly.

    Args:
      path: the ``.json`` file.
      max_frames: ``frame_index`` must be from 0 to ``max_frames - 1``.

    Raises:
      SkeletonFormatError: the file is not valid JSON (naming the line and column), or
        (as :class:`JsonFormatError`) a key is missing, a value has the wrong type, a pose does
        not hold 36 numbers or a score 18, a number is not finite, a ``frame_index`` is out of
        range or repeated, or a ``label_index`` is outside 0-399; naming the JSON path.
    """
    doc = _load_json(path)
    _expect_object(path, "$", doc)
    data = _get(path, "$", doc, "data")
    _expect_list(path, "$.data", data)
    label_index = _get_label_index(path, "$", doc)
    label = doc.get("label")
    if "label" in doc and not isinstance(label, str):
        raise JsonFormatError(path, "$.label", "a string", _show(label))

    frame: list[int] = []
    slot: list[int] = []
    poses: list[list] = []
    scores: list[list] = []
    first_entry: dict[int, int] = {}
    for i, entry in enumerate(data):
        where = f"$.data[{i}]"
        _expect_object(path, where, entry)
        frame_index = _get(path, where, entry, "frame_index")
        if type(frame_index) is not int or not 0 <= frame_index < max_frames:
            raise JsonFormatError(path, f"{where}.frame_index",
                                  f"an integer from 0 to {max_frames - 1}", _show(frame_index))
        if frame_index in first_entry:
            raise JsonFormatError(path, f"{where}.frame_index",
                                  f"a frame_index not used before (it is also in "
                                  f"$.data[{first_entry[frame_index]}])", str(frame_index))
        first_entry[frame_index] = i
        skeleton = _get(path, where, entry, "skeleton")
        _expect_list(path, f"{where}.skeleton", skeleton)
        for m, person in enumerate(skeleton):
            person_path = f"{where}.skeleton[{m}]"
            _expect_object(path, person_path, person)
            pose = _get(path, person_path, person, "pose")
            _expect_numbers(path, f"{person_path}.pose", pose, 2 * NUM_JOINTS)
            score = _get(path, person_path, person, "score")
            _expect_numbers(path, f"{person_path}.score", score, NUM_JOINTS)
            frame.append(frame_index)
            slot.append(m)
            poses.append(pose)
            scores.append(score)

    pose_arr = _to_float_rows(path, poses, 2 * NUM_JOINTS, frame, slot, first_entry, "pose")
    score_arr = _to_float_rows(path, scores, NUM_JOINTS, frame, slot, first_entry, "score")
    return KineticsVideo(
        num_entries=len(data),
        frame=np.asarray(frame, dtype=np.int64),
        slot=np.asarray(slot, dtype=np.int64),
        pose=pose_arr.reshape(-1, NUM_JOINTS, 2),
        score=score_arr.reshape(-1, NUM_JOINTS),
        label=label,
        label_index=label_index,
    )


def read_label_file(path: str | os.PathLike) -> dict[str, LabelEntry]:
    """Reads ``kinetics_{train,val}_label.json`` strictly.

    Returns:
      {video_id: LabelEntry} in file order.

    Raises:
      SkeletonFormatError: the file is not valid JSON or repeats a key in an object, or (as
        :class:`JsonFormatError`) an entry lacks ``has_skeleton`` (a boolean), ``label`` (a
        string) or ``label_index`` (an integer from 0 to 399); naming the JSON path, e.g.
        ``$["abc"].label_index``.
    """
    doc = _load_json(path)
    _expect_object(path, "$", doc)
    entries: dict[str, LabelEntry] = {}
    for video_id, info in doc.items():
        where = f"$[{json.dumps(video_id)}]"
        _expect_object(path, where, info)
        has_skeleton = _get(path, where, info, "has_skeleton")
        if type(has_skeleton) is not bool:
            raise JsonFormatError(path, f"{where}.has_skeleton", "true or false",
                                  _show(has_skeleton))
        label = _get(path, where, info, "label")
        if not isinstance(label, str):
            raise JsonFormatError(path, f"{where}.label", "a string", _show(label))
        entries[video_id] = LabelEntry(has_skeleton, label, _get_label_index(path, where, info))
    return entries


def video_id(path: str | os.PathLike) -> str:
    """The id of a video file as the label files key it: its name up to the first dot."""
    return Path(path).name.split(".")[0]


class _DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses repeated keys (json keeps the last one silently)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


def _load_json(path: str | os.PathLike) -> Any:
    """Parses a JSON file; syntax errors name the line and column."""
    raw = Path(path).read_bytes()
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise SkeletonFormatError(path, err.lineno, "valid JSON",
                                  f"{err.msg} (column {err.colno})") from err
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise SkeletonFormatError(path, line, "UTF-8 text",
                                  f"the byte {raw[err.start:err.start + 1]!r}") from err
    except _DuplicateKeyError as err:
        raise SkeletonFormatError(path, None, "each key at most once per JSON object",
                                  f"{json.dumps(err.key)} twice") from err


def _get(path: str | os.PathLike, where: str, obj: dict, key: str) -> Any:
    """``obj[key]``, or an error naming the missing key."""
    if key not in obj:
        raise JsonFormatError(path, where, f'a key "{key}"',
                              f"the keys {sorted(obj)}" if obj else "an empty object")
    return obj[key]


def _get_label_index(path: str | os.PathLike, where: str, obj: dict) -> int:
    """``obj["label_index"]``, an integer from 0 to 399."""
    value = _get(path, where, obj, "label_index")
    if type(value) is not int:
        raise JsonFormatError(path, f"{where}.label_index", "an integer", _show(value))
    if not 0 <= value < NUM_CLASSES:
        raise JsonFormatError(path, f"{where}.label_index",
                              f"an integer from 0 to {NUM_CLASSES - 1}", _show(value))
    return value


def _expect_object(path: str | os.PathLike, where: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise JsonFormatError(path, where, "an object", _show(value))


def _expect_list(path: str | os.PathLike, where: str, value: Any) -> None:
    if not isinstance(value, list):
        raise JsonFormatError(path, where, "a list", _show(value))


def _expect_numbers(path: str | os.PathLike, where: str, value: Any, length: int) -> None:
    """`value` is a list of `length` JSON numbers (not booleans, strings or null)."""
    _expect_list(path, where, value)
    if len(value) != length:
        raise JsonFormatError(path, where, f"a list of {length} numbers",
                              f"{len(value)} values")
    if not set(map(type, value)) <= _NUMBER_TYPES:
        k = next(k for k, v in enumerate(value) if type(v) not in _NUMBER_TYPES)
        raise JsonFormatError(path, f"{where}[{k}]", "a number", _show(value[k]))


def _to_float_rows(path: str | os.PathLike, rows: list[list], width: int, frame: list[int],
                   slot: list[int], first_entry: dict[int, int], key: str) -> np.ndarray:
    """The number lists `rows` (one per person record, `width` numbers each) as a float64
    array; every value must be finite (JSON allows NaN, Infinity and integers too large for a
    float)."""
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except OverflowError:
        values = np.array([[_float_or_inf(v) for v in row] for row in rows])
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        p = int(bad[0])
        k = int(np.flatnonzero(~np.isfinite(values[p]))[0])
        where = f"$.data[{first_entry[frame[p]]}].skeleton[{slot[p]}].{key}[{k}]"
        raise JsonFormatError(path, where, "a finite number", _show(rows[p][k]))
    return values


def _float_or_inf(value: int | float) -> float:
    """`value` as a float; inf when it is too large for one."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _show(value: Any) -> str:
    """A JSON value as shown in error messages, cut to 60 characters."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------------
# Official preprocessing


def to_array(video: KineticsVideo, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """The official feeder output for one video (steps 1-4 of the module docstring).

    Args:
      video: a file as returned by :func:`read_video`.
      max_frames: length of the time axis.

    Returns:
      (C=3, T=max_frames, V=18, M=2) float32: x, y, score; zero where no person is.
    """
    if video.frame.size and video.frame.max() >= max_frames:
        raise ValueError(f"frame_index {video.frame.max()} does not fit in "
                         f"max_frames={max_frames}")
    data = np.zeros((3, max_frames, NUM_JOINTS, MAX_PERSONS_IN))
    read = video.slot < MAX_PERSONS_IN
    frame, slot = video.frame[read], video.slot[read]
    data[0:2, frame, :, slot] = video.pose[read].transpose(0, 2, 1)
    data[2, frame, :, slot] = video.score[read]

    data[0:2] -= 0.5
    data[1] = -data[1]
    absent = data[2] == 0
    data[0][absent] = 0
    data[1][absent] = 0

    order = np.argsort(-data[2].sum(axis=1), axis=1, kind="stable")  # (T, M_in)
    data = np.take_along_axis(data, order[None, :, None, :], axis=3)
    return data[..., :MAX_PERSONS].astype(np.float32)


def load_sample(path: str | os.PathLike) -> np.ndarray:
    """Reads one video file, applies the official preprocessing and cuts it to its non-empty
    frames (those whose x, y values do not sum to 0), in time order.

    Returns:
      (C=3: x, y, score; T; V=18; M=2) float32, T <= 300.

    Raises:
      SkeletonFormatError: the file is damaged (see :func:`read_video`).
      EmptySkeletonError: no frame is left (no person, or only people with score 0).
    """
    video = read_video(path)
    if not video.frame.size:
        raise EmptySkeletonError(path, video.num_entries,
                                 f"no person in {video.num_entries} frame(s)")
    data = to_array(video)
    data = data[:, data[:2].sum(0).sum(-1).sum(-1) != 0]
    if data.shape[1] == 0:
        raise EmptySkeletonError(path, video.num_entries, "people, but every frame is empty "
                                 "after preprocessing (scores 0, or x and y summing to 0)")
    return data


# --------------------------------------------------------------------------------------------
# Class names


@functools.cache
def action_names() -> tuple[str, ...]:
    """The 400 Kinetics action names; index = ``label_index``."""
    resources = importlib.resources.files(__package__) / "resources" / "kinetics"
    names = tuple(line.strip() for line in (resources / _ACTION_NAMES_FILE).read_text(
        encoding="utf-8").splitlines() if line.strip())
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"{_ACTION_NAMES_FILE}: expected {NUM_CLASSES} names, "
                           f"got {len(names)}")
    return names

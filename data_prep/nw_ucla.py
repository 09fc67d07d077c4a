"""NW-UCLA (Northwestern-UCLA Multiview Action3D) as CTR-GCN distributes it: a strict reader, names
and the cross-view split.

One JSON file per sample, ``all_sqe/a01_s01_e00_v01.json``, on a single line::

    {"file_name": "a01_s01_e00_v01",
     "skeletons": [[[x, y, z], ... 20 joints], ... T frames],
     "label": 1}

Names are ``a{action}_s{subject}_e{repetition}_v{view}``: 10 actions (a01-a06, a08, a09, a11,
a12, stored as the labels 1-10), 10 subjects, three Kinect v1 views (v01, v02, v03). Coordinates
are world coordinates in metres (z about 1.8-4.2), 20 joints per frame in the Kinect v1 order
(0 hip centre, 1 spine, 2 shoulder centre, 3 head, 4-7 left shoulder/elbow/wrist/hand, 8-11 the
right arm, 12-15 left hip/knee/ankle/foot, 16-19 the right leg), one person, T from 1 to 201.
Quirks of the release kept as they are: 95 v02/v03 pairs hold identical arrays.

:func:`load_sample` keeps the raw world coordinates. CTR-GCN's feeder normalises each sample when
it loads it, after its random rotation (the training augmentation), so the normalisation belongs
to the input pipeline (``stgat_jax.input_pipeline``, fields ``data.center_joint``,
``data.random_rotation``, ``data.random_scale``, ``data.minmax_normalize``): subtract joint 1
(spine) of the first frame, rotate, then scale each axis to [-1, 1] by its minimum and maximum
over all frames and joints of the sample.

Split (CTR-GCN, ``feeders/feeder_ucla.py``): views 1 and 2 train (1,020 samples), view 3 tests
(464).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from data_prep.kinetics import JsonFormatError, _load_json, _show
from data_prep.ntu import EmptySkeletonError

NUM_JOINTS = 20
"""Kinect v1 joints per body."""

ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
"""The action numbers of the file names, in label order (label k + 1 in the files)."""

ACTION_NAMES = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around",
                "sit down", "stand up", "donning", "doffing", "throw", "carry")
"""The dataset paper's names of :data:`ACTIONS`, in label order."""

VIEWS = (1, 2, 3)
"""The three Kinect views."""

TRAIN_VIEWS = (1, 2)
"""CTR-GCN's cross-view protocol: views 1 and 2 train, view 3 tests."""

TEST_VIEWS = (3,)

_NAME_RE = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")
_KEYS = ("file_name", "skeletons", "label")


class UclaName(NamedTuple):
    """The fields of a sample name ``a{action}_s{subject}_e{repetition}_v{view}``."""

    action: int
    subject: int
    repetition: int
    view: int

    @property
    def label(self) -> int:
        """0-based class label (the file's ``label`` minus 1)."""
        return ACTIONS.index(self.action)

    def __str__(self) -> str:
        return f"a{self.action:02d}_s{self.subject:02d}_e{self.repetition:02d}_v{self.view:02d}"


def parse_sample_name(name_or_path: str | os.PathLike) -> UclaName:
    """Parses ``a01_s01_e00_v01``, optionally followed by ``.json``, or a path to such a file.

    Raises:
      ValueError: the name does not follow the pattern, or its action is not one of
        :data:`ACTIONS` or its view not one of :data:`VIEWS`.
    """
    stem = Path(name_or_path).name.removesuffix(".json")
    match = _NAME_RE.fullmatch(stem)
    if match is None:
        raise ValueError(f"{os.fspath(name_or_path)}: expected a sample name like "
                         f"a01_s01_e00_v01 (optionally + .json), got {stem!r}")
    name = UclaName(*(int(g) for g in match.groups()))
    if name.action not in ACTIONS:
        raise ValueError(f"{os.fspath(name_or_path)}: expected an action from "
                         f"{[f'a{a:02d}' for a in ACTIONS]}, got a{name.action:02d}")
    if name.view not in VIEWS:
        raise ValueError(f"{os.fspath(name_or_path)}: expected a view from v01 to v03, "
                         f"got v{name.view:02d}")
    return name


def sample_split(name: UclaName | str | os.PathLike) -> str:
    """``"train"`` for views 1 and 2, ``"test"`` for view 3 (CTR-GCN's protocol)."""
    sample = name if isinstance(name, UclaName) else parse_sample_name(name)
    return "train" if sample.view in TRAIN_VIEWS else "test"


def read_json(path: str | os.PathLike) -> tuple[str, np.ndarray, int]:
    """Reads one sample file strictly.

    Returns:
      (file_name, (T, 20, 3) float64 world x, y, z in metres, label 1-10).

    Raises:
      SkeletonFormatError: the file is not valid JSON (naming the line and column) or a key is
        missing, repeated or of the wrong type, a frame does not hold 20 joints of 3 finite
        numbers, or the label is outside 1-10; a JsonFormatError names the JSON path, e.g.
        ``$.skeletons[3][7]``.
    """
    doc = _load_json(path)
    if not isinstance(doc, dict):
        raise JsonFormatError(path, "$", "an object", _show(doc))
    for key in _KEYS:
        if key not in doc:
            raise JsonFormatError(path, "$", f'the keys {list(_KEYS)}',
                                  f"the keys {sorted(doc)}" if doc else "an empty object")
    extra = sorted(set(doc) - set(_KEYS))
    if extra:
        raise JsonFormatError(path, "$", f"only the keys {list(_KEYS)}", f"also {extra}")
    file_name, label, frames = doc["file_name"], doc["label"], doc["skeletons"]
    if not isinstance(file_name, str):
        raise JsonFormatError(path, "$.file_name", "a string", _show(file_name))
    if type(label) is not int or not 1 <= label <= len(ACTIONS):
        raise JsonFormatError(path, "$.label", f"an integer from 1 to {len(ACTIONS)}",
                              _show(label))
    return file_name, _to_array(path, frames), label


def _to_array(path: str | os.PathLike, frames: Any) -> np.ndarray:
    """``$.skeletons`` as a (T, 20, 3) float64 array, or an error naming the first bad entry."""
    if not isinstance(frames, list):
        raise JsonFormatError(path, "$.skeletons", "a list of frames", _show(frames))
    try:
        array = np.array(frames, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        array = None  # Ragged or non-numeric: found below.
    if array is not None and array.ndim == 3 and array.shape[1:] == (NUM_JOINTS, 3):
        if not _all_numbers(frames):
            array = None
        elif np.isfinite(array).all():
            return array
    for t, frame in enumerate(frames):
        where = f"$.skeletons[{t}]"
        if not isinstance(frame, list) or len(frame) != NUM_JOINTS:
            got = f"{len(frame)} joints" if isinstance(frame, list) else _show(frame)
            raise JsonFormatError(path, where, f"a list of {NUM_JOINTS} joints", got)
        for v, joint in enumerate(frame):
            if not isinstance(joint, list) or len(joint) != 3:
                got = f"{len(joint)} values" if isinstance(joint, list) else _show(joint)
                raise JsonFormatError(path, f"{where}[{v}]", "a list of 3 numbers (x, y, z)", got)
            for c, value in enumerate(joint):
                if type(value) not in (int, float) or not np.isfinite(float(value)):
                    raise JsonFormatError(path, f"{where}[{v}][{c}]", "a finite number",
                                          _show(value))
    if not frames:
        return np.zeros((0, NUM_JOINTS, 3))
    raise JsonFormatError(path, "$.skeletons", "frames of 20 joints x 3 numbers",
                          "an array that does not convert")  # Not reached for valid JSON.


def _all_numbers(frames: list) -> bool:
    """Whether every value is a JSON number (NumPy also converts booleans and strings)."""
    return all(type(value) in (int, float) for frame in frames for joint in frame for value in joint)


def load_sample(path: str | os.PathLike) -> np.ndarray:
    """Reads a sample file and checks that its name, ``file_name`` and label agree.

    Returns:
      (C=3: x, y, z; T; V=20; M=1) float32 world coordinates in metres, as stored.

    Raises:
      SkeletonFormatError: the file is damaged (:func:`read_json`), or ``file_name`` is not the
        file's own name, or the label is not the one of the action in the name.
      EmptySkeletonError: no frame (an empty ``skeletons`` list).
      ValueError: the file is not named like a sample (:func:`parse_sample_name`).
    """
    name = parse_sample_name(path)
    file_name, joints, label = read_json(path)
    if file_name != str(name):
        raise JsonFormatError(path, "$.file_name", f"the file's own name {str(name)!r}",
                              _show(file_name))
    if label != name.label + 1:
        raise JsonFormatError(path, "$.label", f"{name.label + 1} (action a{name.action:02d}, "
                              f"{ACTION_NAMES[name.label]})", _show(label))
    if not len(joints):
        raise EmptySkeletonError(path, 0, "no frame")
    return np.ascontiguousarray(joints.transpose(2, 0, 1)[..., None], dtype=np.float32)

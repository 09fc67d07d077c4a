"""UESTC RGB-D varying-view dataset: strict skeleton readers, sample names and splits.

Samples are named ``a{action}_d{view}_p{subject}_c{camera}``, e.g. ``a12_d3_p045_c2``:
40 actions (a0-a39, the label), views d1-d8, 118 subjects (p001-p118) and two Kinect v2
cameras. Camera c1 always films the front; camera c2 films the side view d1-d7, or moves
round the subject at d8. For c1 the ``d`` field only pairs the sample with its c2 twin (and the
dataset copies c1 data of d1, d2, d3 to d7, d6, d5, so those c1 files repeat). Files add a
suffix: ``a12_d3_p045_c2_skeleton.txt``, ``..._skeleton.mat``, ``..._color.avi``.

Skeletons have one person and 25 Kinect v2 joints in the NTU order (0 spine base, 1 spine mid,
2 neck, 3 head, 4-7 left arm, 8-11 right arm, 12-15 left leg, 16-19 right leg, 20 spine
shoulder, 21-24 hand tips and thumbs). Two formats:

``.txt``: per frame a line ``#``, then 25 joints x 3 lines (LF or CRLF)::

    #
    x y z 0        camera-space point in metres, flag 0
    u v 1          colour-frame pixel, flag 1
    u v 2          depth-frame pixel, flag 2
    ... (25 joints)

  A ``#`` followed directly by the next ``#`` is a frame without a body. Blank lines may only
  end the file.

``.mat`` (MATLAB v4-v7.2, read with scipy): a variable ``v`` of shape (T, 75), each row the
25 joints' x y z in camera space (the distributed files), or ``skel`` of shape (T, 25, 3) (what
the dataset's own conversion script writes).

:func:`load_sample` keeps the raw camera-space coordinates in metres: how CSTA normalises UESTC
(centring joint, scaling) is not known, so any normalisation is left to later stages.

Splits (:func:`sample_split`): ``xsub`` trains on the 51 subjects of :data:`TRAIN_SUBJECTS`
(the list used by later work; 11,360 training and 14,240 test samples over both cameras).
The two cross-view protocols of the dataset paper were not available, so their views are
options; the defaults follow the evidence that exists: ``xview1`` trains on one c2 view (d1)
and tests on the other c2 views (d2-d8); ``xview2`` trains on the odd c2 views (d1, d3, d5, d7)
and tests on the even ones (d2, d4, d6, d8). Front-view (c1) samples take no part in the
cross-view protocols by default.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple

import numpy as np

from data_prep.ntu import EmptySkeletonError, SkeletonFormatError, fields_per_line, parse_numbers

NUM_JOINTS = 25
"""Kinect v2 joints per body."""

NUM_ACTIONS = 40
"""Action classes a0-a39."""

NUM_SUBJECTS = 118
"""Subjects p001-p118."""

VIEWS = (1, 2, 3, 4, 5, 6, 7, 8)
"""The ``d`` values: c2 side views d1-d7 and the round (moving) view d8."""

CAMERAS = (1, 2)
"""c1 front, c2 side or round."""

TRAIN_SUBJECTS: frozenset[int] = frozenset({
    1, 2, 6, 12, 13, 16, 21, 24, 28, 29, 30, 31, 33, 35, 39, 41, 42, 45, 47, 50, 52, 54, 55,
    57, 59, 61, 63, 64, 67, 69, 70, 71, 73, 77, 81, 84, 86, 87, 88, 90, 91, 93, 96, 99, 102,
    103, 104, 107, 108, 112, 113})
"""The 51 subjects of the cross-subject training split (the other 67 are the test split)."""

BENCHMARKS = ("xsub", "xview1", "xview2")
"""Evaluation benchmarks."""

DEFAULT_SPLIT_OPTIONS: dict[str, dict[str, tuple[int, ...]]] = {
    "xsub": {"train_views": VIEWS, "test_views": VIEWS, "cameras": CAMERAS},
    "xview1": {"train_views": (1,), "test_views": (2, 3, 4, 5, 6, 7, 8), "cameras": (2,)},
    "xview2": {"train_views": (1, 3, 5, 7), "test_views": (2, 4, 6, 8), "cameras": (2,)},
}
"""Views and cameras of each benchmark unless :func:`sample_split` is told otherwise."""

# Lines per joint in a .txt frame: camera-space point, colour pixel, depth pixel.
_TXT_LINES = (("camera-space", "x y z 0", 4, 0),
              ("colour-pixel", "u v 1", 3, 1),
              ("depth-pixel", "u v 2", 3, 2))
_LINES_PER_FRAME = 3 * NUM_JOINTS
_VALUES_PER_JOINT = sum(fields for _, _, fields, _ in _TXT_LINES)
_FIELDS_PER_FRAME = np.tile([fields for _, _, fields, _ in _TXT_LINES], NUM_JOINTS)
_FLAG_COLUMNS = np.cumsum([fields for _, _, fields, _ in _TXT_LINES]) - 1  # 3, 6, 9.
_FLAGS = np.array([flag for _, _, _, flag in _TXT_LINES], dtype=np.float64)

_TXT_BYTES = b"0123456789+-.eE \t\r\n#"
_BAD_BYTE_RE = re.compile(rb"[^0-9+\-.eE \t\r\n#]")
_NAME_RE = re.compile(r"a(0|[1-9]\d?)_d(\d)_p(\d{3})_c(\d)")
_NAME_SUFFIXES = ("_skeleton", "_color")
_NAME_EXTENSIONS = (".txt", ".mat", ".avi")


class UestcName(NamedTuple):
    """The fields of a sample name ``a{action}_d{view}_p{subject}_c{camera}``."""

    action: int
    view: int
    subject: int
    camera: int

    @property
    def label(self) -> int:
        """0-based class label (the action number)."""
        return self.action

    def __str__(self) -> str:
        return f"a{self.action}_d{self.view}_p{self.subject:03d}_c{self.camera}"


# --------------------------------------------------------------------------------------------
# Names and splits


def parse_sample_name(name_or_path: str | os.PathLike) -> UestcName:
    """Parses ``a12_d3_p045_c2``, optionally followed by ``_skeleton`` or ``_color`` and
    ``.txt``, ``.mat`` or ``.avi``, or a path to such a file.

    Raises:
      ValueError: the name does not follow the pattern or a field is outside the dataset's
        range (action 0-39, view 1-8, subject 1-118, camera 1-2).
    """
    stem = Path(name_or_path).name
    for extension in _NAME_EXTENSIONS:
        stem = stem.removesuffix(extension)
    for suffix in _NAME_SUFFIXES:
        stem = stem.removesuffix(suffix)
    match = _NAME_RE.fullmatch(stem)
    if match is None:
        raise ValueError(f"{os.fspath(name_or_path)}: expected a sample name like a12_d3_p045_c2 "
                         f"(optionally + _skeleton.txt, _skeleton.mat or _color.avi), "
                         f"got {stem!r}")
    name = UestcName(*(int(g) for g in match.groups()))
    ranges = {"action": (0, NUM_ACTIONS - 1), "view": (VIEWS[0], VIEWS[-1]),
              "subject": (1, NUM_SUBJECTS), "camera": (CAMERAS[0], CAMERAS[-1])}
    for field, value in name._asdict().items():
        low, high = ranges[field]
        if not low <= value <= high:
            raise ValueError(f"{os.fspath(name_or_path)}: expected {field} from {low} to {high}, "
                             f"got {value}")
    return name


def sample_split(name: UestcName | str | os.PathLike, benchmark: str, *,
                 train_views: Collection[int] | None = None,
                 test_views: Collection[int] | None = None,
                 cameras: Collection[int] | None = None) -> str | None:
    """The split a sample belongs to: ``"train"``, ``"test"`` or None (not used).

    A sample is used when its camera is in `cameras`. It trains when its view (``d``) is in
    `train_views` (and, for ``xsub``, its subject is in :data:`TRAIN_SUBJECTS`); it tests when
    its view is in `test_views` (and, for ``xsub``, its subject is not).

    Args:
      name: a :class:`UestcName`, or a name or path :func:`parse_sample_name` accepts.
      benchmark: ``"xsub"``, ``"xview1"`` or ``"xview2"``.
      train_views, test_views, cameras: override :data:`DEFAULT_SPLIT_OPTIONS`. The cross-view
        protocols of the dataset paper are not known exactly (see the module docstring).

    Raises:
      ValueError: an unknown benchmark, a view or camera outside the dataset, or (cross-view)
        a view in both the train and the test views.
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"expected benchmark one of {list(BENCHMARKS)}, got {benchmark!r}")
    defaults = DEFAULT_SPLIT_OPTIONS[benchmark]
    train = set(defaults["train_views"] if train_views is None else train_views)
    test = set(defaults["test_views"] if test_views is None else test_views)
    used_cameras = set(defaults["cameras"] if cameras is None else cameras)
    if not train | test <= set(VIEWS):
        raise ValueError(f"expected views from {list(VIEWS)}, got {sorted(train | test)}")
    if not used_cameras <= set(CAMERAS):
        raise ValueError(f"expected cameras from {list(CAMERAS)}, got {sorted(used_cameras)}")
    if benchmark != "xsub" and train & test:
        raise ValueError(f"expected disjoint train and test views for {benchmark}, got "
                         f"{sorted(train & test)} in both")
    sample = name if isinstance(name, UestcName) else parse_sample_name(name)
    if sample.camera not in used_cameras:
        return None
    if benchmark == "xsub":
        trains = sample.subject in TRAIN_SUBJECTS
        if trains and sample.view in train:
            return "train"
        if not trains and sample.view in test:
            return "test"
        return None
    if sample.view in train:
        return "train"
    if sample.view in test:
        return "test"
    return None


def is_training(name: UestcName | str | os.PathLike, benchmark: str, *,
                train_views: Collection[int] | None = None,
                test_views: Collection[int] | None = None,
                cameras: Collection[int] | None = None) -> bool:
    """Whether a sample is in the training split (:func:`sample_split` gives ``"train"``).

    False covers both test samples and samples a protocol does not use; use
    :func:`sample_split` to tell them apart.
    """
    return sample_split(name, benchmark, train_views=train_views, test_views=test_views,
                        cameras=cameras) == "train"


# --------------------------------------------------------------------------------------------
# Reading


def read_txt(path: str | os.PathLike) -> np.ndarray:
    """Reads a ``.txt`` skeleton file strictly.

    Returns:
      (T, 25, 3) float64 camera-space x, y, z in metres, one row per ``#`` frame; zero for a
      frame without a body.

    Raises:
      SkeletonFormatError: anything off the format (a missing ``#``, a frame with other than
        25 x 3 lines, a line with the wrong number of fields or the wrong flag, a non-numeric
        or non-finite value, a truncated file), naming the file and line.
    """
    raw = Path(path).read_bytes()
    if raw.translate(None, _TXT_BYTES):
        _raise_bad_byte(path, raw)
    text = raw.decode("ascii")
    lines = text.split("\n")
    counts = fields_per_line(raw)
    num_lines = len(counts)
    while num_lines and counts[num_lines - 1] == 0:  # Blank lines may end the file.
        num_lines -= 1

    data = np.frombuffer(raw, dtype=np.uint8)
    newline = np.flatnonzero(data == ord("\n"))
    headers = np.unique(np.searchsorted(newline, np.flatnonzero(data == ord("#"))))
    for h in headers.tolist():
        if lines[h].strip() != "#":
            raise SkeletonFormatError(path, h + 1, 'a frame line "#" alone', _preview(lines[h]))
    if num_lines and (not headers.size or headers[0] != 0):
        raise SkeletonFormatError(path, 1, 'a frame line "#"', _preview(lines[0]))

    ends = np.append(headers[1:], num_lines)
    sizes = ends - headers - 1
    broken = np.flatnonzero((sizes != 0) & (sizes != _LINES_PER_FRAME))
    if broken.size:
        f = int(broken[0])
        size, end = int(sizes[f]), int(ends[f])
        if size > _LINES_PER_FRAME:
            line = int(headers[f]) + 1 + _LINES_PER_FRAME
            raise SkeletonFormatError(path, line + 1, f'a frame line "#" after the '
                                      f"{NUM_JOINTS} joints of frame {f + 1}",
                                      _preview(lines[line]))
        got = "end of file" if end == num_lines else _preview(lines[end])
        raise SkeletonFormatError(path, end + 1, f"the {_line_role(size)} of frame {f + 1}",
                                  got)

    full = np.flatnonzero(sizes == _LINES_PER_FRAME)
    line_index = (headers[full, None] + 1 + np.arange(_LINES_PER_FRAME)).ravel()
    got_fields = np.asarray(counts, dtype=np.int64)[line_index]
    want_fields = np.tile(_FIELDS_PER_FRAME, len(full))
    wrong = np.flatnonzero(got_fields != want_fields)
    if wrong.size:
        k = int(wrong[0])
        line = int(line_index[k])
        frame = int(np.searchsorted(headers, line))
        raise SkeletonFormatError(path, line + 1, f"the {_line_role(k % _LINES_PER_FRAME)} of "
                                  f"frame {frame}", f"{got_fields[k]} fields: "
                                  f"{_preview(lines[line])}")

    values = parse_numbers(path, text.replace("#", " "), lines,
                           len(full) * NUM_JOINTS * _VALUES_PER_JOINT,
                           skip_line=lambda line: line.strip() == "#")
    values = values.reshape(len(full), NUM_JOINTS, _VALUES_PER_JOINT)
    wrong_flag = values[:, :, _FLAG_COLUMNS] != _FLAGS
    if wrong_flag.any():
        f, joint, role = (int(i) for i in np.argwhere(wrong_flag)[0])
        line = int(headers[full[f]]) + 1 + 3 * joint + role
        raise SkeletonFormatError(path, line + 1, f"the {_line_role(3 * joint + role)} of "
                                  f"frame {full[f] + 1}", _preview(lines[line]))

    joints = np.zeros((len(headers), NUM_JOINTS, 3))
    joints[full] = values[:, :, :3]
    return joints


def _line_role(k: int) -> str:
    """What line `k` (0-74) of a frame holds, e.g. 'camera-space line (x y z 0) of joint 3'."""
    role, layout, _, _ = _TXT_LINES[k % 3]
    return f"{role} line ({layout}) of joint {k // 3 + 1}"


def _raise_bad_byte(path: str | os.PathLike, raw: bytes) -> None:
    """Raises for the first field holding a byte that cannot be part of a number or ``#``."""
    pos = _BAD_BYTE_RE.search(raw).start()
    line_start = raw.rfind(b"\n", 0, pos) + 1
    line_end = raw.find(b"\n", pos)
    line = raw[line_start:len(raw) if line_end < 0 else line_end]
    field = next(f for f in line.split() if f.translate(None, _TXT_BYTES))
    shown = field[:40].decode("ascii", errors="backslashreplace")
    raise SkeletonFormatError(path, raw.count(b"\n", 0, pos) + 1, "a number", repr(shown))


def _preview(line: str) -> str:
    """A line as shown in error messages: stripped, quoted, cut to 60 characters."""
    line = line.strip()
    if not line:
        return "an empty line"
    return repr(line if len(line) <= 60 else line[:57] + "...")


def read_mat(path: str | os.PathLike) -> np.ndarray:
    """Reads a ``.mat`` skeleton file (variable ``v`` (T, 75) or ``skel`` (T, 25, 3)).

    Returns:
      (T, 25, 3) float64 camera-space x, y, z in metres.

    Raises:
      SkeletonFormatError: the file is not a MATLAB file scipy reads (a v7.3 file is HDF5 and
        is named as such), holds neither or both variables, or the variable has the wrong
        shape, a non-real type or a non-finite value; naming the file.
    """
    import scipy.io  # Imported here: only .mat files need it, and it is slow to import.

    raw = Path(path).read_bytes()
    try:
        contents = scipy.io.loadmat(io.BytesIO(raw))
    except NotImplementedError as err:  # scipy's answer to v7.3 files.
        raise SkeletonFormatError(
            path, None, "a MATLAB v4-v7.2 .mat file (scipy.io.loadmat cannot read v7.3; "
            "re-save it in MATLAB with save(file, 'v', '-v7'))",
            "a MATLAB v7.3 (HDF5) file") from err
    except Exception as err:  # scipy raises many types on damaged files.
        raise SkeletonFormatError(path, None, "a MATLAB .mat file",
                                  f"unreadable content ({type(err).__name__}: {err})") from err
    variables = sorted(k for k in contents if not k.startswith("__"))
    found = [k for k in ("v", "skel") if k in contents]
    if len(found) != 1:
        raise SkeletonFormatError(path, None, "one variable 'v' (T x 75) or 'skel' "
                                  "(T x 25 x 3)", f"the variables {variables}")
    key = found[0]
    array = contents[key]
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
        kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise SkeletonFormatError(path, None, f"real numbers in '{key}'", f"type {kind}")
    if array.size == 0:
        return np.zeros((0, NUM_JOINTS, 3))
    want = (NUM_JOINTS * 3,) if key == "v" else (NUM_JOINTS, 3)
    if array.ndim != 1 + len(want) or array.shape[1:] != want:
        shape = "T x " + " x ".join(str(n) for n in want)
        raise SkeletonFormatError(path, None, f"'{key}' of shape {shape}",
                                  f"shape {' x '.join(str(n) for n in array.shape)}")
    joints = array.astype(np.float64).reshape(len(array), NUM_JOINTS, 3)
    bad = np.argwhere(~np.isfinite(joints))
    if bad.size:
        t, joint, axis = (int(i) for i in bad[0])
        raise SkeletonFormatError(path, None, f"finite coordinates in '{key}'",
                                  f"{joints[t, joint, axis]} at frame {t + 1}, joint "
                                  f"{joint + 1}, {'xyz'[axis]}")
    return joints


def load_sample(path: str | os.PathLike) -> np.ndarray:
    """Reads a ``.txt`` or ``.mat`` skeleton file and drops the frames without a body (all
    coordinates zero). Coordinates stay raw camera space, in metres.

    Returns:
      (C=3: x, y, z; T; V=25; M=1) float32.

    Raises:
      SkeletonFormatError: the file is damaged (see :func:`read_txt`, :func:`read_mat`).
      EmptySkeletonError: no frame holds a body.
      ValueError: the file name ends in neither ``.txt`` nor ``.mat``.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        joints = read_txt(path)
    elif suffix == ".mat":
        joints = read_mat(path)
    else:
        raise ValueError(f"{os.fspath(path)}: expected a .txt or .mat skeleton file, "
                         f"got the suffix {suffix!r}")
    keep = joints.reshape(len(joints), NUM_JOINTS * 3).any(axis=1)
    if not keep.any():
        raise EmptySkeletonError(path, len(joints), f"no body in {len(joints)} frame(s)")
    return np.ascontiguousarray(joints[keep].transpose(2, 0, 1)[..., None], dtype=np.float32)

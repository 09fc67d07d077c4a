"""NTU RGB+D 60/120 ``.skeleton`` files: a strict reader and the official STGAT preprocessing.

File format (one text file per sample, LF or CRLF line endings)::

    <frame count>
    per frame:  <body count>                       (0 for an empty frame, nothing follows)
      per body: <10 values>                        bodyID clipedEdges handLeftConfidence
                                                   handLeftState handRightConfidence
                                                   handRightState isRestricted leanX leanY
                                                   trackingState
                <joint count>                      always 25
                25 x <12 values>                   x y z depthX depthY colorX colorY
                                                   orientationW orientationX orientationY
                                                   orientationZ trackingState

x, y, z are metres in Kinect camera space. Body IDs are 17-digit integers; they are parsed as
integers (as floats, neighbouring IDs collide and different bodies merge).

Files are read with whole-file array operations (number syntax, line structure and values are
checked and converted without a Python loop per line or number). A file they reject is walked
line by line only to report its first problem, with its line.

Sample names are ``SsssCcccPpppRrrrAaaa``: setup, camera, performer (subject), replication and
action; the label is ``action - 1``.

Preprocessing follows the official STGAT code (``prepare/ntu_60/gendata.py`` and
``dataset/normalize_skeletons.py``):

1. :func:`select_bodies`: bodies are tracked by ID over the sequence, ranked by motion energy;
   low-energy bodies that do not look like a standing person are dropped; the two most energetic
   remain.
2. :func:`normalize`: translate, scale and rotate every frame into the first person's frame of
   reference at the first frame (origin joint 0, base bone 0-20, z axis 0-20, x axis 20-5).
3. :func:`load_sample` returns the result as ``(C=3, T, V=25, M=2)`` float32, cut to its
   non-empty frames.

Where the official code computes something other than what it evidently intends, this module
keeps the official behaviour, except for two fixes that only change results on degenerate input:
body IDs are exact integers, and a body whose joints never leave joint 0 gets energy 0 (the
official code makes it ``nan`` and then crashes or keeps it).
"""

from __future__ import annotations

import importlib.resources
import math
import os
import re
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

NUM_JOINTS = 25
"""Kinect v2 joints per body."""

JOINT_FIELDS = 12
"""Values on a joint line: x y z depthX depthY colorX colorY orientationWXYZ trackingState."""

BODY_FIELDS = 10
"""Values on a body line, the first being the body ID."""

MAX_KINECT_BODIES = 6
"""Kinect v2 tracks at most six bodies per frame; a larger body count means a damaged file."""

MAX_PERSONS = 2
"""Bodies kept per sample by the official preprocessing."""

NTU60_TRAIN_SUBJECTS: frozenset[int] = frozenset({
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
"""Performers of the NTU RGB+D 60 cross-subject training split."""

NTU120_TRAIN_SUBJECTS: frozenset[int] = NTU60_TRAIN_SUBJECTS | frozenset({
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103})
"""Performers of the NTU RGB+D 120 cross-subject training split."""

NTU60_TRAIN_CAMERAS: frozenset[int] = frozenset({2, 3})
"""Cameras of the NTU RGB+D 60 cross-view training split (camera 1 is the test view)."""

BENCHMARKS: dict[str, tuple[str, ...]] = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}
"""Evaluation benchmarks of each dataset."""

XSET_RULES = ("even", "official_stgat")
"""``even``: even setups train (the dataset's protocol). ``official_stgat``: odd setups train,
as the official STGAT (and DSTA-Net) data preparation does."""

# Largest setup and action id of each dataset.
_DATASET_LIMITS = {"ntu60": (17, 60), "ntu120": (32, 120)}

# Allowed range of each name field, from the NTU RGB+D 120 release.
_NAME_FIELD_RANGES = {"setup": (1, 32), "camera": (1, 3), "subject": (1, 106),
                      "replication": (1, 2), "action": (1, 120)}
_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

_MISSING_LIST_FILES = {"ntu60": "NTU_RGBD_samples_with_missing_skeletons.txt",
                       "ntu120": "NTU_RGBD120_samples_with_missing_skeletons.txt"}
_ACTION_NAMES_FILE = "action_names_120.txt"

# Every byte a valid file may hold: numbers and whitespace.
_NUMERIC_BYTES = b"0123456789+-.eE \t\r\n"
_BAD_BYTE_RE = re.compile(rb"[^0-9+\-.eE \t\r\n]")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_JOINT_LINE_COUNTS = [JOINT_FIELDS] * NUM_JOINTS


class SkeletonFormatError(ValueError):
    """A ``.skeleton`` file does not follow the format.

    Attributes:
      path: the file.
      line: 1-based line number of the problem, or None when it is not tied to a line.
      expected: what the reader expected there.
      got: what it found.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, expected: str, got: str):
        self.path = os.fspath(path)
        self.line = line
        self.expected = expected
        self.got = got
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: expected {expected}, got {got}")


class EmptySkeletonError(ValueError):
    """A ``.skeleton`` file holds no body with non-zero joints in any frame (such samples are on
    the missing-skeleton lists).

    Attributes:
      path: the file.
      num_frames: its frame count.
    """

    def __init__(self, path: str | os.PathLike, num_frames: int, got: str):
        self.path = os.fspath(path)
        self.num_frames = num_frames
        super().__init__(f"{self.path}: expected a body with non-zero joints in some frame, "
                         f"got {got}")


class SkeletonSequence(NamedTuple):
    """The contents of one ``.skeleton`` file, one row per body record, in file order.

    Attributes:
      num_frames: frames in the file, empty ones included.
      frame: (B,) int64, the 0-based file frame of each body record.
      body_id: the B body IDs, exact integers.
      body_info: (B, 9) float64, the rest of each body line (clipedEdges ... trackingState).
      joints: (B, 25, 12) float64, the joint lines (x y z depthX depthY colorX colorY
        orientationW orientationX orientationY orientationZ trackingState).
    """

    num_frames: int
    frame: np.ndarray
    body_id: tuple[int, ...]
    body_info: np.ndarray
    joints: np.ndarray


class SampleName(NamedTuple):
    """The fields of a sample name ``SsssCcccPpppRrrrAaaa``."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """0-based class label (``action - 1``)."""
        return self.action - 1

    def __str__(self) -> str:
        return "S%03dC%03dP%03dR%03dA%03d" % tuple(self)


# --------------------------------------------------------------------------------------------
# Reading


def read_skeleton(path: str | os.PathLike) -> SkeletonSequence:
    """Reads one ``.skeleton`` file strictly.

    Accepts LF and CRLF line endings, empty frames (a ``0`` body count line), numbers with ``E``
    exponents and whole numbers in float columns, and trailing blank lines.

    Raises:
      SkeletonFormatError: on anything else (a truncated file, a wrong joint count, a line with
        the wrong number of fields, a non-numeric field, content after the last frame), naming
        the file and line.
    """
    return _read(path, Path(path).read_bytes(), xyz_only=False)


def _read(path: str | os.PathLike, raw: bytes, xyz_only: bool) -> SkeletonSequence:
    """The contents of `raw`, the bytes of the file `path` (see :func:`_parse`); a file that
    does not follow the format raises :class:`SkeletonFormatError` naming its first problem."""
    sequence = _parse(raw, xyz_only)
    if sequence is None:
        _raise_first_problem(path, raw)
    return sequence


def _raise_first_problem(path: str | os.PathLike, raw: bytes) -> None:
    """Walks a file :func:`_parse` rejected line by line and raises at its first problem.

    Only the error path: it checks the format in file order to name the line, and converts no
    values.
    """
    if raw.translate(None, _NUMERIC_BYTES):
        _raise_bad_byte(path, raw)
    text = raw.decode("ascii")
    lines = text.split("\n")
    if lines[-1] == "":  # The file ends with a newline (or is empty).
        lines.pop()
    counts = fields_per_line(raw)
    num_lines = len(lines)

    def count_at(i: int, expected: str) -> int:
        """The non-negative integer alone on line i."""
        if i >= num_lines:
            raise SkeletonFormatError(path, i + 1, expected, "end of file")
        field = lines[i].strip()
        if not field.isdigit():
            raise SkeletonFormatError(path, i + 1, expected, _preview(lines[i]))
        return int(field)

    num_frames = count_at(0, "the frame count (one non-negative integer)")
    i = 1
    for t in range(num_frames):
        num_bodies = count_at(i, f"the body count of frame {t + 1} (one integer, 0 to "
                                 f"{MAX_KINECT_BODIES})")
        if num_bodies > MAX_KINECT_BODIES:
            raise SkeletonFormatError(path, i + 1, f"a body count from 0 to {MAX_KINECT_BODIES}",
                                      str(num_bodies))
        i += 1
        for _ in range(num_bodies):
            expected = f"a body line ({BODY_FIELDS} numbers, the first an integer body ID)"
            if i >= num_lines:
                raise SkeletonFormatError(path, i + 1, expected, "end of file")
            if counts[i] != BODY_FIELDS:
                raise SkeletonFormatError(path, i + 1, expected,
                                          f"{counts[i]} fields: {_preview(lines[i])}")
            id_field = lines[i].split(None, 1)[0]
            if not id_field.isdigit():
                raise SkeletonFormatError(path, i + 1, "an integer body ID", repr(id_field))
            num_joints = count_at(i + 1, f"the joint count {NUM_JOINTS}")
            if num_joints != NUM_JOINTS:
                raise SkeletonFormatError(path, i + 2, f"the joint count {NUM_JOINTS}",
                                          str(num_joints))
            first = i + 2
            block = counts[first:first + NUM_JOINTS]
            if block != _JOINT_LINE_COUNTS:
                _raise_bad_joint_lines(path, lines, first, block)
            i = first + NUM_JOINTS
    for k in range(i, num_lines):
        if counts[k]:
            raise SkeletonFormatError(path, k + 1, f"the end of the file after {num_frames} "
                                                   "frames", _preview(lines[k]))

    _raise_bad_number(path, lines)
    raise RuntimeError(f"{os.fspath(path)}: the reader rejected the file, but no problem was found "
                       f"in it line by line; this is a bug in data_prep.ntu")


# The reader works on whole-file byte arrays instead of lines: element-wise comparisons of every
# byte with its neighbours, and positions found once (no Python loop per line or number).

_DIGIT_BYTES = b"0123456789"
# Maps the bytes a number or whitespace may hold (but digits, which are deleted) to themselves,
# every other byte to 0.
_NON_DIGIT_TABLE = bytes(b if b in b"+-.eE \t\r\n" else 0 for b in range(256))
_FAST_WIDTH = 15  # Longest number converted by array arithmetic (its digits fit in 2**53).
_POW10 = 10.0 ** np.arange(_FAST_WIDTH + 1)
_BODY_LINES = 2 + NUM_JOINTS  # Body line, joint count line, joint lines.
_BODY_LINE_COUNTS = np.array([BODY_FIELDS, 1] + [JOINT_FIELDS] * NUM_JOINTS)
_XYZ_TOKENS = (np.arange(NUM_JOINTS)[:, None] * JOINT_FIELDS + np.arange(3)).ravel()


def _find_all(raw: bytes, chars: bytes) -> np.ndarray:
    """Sorted positions of the bytes `chars` in `raw` (for rare bytes: one search each)."""
    found = []
    for char in chars:
        pos = raw.find(char)
        while pos >= 0:
            found.append(pos)
            pos = raw.find(char, pos + 1)
    return np.array(sorted(found), dtype=np.int64)


def _numbers_are_valid(raw: bytes, b: np.ndarray, space: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """Checks that every whitespace-separated field of `raw` is a number,
    ``[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?``, except the few fields with an exponent of
    more than two digits, which are returned for :func:`_parse` to check one by one.

    `b` is `raw` as a uint8 array (at least 2 bytes), `space` its ``b <= 32`` mask. The checks,
    on all bytes at once:

    1. Only digits, ``+-.eE`` and whitespace (space, tab, CR, LF).
    2. A sign starts a field or follows an exponent mark, and is followed by a digit or a point.
    3. A point has a digit next to it, and no other point in its field (with the digits
       deleted, no two points touch).
    4. An exponent mark (few: checked as arrays of their positions) follows a digit or a point,
       and is followed by an optional sign and one or two digits that end the field (or else is
       returned as an odd mark).

    Together they give the syntax: a field's signs are at its start or after its one exponent
    mark (2, 4), nothing but that sign and its digits follows the mark (4), so before the mark
    there are digits and at most one point (3), with a digit somewhere (2, 3, 4: a lone point,
    sign or mark has no digit next to it). A field of up to 200 characters with an exponent of
    at most two digits is finite.

    Returns:
      None if a check fails; else the positions of the exponent marks and those of the odd
      marks (exponents not of one or two digits: checks 2 and 4 do not settle their fields).
    """
    no_digits = raw.translate(_NON_DIGIT_TABLE, _DIGIT_BYTES)
    if b"\0" in no_digits:
        return None
    points = np.frombuffer(no_digits, dtype=np.uint8) == 46
    if (points[1:] & points[:-1]).any():
        return None
    # With only those bytes left, ranges of byte values give the classes: "+" 43, "-" 45,
    # "." 46, digits 48-57.
    digit = b - np.uint8(48) < 10
    point = b == 46
    digit_or_point = b - np.uint8(46) < 12
    if point[0] and not digit[1] or point[-1] and not digit[-2]:
        return None
    if (point[1:-1] & ~(digit[:-2] | digit[2:])).any():
        return None
    sign = b - np.uint8(43) < 3
    if sign[-1] or (sign[:-1] & ~digit_or_point[1:]).any():
        return None
    inner_signs = np.count_nonzero(sign[1:] & ~space[:-1])  # Signs that do not start a field.
    marks = _find_all(raw, b"eE") if b"e" in no_digits or b"E" in no_digits else \
        np.zeros(0, dtype=np.int64)
    odd = marks[:0]
    if marks.size:
        n = b.size

        def at(i: np.ndarray) -> np.ndarray:  # The bytes at positions i; a space past the end.
            return np.where(i < n, b.take(np.minimum(i, n - 1)), np.uint8(32))

        if marks[0] == 0 or not digit_or_point[marks - 1].all():
            return None
        after = at(marks + 1)
        signed = after - np.uint8(43) < 3
        first = marks + 1 + signed
        d1, d2, d3 = at(first), at(first + 1), at(first + 2)
        odd = marks[~((d1 - np.uint8(48) < 10)
                      & ((d2 <= 32) | ((d2 - np.uint8(48) < 10) & (d3 <= 32))))]
        inner_signs -= np.count_nonzero(signed)
    # Every sign inside a field follows an exponent mark.
    return (marks, odd) if inner_signs == 0 else None


def _parse(raw: bytes, xyz_only: bool) -> SkeletonSequence | None:
    """The contents of a file that follows the format, read with whole-array operations; None
    for any other (:func:`_raise_first_problem` then names the problem).

    With ``xyz_only``, ``joints`` holds only x, y, z and ``body_info`` is empty (the other
    numbers are checked, not converted).
    """
    if len(raw) < 2:
        raw += b"\n"  # The checks look at neighbouring bytes; a one-byte file may be "0".
    b = np.frombuffer(raw, dtype=np.uint8)
    padded_space = np.empty(b.size + 2, dtype=bool)  # Whitespace before and after the file.
    padded_space[0] = padded_space[-1] = True
    space = np.less_equal(b, 32, out=padded_space[1:-1])  # Whitespace, once bytes are checked.
    valid = _numbers_are_valid(raw, b, space)
    if valid is None:
        return None
    marks, odd = valid

    # Fields: runs of non-space bytes, [starts[k], ends[k]).
    edges = np.flatnonzero(padded_space[1:] != padded_space[:-1])
    starts, ends = edges[0::2], edges[1::2]
    if not starts.size:
        return None
    # Fields with an odd exponent or of over 200 characters (rare) are checked one by one: the
    # syntax, and a finite value.
    long = ends - starts > 200
    unusual = np.union1d(np.searchsorted(ends, odd, side="right"), np.flatnonzero(long)) \
        if odd.size or long.any() else ()
    for k in unusual:
        field = raw[int(starts[k]):int(ends[k])].decode("ascii")
        if not _NUMBER_RE.fullmatch(field) or not math.isfinite(float(field)):
            return None
    line_starts = np.flatnonzero(b == 10) + 1
    if raw.endswith(b"\n"):
        line_starts = line_starts[:-1]  # No line after the last newline.
    first_token = np.searchsorted(starts, np.concatenate(([0], line_starts)))
    counts = np.diff(first_token, append=starts.size)  # Fields per line.
    num_lines = counts.size

    def count_values(tokens: np.ndarray) -> np.ndarray | None:
        """The values of count fields `tokens` (few); None unless every one is digits only."""
        start, length = starts[tokens], ends[tokens] - starts[tokens]
        # The bytes of all the fields, one after the other, and the digit each one stands for.
        first = np.cumsum(length) - length
        at = np.repeat(start - first, length) + np.arange(int(length.sum()))
        digits = b[at] - np.uint8(48)
        if (digits > 9).any():
            return None
        # Place of each digit (0: the last of its field), capped: a count of over 30 digits
        # (leading zeros aside) is too large anyway.
        place = np.minimum(np.repeat(start + length - 1, length) - at, 30)
        return np.add.reduceat(digits * 10.0 ** place, first) if tokens.size else \
            np.zeros(0)

    # Line 0: the frame count. Then frames: a body count line, then per body a group of 27
    # lines (body line, joint count line, joint lines); then only blank lines.
    frame_count = raw[starts[0]:ends[0]]
    if counts[0] != 1 or not frame_count.isdigit():
        return None
    num_frames = int(frame_count)
    body_lines = np.flatnonzero(counts == BODY_FIELDS)
    groups = body_lines[:, None] + np.arange(_BODY_LINES)
    if body_lines.size and (groups[-1, -1] >= num_lines or not np.array_equal(
            counts[groups], np.broadcast_to(_BODY_LINE_COUNTS, groups.shape))):
        return None
    in_group = np.zeros(num_lines, dtype=bool)
    in_group[groups] = True
    other = np.flatnonzero(~in_group[1:]) + 1  # Body count lines, then blank lines.
    frame_lines, blank = other[:num_frames], other[num_frames:]
    if frame_lines.size != num_frames or counts[blank].any():
        return None
    if (counts[frame_lines] != 1).any():
        return None
    num_bodies = count_values(first_token[frame_lines])
    if num_bodies is None or (num_bodies > MAX_KINECT_BODIES).any():
        return None
    num_bodies = num_bodies.astype(np.int64)
    # Each frame's groups fill the lines up to the next frame's (the last: up to the end).
    frames_end = blank[0] if blank.size else num_lines
    if not np.array_equal(np.append(frame_lines[1:], frames_end) - frame_lines - 1,
                          _BODY_LINES * num_bodies) or body_lines.size != num_bodies.sum():
        return None
    num_joints = count_values(first_token[body_lines + 1])
    if num_joints is None or (num_joints != NUM_JOINTS).any():
        return None
    id_token = first_token[body_lines]
    body_id = []
    for a, e in zip(starts[id_token].tolist(), ends[id_token].tolist()):
        field = raw[a:e]
        if not field.isdigit():
            return None
        body_id.append(int(field))

    joint_tokens = first_token[body_lines + 2][:, None]
    if xyz_only:
        joints = _fast_numbers(raw, b, starts, ends, marks, joint_tokens + _XYZ_TOKENS)
        joints = joints.reshape(-1, NUM_JOINTS, 3)
        body_info = np.zeros((body_lines.size, 0))
    else:
        joints = _fast_numbers(raw, b, starts, ends, marks,
                               joint_tokens + np.arange(NUM_JOINTS * JOINT_FIELDS))
        joints = joints.reshape(-1, NUM_JOINTS, JOINT_FIELDS)
        body_info = _fast_numbers(raw, b, starts, ends, marks,
                                  id_token[:, None] + np.arange(1, BODY_FIELDS))
    return SkeletonSequence(num_frames=num_frames,
                            frame=np.repeat(np.arange(num_frames, dtype=np.int64), num_bodies),
                            body_id=tuple(body_id), body_info=body_info, joints=joints)


def _fast_numbers(raw: bytes, b: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                  marks: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The exact float64 values of the (already validated) number tokens `tokens`, given in
    file order; `marks` are the positions of the file's exponent marks.

    Numbers of up to 15 characters without an exponent are computed with array arithmetic:
    each token, right-aligned in a (width, n) byte block, gives an integer mantissa (exact, as it
    stays below 2**53) that one division by a power of ten turns into the correctly rounded
    value, as a decimal parser gives. Others (few: exponents, long numbers) go through float().
    """
    shape = tokens.shape
    tokens = tokens.ravel()
    n = tokens.size
    if n == 0:
        return np.zeros(shape)
    end = ends[tokens]
    start = starts[tokens]
    length = end - start
    width = min(int(length.max()), _FAST_WIDTH)
    if int(end.min()) < width:  # Room for the block before the first token.
        b = np.frombuffer(b" " * width + raw, dtype=np.uint8)
        end = end + width
        start = start + width
        marks = marks + width
    cols = np.arange(width, dtype=np.uint8)[:, None]
    block = b[(end - width)[None, :] + cols]  # (width, n): column c holds byte c of each token.
    inside = cols >= (width - length).astype(np.uint8)
    digit = block - np.uint8(48)
    digit *= (digit < 10) & inside  # Zero where there is no digit.
    # Column of the point + 1 (0 without one): fields hold at most one point.
    point_col = ((block == 46) & inside) * (cols + np.uint8(1))
    point_col = point_col.sum(axis=0, dtype=np.uint8).astype(np.int64) - 1
    decimals = np.where(point_col >= 0, width - 1 - point_col, 0)
    weight = _POW10[width - 1 - np.arange(width)]
    digits = digit.astype(np.float64)
    total = np.einsum("c,cn->n", weight, digits)
    # Digits left of the point sit one column too far left: their weight is 10x too large.
    # (Not `@`: BLAS threads cost more than they save on these shapes.)
    digits *= cols < point_col
    left = np.einsum("c,cn->n", weight, digits)
    value = (total - 9.0 * (left / 10.0)) / _POW10[decimals]
    np.negative(value, out=value, where=b[start] == 45)
    slow = length > width
    if marks.size:  # Tokens holding an exponent mark (tokens are in file order).
        k = np.searchsorted(end, marks, side="right")
        k = k[k < n]
        slow[k[start[k] <= marks[:k.size]]] = True
    for k in np.flatnonzero(slow).tolist():
        value[k] = float(b[int(start[k]):int(end[k])].tobytes())
    return value.reshape(shape)


def fields_per_line(raw: bytes) -> list[int]:
    """Number of whitespace-separated fields on each line of `raw` (vectorised)."""
    if not raw:
        return []
    data = np.frombuffer(raw, dtype=np.uint8)
    space = data <= 32  # Only space, tab, CR and LF are left after the byte check.
    field_start = ~space
    field_start[1:] &= space[:-1]
    line_start = np.flatnonzero(data == 10) + 1
    line_start = np.concatenate(([0], line_start[line_start < data.size]))
    return np.add.reduceat(field_start, line_start, dtype=np.int64).tolist()


def parse_numbers(path: str | os.PathLike, text: str, lines: list[str], expected: int,
                  skip_line: Callable[[str], bool] | None = None) -> np.ndarray:
    """All numbers of `text`, in order; a malformed or non-finite number raises naming its line.

    `lines` are the file's lines, used only to find the offending field; lines for which
    `skip_line` is true hold no numbers (e.g. UESTC's ``#`` frame markers).
    """
    if expected == 0:
        return np.zeros(0)
    try:
        values = np.fromstring(text, dtype=np.float64, sep=" ")
    except ValueError:
        values = None
    if values is None or values.size != expected or not np.isfinite(values).all():
        _raise_bad_number(path, lines, skip_line)
        raise SkeletonFormatError(path, None, f"{expected} numbers",
                                  "content the number parser rejects")
    return values


def _raise_bad_number(path: str | os.PathLike, lines: list[str],
                      skip_line: Callable[[str], bool] | None = None) -> None:
    """Raises for the first field of `lines` that is not a finite number; lines for which
    `skip_line` is true hold no numbers. Returns if every field is one."""
    for i, line in enumerate(lines):
        if skip_line is not None and skip_line(line):
            continue
        for field in line.split():
            if not _NUMBER_RE.fullmatch(field) or not math.isfinite(float(field)):
                raise SkeletonFormatError(path, i + 1, "a finite number", repr(field))


def _raise_bad_byte(path: str | os.PathLike, raw: bytes) -> None:
    """Raises for the first field holding a byte that cannot be part of a number."""
    pos = _BAD_BYTE_RE.search(raw).start()
    start, end = pos, pos + 1
    while start > 0 and raw[start - 1] not in b" \t\r\n":
        start -= 1
    while end < len(raw) and raw[end] not in b" \t\r\n":
        end += 1
    field = raw[start:min(end, start + 40)].decode("ascii", errors="backslashreplace")
    raise SkeletonFormatError(path, raw.count(b"\n", 0, pos) + 1, "a number", repr(field))


def _raise_bad_joint_lines(path: str | os.PathLike, lines: list[str], first: int,
                           block: list[int]) -> None:
    """Raises for the first of the joint lines `first`... that has not 12 fields."""
    expected = f"a joint line ({JOINT_FIELDS} numbers)"
    for k, count in enumerate(block):
        if count != JOINT_FIELDS:
            raise SkeletonFormatError(path, first + k + 1, expected,
                                      f"{count} fields: {_preview(lines[first + k])}")
    raise SkeletonFormatError(path, first + len(block) + 1, expected, "end of file")


def _preview(line: str) -> str:
    """A line as shown in error messages: stripped, quoted, cut to 60 characters."""
    line = line.strip()
    if not line:
        return "an empty line"
    return repr(line if len(line) <= 60 else line[:57] + "...")


# --------------------------------------------------------------------------------------------
# Official preprocessing


def select_bodies(sequence: SkeletonSequence, max_frames: int | None = None) -> np.ndarray:
    """The official body selection (``get_body_info`` + ``filter_body``).

    Body records are grouped into tracks by body ID over the whole sequence, each at its file
    frame index (a second record with the same ID in one frame starts its own track). With more
    than one track: energy = std(x) + std(y) + std(z) of the joints relative to joint 0 over the
    track's valid frames; tracks are sorted by energy, descending; those below 0.85 x the highest
    energy are dropped unless they look like a standing person (in their first valid frame the
    y extent x 0.8 exceeds the x extent); the two most energetic remain.

    Args:
      sequence: a file as returned by :func:`read_skeleton`.
      max_frames: length of the time axis (zero padded); default: the file's frame count.

    Returns:
      (M=2, T, V=25, 3) float64 x, y, z; zero where a person is absent.
    """
    num_frames = sequence.num_frames if max_frames is None else max_frames
    if sequence.num_frames > num_frames:
        raise ValueError(f"{sequence.num_frames} frames do not fit in max_frames={max_frames}")
    track, num_tracks = _track_index(sequence)
    # Official layout (track, channel, frame, joint), so that energies are computed alike.
    tracks = np.zeros((num_tracks, 3, num_frames, NUM_JOINTS))
    tracks[track, :, sequence.frame, :] = sequence.joints[:, :, :3].transpose(0, 2, 1)
    if num_tracks > 1:
        energy = np.array([_energy(t) for t in tracks])
        order = np.argsort(energy, kind="stable")[::-1]
        tracks, energy = tracks[order], energy[order]
        low = energy < 0.85 * energy.max()
        keep = [k for k in range(len(tracks)) if not low[k] or _looks_upright(tracks[k])]
        tracks, energy = tracks[keep], energy[keep]
        order = np.argsort(energy, kind="stable")[::-1][:MAX_PERSONS]
        tracks = tracks[order]
    out = np.zeros((MAX_PERSONS, num_frames, NUM_JOINTS, 3))
    out[:len(tracks)] = tracks.transpose(0, 2, 3, 1)
    return out


def _track_index(sequence: SkeletonSequence) -> tuple[np.ndarray, int]:
    """Track number of each body record (tracks numbered by first appearance), track count."""
    tracks: dict[tuple[int, int], int] = {}
    index = []
    seen: dict[int, int] = {}
    current = -1
    for t, body_id in zip(sequence.frame.tolist(), sequence.body_id):
        if t != current:
            seen, current = {}, t
        repeat = seen.get(body_id, 0)
        seen[body_id] = repeat + 1
        index.append(tracks.setdefault((body_id, repeat), len(tracks)))
    return np.asarray(index, dtype=np.int64), len(tracks)


def _energy(track: np.ndarray) -> float:
    """Official ``get_nonzero_std`` of a (3, T, V) track; 0 when no frame is valid."""
    rel = track - track[:, :, :1]
    valid = rel.sum(0).sum(-1) != 0
    if not valid.any():
        return 0.0
    rel = rel[:, valid]
    return float(rel[0].std() + rel[1].std() + rel[2].std())


def _looks_upright(track: np.ndarray) -> bool:
    """Official ``xy_valid`` of a (3, T, V) track: y extent x 0.8 > x extent, first valid frame."""
    valid = track.sum(0).sum(-1) != 0
    if not valid.any():
        return False
    first = track[:, valid][:, 0]
    return bool(np.ptp(first[1]) * 0.8 > np.ptp(first[0]))


def normalize(data: np.ndarray) -> np.ndarray:
    """The official normalisation (``normalize_skeletons`` with origin 0, base bone [0, 20],
    z axis [0, 20], x axis [20, 5]).

    1. If frame 0 is empty for every person, the non-empty frames are moved to the front.
    2. Person 0's joint 0 at frame 0 is subtracted from every non-zero joint.
    3. Everything is divided by person 0's |joint 20 - joint 0| at the first frame where it is
       non-zero.
    4. A rotation turns person 0's joint 0 -> joint 20 at frame 0 onto +z.
    5. A rotation about z turns the xy projection of person 0's joint 20 -> joint 5 (the left
       elbow, as in the official code) onto +x.
    Rotations apply to non-empty frames of non-empty persons only.

    Args:
      data: (M, T, V=25, 3) x, y, z, e.g. from :func:`select_bodies`.

    Returns:
      (M, T, V, 3) float64, a new array.
    """
    x = np.array(data, dtype=np.float64)
    if x.ndim != 4 or x.shape[2:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected data of shape (M, T, {NUM_JOINTS}, 3), got {x.shape}")
    if x.sum() == 0:
        raise ValueError("expected a skeleton with non-zero joints, got an all-zero one")
    if x[:, 0].sum() == 0:
        keep = x.sum(-1).sum(-1).sum(0) != 0
        packed = x[:, keep]
        x[:] = 0
        x[:, :packed.shape[1]] = packed

    center = x[0, 0, 0].copy()
    for p in range(len(x)):
        if x[p].sum() != 0:
            x[p] = (x[p] - center) * (x[p].sum(-1) != 0)[:, :, None]

    for t in range(x.shape[1]):
        spine = np.linalg.norm(x[0, t, 20] - x[0, t, 0])
        if spine != 0:
            x /= spine
            break

    up = x[0, 0, 20] - x[0, 0, 0]
    z_axis = np.array([0.0, 0.0, 1.0])
    x = _rotate_nonempty(x, _rotation_matrix(np.cross(up, z_axis), _angle_between(up, z_axis)))

    side = x[0, 0, 5] - x[0, 0, 20]
    side[2] = 0
    x_axis = np.array([1.0, 0.0, 0.0])
    return _rotate_nonempty(x, _rotation_matrix(np.cross(side, x_axis),
                                                _angle_between(side, x_axis)))


def _rotate_nonempty(x: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Applies `rotation` to every joint of the frames whose sum is non-zero, of the persons
    whose sum is non-zero (as the official loops do)."""
    person = x.reshape(x.shape[0], -1).sum(-1) != 0
    frame = x.reshape(x.shape[0], x.shape[1], -1).sum(-1) != 0
    apply = (person[:, None] & frame)[:, :, None, None]
    return np.where(apply, x @ rotation.T, x)


def _rotation_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """Counterclockwise rotation by `theta` about `axis`; identity when either is tiny (as the
    official ``rotation_matrix``, which also skips a half turn whose axis is zero)."""
    if np.abs(axis).sum() < 1e-6 or abs(theta) < 1e-6:
        return np.eye(3)
    kx, ky, kz = axis / math.sqrt(np.dot(axis, axis))
    cross = np.array([[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]])
    return np.eye(3) + math.sin(theta) * cross + (1.0 - math.cos(theta)) * (cross @ cross)


def _angle_between(v1: np.ndarray, v2: np.ndarray) -> float:
    """Angle in radians between two vectors; 0 when either is tiny (as the official code)."""
    if np.abs(v1).sum() < 1e-6 or np.abs(v2).sum() < 1e-6:
        return 0.0
    u1 = v1 / np.linalg.norm(v1)
    u2 = v2 / np.linalg.norm(v2)
    return float(np.arccos(np.clip(np.dot(u1, u2), -1.0, 1.0)))


def load_sample(path: str | os.PathLike) -> np.ndarray:
    """Reads, selects bodies, normalises and cuts one file to its non-empty frames.

    Equals the official ``gendata`` output for the file cut to its non-empty frames (the first
    step of the official per-sample transform).

    Returns:
      (C=3, T, V=25, M=2) float32.

    Raises:
      SkeletonFormatError: the file is damaged.
      EmptySkeletonError: no frame holds a body with non-zero joints.
    """
    raw = Path(path).read_bytes()
    sequence = _read(path, raw, xyz_only=True)
    if not sequence.body_id:
        raise EmptySkeletonError(path, sequence.num_frames,
                                 f"no body in {sequence.num_frames} frame(s)")
    data = select_bodies(sequence)
    if not data.any():
        raise EmptySkeletonError(path, sequence.num_frames, "bodies whose joints are all zero")
    out = np.ascontiguousarray(normalize(data).transpose(3, 1, 2, 0), dtype=np.float32)
    return out[:, out.sum(0).sum(-1).sum(-1) != 0]


# --------------------------------------------------------------------------------------------
# Names, splits and shipped lists


def parse_sample_name(name_or_path: str | os.PathLike) -> SampleName:
    """Parses ``SsssCcccPpppRrrrAaaa``, a file name ending in ``.skeleton``, or a path to one.

    Raises:
      ValueError: the name does not follow the pattern or a field is outside the dataset's range
        (setup 1-32, camera 1-3, performer 1-106, replication 1-2, action 1-120).
    """
    stem = Path(name_or_path).name
    if stem.endswith(".skeleton"):
        stem = stem[:-len(".skeleton")]
    match = _NAME_RE.fullmatch(stem)
    if match is None:
        raise ValueError(f"{os.fspath(name_or_path)}: expected a sample name like "
                         f"S001C002P003R002A013 (optionally + .skeleton), got {stem!r}")
    sample = SampleName(*(int(g) for g in match.groups()))
    for field, value in sample._asdict().items():
        low, high = _NAME_FIELD_RANGES[field]
        if not low <= value <= high:
            raise ValueError(f"{os.fspath(name_or_path)}: expected {field} from {low} to {high}, "
                             f"got {value}")
    return sample


def is_training(name: SampleName | str | os.PathLike, dataset: str, benchmark: str,
                xset_rule: str = "even") -> bool:
    """Whether a sample belongs to the training split of a benchmark.

    Args:
      name: a :class:`SampleName`, or a name or path that :func:`parse_sample_name` accepts.
      dataset: ``"ntu60"`` or ``"ntu120"``.
      benchmark: ``"xsub"`` or ``"xview"`` (NTU60); ``"xsub"`` or ``"xset"`` (NTU120).
      xset_rule: ``"even"`` (the dataset's protocol: even setups train) or ``"official_stgat"``
        (odd setups train, as the official STGAT data preparation does).

    Raises:
      ValueError: an unknown dataset, benchmark or rule, or a sample outside the dataset.
    """
    if dataset not in BENCHMARKS:
        raise ValueError(f"expected dataset one of {sorted(BENCHMARKS)}, got {dataset!r}")
    if benchmark not in BENCHMARKS[dataset]:
        raise ValueError(f"expected benchmark of {dataset} one of {list(BENCHMARKS[dataset])}, "
                         f"got {benchmark!r}")
    if xset_rule not in XSET_RULES:
        raise ValueError(f"expected xset_rule one of {list(XSET_RULES)}, got {xset_rule!r}")
    sample = name if isinstance(name, SampleName) else parse_sample_name(name)
    max_setup, max_action = _DATASET_LIMITS[dataset]
    if sample.setup > max_setup or sample.action > max_action:
        raise ValueError(f"expected a {dataset} sample (setups 1-{max_setup}, actions "
                         f"1-{max_action}), got {sample}")
    if benchmark == "xview":
        return sample.camera in NTU60_TRAIN_CAMERAS
    if benchmark == "xset":
        return sample.setup % 2 == (0 if xset_rule == "even" else 1)
    subjects = NTU60_TRAIN_SUBJECTS if dataset == "ntu60" else NTU120_TRAIN_SUBJECTS
    return sample.subject in subjects


def missing_samples(dataset: str) -> frozenset[str]:
    """Names of the samples the dataset authors list as having missing skeletons.

    Args:
      dataset: ``"ntu60"`` (302 names) or ``"ntu120"`` (535 names, a superset).
    """
    if dataset not in _MISSING_LIST_FILES:
        raise ValueError(f"expected dataset one of {sorted(_MISSING_LIST_FILES)}, got {dataset!r}")
    text = _resource_text(_MISSING_LIST_FILES[dataset])
    return frozenset(line.strip() for line in text.splitlines()
                     if _NAME_RE.fullmatch(line.strip()))


def action_names(dataset: str) -> tuple[str, ...]:
    """The 60 (``"ntu60"``) or 120 (``"ntu120"``) action names; index = label."""
    if dataset not in _DATASET_LIMITS:
        raise ValueError(f"expected dataset one of {sorted(_DATASET_LIMITS)}, got {dataset!r}")
    names = [line.strip().removesuffix(".")
             for line in _resource_text(_ACTION_NAMES_FILE).splitlines() if line.strip()]
    return tuple(names[:_DATASET_LIMITS[dataset][1]])


def _resource_text(filename: str) -> str:
    """A file shipped in ``resources/ntu`` next to this module."""
    resource = importlib.resources.files(__package__) / "resources" / "ntu" / filename
    return resource.read_text(encoding="utf-8")

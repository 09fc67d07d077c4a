"""Files other toolkits prepared, read as samples for the records (:mod:`data_prep.builders`).

Three layouts of NTU RGB+D (60 or 120) are read, each into the records the raw ``.skeleton``
files give (``(T, M=2, V, C)`` float32 at its real length, label, sample name):

``pyskl`` and ``pyskl_2d``: PYSKL / MMAction2 annotation pickles (``ntu60_3danno.pkl``,
  ``ntu120_3danno.pkl``, MMAction2's ``ntu60_3d.pkl``; ``ntu60_2d.pkl`` ...)::

      {'split': {'xsub_train': [frame_dir, ...], 'xsub_val': [...], ...},
       'annotations': [{'frame_dir': str, 'label': int, 'keypoint': (M, T, V, C) float16,
                        'total_frames': T, ...}, ...]}

  3D files hold raw Kinect camera coordinates (PYSKL normalises when it loads them), bodies
  already chosen. Each sample gets the official STGAT normalisation that the raw path applies
  after body selection (:func:`data_prep.ntu.normalize`: centred on the spine base of the first
  frame, scaled to a unit spine, spine turned onto +z and shoulders onto +x). 2D files hold
  COCO-17 keypoints in pixels with ``keypoint_score`` (M, T, V) and ``img_shape`` (h, w); each
  sample gets Kinetics-Skeleton's normalisation (the one STGAT's 2D pipeline expects):
  ``x / w - 0.5``, ``-(y / h - 0.5)``, zero where the score is 0; channels x, y, score. With
  more than two persons, the two of highest total score are kept. ``None`` entries (PYSKL's
  scripts leave them for empty source files) are counted and reported as ``empty_annotation``.

``ctrgcn``: CTR-GCN / InfoGCN ``NTU60_CS.npz`` (etc.): ``x_train``, ``x_test`` float32
  (N, 300, 150) = 2 bodies x 25 joints x 3, zero-padded in time; ``y_train``, ``y_test``
  one-hot. The file stores no sample names: samples are named ``train_000000``, ``test_000041``
  ... (split and index). CTR-GCN's ``seq_transformation.py`` only translates each sequence (the
  first body's spine middle at its first frame becomes the origin; absent bodies stay zero); it
  neither scales nor rotates. So each sample gets the same STGAT normalisation as the ``pyskl``
  format, after a constant offset is added to every present body-frame (an origin at exactly
  zero would read as "absent" to the normalisation; the offset cancels in the centring). A
  sample's real length is its frames up to the last non-zero one.

``stgat``: STGAT / 2s-AGCN numpy arrays, a folder holding ``train_data_joint.npy`` and
  ``val_data_joint.npy`` (N, 3, 300, 25, 2) with ``train_label.pkl`` and ``val_label.pkl``
  (sample names, labels). STGAT's ``gendata`` arrays are already normalised as the raw path
  normalises; they are taken as they are. So are 2s-AGCN's, although its normalisation centres
  every frame on the spine middle: train and evaluate on records of one kind. ``val`` becomes
  the ``test`` split. The arrays are memory-mapped.

Every record holds the non-empty frames of its sample, as the raw path does.

Pickles can run code when they are loaded. Only the file the user names is unpickled (for
``stgat``, the two label files in the folder the user names), and :func:`load_pickle` accepts
only what these files hold (containers, strings, numbers and NumPy arrays): anything else
stops the load before it runs.

A key, shape or dtype that is not the layout's raises :class:`ImportFormatError`, naming the
file, the key and what was expected.
"""

from __future__ import annotations

import functools
import os
import pathlib
import pickle
import zipfile
from typing import Any

import numpy as np

from data_prep import ntu

FORMATS = ("pyskl", "pyskl_2d", "ctrgcn", "stgat")
"""The layouts that can be imported (``--format``)."""

COCO_JOINTS = 17
NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
STGAT_SPLITS = {"train": "train", "test": "val"}  # Record split -> the files' prefix.

# Added to every present body-frame of a CTR-GCN sample before the STGAT normalisation, which
# reads exact zeros as absent; metres, about where a Kinect sees a person. Cancels in the centring.
_CTRGCN_OFFSET = np.array([0.0, 0.0, 3.0])

_PICKLE_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"), ("collections", "OrderedDict"),
})


class ImportFormatError(ntu.SkeletonFormatError):
    """A file does not follow the layout it is imported as.

    Attributes (besides :class:`data_prep.ntu.SkeletonFormatError`'s):
      key: where in the file, e.g. ``annotations[3]['keypoint']`` or ``x_train``.
    """

    def __init__(self, path: str | os.PathLike, key: str, expected: str, got: str):
        super().__init__(path, None, expected, got)
        self.key = key
        self.args = (f"{self.path}: {key}: expected {expected}, got {got}",)


# --------------------------------------------------------------------------------------------
# Reading the files


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles containers, strings, numbers and NumPy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the global {module}.{name}")


def load_pickle(path: str | os.PathLike) -> Any:
    """A pickle that may hold only containers, strings, numbers and NumPy arrays.

    Raises:
      FileNotFoundError: no such file.
      ImportFormatError: the file is no such pickle (it is stopped before it runs anything).
    """
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        try:
            return _ArrayUnpickler(f, encoding="latin1").load()
        except pickle.UnpicklingError as err:
            raise ImportFormatError(path, "the pickle", "only containers, strings, numbers and "
                                    "NumPy arrays (pickles can run code; this one is not loaded)",
                                    str(err)) from None
        except (EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
                KeyError) as err:
            raise ImportFormatError(path, "the pickle", "a complete pickle file",
                                    f"{type(err).__name__}: {err}") from None


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))[:8]}"
    return f"{type(value).__name__} {value!r}"[:120]


@functools.lru_cache(maxsize=1)
def read_annotations(path: str) -> tuple[dict[str, list[str]], list[Any]]:
    """The ``split`` lists and the ``annotations`` of a PYSKL / MMAction2 pickle (read once;
    :func:`close` forgets it)."""
    data = load_pickle(path)
    if not isinstance(data, dict) or "annotations" not in data or "split" not in data:
        raise ImportFormatError(path, "the top level", "a dict with keys 'split' and "
                                "'annotations' (a PYSKL / MMAction2 annotation file)",
                                _describe(data))
    split, annotations = data["split"], data["annotations"]
    if not isinstance(split, dict) or not all(
            isinstance(v, (list, tuple)) for v in split.values()):
        raise ImportFormatError(path, "'split'", "a dict of lists of frame_dir names",
                                _describe(split))
    if not isinstance(annotations, (list, tuple)):
        raise ImportFormatError(path, "'annotations'", "a list of dicts", _describe(annotations))
    return {str(k): [str(n) for n in v] for k, v in split.items()}, list(annotations)


def check_annotation(path: str, index: int, ann: dict[str, Any], two_d: bool) -> None:
    """Raises :class:`ImportFormatError` where annotation `index` is not of the layout."""
    where = f"annotations[{index}]"
    if not isinstance(ann, dict):
        raise ImportFormatError(path, where, "a dict (or None)", _describe(ann))
    for key in ("frame_dir", "label", "keypoint") + (("keypoint_score", "img_shape") if two_d
                                                      else ()):
        if key not in ann:
            raise ImportFormatError(path, f"{where}['{key}']", "a value (the key is missing)",
                                    _describe(ann))
    if not isinstance(ann["frame_dir"], str):
        raise ImportFormatError(path, f"{where}['frame_dir']", "a sample name (str)",
                                _describe(ann["frame_dir"]))
    label = ann["label"]
    if not isinstance(label, (int, np.integer)) or isinstance(label, bool):
        raise ImportFormatError(path, f"{where}['label']", "an integer class index",
                                _describe(label))
    kp = ann["keypoint"]
    joints, channels = (COCO_JOINTS, 2) if two_d else (ntu.NUM_JOINTS, 3)
    if (not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.shape[2:] != (joints, channels)
            or kp.dtype.kind != "f"):
        hint = ("" if two_d or not isinstance(kp, np.ndarray) or kp.shape[2:] != (COCO_JOINTS, 2)
                else ": a 2D file; import it with --format=pyskl_2d")
        raise ImportFormatError(path, f"{where}['keypoint']",
                                f"a float array (M, T, {joints}, {channels})",
                                _describe(kp) + hint)
    _check_finite(kp, path, f"{where}['keypoint']")
    total = ann.get("total_frames", kp.shape[1])
    if total != kp.shape[1]:
        raise ImportFormatError(path, f"{where}['total_frames']",
                                f"the keypoint's frame count {kp.shape[1]}", _describe(total))
    if two_d:
        score = ann["keypoint_score"]
        if (not isinstance(score, np.ndarray) or score.shape != kp.shape[:3]
                or score.dtype.kind != "f"):
            raise ImportFormatError(path, f"{where}['keypoint_score']",
                                    f"a float array of shape {kp.shape[:3]} (M, T, V)",
                                    _describe(score))
        shape = ann["img_shape"]
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)):
            raise ImportFormatError(path, f"{where}['img_shape']",
                                    "(height, width) in pixels", _describe(shape))


def _npz_member(archive: zipfile.ZipFile, path: str, name: str) -> np.ndarray:
    """Member `name` of an npz, memory-mapped when it is stored uncompressed (np.savez)."""
    info = archive.getinfo(name)
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ImportFormatError(path, name, "an .npy member of format version 1.0 or 2.0",
                                    f"version {version}")
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        header = f.tell()
    if info.compress_type != zipfile.ZIP_STORED or dtype.hasobject:
        with archive.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as raw:  # The local file header precedes the member's bytes.
        raw.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(raw.read(4), "<u2")
    offset = info.header_offset + 30 + int(name_len) + int(extra_len) + header
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, offset=offset,
                     order="F" if fortran else "C")


@functools.lru_cache(maxsize=1)
def read_npz(path: str) -> dict[str, np.ndarray]:
    """``x_train``, ``y_train``, ``x_test``, ``y_test`` of a CTR-GCN npz, checked; the x arrays
    memory-mapped where the file stores them uncompressed."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise ImportFormatError(path, "the file", "an .npz archive (CTR-GCN / InfoGCN layout)",
                                str(err)) from None
    with archive:
        names = {n.removesuffix(".npy"): n for n in archive.namelist()}
        out = {}
        for key in (k for pair in NPZ_KEYS.values() for k in pair):
            if key not in names:
                raise ImportFormatError(path, key, "an array (keys x_train, y_train, x_test, "
                                        "y_test)", f"the keys {sorted(names)}")
            out[key] = _npz_member(archive, path, names[key])
    for x_key, y_key in NPZ_KEYS.values():
        x, y = out[x_key], out[y_key]
        if x.ndim != 3 or x.shape[2] != 2 * ntu.NUM_JOINTS * 3 or x.dtype.kind != "f":
            raise ImportFormatError(path, x_key, "a float array (N, T, 150) = 2 bodies x 25 "
                                    "joints x 3", _describe(x))
        if y.ndim != 2 or len(y) != len(x):
            raise ImportFormatError(path, y_key, f"one-hot labels of shape ({len(x)}, classes)",
                                    _describe(y))
        if not (np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all()):
            bad = int(np.flatnonzero(~(np.isin(y, (0, 1)).all(1) & (y.sum(1) == 1)))[0])
            raise ImportFormatError(path, f"{y_key}[{bad}]", "a one-hot row",
                                    f"{np.asarray(y[bad]).tolist()}"[:120])
    return out


@functools.lru_cache(maxsize=2)
def read_stgat(folder: str, split: str) -> tuple[np.ndarray, list[str], list[int]]:
    """The memory-mapped ``{split}_data_joint.npy`` and the names and labels of
    ``{split}_label.pkl`` in `folder` (`split` is ``train`` or ``val``), checked."""
    data_path = pathlib.Path(folder) / f"{split}_data_joint.npy"
    label_path = pathlib.Path(folder) / f"{split}_label.pkl"
    for needed in (data_path, label_path):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} does not exist; the folder must hold "
                                    f"{{train,val}}_data_joint.npy and {{train,val}}_label.pkl")
    try:
        data = np.load(data_path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise ImportFormatError(data_path, "the array", "a .npy array", str(err)) from None
    if (data.ndim != 5 or data.shape[1] != 3 or data.shape[3:] != (ntu.NUM_JOINTS, 2)
            or data.dtype.kind != "f"):
        raise ImportFormatError(data_path, "the array", "a float array (N, C=3, T, V=25, M=2)",
                                _describe(data))
    labels = load_pickle(label_path)
    if (not isinstance(labels, (tuple, list)) or len(labels) != 2
            or not all(isinstance(v, (list, tuple, np.ndarray)) for v in labels)):
        raise ImportFormatError(label_path, "the pickle", "a pair (sample names, labels)",
                                _describe(labels))
    names, classes = [str(n) for n in labels[0]], list(labels[1])
    if len(names) != len(data) or len(classes) != len(data):
        raise ImportFormatError(label_path, "(names, labels)", f"{len(data)} of each, one per "
                                f"sample of {data_path.name}", f"{len(names)} names and "
                                f"{len(classes)} labels")
    for i, c in enumerate(classes):
        if not isinstance(c, (int, np.integer)) or isinstance(c, bool):
            raise ImportFormatError(label_path, f"labels[{i}]", "an integer class index",
                                    _describe(c))
    return data, [n.removesuffix(".skeleton") for n in names], [int(c) for c in classes]


def close() -> None:
    """Forgets the files read (they stay open while a build reads their samples)."""
    read_annotations.cache_clear()
    read_npz.cache_clear()
    read_stgat.cache_clear()


def _check_finite(x: np.ndarray, path: str, key: str) -> None:
    """Raises :class:`ImportFormatError` naming the first NaN or infinite value of `x`."""
    bad = ~np.isfinite(x)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ImportFormatError(path, key, "finite numbers", f"{x[at]} at index {at}")


# --------------------------------------------------------------------------------------------
# One sample -> (T, M=2, V, C) float32, its non-empty frames


def _nonempty_frames(x: np.ndarray) -> np.ndarray:
    """(T, M, V, C) cut to the frames with a non-zero value."""
    return x[x.reshape(len(x), -1).any(-1)]


def normalized_3d(keypoint: np.ndarray, path: str, name: str) -> np.ndarray:
    """(M, T, 25, 3) camera coordinates -> the STGAT-normalised (T, 2, 25, 3) record."""
    x = np.zeros((ntu.MAX_PERSONS, *keypoint.shape[1:]))
    x[:min(len(keypoint), ntu.MAX_PERSONS)] = keypoint[:ntu.MAX_PERSONS]
    if not x.any():
        raise ntu.EmptySkeletonError(path, x.shape[1], f"only zero keypoints in {name}")
    return _nonempty_frames(ntu.normalize(x).transpose(1, 0, 2, 3)).astype(np.float32)


def pyskl_3d_sample(ann: dict[str, Any], path: str) -> np.ndarray:
    """A 3D PYSKL annotation as its record (bodies after the first two are dropped: PYSKL's NTU
    files keep two)."""
    return normalized_3d(np.asarray(ann["keypoint"], np.float64), path, ann["frame_dir"])


def pyskl_2d_sample(ann: dict[str, Any], path: str) -> np.ndarray:
    """A 2D PYSKL annotation as its (T, 2, 17, 3) record: x, y normalised as Kinetics-Skeleton
    (``x / w - 0.5``, ``0.5 - y / h``; zero where the score is 0) and the score; the two
    persons of highest total score, in that order."""
    kp = np.asarray(ann["keypoint"], np.float64)
    score = np.asarray(ann["keypoint_score"], np.float64)
    height, width = (float(s) for s in ann["img_shape"])
    order = np.argsort(-score.sum((1, 2)), kind="stable")[:ntu.MAX_PERSONS]
    kp, score = kp[order], score[order]
    xys = np.stack([kp[..., 0] / width - 0.5, 0.5 - kp[..., 1] / height, score], -1)
    xys[score == 0] = 0
    out = np.zeros((ntu.MAX_PERSONS, *xys.shape[1:]))
    out[:len(xys)] = xys
    out = _nonempty_frames(out.transpose(1, 0, 2, 3))
    if not len(out):
        raise ntu.EmptySkeletonError(path, kp.shape[1], f"no keypoint with a non-zero score in "
                                     f"{ann['frame_dir']}")
    return out.astype(np.float32)


def ctrgcn_sample(row: np.ndarray, path: str, name: str) -> np.ndarray:
    """One (T, 150) row of a CTR-GCN npz as its STGAT-normalised (T, 2, 25, 3) record."""
    _check_finite(np.asarray(row), path, name)
    x = np.asarray(row, np.float64).reshape(len(row), ntu.MAX_PERSONS, ntu.NUM_JOINTS, 3)
    present = x.any(axis=(2, 3))  # (T, M) body-frames with data
    frames = np.flatnonzero(present.any(1))
    if not len(frames):
        raise ntu.EmptySkeletonError(path, len(x), f"only zero frames in {name}")
    last = frames[-1] + 1
    x = np.where(present[:last, :, None, None], x[:last] + _CTRGCN_OFFSET, 0.0)
    return normalized_3d(x.transpose(1, 0, 2, 3), path, name)


def stgat_sample(array: np.ndarray, path: str, name: str) -> np.ndarray:
    """One (3, T, 25, 2) sample of an STGAT array as its (T, 2, 25, 3) record (unchanged)."""
    _check_finite(np.asarray(array), path, name)
    x = _nonempty_frames(np.asarray(array, np.float32).transpose(1, 3, 2, 0))
    if not len(x):
        raise ntu.EmptySkeletonError(path, array.shape[1], f"only zero frames in {name}")
    return x

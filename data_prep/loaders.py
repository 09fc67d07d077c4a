"""One raw file -> the encoded skeleton of its record: the work that build worker processes do.

This module imports neither TFDS nor anything heavy (NumPy and the readers only), so a worker
process starts in a fraction of a second. The shared builder (:mod:`data_prep.records`) assembles
and serialises the records from what :func:`process` returns.

The skeleton is encoded as ``tfds.features.Tensor(..., encoding=ZLIB)`` stores it: the
C-ordered float32 bytes of the ``(T, M, V, C)`` array in a zlib stream, which the reader inflates
with ``zlib.decompress``. The stream is written with the run-length strategy (``Z_RLE``): on
skeletons (float noise in the low bits, runs of zeros where a person is absent) it compresses as
well as zlib's default and about three times faster.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import traceback
import zlib
from typing import Callable, Sequence

import numpy as np

from data_prep import imported, kinetics, ntu, nw_ucla, uestc
from stgat_jax import host


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One raw file to read: its sample name (the record's key), path and label.

    ``label_source`` names the file the label comes from, when it is not the sample name
    (Kinetics label files); the loader checks that the raw file agrees with it. ``index`` is the
    sample's place in a file that holds many (imported files, :mod:`data_prep.imported`).
    """

    name: str
    path: str
    label: int
    label_source: str | None = None
    index: int = -1


Result = tuple[str, bytes | None, str | None, str | None]
"""What :func:`process` gives for a sample: its name, the encoded skeleton (None when it is not
written), a skip reason (``empty``, ``corrupt``, or ``error`` for an unexpected failure) and the
details."""


def load_ntu(sample: Sample) -> np.ndarray:
    """An NTU RGB+D ``.skeleton`` file as ``(T, 2, 25, 3)``."""
    return ntu.load_sample(sample.path).transpose(1, 3, 2, 0)


_LABEL_INDEX_RE = re.compile(rb'"label_index"\s*:\s*(-?\d+)')


def load_kinetics(sample: Sample) -> np.ndarray:
    """A Kinetics video, after checking that its own label_index is the label file's."""
    data = kinetics.load_sample(sample.path)  # Validates the whole file, label_index included.
    raw = pathlib.Path(sample.path).read_bytes()
    found = _LABEL_INDEX_RE.findall(raw)
    own = int(found[0]) if len(found) == 1 else json.loads(raw)["label_index"]
    if own != sample.label:
        raise ntu.SkeletonFormatError(
            sample.path, None, f"label_index {sample.label}, as {sample.label_source} gives for "
            f"{sample.name!r} ({kinetics.action_names()[sample.label]})",
            f"label_index {own} ({kinetics.action_names()[own]})")
    return data.transpose(1, 3, 2, 0)


def load_uestc(sample: Sample) -> np.ndarray:
    """A UESTC ``.txt`` or ``.mat`` file as ``(T, 1, 25, 3)``."""
    return uestc.load_sample(sample.path).transpose(1, 3, 2, 0)


def load_nw_ucla(sample: Sample) -> np.ndarray:
    """An NW-UCLA ``.json`` file as ``(T, 1, 20, 3)``."""
    return nw_ucla.load_sample(sample.path).transpose(1, 3, 2, 0)


def load_pyskl(sample: Sample) -> np.ndarray:
    """Annotation `sample.index` of a 3D PYSKL / MMAction2 pickle as ``(T, 2, 25, 3)``."""
    ann = imported.read_annotations(sample.path)[1][sample.index]
    return imported.pyskl_3d_sample(ann, sample.path)


def load_pyskl_2d(sample: Sample) -> np.ndarray:
    """Annotation `sample.index` of a 2D (COCO-17) pickle as ``(T, 2, 17, 3)``."""
    ann = imported.read_annotations(sample.path)[1][sample.index]
    return imported.pyskl_2d_sample(ann, sample.path)


def load_ctrgcn(sample: Sample) -> np.ndarray:
    """Row `sample.index` of a CTR-GCN npz's split (``train_*`` or ``test_*`` names)."""
    split = sample.name.split("_")[0]
    x = imported.read_npz(sample.path)[imported.NPZ_KEYS[split][0]]
    return imported.ctrgcn_sample(x[sample.index], sample.path, sample.name)


def load_stgat(sample: Sample) -> np.ndarray:
    """Sample `sample.index` of an STGAT ``{train,val}_data_joint.npy`` (`sample.path`)."""
    path = pathlib.Path(sample.path)
    data = imported.read_stgat(str(path.parent), path.name.split("_")[0])[0]
    return imported.stgat_sample(data[sample.index], sample.path, sample.name)


def encode_skeleton(data: np.ndarray, frame_shape: tuple[int, ...]) -> bytes:
    """The stored form of a ``(T, *frame_shape)`` skeleton (see the module docstring).

    Raises:
      ValueError: `data` is not a float32 array of that shape.
    """
    if data.dtype != np.float32 or data.shape[1:] != tuple(frame_shape) or data.ndim < 1:
        raise ValueError(f"expected a float32 skeleton of shape (T, *{tuple(frame_shape)}), got "
                         f"{data.dtype} {data.shape}")
    compressor = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS, 8, zlib.Z_RLE)
    return compressor.compress(np.ascontiguousarray(data)) + compressor.flush()


def init_worker() -> None:
    """Sets up a worker process: the C allocator keeps freed memory for the next file.

    Reading a file allocates a few arrays the size of the file; by default glibc returns them to
    the system when they are freed, and touching fresh pages again costs about as much as the
    arithmetic on them (a page fault per 4 KiB). Up to 64 MiB freed at the top of the heap stay
    (allocations below 16 MiB come from the heap); memory still does not grow with the number of
    files. Not done in the caller's process, whose allocator is left alone.
    """
    tune = host.mallopt()
    if tune is None:  # Not glibc: nothing to tune.
        return
    tune(host.M_MMAP_THRESHOLD, 16 << 20)
    tune(host.M_TRIM_THRESHOLD, 64 << 20)


def process(load: Callable[[Sample], np.ndarray], frame_shape: tuple[int, ...],
            samples: Sequence[Sample]) -> list[Result]:
    """Reads, preprocesses and encodes `samples` (see :data:`Result`)."""
    out: list[Result] = []
    for sample in samples:
        try:
            data = np.asarray(load(sample), dtype=np.float32)
            out.append((sample.name, encode_skeleton(data, frame_shape), None, None))
        except ntu.EmptySkeletonError as err:
            out.append((sample.name, None, "empty", str(err)))
        except ntu.SkeletonFormatError as err:
            out.append((sample.name, None, "corrupt", str(err)))
        except Exception:  # A bug or an environment problem: the build fails, naming the file.
            out.append((sample.name, None, "error", f"{sample.path}:\n{traceback.format_exc()}"))
    return out

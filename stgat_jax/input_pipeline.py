"""Input pipeline: TFDS array_record records -> Grain -> per-process batches.

Records hold one sample at its real length, channels-last ``(T, M, V, C)``. On the host, per
sample: the stream transform (joint / bone / joint-motion / bone-motion), the official temporal
sampling (train: random resample to `resample_frames` then a random crop of `window_frames`;
test: uniform resample then the centre crop), then batching. Batches are ``{'x': (B, M, T, V, C),
'label': (B,)}`` (plus ``'mask'`` and ``'index'`` for evaluation).

CTR-GCN's NW-UCLA pipeline is available through options that are off by default (see
:class:`SpatialTransform`): per-sample centring, random rotation and scale (training only) and
min-max normalisation before sampling; ``sampling='random_sorted'`` (train: a sorted random draw
of `window_frames` frames; test: evenly spaced frames); ``stream_after_sampling`` (bones and
motion from the sampled frames, as CTR-GCN computes them).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import grain
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from data_prep import prepare
from stgat_jax import graphs

STREAMS = ("joint", "bone", "joint_motion", "bone_motion")
# 'resample_crop': the official STGAT sampling; 'crop_resize': HCN's crop-and-resize;
# 'random_sorted': CTR-GCN's NW-UCLA sampling.
SAMPLINGS = ("resample_crop", "crop_resize", "random_sorted")

# CTR-GCN's NW-UCLA training draw: `size` positions out of the frame list repeated this often.
RANDOM_SORTED_REPEATS = 100


# --- Temporal sampling (reference/STGAT.md section 3.6) -------------------------------------------

def random_resample_indices(num_frames: int, size: int, rng: np.random.Generator,
                            repeats: int | None = None) -> np.ndarray:
    """Official `random_sample_np`: an ordered random choice of `size` frames.

    With more frames than `size`, a random ordered subset without replacement; with fewer, frames
    are duplicated at random (positions drawn from the frame list repeated ceil(size/T) times).
    `repeats` fixes that repeat count instead (CTR-GCN's NW-UCLA feeder draws from the list
    repeated 100 times, so frames may repeat even when T >= size).
    """
    if repeats is None and num_frames == size:
        return np.arange(size)
    reps = math.ceil(size / num_frames) if repeats is None else repeats
    if num_frames * reps < size:
        raise ValueError(f"cannot draw {size} positions from {num_frames} frames x {reps}")
    positions = rng.choice(num_frames * reps, size=size, replace=False)
    return np.sort(positions % num_frames)


def uniform_resample_indices(num_frames: int, size: int) -> np.ndarray:
    """Official `uniform_sample_np`: frame int(i * T / size) for i < size."""
    return (np.arange(size) * num_frames // size).astype(np.int64)


def linspace_indices(num_frames: int, size: int) -> np.ndarray:
    """CTR-GCN's NW-UCLA test sampling: ``linspace(0, T - 1, size)`` truncated to integers."""
    return np.linspace(0, num_frames - 1, size).astype(np.int64)


def centre_crop_start(size: int, window: int) -> int:
    """Start of the official centre crop (frames 11..138 for 150 -> 128)."""
    return (size - window) // 2


def resize_frames(x: np.ndarray, size: int) -> np.ndarray:
    """Linear interpolation of (T, ...) to `size` frames (HCN's bilinear resize over time)."""
    num = len(x)
    if num == 1:
        return np.repeat(x, size, axis=0)
    pos = (np.arange(size) + 0.5) * num / size - 0.5  # align_corners=False, as torch resizes
    pos = np.clip(pos, 0, num - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, num - 1)
    w = (pos - lo).astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[lo] * (1 - w) + x[hi] * w


def random_crop_resize(x: np.ndarray, size: int, min_ratio: float, max_ratio: float,
                       min_len: int, rng: np.random.Generator) -> np.ndarray:
    """HCN training crop: a random crop of ratio in [min_ratio, max_ratio] of the valid length
    (at least `min_len` frames, at most all), resized to `size` frames."""
    num = len(x)
    ratio = rng.uniform(min_ratio, max_ratio)
    length = int(np.clip(round(num * ratio), min(min_len, num), num))
    start = rng.integers(0, num - length + 1)
    return resize_frames(x[start: start + length], size)


def clip_starts(span: int, num_clips: int) -> list[int]:
    """Starts of `num_clips` crops spread evenly over `span` free positions; one clip is centred."""
    if num_clips == 1:
        return [span // 2]
    return [int(round(i * span / (num_clips - 1))) for i in range(num_clips)]


def centre_crop_resize(x: np.ndarray, size: int, ratio: float, num_clips: int = 1) -> list[np.ndarray]:
    """HCN test crops: `ratio` of the sequence (the centre one for one clip), resized to `size` frames."""
    num = len(x)
    length = max(1, int(round(num * ratio)))
    return [resize_frames(x[s: s + length], size) for s in clip_starts(num - length, num_clips)]


# --- Streams -----------------------------------------------------------------------------------

def motion(x: np.ndarray, skip: int = 1) -> np.ndarray:
    """Official `decouple_temporal` on (T, ...): x[::skip], then x[t+1] - x[t], one zero frame appended."""
    x = x[::skip]
    out = np.zeros_like(x)
    out[:-1] = x[1:] - x[:-1]
    return out


def stream_transform(x: np.ndarray, stream: str, graph: str = "ntu", motion_skip: int = 1) -> np.ndarray:
    """Turns a joint record (T, M, V, C) into the given stream (bone first, then motion)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; expected one of {STREAMS}")
    if stream.startswith("bone"):
        x = graphs.bone_stream(x, graph)
    if stream.endswith("motion"):
        x = motion(x, motion_skip)
    return x


# --- Spatial normalisation and augmentation (CTR-GCN's NW-UCLA feeder) --------------------------

def rotation_scale_matrix(angle_x: float, angle_y: float, scale: float) -> np.ndarray:
    """The (3, 3) matrix that row vectors are multiplied by: ``x @ (Ry @ Rx @ scale)``.

    Rx turns by `angle_x` degrees about the x axis, Ry by `angle_y` degrees about the y axis, in
    CTR-GCN's convention (its ``rand_view_transform``).
    """
    ax, ay = math.radians(angle_x), math.radians(angle_y)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), math.sin(ax)], [0, -math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, -math.sin(ay)], [0, 1, 0], [math.sin(ay), 0, math.cos(ay)]])
    return ry @ rx * scale


def minmax_normalize(x: np.ndarray) -> np.ndarray:
    """Scales each channel of (..., C) to [-1, 1] by its minimum and maximum over everything else.

    A channel without spread (one value everywhere) becomes 0 (CTR-GCN divides by zero there).
    """
    flat = x.reshape(-1, x.shape[-1])
    low, high = flat.min(axis=0), flat.max(axis=0)
    spread = high - low
    safe = np.where(spread > 0, spread, 1)
    return (np.where(spread > 0, (x - low) / safe * 2 - 1, 0)).astype(x.dtype)


class SpatialTransform:
    """CTR-GCN's per-sample normalisation and augmentation of NW-UCLA, as data config fields.

    In this order, on the whole sequence (T, M, V, C), before temporal sampling:

    * ``center_joint`` >= 0: subtract that joint of the first frame of person 0 (CTR-GCN: joint 1,
      the spine);
    * training only, ``random_rotation`` > 0: turn by whole degrees drawn uniformly from
      [-r, r] about the x axis, then about the y axis (CTR-GCN: 60), and ``random_scale``
      (low, high) != (1, 1): multiply by a factor drawn uniformly from it (CTR-GCN: 0.5-1.5);
    * ``minmax_normalize``: scale each channel to [-1, 1] over all frames, persons and joints.

    Everything is off by default. Meant for 3D (C=3) single-person sets: centring moves zero
    (absent) persons too. Note that the min-max scaling undoes the random scale exactly, in
    CTR-GCN as here: the scale field is kept for fidelity and for runs without min-max.
    """

    def __init__(self, data_config: ml_collections.ConfigDict):
        self.center_joint = int(data_config.get("center_joint", -1))
        self.rotation = float(data_config.get("random_rotation", 0.0))
        self.scale = tuple(float(v) for v in data_config.get("random_scale", (1.0, 1.0)))
        self.minmax = bool(data_config.get("minmax_normalize", False))
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"data.random_scale={self.scale}; expected (low, high) with "
                             f"0 < low <= high")
        self.augments = self.rotation > 0 or self.scale != (1.0, 1.0)
        self.active = self.center_joint >= 0 or self.augments or self.minmax

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """`x` (T, M, V, C) transformed; `rng` None for evaluation (no augmentation)."""
        if not self.active:
            return x
        if self.center_joint >= 0:
            x = x - x[0, 0, self.center_joint]
        if rng is not None and self.augments:
            if x.shape[-1] != 3:
                raise ValueError(f"random rotation and scale need 3 channels, got {x.shape[-1]}")
            r = int(self.rotation)
            angle_x, angle_y = rng.integers(-r, r + 1, size=2)
            scale = rng.uniform(*self.scale)
            x = x @ rotation_scale_matrix(angle_x, angle_y, scale).astype(x.dtype)
        if self.minmax:
            x = minmax_normalize(x)
        return np.asarray(x, np.float32)


# --- Per-record transforms ---------------------------------------------------------------------

class _Sample:
    def __init__(self, data_config: ml_collections.ConfigDict, graph: str):
        self.resample = int(data_config.resample_frames)
        self.window = int(data_config.window_frames)
        if self.window > self.resample:
            raise ValueError(f"data.window_frames={self.window} exceeds data.resample_frames={self.resample}")
        self.channels = int(data_config.channels)
        self.stream = data_config.stream
        self.motion_skip = int(data_config.motion_skip)
        self.graph = graph
        self.sampling = data_config.sampling
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"data.sampling={self.sampling!r}; expected one of {SAMPLINGS}")
        self.crop = data_config
        self.spatial = SpatialTransform(data_config)
        # CTR-GCN takes bones and motion from the sampled frames; STGAT from the whole sequence.
        self.stream_after_sampling = bool(data_config.get("stream_after_sampling", False))
        if self.stream_after_sampling and self.motion_skip != 1:
            raise ValueError("data.stream_after_sampling needs data.motion_skip=1")

    def _prepare(self, record: dict[str, Any], rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.asarray(record["skeleton"], np.float32)[..., : self.channels]
        x = self.spatial(x, rng)
        if self.stream_after_sampling:
            return x
        return stream_transform(x, self.stream, self.graph, self.motion_skip)

    def _finish(self, x: np.ndarray, record: dict[str, Any]) -> dict[str, np.ndarray]:
        if self.stream_after_sampling:
            x = stream_transform(x, self.stream, self.graph, self.motion_skip)
        return {"x": np.ascontiguousarray(x.transpose(1, 0, 2, 3)),  # (M, T, V, C)
                "label": np.int32(record["label"])}


class TrainSample(_Sample, grain.transforms.RandomMap):
    """Random resample to `resample_frames`, then a random crop of `window_frames`."""

    def random_map(self, record: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
        x = self._prepare(record, rng)
        if self.sampling == "random_sorted":
            return self._finish(x[random_resample_indices(len(x), self.window, rng,
                                                          RANDOM_SORTED_REPEATS)], record)
        if self.sampling == "crop_resize":
            c = self.crop
            return self._finish(random_crop_resize(x, self.window, c.crop_min_ratio, c.crop_max_ratio,
                                                   c.crop_min_frames, rng), record)
        x = x[random_resample_indices(len(x), self.resample, rng)]
        start = rng.integers(0, self.resample - self.window + 1)
        return self._finish(x[start: start + self.window], record)


class EvalSample(_Sample, grain.transforms.Map):
    """Uniform resample to `resample_frames`, then the centre crop of `window_frames`.

    With `num_clips` > 1 (multi-clip testing), crops at `num_clips` evenly spread offsets instead,
    stacked on a new axis: 'x' is then (clips, M, T, V, C); the evaluator averages their logits.
    """

    def __init__(self, data_config: ml_collections.ConfigDict, graph: str, num_clips: int = 1):
        super().__init__(data_config, graph)
        if num_clips < 1:
            raise ValueError(f"eval.num_test_clips={num_clips}; expected at least 1")
        self.num_clips = num_clips

    def map(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
        x = self._prepare(record)
        if self.sampling == "random_sorted":
            if self.num_clips != 1:
                raise ValueError("sampling='random_sorted' tests one clip (eval.num_test_clips=1)")
            clips = [x[linspace_indices(len(x), self.window)]]
        elif self.sampling == "crop_resize":
            clips = centre_crop_resize(x, self.window, self.crop.test_crop_ratio, self.num_clips)
        else:
            x = x[uniform_resample_indices(len(x), self.resample)]
            if self.num_clips == 1:
                starts = [centre_crop_start(self.resample, self.window)]
            else:
                starts = clip_starts(self.resample - self.window, self.num_clips)
            clips = [x[s: s + self.window] for s in starts]
        out = [self._finish(c, record) for c in clips]
        if self.num_clips == 1:
            return out[0]
        return {"x": np.stack([o["x"] for o in out]), "label": out[0]["label"]}


# --- Sources and loaders -----------------------------------------------------------------------

def data_source(config: ml_collections.ConfigDict, split: str):
    """Random-access source of one split of the configured benchmark."""
    builder = prepare.builder_for(config.dataset.benchmark, config.dataset.data_dir)
    if not builder.is_prepared():
        raise FileNotFoundError(missing_data_message(config))
    return builder.as_data_source(split=split)


def missing_data_message(config: ml_collections.ConfigDict) -> str:
    return (f"No prepared records for benchmark {config.dataset.benchmark!r} under "
            f"{config.dataset.data_dir!r}. Prepare them once with:\n  "
            f"{prepare.prepare_command(config.dataset.benchmark, config.dataset.data_dir)}")


def create_train_loader(source, config: ml_collections.ConfigDict, seed: int,
                        process_index: int | None = None, process_count: int | None = None):
    """An endless, shuffled stream of this process's share of each global training batch.

    The global sequence of samples (a new permutation every epoch) and each sample's random
    temporal crop depend only on `seed` and the sample's position in that sequence, never on the
    process count: global batch b is positions [b*B, (b+1)*B), and process p loads only rows
    [p*B/P, (p+1)*B/P) of it. So one process with four devices and two processes with two devices
    train on exactly the same batches. Epochs follow one another without a gap. Iterating returns a
    checkpointable Grain iterator (saved with the train state, so a resumed run continues with the
    same batches).
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    global_bs = int(config.batch_size)
    if global_bs % process_count:
        raise ValueError(f"batch size {global_bs} is not divisible by the process count {process_count}")
    local_bs = global_bs // process_count
    ds = (grain.MapDataset.source(source)
          .shuffle(seed=seed)
          .repeat(None)
          .random_map(TrainSample(config.data, config.dataset.graph), seed=seed)
          .batch(local_bs, drop_remainder=True))
    ds = ds[process_index::process_count].to_iter_dataset()
    if int(config.data.num_workers) > 0:
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(
            num_workers=int(config.data.num_workers),
            per_worker_buffer_size=int(config.data.worker_buffer_size)))
    return ds


def eval_batches(source, config: ml_collections.ConfigDict, process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
    """Every sample of `source` exactly once, in padded, masked batches.

    The global order is the source order, cut into global batches of `config.eval_batch_size`; the
    last one is padded (mask 0). Process p takes rows [p*b, (p+1)*b) of every global batch (b = the
    per-process share), so every process runs the same number of batches.
    """
    global_bs = int(config.eval_batch_size)
    if global_bs % process_count:
        raise ValueError(f"eval_batch_size {global_bs} is not divisible by the process count {process_count}")
    local_bs = global_bs // process_count
    num = len(source)
    num_batches = math.ceil(num / global_bs)
    transform = EvalSample(config.data, config.dataset.graph, int(config.eval.num_test_clips))
    for b in range(num_batches):
        start = b * global_bs + process_index * local_bs
        index = np.arange(start, start + local_bs)
        mask = index < num
        items = [transform.map(source[int(i) if i < num else 0]) for i in index]
        yield {"x": np.stack([it["x"] for it in items]),
               "label": np.stack([it["label"] for it in items]),
               "mask": mask, "index": index.astype(np.int32)}


def num_eval_batches(source, config: ml_collections.ConfigDict) -> int:
    return math.ceil(len(source) / int(config.eval_batch_size))


def sample_names(source) -> list[str]:
    """The sample names of a source, in source order."""
    names = []
    for i in range(len(source)):
        n = source[i]["sample_name"]
        names.append(n.decode() if isinstance(n, bytes) else str(n))
    return names


def class_names(config: ml_collections.ConfigDict) -> list[str]:
    builder = prepare.builder_for(config.dataset.benchmark, config.dataset.data_dir)
    return list(builder.info.features["label"].names)

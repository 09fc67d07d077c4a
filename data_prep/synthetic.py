r"""A deterministic synthetic skeleton dataset written in the NTU RGB+D ``.skeleton`` text format.

    python -m data_prep.synthetic --out_dir=data/raw/synthetic [--seed=0] [--num_workers=2]

Every file follows the NTU RGB+D 60/120 skeleton format exactly: a frame count line; per frame a
body count line; per body a 10-value body line, a ``25`` line and 25 joint lines of 12 values. The NTU
reader, body selection, normalisation and split rules apply unchanged.

How a sample is made:

* **Body model.** A 25-joint kinematic tree in Kinect v2 joint order (0 spine base, 1 spine mid,
  2 neck, 3 head, 4-7 left shoulder/elbow/wrist/hand, 8-11 right, 12-15 left hip/knee/ankle/foot,
  16-19 right, 20 spine shoulder, 21 left hand tip, 22 left thumb, 23 right hand tip, 24 right
  thumb). Bone lengths are a reference body scaled per performer: height 1.50-1.90 m and separate
  trunk, arm, leg, shoulder-width and hip-width proportions, seeded by ``(seed, performer)``. Each
  performer also has a small personal style (amplitude, tempo, rest posture).
* **Motion programs.** Each action drives joint angles over time (shoulder flexion, abduction and
  horizontal adduction, elbow, wrist, hip, knee, ankle, spine, neck, root yaw/pitch/roll and root
  translation) on top of idle sway and breathing; forward kinematics gives 3D joints, and the feet are
  kept on the floor (except in flight). Per sample: duration (hence speed), phase, frequency and
  amplitude vary. Two-person classes (handshake, push) have two real bodies facing each other.
* **Scene.** Three cameras as in NTU: camera 1 in front, cameras 2 and 3 at +45 and -45 degrees;
  in odd replications the performer faces camera 2, in even ones camera 3 (so camera 1 always sees a
  45 degree view, cameras 2 and 3 a front and a side view). Each setup has its own camera height
  (0.7-1.5 m) and distance (2.6-3.4 m). Coordinates are Kinect camera space in metres (x grows to
  the sensor's left, which is image right in the mirrored depth image; y up; z away from the
  sensor), with a small random body position and heading. Depth (512x424) and colour (1920x1080)
  pixel coordinates come from a pinhole projection, orientations are the joints' unit quaternions in
  camera space, sensor noise is added and a few joints per sample are "inferred" (tracking state 1,
  noisier).
* **Real-world quirks, seeded per file.** About 10% of files hold a spurious extra body in part of the
  frames: nearly static and lying flat (x-range far above the y-range), so the official body
  selection (energy below 0.85 of the maximum and not upright) removes it. Some files use CRLF line
  endings, some write zero orientations for the leaf joints (as Kinect does), some have leanX/leanY
  of exactly -1, some start or end with empty frames (a bare ``0`` body-count line). Tiny values are
  written as Kinect's C# formatter writes them (``8.094816E-05``), whole numbers without a decimal
  point. Body IDs are 17-digit integers that collide when parsed as floats.

Names follow ``SsssCcccPpppRrrrAaaa.skeleton``; label = action - 1. With the default arguments each
performer performs in one setup (``setups[(performer - 1) % len(setups)]``), in every camera,
replication and action: 16 performers x 3 cameras x 2 replications x 12 actions = 1152 files, of
which performers 1, 2, 4, 5, 8, 9, 13, 14, 15, 16 are NTU cross-subject training subjects (720 train,
432 test). For every performer in every setup, call :func:`generate` once per setup with
``setups=(s,)``.

Each file is seeded from ``(seed, setup, camera, performer, replication, action)`` and depends only on
that and the frame limits: the output does not depend on the worker count or order, and a file is
identical whichever grid it is part of.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import multiprocessing
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "CLASS_NAMES",
    "TWO_PERSON_ACTIONS",
    "NUM_JOINTS",
    "PARENTS",
    "FPS",
    "SkeletonBody",
    "SyntheticSample",
    "sample_name",
    "parse_name",
    "sample_names",
    "synthesize",
    "synthesize_sample",
    "format_skeleton",
    "write_skeleton_file",
    "generate",
    "main",
]

CLASS_NAMES: tuple[str, ...] = (
    "wave left hand",    # A001
    "wave right hand",   # A002
    "clap",              # A003
    "rub hands",         # A004
    "kick",              # A005 (right leg, knee extended at the top)
    "knee raise",        # A006 (right leg, knee bent at the top)
    "sit down",          # A007
    "stand up",          # A008
    "jump",              # A009
    "bow",               # A010
    "handshake",         # A011 (two persons)
    "push",              # A012 (two persons)
)
"""Class names; action id ``A`` (1-based, as in file names) has label ``A - 1``."""

TWO_PERSON_ACTIONS: frozenset[int] = frozenset({11, 12})
"""Action ids (1-based) performed by two persons."""

NUM_JOINTS = 25
FPS = 30.0

PARENTS: tuple[int, ...] = (-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7,
                            11, 11)
"""Parent of each joint in the kinematic tree (-1 for the root, the spine base)."""

# Parents before children.
_ORDER = (0, 1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19)
_LEAVES = (3, 15, 19, 21, 22, 23, 24)
_EXTREMITIES = np.array([3, 7, 11, 15, 19, 21, 22, 23, 24])
_FEET = np.array([14, 15, 18, 19])
_ANKLES = np.array([14, 18])

# Offset of each joint from its parent, in the parent's frame at rest, for a 1.75 m reference body.
# Body frame: x = the body's left, y = up, z = forward (right-handed).
_REST_OFFSETS = np.array([
    [0.0, 0.0, 0.0],          # 0 spine base (placed by the root)
    [0.0, 0.27, -0.01],       # 1 spine mid
    [0.0, 0.075, 0.01],       # 2 neck
    [0.0, 0.13, 0.02],        # 3 head
    [0.165, -0.035, -0.01],   # 4 left shoulder
    [0.0, -0.28, 0.0],        # 5 left elbow
    [0.0, -0.25, 0.0],        # 6 left wrist
    [0.0, -0.075, 0.0],       # 7 left hand
    [-0.165, -0.035, -0.01],  # 8 right shoulder
    [0.0, -0.28, 0.0],        # 9 right elbow
    [0.0, -0.25, 0.0],        # 10 right wrist
    [0.0, -0.075, 0.0],       # 11 right hand
    [0.085, -0.065, 0.0],     # 12 left hip
    [0.0, -0.42, 0.0],        # 13 left knee
    [0.0, -0.40, 0.0],        # 14 left ankle
    [0.0, -0.055, 0.12],      # 15 left foot
    [-0.085, -0.065, 0.0],    # 16 right hip
    [0.0, -0.42, 0.0],        # 17 right knee
    [0.0, -0.40, 0.0],        # 18 right ankle
    [0.0, -0.055, 0.12],      # 19 right foot
    [0.0, 0.23, 0.0],         # 20 spine shoulder
    [0.0, -0.075, 0.005],     # 21 left hand tip
    [-0.01, -0.035, 0.04],    # 22 left thumb
    [0.0, -0.075, 0.005],     # 23 right hand tip
    [0.01, -0.035, 0.04],     # 24 right thumb
])

# Nominal duration of each action in seconds (before per-sample and per-performer variation).
_DURATION_S = {1: 2.4, 2: 2.4, 3: 2.2, 4: 2.4, 5: 1.8, 6: 2.0, 7: 2.7, 8: 2.7, 9: 2.2, 10: 2.4, 11: 2.7,
               12: 2.2}

# Camera azimuths (degrees, about the vertical axis through the performance area).
_CAMERA_AZIMUTH = {1: 0.0, 2: 45.0, 3: -45.0}

# Pinhole intrinsics (Kinect v2-like): depth 512x424, colour 1920x1080 with a small baseline.
_DEPTH_F, _DEPTH_C = (365.5, 365.5), (257.5, 210.5)
_COLOR_F, _COLOR_C = (1060.0, 1060.0), (960.0, 540.0)
_COLOR_BASELINE = 0.052

_BODY_ID_BASE = 72057594037927936  # 2**56, the prefix of Kinect v2 tracking ids

# Per-file probabilities of the format variants.
_P_SPURIOUS = 0.10
_P_CRLF = 0.15
_P_EMPTY_FRAMES = 0.08
_P_LEAF_ZERO_ORIENTATION = 0.5
_P_LEAN_MINUS_ONE = 0.08
_P_TINY_VALUE = 0.2

_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


# --------------------------------------------------------------------------------------------------
# Names


def sample_name(setup: int, camera: int, performer: int, replication: int, action: int) -> str:
    """The NTU sample name ``SsssCcccPpppRrrrAaaa`` (without extension)."""
    fields = (setup, camera, performer, replication, action)
    if not all(isinstance(v, (int, np.integer)) and 1 <= v <= 999 for v in fields):
        raise ValueError(f"name fields must be integers in 1..999, got {fields}")
    return "S%03dC%03dP%03dR%03dA%03d" % tuple(int(v) for v in fields)


def parse_name(name: str | os.PathLike) -> tuple[int, int, int, int, int]:
    """(setup, camera, performer, replication, action) of a name, with or without ``.skeleton``."""
    stem = pathlib.PurePath(name).name
    if stem.endswith(".skeleton"):
        stem = stem[: -len(".skeleton")]
    match = _NAME_RE.fullmatch(stem)
    if match is None:
        raise ValueError(f"{str(name)!r} is not an NTU sample name SsssCcccPpppRrrrAaaa")
    return tuple(int(g) for g in match.groups())  # type: ignore[return-value]


def sample_names(*, performers: Sequence[int] = tuple(range(1, 17)), setups: Sequence[int] = (1, 2),
                 cameras: Sequence[int] = (1, 2, 3), replications: Sequence[int] = (1, 2),
                 actions: Sequence[int] | None = None) -> list[str]:
    """The names :func:`generate` writes for these arguments, sorted.

    Each performer performs in one setup, ``setups[(performer - 1) % len(setups)]``.
    """
    if not setups or not performers or not cameras or not replications:
        raise ValueError("performers, setups, cameras and replications must be non-empty")
    actions = tuple(range(1, len(CLASS_NAMES) + 1)) if actions is None else tuple(actions)
    for a in actions:
        if not 1 <= a <= len(CLASS_NAMES):
            raise ValueError(f"action {a} outside 1..{len(CLASS_NAMES)}")
    for c in cameras:
        if c not in _CAMERA_AZIMUTH:
            raise ValueError(f"camera {c} not in {sorted(_CAMERA_AZIMUTH)}")
    names = {sample_name(setups[(p - 1) % len(setups)], c, p, r, a)
             for p in performers for c in cameras for r in replications for a in actions}
    return sorted(names)


# --------------------------------------------------------------------------------------------------
# Rotations and forward kinematics


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) about a body axis (0 x, 1 y, 2 z) by angles in degrees."""
    a = np.deg2rad(np.asarray(deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def _chain(*mats: np.ndarray) -> np.ndarray:
    """Matrix product of rotation stacks, left to right."""
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    return out


def _rot_to_quat(r: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z) of rotation matrices (..., 3, 3)."""
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    w = 0.5 * np.sqrt(np.maximum(0.0, 1.0 + m00 + m11 + m22))
    x = 0.5 * np.sqrt(np.maximum(0.0, 1.0 + m00 - m11 - m22))
    y = 0.5 * np.sqrt(np.maximum(0.0, 1.0 - m00 + m11 - m22))
    z = 0.5 * np.sqrt(np.maximum(0.0, 1.0 - m00 - m11 + m22))
    x = np.copysign(x, r[..., 2, 1] - r[..., 1, 2])
    y = np.copysign(y, r[..., 0, 2] - r[..., 2, 0])
    z = np.copysign(z, r[..., 1, 0] - r[..., 0, 1])
    q = np.stack([w, x, y, z], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


class _Pose:
    """Joint-angle tracks (degrees) of one body over T frames; unset tracks are zero."""

    def __init__(self, n: int):
        self.n = n
        self.angles: dict[str, np.ndarray] = {}
        self.root_pos = np.zeros((n, 3))  # body-frame translation (x left, y up, z forward), metres
        self.flight = np.zeros(n)  # height above the floor-contact solution (jumps), metres
        self.plant_xz = False  # keep the ankles' horizontal position fixed (both feet on the floor)

    def add(self, key: str, value: np.ndarray | float) -> None:
        self.angles[key] = self[key] + value

    def __getitem__(self, key: str) -> np.ndarray:
        return self.angles.get(key, np.zeros(self.n))


def _local_rotations(pose: _Pose) -> dict[int, np.ndarray]:
    """Rotation of each driven joint relative to its parent (rotating its children's offsets)."""
    p = pose
    rot = {
        0: _chain(_rot(1, p["yaw"]), _rot(2, p["roll"]), _rot(0, p["pitch"])),
        1: _chain(_rot(1, p["spine_twist"] / 2), _rot(0, p["spine_bend"] / 2), _rot(2, p["spine_side"] / 2)),
        20: _chain(_rot(1, p["spine_twist"] / 2), _rot(0, p["spine_bend"] / 2), _rot(2, p["spine_side"] / 2)),
        2: _chain(_rot(1, p["neck_turn"]), _rot(0, p["neck_bend"])),
    }
    for side, sign, (sh, el, wr, hip, kn, an) in (("l", 1.0, (4, 5, 6, 12, 13, 14)),
                                                  ("r", -1.0, (8, 9, 10, 16, 17, 18))):
        rot[sh] = _chain(_rot(1, -sign * p[f"{side}_sh_add"]), _rot(2, sign * p[f"{side}_sh_abd"]),
                         _rot(0, -p[f"{side}_sh_flex"]))
        rot[el] = _rot(0, -p[f"{side}_elbow"])
        rot[wr] = _rot(0, -p[f"{side}_wrist"])
        # Leg flexion is relative to the vertical: the root's pitch is undone at the hip.
        rot[hip] = _chain(_rot(0, -(p[f"{side}_hip_flex"] + p["pitch"])),
                          _rot(2, sign * p[f"{side}_hip_abd"]))
        rot[kn] = _rot(0, p[f"{side}_knee"])
        rot[an] = _rot(0, p[f"{side}_ankle"])
    return rot


def _forward_kinematics(offsets: np.ndarray, pose: _Pose) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (T, 25, 3) and global joint rotations (T, 25, 3, 3) in the body frame.

    The floor is y = 0: each frame is lifted so that the lowest foot joint touches it (plus the
    pose's flight height), and with ``plant_xz`` the ankles keep their first-frame horizontal place.
    """
    n = pose.n
    local = _local_rotations(pose)
    pos = np.zeros((n, NUM_JOINTS, 3))
    glob = np.zeros((n, NUM_JOINTS, 3, 3))
    glob[:, 0] = local[0]
    for j in _ORDER[1:]:
        par = PARENTS[j]
        pos[:, j] = pos[:, par] + glob[:, par] @ offsets[j]
        glob[:, j] = glob[:, par] @ local[j] if j in local else glob[:, par]
    ground = 0.03 - pos[:, _FEET, 1].min(axis=1)
    pos[..., 1] += (ground + pose.flight)[:, None]
    if pose.plant_xz:
        ankles = pos[:, _ANKLES][..., [0, 2]].mean(axis=1)
        pos[..., [0, 2]] += (ankles[:1] - ankles)[:, None, :]
    pos += pose.root_pos[:, None, :]
    return pos, glob


# --------------------------------------------------------------------------------------------------
# Performers, setups and motion programs


@functools.lru_cache(maxsize=1024)
def _body_offsets(seed: int, performer: int, role: int = 0) -> np.ndarray:
    """Bone offsets (25, 3) of a performer (role 0) or of their interaction partner (role 1)."""
    rng = np.random.default_rng([seed, 0xB0D7, performer, role])
    height = rng.uniform(1.50, 1.90) / 1.75
    trunk, arm, hand, leg, foot, shoulder, hip, head = rng.normal(1.0, [0.05, 0.06, 0.08, 0.05, 0.08, 0.08,
                                                                        0.08, 0.06])
    o = _REST_OFFSETS * height
    o[[1, 20, 2]] *= trunk
    o[3] *= head
    o[[4, 8], 0] *= shoulder
    o[[5, 6, 9, 10]] *= arm
    o[[7, 21, 22, 11, 23, 24]] *= hand
    o[[12, 16], 0] *= hip
    o[[13, 14, 17, 18]] *= leg
    o[[15, 19]] *= foot
    o.setflags(write=False)
    return o


@functools.lru_cache(maxsize=1024)
def _style(seed: int, performer: int, role: int = 0) -> dict[str, float]:
    """A performer's habits: amplitude and tempo factors, rest posture."""
    rng = np.random.default_rng([seed, 0x57F1E, performer, role])
    return {
        "amp": float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.2)),
        "tempo": float(np.clip(rng.normal(1.0, 0.1), 0.75, 1.25)),
        "arm_abd": float(rng.uniform(4.0, 12.0)),
        "elbow": float(rng.uniform(5.0, 20.0)),
        "stance": float(rng.uniform(2.0, 6.0)),
        "neck": float(rng.uniform(-4.0, 8.0)),
        "spine": float(rng.uniform(-2.0, 5.0)),
    }


@functools.lru_cache(maxsize=256)
def _setup(seed: int, setup: int) -> tuple[float, float, float]:
    """Camera height, camera distance and aim height (metres) of a setup."""
    rng = np.random.default_rng([seed, 0x5E7, setup])
    return float(rng.uniform(0.7, 1.5)), float(rng.uniform(2.6, 3.4)), float(rng.uniform(0.75, 1.1))


def _ss(x: np.ndarray) -> np.ndarray:
    """Smoothstep on [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _plateau(u: np.ndarray, a: float, b: float, ramp: float) -> np.ndarray:
    """0 before a, smooth rise to 1 over `ramp`, 1 until b - ramp, smooth fall to 0 at b."""
    return _ss((u - a) / ramp) * (1.0 - _ss((u - (b - ramp)) / ramp))


@dataclasses.dataclass
class _Ctx:
    """What a motion program sees: frames, time, progress through the action, randomness, body."""

    rng: np.random.Generator
    n: int
    t: np.ndarray  # seconds
    u: np.ndarray  # progress through the action window, 0..1
    amp: float
    tempo: float
    offsets: np.ndarray
    u_span: float = 1.0  # the action window as a fraction of the frames

    def drift(self, amp: float) -> np.ndarray:
        """A slow random wiggle (sum of two sinusoids) of about `amp`."""
        f = self.rng.uniform(0.1, 0.6, 2)
        ph = self.rng.uniform(0, 2 * np.pi, 2)
        wave = np.sin(2 * np.pi * f[:, None] * self.t + ph[:, None])
        return amp * (wave[0] + 0.5 * wave[1])

    def u_frac(self, seconds: float) -> float:
        """A duration in seconds as a fraction of the action window (at least 1 frame)."""
        span = max(1.0, float(self.n) * float(self.u_span))
        return max(1.0, seconds * FPS) / span

    def meet_angle(self) -> float:
        """Horizontal adduction (degrees) that brings a forward-reaching hand to the body's midline."""
        o = self.offsets
        reach = 0.85 * (np.linalg.norm(o[5]) + np.linalg.norm(o[6]) + np.linalg.norm(o[7]))
        return float(np.degrees(np.arcsin(min(0.95, abs(o[4, 0]) / reach))))


def _idle(ctx: _Ctx, pose: _Pose, style: dict[str, float]) -> None:
    """Rest posture, breathing and sway shared by every action."""
    r = ctx.rng
    for s in "lr":
        pose.add(f"{s}_sh_abd", style["arm_abd"] + r.uniform(-2, 2) + ctx.drift(1.5))
        pose.add(f"{s}_sh_flex", r.uniform(-3, 5) + ctx.drift(2.0))
        pose.add(f"{s}_elbow", style["elbow"] + r.uniform(-3, 3) + ctx.drift(2.0))
        pose.add(f"{s}_hip_abd", style["stance"] + r.uniform(-1, 1))
        pose.add(f"{s}_knee", r.uniform(0, 5))
    breath = np.sin(2 * np.pi * r.uniform(0.2, 0.35) * ctx.t + r.uniform(0, 6.3))
    pose.add("spine_bend", style["spine"] + breath)
    pose.add("neck_bend", style["neck"] + ctx.drift(2.0))
    pose.add("neck_turn", ctx.drift(4.0))
    pose.add("roll", ctx.drift(1.0))
    pose.add("yaw", ctx.drift(2.0))
    pose.root_pos[:, 0] += ctx.drift(0.008)
    pose.root_pos[:, 2] += ctx.drift(0.008)


def _events(ctx: _Ctx, count: int, seconds: float) -> Iterator[np.ndarray]:
    """Local phases s (0..1 inside, clipped outside) of `count` events spread over the action window."""
    width = min(ctx.u_frac(seconds / ctx.tempo), 0.95 / count)
    slots = np.linspace(0.0, 1.0, count + 1)
    for k in range(count):
        lo, hi = slots[k], slots[k + 1] - width
        start = ctx.rng.uniform(lo, max(lo, hi))
        yield np.clip((ctx.u - start) / width, 0.0, 1.0)


def _wave(ctx: _Ctx, pose: _Pose, side: str) -> None:
    """Raises one forearm and swings it side to side in the frontal plane."""
    r = ctx.rng
    env = _plateau(ctx.u, 0.0, 1.0, r.uniform(0.12, 0.25))
    freq = r.uniform(1.5, 3.0) * ctx.tempo
    pose.add(f"{side}_sh_flex", env * r.uniform(60, 100) * ctx.amp)
    pose.add(f"{side}_sh_add", -env * r.uniform(10, 35))
    pose.add(f"{side}_elbow", env * r.uniform(70, 110))
    swing = np.sin(2 * np.pi * freq * ctx.t + r.uniform(0, 6.3))
    pose.add(f"{side}_sh_abd", env * r.uniform(15, 35) * ctx.amp * swing)
    pose.add(f"{side}_wrist", env * r.uniform(0, 10) * np.sin(2 * np.pi * freq * ctx.t + r.uniform(0, 6.3)))


def _clap(ctx: _Ctx, pose: _Pose) -> None:
    """Both hands in front of the chest, repeatedly opening wide and meeting at the midline."""
    r = ctx.rng
    env = _plateau(ctx.u, 0.0, 1.0, r.uniform(0.12, 0.25))
    flex, elbow, meet = r.uniform(35, 55), r.uniform(40, 70), ctx.meet_angle()
    freq = r.uniform(1.2, 2.5) * ctx.tempo
    opening = r.uniform(20, 40) * ctx.amp * np.abs(np.sin(np.pi * freq * ctx.t + r.uniform(0, 6.3))) ** 0.7
    for s in "lr":
        pose.add(f"{s}_sh_flex", env * flex)
        pose.add(f"{s}_elbow", env * elbow)
        pose.add(f"{s}_sh_add", env * (meet - opening))
        pose.add(f"{s}_sh_abd", -env * 0.8 * pose[f"{s}_sh_abd"])


def _rub(ctx: _Ctx, pose: _Pose) -> None:
    """Both hands held together in front of the body, sliding up and down against each other."""
    r = ctx.rng
    env = _plateau(ctx.u, 0.0, 1.0, r.uniform(0.12, 0.25))
    flex, elbow, meet = r.uniform(30, 50), r.uniform(60, 90), ctx.meet_angle() + r.uniform(2, 5)
    rub = env * r.uniform(4, 8) * ctx.amp * np.sin(2 * np.pi * r.uniform(2.5, 4.5) * ctx.tempo * ctx.t
                                                   + r.uniform(0, 6.3))
    for s, sign in (("l", 1.0), ("r", -1.0)):
        pose.add(f"{s}_sh_flex", env * flex + sign * rub)
        pose.add(f"{s}_elbow", env * elbow)
        pose.add(f"{s}_wrist", -sign * rub)
        pose.add(f"{s}_sh_add", env * meet)
        pose.add(f"{s}_sh_abd", -env * 0.8 * pose[f"{s}_sh_abd"])


def _kick(ctx: _Ctx, pose: _Pose) -> None:
    """Right leg: wind up (knee bent), swing forward with the knee extended at the top, return."""
    r = ctx.rng
    for s in _events(ctx, 1 if r.random() < 0.7 else 2, r.uniform(0.6, 0.9)):
        lift = np.sin(np.pi * s)
        pose.add("r_hip_flex", r.uniform(55, 85) * ctx.amp * lift ** 1.5)
        pose.add("r_knee", r.uniform(50, 80) * np.exp(-(((s - 0.22) / 0.11) ** 2))
                 + r.uniform(10, 25) * np.exp(-(((s - 0.78) / 0.11) ** 2)))
        pose.add("pitch", -r.uniform(3, 10) * lift)
        for side in "lr":
            pose.add(f"{side}_sh_abd", r.uniform(5, 20) * lift)


def _knee_raise(ctx: _Ctx, pose: _Pose) -> None:
    """Right thigh raised to about horizontal with the knee bent, held, lowered."""
    r = ctx.rng
    for s in _events(ctx, 1 if r.random() < 0.7 else 2, r.uniform(1.0, 1.8)):
        env = _plateau(s, 0.0, 1.0, r.uniform(0.25, 0.4))
        pose.add("r_hip_flex", r.uniform(75, 105) * ctx.amp * env)
        pose.add("r_knee", r.uniform(85, 115) * env)
        pose.add("pitch", -r.uniform(0, 5) * env)
        for side in "lr":
            pose.add(f"{side}_sh_abd", r.uniform(0, 12) * env)


def _sit(ctx: _Ctx, pose: _Pose, down: bool) -> None:
    """Standing to sitting (or back): hips and knees to ~90 degrees, trunk leaning forward midway."""
    r = ctx.rng
    a = r.uniform(0.05, 0.3)
    s = _ss((ctx.u - a) / r.uniform(0.4, 0.95 - a))
    if not down:
        s = 1.0 - s
    hip = r.uniform(80, 95) * s
    for side in "lr":
        pose.add(f"{side}_hip_flex", hip)
        pose.add(f"{side}_knee", r.uniform(80, 100) * s)
        pose.add(f"{side}_sh_flex", r.uniform(10, 30) * s)
        pose.add(f"{side}_elbow", r.uniform(20, 50) * s)
    pose.add("pitch", r.uniform(15, 35) * ctx.amp * np.sin(np.pi * s) + r.uniform(0, 10) * s)
    pose.plant_xz = True


def _jump(ctx: _Ctx, pose: _Pose) -> None:
    """One to three jumps: crouch with arms back, flight with arms up, landing crouch."""
    r = ctx.rng
    count = int(r.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    for s in _events(ctx, count, r.uniform(0.9, 1.3)):
        crouch = np.exp(-(((s - 0.2) / 0.09) ** 2)) + 0.8 * np.exp(-(((s - 0.85) / 0.07) ** 2))
        x = (s - 0.35) / 0.4
        flight = np.where((x > 0) & (x < 1), 4 * x * (1 - x), 0.0)
        knee = r.uniform(40, 70) * crouch
        arms = -25 * crouch + r.uniform(40, 120) * flight
        for side in "lr":
            pose.add(f"{side}_knee", knee)
            pose.add(f"{side}_hip_flex", 0.8 * knee)
            pose.add(f"{side}_ankle", -0.3 * knee + 25 * flight)
            pose.add(f"{side}_sh_flex", arms)
        pose.add("pitch", 0.35 * knee)
        pose.flight = pose.flight + r.uniform(0.12, 0.35) * ctx.amp * flight
    pose.plant_xz = True


def _bow(ctx: _Ctx, pose: _Pose) -> None:
    """Trunk bends forward at the hips (legs stay vertical), head down, arms hanging; then back."""
    r = ctx.rng
    env = _plateau(ctx.u, r.uniform(0, 0.15), 1.0 - r.uniform(0, 0.15), r.uniform(0.2, 0.35))
    depth = r.uniform(35, 70) * ctx.amp * env
    pose.add("pitch", depth)
    pose.add("neck_bend", r.uniform(5, 20) * env)
    for side in "lr":
        pose.add(f"{side}_sh_flex", r.uniform(0.6, 1.0) * depth)
    pose.plant_xz = True


def _handshake(ctx: _Ctx, pose: _Pose, shared: dict[str, float]) -> None:
    """Right hand forward to the midpoint, pumped up and down in step with the partner."""
    r = ctx.rng
    env = _plateau(ctx.u, shared["a"], shared["b"], shared["ramp"])
    grip = _plateau(ctx.u, shared["a"] + shared["ramp"], shared["b"] - shared["ramp"], 0.05)
    pump = grip * shared["pump"] * np.sin(2 * np.pi * shared["freq"] * ctx.t + shared["phase"])
    pose.add("r_sh_flex", env * r.uniform(45, 60) + pump)
    pose.add("r_sh_add", env * r.uniform(10, 20))
    pose.add("r_elbow", env * r.uniform(25, 45) - 0.5 * pump)
    pose.add("pitch", env * r.uniform(0, 6))


def _push(ctx: _Ctx, pose: _Pose, shared: dict[str, float], pusher: bool) -> None:
    """The performer thrusts both arms forward; the partner is shoved back, leaning and stepping."""
    r = ctx.rng
    c = shared["at"]
    if pusher:
        ready = _ss((ctx.u - (c - shared["lead"])) / (0.7 * shared["lead"]))
        thrust = _ss((ctx.u - c) / 0.08) * (1.0 - _ss((ctx.u - c - shared["hold"]) / 0.15))
        for side in "lr":
            pose.add(f"{side}_sh_flex", ready * r.uniform(50, 70) + thrust * r.uniform(10, 25))
            pose.add(f"{side}_elbow", ready * r.uniform(80, 100) * (1.0 - thrust) + 5 * thrust)
            pose.add(f"{side}_sh_add", ready * r.uniform(5, 15))
        pose.add("pitch", thrust * r.uniform(5, 12))
        pose.root_pos[:, 2] += thrust * r.uniform(0.05, 0.15)
    else:
        back = _ss((ctx.u - c - 0.02) / r.uniform(0.1, 0.25))
        startle = np.sin(np.pi * back)
        pose.root_pos[:, 2] -= back * shared["shove"]
        pose.add("pitch", -r.uniform(8, 18) * startle)
        for side, sign in (("l", 1.0), ("r", -1.0)):
            pose.add(f"{side}_sh_abd", r.uniform(10, 30) * startle)
            pose.add(f"{side}_sh_flex", r.uniform(10, 30) * startle)
            step = np.clip(sign * np.sin(2 * np.pi * 1.5 * ctx.t), 0, None)
            pose.add(f"{side}_hip_flex", 15 * step * startle)


def _program(action: int, ctx: _Ctx, pose: _Pose, shared: dict[str, float], role: int) -> None:
    """Adds action `action`'s motion for body `role` (0 performer, 1 partner) to `pose`."""
    if action in (1, 2):
        _wave(ctx, pose, "l" if action == 1 else "r")
    elif action == 3:
        _clap(ctx, pose)
    elif action == 4:
        _rub(ctx, pose)
    elif action == 5:
        _kick(ctx, pose)
    elif action == 6:
        _knee_raise(ctx, pose)
    elif action in (7, 8):
        _sit(ctx, pose, down=action == 7)
    elif action == 9:
        _jump(ctx, pose)
    elif action == 10:
        _bow(ctx, pose)
    elif action == 11:
        _handshake(ctx, pose, shared)
    elif action == 12:
        _push(ctx, pose, shared, pusher=role == 0)
    else:
        raise ValueError(f"unknown action {action}")


# --------------------------------------------------------------------------------------------------
# One sample


@dataclasses.dataclass(frozen=True)
class SkeletonBody:
    """One body in one frame, as written to a ``.skeleton`` file.

    ``info`` holds the 9 body-line values after the ID: clipedEdges, handLeftConfidence,
    handLeftState, handRightConfidence, handRightState, isRestricted, leanX, leanY, trackingState.
    ``joints`` is (25, 12): x y z depthX depthY colorX colorY orientationW/X/Y/Z trackingState.
    """

    body_id: int
    info: tuple[float, ...]
    joints: np.ndarray


@dataclasses.dataclass(frozen=True)
class SyntheticSample:
    """A synthesised sample before writing.

    ``positions`` is (M, T, 25, 3) camera-space joints as written (noise included, before rounding
    to 7 significant digits), zero where a body is absent; bodies are ordered performer, partner (two-
    person actions), spurious body (if any). ``kinds`` names each body ('performer', 'partner',
    'spurious'), ``body_ids`` gives its ID; ``frames`` is what :func:`write_skeleton_file` takes.
    """

    name: str
    positions: np.ndarray
    kinds: tuple[str, ...]
    body_ids: tuple[int, ...]
    frames: list[list[SkeletonBody]]
    crlf: bool


def _camera(seed: int, setup: int, camera: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera position (world, metres) and world-to-camera rotation (rows: camera x, y, z axes)."""
    height, distance, aim = _setup(seed, setup)
    az = np.deg2rad(_CAMERA_AZIMUTH[camera])
    pos = np.array([distance * np.sin(az), height, distance * np.cos(az)])
    z = np.array([0.0, aim, 0.0]) - pos
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)  # the sensor's left
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return pos, np.stack([x, y, z])


def _heading(forward: np.ndarray, jitter_deg: float) -> np.ndarray:
    """Body-to-world rotation (columns: left, up, forward) for a horizontal forward direction."""
    a = np.deg2rad(jitter_deg)
    f = np.array([forward[0] * np.cos(a) + forward[2] * np.sin(a), 0.0,
                  -forward[0] * np.sin(a) + forward[2] * np.cos(a)])
    f /= np.linalg.norm(f)
    up = np.array([0.0, 1.0, 0.0])
    return np.stack([np.cross(up, f), up, f], axis=1)


def _project(xyz: np.ndarray) -> np.ndarray:
    """Depth and colour pixel coordinates (..., 4) of camera-space points (..., 3)."""
    z = np.maximum(xyz[..., 2], 0.1)
    return np.stack([
        _DEPTH_C[0] + _DEPTH_F[0] * xyz[..., 0] / z,
        _DEPTH_C[1] - _DEPTH_F[1] * xyz[..., 1] / z,
        _COLOR_C[0] + _COLOR_F[0] * (xyz[..., 0] + _COLOR_BASELINE) / z,
        _COLOR_C[1] - _COLOR_F[1] * xyz[..., 1] / z,
    ], axis=-1)


def _n_frames(rng: np.random.Generator, action: int, tempo: float, min_frames: int, max_frames: int) -> int:
    """The frame count of a sample: nominal duration x random speed, now and then a long one."""
    seconds = _DURATION_S[action] * float(np.exp(rng.normal(0.0, 0.3))) / tempo
    if rng.random() < 0.06:  # now and then a slow, long performance
        seconds *= rng.uniform(1.8, 3.2)
    return int(np.clip(round(seconds * FPS), min_frames, max_frames))


def _spurious_joints(rng: np.random.Generator, n: int) -> np.ndarray:
    """A nearly static, flat, compact 'body' (a misdetected object), (n, 25, 3) camera space."""
    centre = np.array([rng.uniform(-1.2, 1.2), rng.uniform(-0.7, 0.1), rng.uniform(2.3, 4.0)])
    half = np.array([rng.uniform(0.2, 0.35), rng.uniform(0.02, 0.06), rng.uniform(0.05, 0.15)])
    shape = rng.uniform(-1.0, 1.0, (NUM_JOINTS, 3)) * half
    shape[:2, 0] = [-half[0], half[0]]  # a definite x extent
    wobble = rng.normal(0.0, 0.003, (n, NUM_JOINTS, 3))
    drift = np.cumsum(rng.normal(0.0, 0.0005, (n, 1, 3)), axis=0)
    return centre + shape + wobble + drift


def synthesize(name: str, seed: int = 0, *, min_frames: int = 30, max_frames: int = 300) -> SyntheticSample:
    """Synthesises sample `name` (``SsssCcccPpppRrrrAaaa``, extension optional) deterministically.

    The result depends only on `seed`, the name and the frame limits.
    """
    setup, camera, performer, replication, action = parse_name(name)
    stem = sample_name(setup, camera, performer, replication, action)
    if not 1 <= action <= len(CLASS_NAMES):
        raise ValueError(f"{stem}: action {action} outside 1..{len(CLASS_NAMES)}")
    if camera not in _CAMERA_AZIMUTH:
        raise ValueError(f"{stem}: camera {camera} not in {sorted(_CAMERA_AZIMUTH)}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if not 1 <= min_frames <= max_frames:
        raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    root = np.random.default_rng([seed, setup, camera, performer, replication, action])
    rng_motion, rng_scene, rng_noise, rng_format = root.spawn(4)
    two_person = action in TWO_PERSON_ACTIONS
    style = _style(seed, performer)

    # Length, empty frames at the ends, spurious body, format variants.
    total = _n_frames(rng_motion, action, style["tempo"], min_frames, max_frames)
    lead = trail = 0
    if rng_format.random() < _P_EMPTY_FRAMES:
        lead, trail = (int(v) for v in rng_format.integers(0, 4, 2))
        lead = lead if lead or trail else 1
        if total - lead - trail < max(2, total // 2):
            lead = trail = 0
    n = total - lead - trail
    crlf = bool(rng_format.random() < _P_CRLF)
    leaf_zero = bool(rng_format.random() < _P_LEAF_ZERO_ORIENTATION)
    lean_minus_one = bool(rng_format.random() < _P_LEAN_MINUS_ONE)
    tiny_value = bool(rng_format.random() < _P_TINY_VALUE)
    spurious = bool(rng_format.random() < _P_SPURIOUS)

    # Motion in each body's own frame.
    t = np.arange(n) / FPS
    a0, a1 = rng_motion.uniform(0.0, 0.12), 1.0 - rng_motion.uniform(0.0, 0.12)
    u = np.clip((np.arange(n) / max(n - 1, 1) - a0) / (a1 - a0), 0.0, 1.0)
    shared = {
        key: float(rng_motion.uniform(lo, hi)) for key, (lo, hi) in {
            "a": (0.0, 0.1), "b": (0.9, 1.0), "ramp": (0.15, 0.3),  # handshake window
            "pump": (5, 10), "freq": (1.8, 3.0), "phase": (0, 6.3),  # handshake pumping
            "at": (0.35, 0.55), "lead": (0.15, 0.3), "hold": (0.15, 0.3), "shove": (0.25, 0.45),  # push
        }.items()
    }
    roles = (0, 1) if two_person else (0,)
    local = []
    for role in roles:
        offsets = _body_offsets(seed, performer, role)
        st = style if role == 0 else _style(seed, performer, role)
        ctx = _Ctx(rng_motion.spawn(1)[0], n, t, u, st["amp"], st["tempo"], offsets, u_span=a1 - a0)
        pose = _Pose(n)
        _idle(ctx, pose, st)
        _program(action, ctx, pose, shared, role)
        local.append(_forward_kinematics(offsets, pose))

    # Placement in the world and camera space.
    cam_pos, cam_rot = _camera(seed, setup, camera)
    faced, _ = _camera(seed, setup, 2 if replication % 2 == 1 else 3)
    centre = np.array([rng_scene.uniform(-0.2, 0.2), 0.0, rng_scene.uniform(-0.2, 0.2)])
    toward = (faced - centre) * [1.0, 0.0, 1.0]
    toward /= np.linalg.norm(toward)
    if two_person:
        side = np.cross([0.0, 1.0, 0.0], toward) * (1.0 if rng_scene.random() < 0.5 else -1.0)
        gap = rng_scene.uniform(0.8, 0.95) if action == 11 else rng_scene.uniform(0.6, 0.75)
        placements = [(centre - 0.5 * gap * side, side), (centre + 0.5 * gap * side, -side)]
        jitter = rng_scene.normal(0.0, 4.0, 2)
    else:
        placements = [(centre, toward)]
        jitter = rng_scene.normal(0.0, 8.0, 1)
    bodies_xyz, bodies_rot = [], []
    for (pos, rot), (where, facing), yaw in zip(local, placements, jitter):
        to_world = _heading(facing, float(yaw))
        bodies_xyz.append((pos @ to_world.T + where - cam_pos) @ cam_rot.T)
        bodies_rot.append(cam_rot @ to_world @ rot)

    # Sensor effects and the values written per joint.
    noise_scale = rng_noise.uniform(0.7, 1.3)
    sigma = np.full(NUM_JOINTS, 0.004)
    sigma[[1, 2, 20]] = 0.003
    sigma[[5, 6, 9, 10, 13, 14, 17, 18]] = 0.005
    sigma[_EXTREMITIES] = 0.008
    base_ids = _BODY_ID_BASE + int(rng_scene.integers(1000, 80000))
    kinds = ["performer", "partner"][: len(roles)]
    body_ids = [base_ids + k for k in range(len(roles))]
    body_joints: list[np.ndarray] = []
    body_info: list[np.ndarray] = []
    positions = []
    for k, (xyz, rot) in enumerate(zip(bodies_xyz, bodies_rot)):
        xyz = xyz + rng_noise.normal(0.0, 1.0, xyz.shape) * sigma[:, None] * noise_scale
        p_inferred = np.full(NUM_JOINTS, 0.002)
        p_inferred[_EXTREMITIES] = 0.02
        inferred = rng_noise.random((n, NUM_JOINTS)) < p_inferred
        xyz = xyz + inferred[..., None] * rng_noise.normal(0.0, 0.02, xyz.shape)
        quat = _rot_to_quat(rot)
        if leaf_zero:
            quat[:, list(_LEAVES)] = 0.0
        if tiny_value:  # a near-zero orientation component, written with an exponent
            f, c = rng_noise.integers(0, n), rng_noise.integers(1, 4)
            j = rng_noise.choice([0, 1, 2, 4, 5, 8, 9])
            tiny = np.copysign(rng_noise.uniform(1e-6, 9e-5), quat[f, j, c])
            quat[f, j, c] = 0.0
            quat[f, j] *= np.sqrt(1.0 - tiny**2) / np.linalg.norm(quat[f, j])
            quat[f, j, c] = tiny
        state = np.where(inferred, 1.0, 2.0)
        body_joints.append(np.concatenate([xyz, _project(xyz), quat, state[..., None]], axis=-1))
        positions.append(xyz)

        # Body line values: hands' confidence/state change in blocks of frames; lean follows the trunk.
        blocks = np.arange(n) // 8
        nb = blocks[-1] + 1
        hands = np.stack([rng_noise.random(nb) < 0.7, rng_noise.choice(3, nb, p=[0.2, 0.5, 0.3]),
                          rng_noise.random(nb) < 0.7, rng_noise.choice(3, nb, p=[0.2, 0.5, 0.3])],
                         axis=-1)[blocks]
        trunk = xyz[:, 20] - xyz[:, 0]
        trunk /= np.linalg.norm(trunk, axis=-1, keepdims=True)
        lean = np.stack([trunk[:, 0], -trunk[:, 2] * 0.5], axis=-1) + rng_noise.normal(0, 0.02, (n, 2))
        lean = np.clip(lean, -1.0, 1.0)
        if lean_minus_one:
            start = int(rng_noise.integers(0, n))
            lean[start: start + int(rng_noise.integers(1, 20))] = -1.0
        info = np.zeros((n, 9))
        info[:, 1:5] = hands
        info[:, 6:8] = lean
        info[:, 8] = 2.0
        body_info.append(info)

    present = [np.ones(n, dtype=bool) for _ in roles]
    if spurious:
        length = max(2, int(n * rng_scene.uniform(0.2, 0.6)))
        first = int(rng_scene.integers(0, n - length + 1))
        mask = np.zeros(n, dtype=bool)
        mask[first: first + length] = True
        xyz = np.zeros((n, NUM_JOINTS, 3))
        xyz[mask] = _spurious_joints(rng_scene, length)
        heading = _heading(np.array([0.3, 0.0, 1.0]), float(rng_scene.uniform(0, 360)))
        quat = np.broadcast_to(_rot_to_quat(heading), (n, NUM_JOINTS, 4))
        state = np.where(rng_scene.random((n, NUM_JOINTS)) < 0.3, 1.0, 2.0)
        body_joints.append(np.concatenate([xyz, _project(xyz), quat, state[..., None]], axis=-1))
        info = np.zeros((n, 9))
        info[:, 6:8] = -1.0 if rng_scene.random() < 0.5 else rng_scene.uniform(-0.1, 0.1, 2)
        info[:, 8] = 2.0
        body_info.append(info)
        positions.append(xyz)
        present.append(mask)
        kinds.append("spurious")
        body_ids.append(base_ids + len(roles) + int(rng_scene.integers(0, 4)))

    # Frames (the spurious body is listed first or last, as Kinect's body slots come).
    order = list(range(len(kinds)))
    if spurious and rng_scene.random() < 0.5:
        order = [order[-1]] + order[:-1]
    frames: list[list[SkeletonBody]] = [[] for _ in range(lead)]
    for f in range(n):
        frames.append([SkeletonBody(body_ids[b], tuple(body_info[b][f].tolist()), body_joints[b][f])
                       for b in order if present[b][f]])
    frames.extend([] for _ in range(trail))
    out = np.zeros((len(kinds), total, NUM_JOINTS, 3))
    for b, (xyz, mask) in enumerate(zip(positions, present)):
        out[b, lead: lead + n] = np.where(mask[:, None, None], xyz, 0.0)
    return SyntheticSample(stem, out, tuple(kinds), tuple(body_ids), frames, crlf)


def synthesize_sample(name: str, seed: int = 0) -> np.ndarray:
    """Camera-space joints (M, T, 25, 3) of sample `name` as :func:`generate` writes them.

    Bodies: performer, partner (two-person actions), spurious body (if the file has one); zero where
    a body is absent (empty frames, frames without the spurious body). Uses the default frame limits
    (30..300); see :func:`synthesize` for other limits and the bodies' kinds and IDs.
    """
    return synthesize(name, seed).positions


# --------------------------------------------------------------------------------------------------
# Writing


_JOINT_LINE = " ".join(["%.7g"] * 11 + ["%d"]) + "\n"
_JOINT_BLOCK = "25\n" + _JOINT_LINE * NUM_JOINTS


def _g(value: float) -> str:
    """A float column as Kinect writes it (7 significant digits, no negative zero)."""
    return "%.7g" % (float(value) + 0.0)


def format_skeleton(frames: Sequence[Sequence[SkeletonBody]], *, crlf: bool = False) -> str:
    """The text of a ``.skeleton`` file holding `frames` (each a sequence of bodies, possibly empty).

    Floats are written with 7 significant digits as Kinect's exporter does (``0.2181153``,
    ``8.094816E-05``, ``2``); integer columns as integers.
    """
    parts = ["%d\n" % len(frames)]
    values = []
    for f, bodies in enumerate(frames):
        parts.append("%d\n" % len(bodies))
        for body in bodies:
            joints = np.asarray(body.joints, dtype=np.float64)
            if joints.shape != (NUM_JOINTS, 12):
                raise ValueError(f"frame {f}: joints must be ({NUM_JOINTS}, 12), got {joints.shape}")
            if not np.all(np.isfinite(joints)):
                raise ValueError(f"frame {f}: joints must be finite")
            if len(body.info) != 9:
                raise ValueError(f"frame {f}: body info must have 9 values, got {len(body.info)}")
            if not isinstance(body.body_id, (int, np.integer)) or body.body_id < 0:
                raise ValueError(f"frame {f}: body ID must be a non-negative integer, got {body.body_id!r}")
            i = body.info
            parts.append("%d %d %d %d %d %d %d %s %s %d\n" % (
                body.body_id, i[0], i[1], i[2], i[3], i[4], i[5], _g(i[6]), _g(i[7]), i[8]))
            parts.append(_JOINT_BLOCK)
            values.append(joints)
    text = "".join(parts)
    if values:
        flat = (np.stack(values).reshape(-1) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0
        text = text % tuple(flat)
    text = text.replace("e", "E")
    return text.replace("\n", "\r\n") if crlf else text


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Writes `data` to a temporary name in the same folder, then renames it to `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_skeleton_file(path: str | os.PathLike, frames: Sequence[Sequence[SkeletonBody]], *,
                        crlf: bool = False) -> pathlib.Path:
    """Writes `frames` as a ``.skeleton`` file at `path` (atomically) and returns the path."""
    path = pathlib.Path(path)
    _write_atomic(path, format_skeleton(frames, crlf=crlf).encode("ascii"))
    return path


def _make_file(task: tuple[str, str, int, int, int]) -> tuple[str, bool]:
    """Synthesises and writes one file; returns (path, whether it was written)."""
    out_dir, name, seed, min_frames, max_frames = task
    sample = synthesize(name, seed, min_frames=min_frames, max_frames=max_frames)
    data = format_skeleton(sample.frames, crlf=sample.crlf).encode("ascii")
    path = pathlib.Path(out_dir) / f"{name}.skeleton"
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return str(path), False
    except FileNotFoundError:
        pass
    _write_atomic(path, data)
    return str(path), True


def generate(out_dir: str | os.PathLike, *, seed: int = 0, performers: Sequence[int] = tuple(range(1, 17)),
             setups: Sequence[int] = (1, 2), cameras: Sequence[int] = (1, 2, 3),
             replications: Sequence[int] = (1, 2), actions: Sequence[int] | None = None,
             min_frames: int = 30, max_frames: int = 300, num_workers: int = 0,
             progress: bool = True) -> list[pathlib.Path]:
    """Writes the synthetic ``.skeleton`` files of a grid into `out_dir`; returns their paths, sorted.

    Each performer performs in one setup, ``setups[(performer - 1) % len(setups)]``, in every camera,
    replication and action (default: all of ``CLASS_NAMES``). Deterministic: each file depends only
    on `seed`, its name and the frame limits. Files are written under a temporary name and renamed,
    so an interrupted run leaves no partial file under a final name; files already present with the
    right content are left alone. `num_workers` > 0 uses a process pool.
    """
    names = sample_names(performers=performers, setups=setups, cameras=cameras, replications=replications,
                         actions=actions)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if not 1 <= min_frames <= max_frames:
        raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(str(out), name, int(seed), int(min_frames), int(max_frames)) for name in names]
    bar = tqdm(total=len(tasks), unit="files", desc="synthetic skeletons", disable=not progress)
    try:
        if num_workers > 0:
            # 'spawn': the caller may already run threads (e.g. JAX), which forking would copy badly.
            with multiprocessing.get_context("spawn").Pool(num_workers) as pool:
                for _ in pool.imap_unordered(_make_file, tasks, chunksize=8):
                    bar.update()
        else:
            for task in tasks:
                _make_file(task)
                bar.update()
    finally:
        bar.close()
    return [out / f"{name}.skeleton" for name in names]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m data_prep.synthetic --out_dir=DIR [--seed=0] [--num_workers=0]``."""
    parser = argparse.ArgumentParser(prog="python -m data_prep.synthetic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out_dir", required=True, help="folder for the .skeleton files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_workers", type=int, default=0, help="processes (0: in this process)")
    parser.add_argument("--performers", type=int, nargs="+", default=list(range(1, 17)))
    parser.add_argument("--setups", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--replications", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--actions", type=int, nargs="+", default=None, help="default: all classes")
    parser.add_argument("--min_frames", type=int, default=30)
    parser.add_argument("--max_frames", type=int, default=300)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    paths = generate(args.out_dir, seed=args.seed, performers=args.performers, setups=args.setups,
                     cameras=args.cameras, replications=args.replications, actions=args.actions,
                     min_frames=args.min_frames, max_frames=args.max_frames, num_workers=args.num_workers,
                     progress=not args.no_progress)
    print(f"{len(paths)} files in {args.out_dir}")


if __name__ == "__main__":
    main()

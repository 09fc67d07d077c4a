"""Tests of data_prep.ntu: the strict .skeleton reader, the official preprocessing, names, splits.

The files are written here, from arrays (`write_skeleton`), in the layouts real NTU files use.

About `fixtures/ntu_official.npz`: it holds the output of the official STGAT preprocessing
(github.com/hulianyuyy/STGAT at commit f98db4df0e35243e858f6c6a47bdc99555e20156) for the five
files `fidelity_cases` writes. The official functions `read_skeleton_filter`, `get_body_info`
and `filter_body` (prepare/ntu_60/gendata.py) and `normalize_skeletons(bodys[..., :3], origin=0,
base_bone=[0, 20], zaxis=[0, 20], xaxis=[20, 5])` (dataset/normalize_skeletons.py with
dataset/rotation.py), unchanged but for their import lines, were run on those files; each result
was stored as `gendata` stores it (float32, (C, 300, V, M=2), zero padded) and then cut to its
non-empty frames as the official per-sample transform does (dataset/skeleton.py:
`data[:, data.sum(0).sum(-1).sum(-1) != 0]`). The body IDs in these files are 17-digit integers
that a float holds exactly, because the official code parses IDs as floats (see
`test_neighbouring_17_digit_ids_stay_two_bodies` for what that breaks).
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

from data_prep import ntu

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "ntu_official.npz"

# A standing person facing the sensor, Kinect v2 joint order, metres in camera space.
TEMPLATE = np.array([
    [0.00, -0.30, 3.00],   # 0 spine base
    [0.00, 0.00, 3.02],    # 1 spine mid
    [0.00, 0.28, 3.03],    # 2 neck
    [0.00, 0.42, 3.02],    # 3 head
    [-0.17, 0.20, 3.03],   # 4 left shoulder
    [-0.26, -0.05, 3.05],  # 5 left elbow
    [-0.28, -0.28, 3.00],  # 6 left wrist
    [-0.29, -0.35, 2.98],  # 7 left hand
    [0.17, 0.20, 3.03],    # 8 right shoulder
    [0.26, -0.05, 3.05],   # 9 right elbow
    [0.28, -0.28, 3.00],   # 10 right wrist
    [0.29, -0.35, 2.98],   # 11 right hand
    [-0.09, -0.32, 3.00],  # 12 left hip
    [-0.10, -0.75, 3.02],  # 13 left knee
    [-0.11, -1.12, 3.05],  # 14 left ankle
    [-0.11, -1.17, 2.95],  # 15 left foot
    [0.09, -0.32, 3.00],   # 16 right hip
    [0.10, -0.75, 3.02],   # 17 right knee
    [0.11, -1.12, 3.05],   # 18 right ankle
    [0.11, -1.17, 2.95],   # 19 right foot
    [0.00, 0.21, 3.03],    # 20 spine shoulder
    [-0.30, -0.43, 2.97],  # 21 left hand tip
    [-0.25, -0.37, 2.96],  # 22 left thumb
    [0.30, -0.43, 2.97],   # 23 right hand tip
    [0.25, -0.37, 2.96],   # 24 right thumb
])
RIGHT_ARM = [9, 10, 11, 23, 24]
ID0 = 72057594037927936  # 2**56: IDs from here in steps of 16 are exact as floats.


# --------------------------------------------------------------------------------------------
# Writing test files


def hash_uniform(seed: int, size: int) -> np.ndarray:
    """Deterministic uniform numbers in [-1, 1) from integer hashing (same on every platform)."""
    x = np.arange(size, dtype=np.uint64) + np.uint64(seed * 1_000_003 + 12345)
    x = x * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(31)
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**52 - 1.0


def kinect_number(v: float) -> str:
    """A number as the Kinect tools write it: 7 significant digits, capital E exponent."""
    return f"{v:.7g}".replace("e", "E")


def full_joints(xyz: np.ndarray, seed: int) -> np.ndarray:
    """(25, 12) joint rows for (25, 3) positions: pixel coordinates by projection, unit
    quaternions, tracking state 2 (1 for two joints); end joints get the whole-number
    orientation 0 0 0 0 that real files carry."""
    x, y, z = xyz.T
    q = hash_uniform(seed, 100).reshape(25, 4)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[[15, 19, 21, 22, 23, 24]] = 0.0
    state = np.full(25, 2.0)
    state[[7, 21]] = 1.0
    return np.column_stack([x, y, z, 256 + 366 * x / z, 212 - 366 * y / z,
                            960 + 1064 * x / z, 540 - 1064 * y / z, q, state])


def write_skeleton(path: pathlib.Path, frames: list[list[tuple[int, np.ndarray]]],
                   newline: str = "\r\n", number=kinect_number, lean: str | None = None
                   ) -> pathlib.Path:
    """Writes a .skeleton file. `frames`: per frame, the (body ID, joints) of each body, joints
    (25, 3) positions or (25, 12) full rows. `lean` replaces leanX and leanY (e.g. "-1")."""
    lines = [str(len(frames))]
    for t, bodies in enumerate(frames):
        lines.append(str(len(bodies)))
        for k, (body_id, joints) in enumerate(bodies):
            joints = np.asarray(joints, dtype=np.float64)
            if joints.shape == (25, 3):
                joints = full_joints(joints, seed=7 * t + k)
            lean_x, lean_y = (lean, lean) if lean else (number(0.05 + 0.01 * k), number(-0.2))
            lines.append(f"{body_id} 0 1 1 1 1 0 {lean_x} {lean_y} 2")
            lines.append("25")
            lines.extend(" ".join(number(v) for v in row) for row in joints.tolist())
    path.write_bytes((newline.join(lines) + newline).encode("ascii"))
    return path


def person(num_frames: int, seed: int, offset=(0.0, 0.0, 0.0), wave: float = 0.0,
           turn: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """(T, 25, 3) a person of relative size `scale` with sensor noise, a small sway, the right
    arm waving by `wave` metres and the body turned by `turn` radians about the vertical."""
    t = np.arange(num_frames)[:, None]
    c, s = math.cos(turn), math.sin(turn)
    centred = scale * (TEMPLATE - TEMPLATE[0])
    body = centred @ np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]]).T + TEMPLATE[0]
    xyz = np.repeat(body[None], num_frames, axis=0) + np.asarray(offset)
    xyz[:, :, 0] += 0.02 * np.sin(0.1 * t + seed)
    xyz[:, RIGHT_ARM, 0] += wave * np.sin(0.35 * t)
    xyz[:, RIGHT_ARM, 1] += wave * (0.6 + 0.5 * np.cos(0.35 * t))
    return xyz + 0.004 * hash_uniform(seed, xyz.size).reshape(xyz.shape)


def flat_object(num_frames: int, seed: int, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(T, 25, 3) a static wide flat thing (a table edge seen as a body): not upright."""
    xyz = np.zeros((num_frames, 25, 3))
    xyz[:, :, 0] = np.linspace(-0.7, 0.7, 25)
    xyz[:, :, 1] = -0.4
    xyz[:, :, 2] = 2.6
    xyz += np.asarray(offset)
    return xyz + 0.003 * hash_uniform(seed, xyz.size).reshape(xyz.shape)


def fidelity_cases(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """Writes the five files of the official-output fixture; returns name -> path."""
    cases = {}

    # Two persons in every frame, CRLF.
    a = person(40, seed=1, offset=(-0.4, 0.0, 0.2), wave=0.15, turn=0.3)
    b = person(40, seed=2, offset=(0.5, 0.05, 0.4), turn=-0.4)
    frames = [[(ID0 + 16, a[t]), (ID0 + 32, b[t])] for t in range(40)]
    cases["two_bodies"] = write_skeleton(folder / "S001C001P001R001A050.skeleton", frames)

    # Three tracks: a waving adult, a flat object (more energy than the child but below 0.85 x
    # the most, and not upright, so dropped) and a calm child; LF, leanX/leanY of -1.
    a = person(30, seed=3, offset=(-0.3, 0.0, 0.0), wave=0.25)
    o = flat_object(30, seed=4, offset=(0.1, 0.0, 0.0))
    b = person(30, seed=5, offset=(0.6, 0.0, 0.5), turn=0.5, scale=0.55)
    frames = [[(ID0 + 48, a[t]), (ID0 + 64, o[t]), (ID0 + 80, b[t])] for t in range(30)]
    cases["three_bodies_flat"] = write_skeleton(
        folder / "S002C002P002R002A051.skeleton", frames, newline="\n", lean="-1")

    # All frames empty but one.
    a = person(1, seed=6, wave=0.1, turn=-0.2)
    frames = [[] for _ in range(20)]
    frames[7] = [(ID0 + 96, a[0])]
    cases["one_nonempty_frame"] = write_skeleton(folder / "S003C003P003R001A001.skeleton",
                                                 frames, newline="\n")

    # Leading empty frames, a person leaving while another arrives, empty frames in between.
    a = person(16, seed=7, wave=0.2, turn=0.2)
    b = person(16, seed=8, offset=(0.4, 0.0, 0.3), wave=0.05)
    frames = [[] for _ in range(32)]
    for k in range(16):
        frames[5 + k].append((ID0 + 112, a[k]))
        frames[15 + k].append((ID0 + 128, b[k]))
    for t in (21, 22, 23):
        frames[t] = []
    cases["late_start_gaps"] = write_skeleton(folder / "S004C001P004R002A002.skeleton", frames)

    # Frame 0 not empty (no packing), empty frames inside, and a second body record that
    # repeats the first one's ID (its own track in both implementations).
    a = person(30, seed=9, wave=0.12, turn=-0.3)
    b = person(20, seed=10, offset=(-0.5, 0.0, 0.2), wave=0.3)
    frames = [[(ID0 + 144, a[t])] for t in range(30)]
    for k in range(20):
        frames[5 + k].append((ID0 + 144, b[k]))
    for t in (12, 13, 14):
        frames[t] = []
    cases["repeated_id_gaps"] = write_skeleton(folder / "S005C002P005R001A003.skeleton", frames)
    return cases


def small_file(tmp_path: pathlib.Path, newline: str = "\n") -> pathlib.Path:
    """A valid 3-frame file: one body, an empty frame, two bodies."""
    a = person(3, seed=11, wave=0.3)  # Waving: more energy, so person 0.
    b = person(3, seed=12, offset=(0.5, 0.0, 0.0))
    frames = [[(ID0 + 16, a[0])], [], [(ID0 + 16, a[2]), (ID0 + 32, b[2])]]
    return write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", frames, newline=newline)


# --------------------------------------------------------------------------------------------
# Reader


def test_read_returns_exact_values_ids_and_frames(tmp_path):
    rows = [hash_uniform(s, 300).reshape(25, 12) * 10 ** (s % 4) for s in range(3)]
    frames = [[(ID0 + 1, rows[0]), (ID0 + 2, rows[1])], [], [(ID0 + 2, rows[2])]]
    path = write_skeleton(tmp_path / "x.skeleton", frames, number=repr)
    seq = ntu.read_skeleton(path)
    assert seq.num_frames == 3
    assert seq.body_id == (ID0 + 1, ID0 + 2, ID0 + 2)
    np.testing.assert_array_equal(seq.frame, [0, 0, 2])
    np.testing.assert_array_equal(seq.joints, np.stack(rows))
    assert seq.joints.shape == (3, 25, 12) and seq.joints.dtype == np.float64
    np.testing.assert_array_equal(seq.body_info[:, :6], [[0, 1, 1, 1, 1, 0]] * 3)
    np.testing.assert_array_equal(seq.body_info[:, 8], [2, 2, 2])
    np.testing.assert_array_equal(seq.body_info[:, 6], [0.05, 0.05 + 0.01, 0.05])


def test_crlf_and_lf_read_alike(tmp_path):
    crlf = ntu.read_skeleton(small_file(tmp_path, "\r\n"))
    lf_path = small_file(tmp_path, "\n")
    assert b"\r" not in lf_path.read_bytes()
    lf = ntu.read_skeleton(lf_path)
    assert crlf.body_id == lf.body_id
    np.testing.assert_array_equal(crlf.joints, lf.joints)


def test_real_world_number_forms(tmp_path):
    """Capital-E exponents, whole numbers in float columns, -1 leans, tabs, no final newline."""
    joints = [" ".join(["8.094816E-05", "-1", "3", "2.5E+02", "1E-07", "0", "0", "1", "0", "0",
                        "0", "2"])] * 25
    text = "\r\n".join(["2", "0", "1", f"{ID0} 0 1 1 1 1 0 -1 -1 2", "25"] + joints)
    path = tmp_path / "x.skeleton"
    path.write_bytes(text.replace(" 0 1 1 1 1", "\t0 1 1 1 1", 1).encode())
    seq = ntu.read_skeleton(path)
    assert seq.num_frames == 2 and seq.body_id == (ID0,)
    np.testing.assert_array_equal(seq.frame, [1])
    np.testing.assert_array_equal(seq.joints[0, 3, :5], [8.094816e-05, -1.0, 3.0, 250.0, 1e-07])
    np.testing.assert_array_equal(seq.body_info[0, 6:], [-1.0, -1.0, 2.0])


def test_trailing_blank_lines_are_accepted(tmp_path):
    path = small_file(tmp_path)
    path.write_bytes(path.read_bytes() + b"\n  \r\n\n")
    assert ntu.read_skeleton(path).num_frames == 3


def test_empty_frames_and_zero_frame_files_read(tmp_path):
    path = tmp_path / "x.skeleton"
    path.write_bytes(b"3\r\n0\r\n0\r\n0\r\n")
    seq = ntu.read_skeleton(path)
    assert seq.num_frames == 3 and seq.body_id == ()
    assert seq.joints.shape == (0, 25, 12) and seq.body_info.shape == (0, 9)
    path.write_bytes(b"0\n")
    assert ntu.read_skeleton(path).num_frames == 0


def test_neighbouring_17_digit_ids_stay_two_bodies(tmp_path):
    """IDs 72057594037931101 and ...102 are one float; read as ints they are two bodies."""
    first, second = 72057594037931101, 72057594037931102
    assert float(first) == float(second)
    a = person(20, seed=13, wave=0.2)
    b = person(20, seed=14, offset=(0.6, 0.0, 0.3), wave=0.2)
    frames = [[(first, a[t])] for t in range(10)] + [[(second, b[t])] for t in range(10, 20)]
    seq = ntu.read_skeleton(write_skeleton(tmp_path / "x.skeleton", frames))
    assert seq.body_id == (first,) * 10 + (second,) * 10
    out = ntu.select_bodies(seq)
    present = out.any(axis=(2, 3))  # (M, T)
    assert present[0].sum() == 10 and present[1].sum() == 10
    assert not (present[0] & present[1]).any()


def test_repeated_id_in_one_frame_is_its_own_track(tmp_path):
    a = person(6, seed=15, wave=0.2)
    b = person(6, seed=16, offset=(0.6, 0.0, 0.0), wave=0.2)
    frames = [[(ID0, a[t]), (ID0, b[t])] for t in range(6)]
    out = ntu.select_bodies(ntu.read_skeleton(write_skeleton(tmp_path / "x.skeleton", frames)))
    np.testing.assert_allclose(np.sort(out[:, 0, 0, 0]), np.sort([a[0, 0, 0], b[0, 0, 0]]),
                               atol=1e-6)


def damaged_lines() -> list[str]:
    """Lines of a valid file: 2 frames; frame 1 one body (lines 3-29), frame 2 empty (line 30)."""
    joint = "0.1 0.2 3.1 250.5 200.25 900.125 500.5 0.5 0.5 0.5 0.5 2"
    return ["2", "1", f"{ID0} 0 1 1 1 1 0 0.05 -0.2 2", "25"] + [joint] * 25 + ["0"]


def replace(lines: list[str], line: int, text: str) -> list[str]:
    lines[line - 1] = text
    return lines


JOINT = damaged_lines()[4]
DAMAGE = {
    # name: (lines, line number in the error, words in the message)
    "empty file": ([], 1, "frame count"),
    "bad frame count": (replace(damaged_lines(), 1, "2 2"), 1, "frame count"),
    "thirteen fields": (replace(damaged_lines(), 9, JOINT + " 7"), 9, "13 fields"),
    "eleven fields": (replace(damaged_lines(), 29, JOINT.rsplit(" ", 1)[0]), 29, "11 fields"),
    "wrong joint count": (replace(damaged_lines(), 4, "24"), 4, "joint count 25"),
    "non-numeric field": (replace(damaged_lines(), 12, JOINT.replace("3.1", "3.1x")), 12,
                          "'3.1x'"),
    "letters": (replace(damaged_lines(), 5, JOINT.replace("0.2", "nan")), 5, "'nan'"),
    "two dots": (replace(damaged_lines(), 20, JOINT.replace("250.5", "250.5.1")), 20,
                 "'250.5.1'"),
    "dash inside a number": (replace(damaged_lines(), 7, JOINT.replace("0.1", "0-1")), 7,
                             "'0-1'"),
    "infinite": (replace(damaged_lines(), 8, JOINT.replace("3.1", "1E999")), 8, "'1E999'"),
    "body line fields": (replace(damaged_lines(), 3, f"{ID0} 0 1 1 1 1 0 0.05 -0.2"), 3,
                         "9 fields"),
    "float body id": (replace(damaged_lines(), 3, "7.205759E+16 0 1 1 1 1 0 0.05 -0.2 2"), 3,
                      "body ID"),
    "too many bodies": (replace(damaged_lines(), 2, "7"), 2, "body count"),
    "blank line": (damaged_lines()[:10] + [""] + damaged_lines()[10:], 11, "0 fields"),
    "trailing garbage": (damaged_lines() + ["1 2 3"], 31, "end of the file after 2 frames"),
    "missing last frame": (damaged_lines()[:-1], 30, "got end of file"),
    "truncated joints": (damaged_lines()[:20], 21, "got end of file"),
    "truncated mid-line": (damaged_lines()[:19] + [JOINT[:20]], 20, "5 fields"),
    "non-ascii": (replace(damaged_lines(), 6, JOINT.replace("0.5", "0,5\u00b0", 1)), 6,
                  "a number"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_damage_names_file_and_line(tmp_path, name):
    lines, line, words = DAMAGE[name]
    path = tmp_path / "S001C001P001R001A001.skeleton"
    end = "" if name == "truncated mid-line" else "\r\n"
    path.write_bytes(("\r\n".join(lines) + end if lines else "").encode("utf-8"))
    with pytest.raises(ntu.SkeletonFormatError) as info:
        ntu.read_skeleton(path)
    error = info.value
    assert error.path == str(path) and error.line == line
    assert str(error).startswith(f"{path}:{line}: expected ")
    assert words in str(error)


def test_valid_damage_baseline_reads(tmp_path):
    path = tmp_path / "x.skeleton"
    path.write_bytes("\r\n".join(damaged_lines()).encode())
    seq = ntu.read_skeleton(path)
    assert seq.num_frames == 2 and seq.joints.shape == (1, 25, 12)
    np.testing.assert_array_equal(seq.joints[0, 24], [float(v) for v in JOINT.split()])


def test_empty_skeleton_error_names_the_file(tmp_path):
    path = tmp_path / "S001C002P005R002A008.skeleton"
    path.write_bytes(b"4\r\n0\r\n0\r\n0\r\n0\r\n")
    with pytest.raises(ntu.EmptySkeletonError, match="S001C002P005R002A008.skeleton") as info:
        ntu.load_sample(path)
    assert info.value.path == str(path) and info.value.num_frames == 4
    path.write_bytes(b"0\r\n")
    with pytest.raises(ntu.EmptySkeletonError, match="no body in 0 frame"):
        ntu.load_sample(path)
    write_skeleton(path, [[], [(ID0, np.zeros((25, 12)))]])
    with pytest.raises(ntu.EmptySkeletonError, match="all zero"):
        ntu.load_sample(path)


# --------------------------------------------------------------------------------------------
# Official preprocessing


def test_load_sample_matches_official_output(tmp_path):
    official = np.load(FIXTURE)
    cases = fidelity_cases(tmp_path)
    assert sorted(official.files) == sorted(cases)
    for name, path in cases.items():
        ours = ntu.load_sample(path)
        assert ours.dtype == np.float32 and ours.shape[0] == 3 and ours.shape[2:] == (25, 2)
        assert ours.shape == official[name].shape, name
        np.testing.assert_allclose(ours, official[name], rtol=0, atol=1e-5, err_msg=name)


def test_fixture_cases_cover_what_they_claim(tmp_path):
    cases = fidelity_cases(tmp_path)
    official = np.load(FIXTURE)
    assert official["one_nonempty_frame"].shape[1] == 1
    assert official["two_bodies"].shape[1] == 40
    assert official["late_start_gaps"].shape[1] == 23  # 32 frames, 5 + 3 + 1 empty.
    assert official["repeated_id_gaps"].shape[1] == 27  # 30 frames, 3 empty.

    def energy(xyz):  # The official energy of a (T, 25, 3) track.
        rel = xyz - xyz[:, :1]
        rel = rel[rel.sum(axis=(1, 2)) != 0]
        return sum(rel[..., c].std() for c in range(3))

    joints = ntu.read_skeleton(cases["three_bodies_flat"]).joints[..., :3]
    adult, thing, child = (energy(joints[k::3]) for k in range(3))
    assert child < 0.95 * thing and thing < 0.75 * adult  # Margins around 0.85 x adult.
    extent = np.ptp(joints[1], axis=0)  # The object in frame 0: wide, not tall.
    assert extent[1] * 0.8 < extent[0]


def test_select_bodies_drops_low_energy_flat_body_and_keeps_upright_one(tmp_path):
    seq = ntu.read_skeleton(fidelity_cases(tmp_path)["three_bodies_flat"])
    out = ntu.select_bodies(seq)
    assert out.shape == (2, 30, 25, 3)
    np.testing.assert_array_equal(out[0], seq.joints[0::3, :, :3])  # The waving person.
    np.testing.assert_array_equal(out[1], seq.joints[2::3, :, :3])  # The child, not the object.
    # The same object standing upright is kept (it outranks the child).
    upright = seq._replace(joints=seq.joints.copy())
    upright.joints[1::3, :, [0, 1]] = upright.joints[1::3, :, [1, 0]]
    out = ntu.select_bodies(upright)
    np.testing.assert_array_equal(out[1], upright.joints[1::3, :, :3])


def test_select_bodies_places_bodies_at_file_frames_and_pads(tmp_path):
    seq = ntu.read_skeleton(small_file(tmp_path))
    out = ntu.select_bodies(seq, max_frames=5)
    assert out.shape == (2, 5, 25, 3)
    assert not out[:, 1].any() and not out[:, 3:].any()
    assert out[0, 0].any() and out[0, 2].any() and out[1, 2].any() and not out[1, 0].any()
    with pytest.raises(ValueError, match="max_frames"):
        ntu.select_bodies(seq, max_frames=2)


def test_normalize_puts_first_person_in_canonical_pose():
    data = np.zeros((2, 6, 25, 3))
    data[0, 1:] = person(5, seed=17, offset=(0.3, 0.1, 0.2), turn=0.7)
    data[1, 2:] = person(4, seed=18, offset=(-0.4, 0.0, 0.5))
    before = data.copy()
    out = ntu.normalize(data)
    np.testing.assert_array_equal(data, before)  # Input untouched.
    assert not out[:, 5:].any()  # Frame 0 was empty: 5 frames packed to the front.
    np.testing.assert_allclose(out[0, 0, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(out[0, 0, 20], [0.0, 0.0, 1.0], atol=1e-12)
    assert out[0, 0, 5, 0] > 0 and abs(out[0, 0, 5, 1]) < 1e-12
    # A rigid motion: bone lengths scale by one factor for both persons.
    scale = np.linalg.norm(before[0, 1, 20] - before[0, 1, 0])
    np.testing.assert_allclose(np.linalg.norm(out[1, 1, 3] - out[1, 1, 2]),
                               np.linalg.norm(before[1, 2, 3] - before[1, 2, 2]) / scale)
    assert not out[1, 0].any()  # The second person is absent in the first kept frame.


def test_normalize_rejects_bad_input():
    with pytest.raises(ValueError, match="all-zero"):
        ntu.normalize(np.zeros((2, 3, 25, 3)))
    with pytest.raises(ValueError, match="shape"):
        ntu.normalize(np.ones((2, 3, 18, 3)))


def test_load_sample_cuts_to_nonempty_frames(tmp_path):
    out = ntu.load_sample(small_file(tmp_path))
    assert out.shape == (3, 2, 25, 2) and out.dtype == np.float32
    assert out[..., 0].any(axis=(0, 2)).all() and not out[:, 0, :, 1].any()


# --------------------------------------------------------------------------------------------
# Names, splits, shipped lists


def test_parse_sample_name_forms():
    expected = ntu.SampleName(setup=17, camera=3, subject=40, replication=2, action=60)
    assert ntu.parse_sample_name("S017C003P040R002A060") == expected
    assert ntu.parse_sample_name("S017C003P040R002A060.skeleton") == expected
    assert ntu.parse_sample_name(pathlib.Path("/x/y/S017C003P040R002A060.skeleton")) == expected
    assert expected.label == 59 and str(expected) == "S017C003P040R002A060"


@pytest.mark.parametrize("name", ["S017C003P040R002A06", "S017C003P040R002A060x",
                                  "s017c003p040r002a060", "S000C001P001R001A001",
                                  "S001C004P001R001A001", "S001C001P001R003A001",
                                  "S001C001P001R001A121", "S033C001P001R001A001",
                                  "S001C001P107R001A001", "notes.txt"])
def test_parse_sample_name_rejects_bad_names(name):
    with pytest.raises(ValueError, match="expected") as info:
        ntu.parse_sample_name(name)
    assert name in str(info.value)


def test_split_subject_lists():
    assert len(ntu.NTU60_TRAIN_SUBJECTS) == 20 and len(ntu.NTU120_TRAIN_SUBJECTS) == 53
    assert ntu.NTU60_TRAIN_SUBJECTS < ntu.NTU120_TRAIN_SUBJECTS
    assert max(ntu.NTU60_TRAIN_SUBJECTS) == 38 and max(ntu.NTU120_TRAIN_SUBJECTS) == 103


@pytest.mark.parametrize("name,dataset,benchmark,rule,train", [
    ("S001C001P001R001A001", "ntu60", "xsub", "even", True),
    ("S001C001P003R001A001", "ntu60", "xsub", "even", False),
    ("S001C001P045R001A001", "ntu60", "xsub", "even", False),
    ("S001C001P045R001A001", "ntu120", "xsub", "even", True),
    ("S001C001P106R001A120", "ntu120", "xsub", "even", False),
    ("S001C001P001R001A001", "ntu60", "xview", "even", False),
    ("S001C002P003R001A001", "ntu60", "xview", "even", True),
    ("S001C003P003R001A001", "ntu60", "xview", "even", True),
    ("S002C001P003R001A001", "ntu120", "xset", "even", True),
    ("S031C001P001R001A001", "ntu120", "xset", "even", False),
    ("S002C001P003R001A001", "ntu120", "xset", "official_stgat", False),
    ("S031C001P001R001A001", "ntu120", "xset", "official_stgat", True),
])
def test_is_training(name, dataset, benchmark, rule, train):
    assert ntu.is_training(ntu.parse_sample_name(name), dataset, benchmark, xset_rule=rule) is train
    assert ntu.is_training(name, dataset, benchmark, rule) is train


@pytest.mark.parametrize("dataset,benchmark,rule,words", [
    ("ntu60", "xset", "even", "['xsub', 'xview']"),
    ("ntu120", "xview", "even", "['xsub', 'xset']"),
    ("ntu61", "xsub", "even", "['ntu120', 'ntu60']"),
    ("ntu120", "xset", "odd", "['even', 'official_stgat']"),
])
def test_is_training_rejects_unknown_options(dataset, benchmark, rule, words):
    with pytest.raises(ValueError) as info:
        ntu.is_training("S001C001P001R001A001", dataset, benchmark, rule)
    assert words in str(info.value)


def test_is_training_rejects_samples_outside_the_dataset():
    with pytest.raises(ValueError, match="ntu60 sample"):
        ntu.is_training("S018C001P001R001A001", "ntu60", "xsub")
    with pytest.raises(ValueError, match="ntu60 sample"):
        ntu.is_training("S001C001P001R001A061", "ntu60", "xview")


def test_missing_samples():
    ntu60, ntu120 = ntu.missing_samples("ntu60"), ntu.missing_samples("ntu120")
    assert len(ntu60) == 302 and len(ntu120) == 535 and ntu60 < ntu120
    assert "S001C002P005R002A008" in ntu60 and "S017C003P020R001A059" in ntu60
    assert "S032C003P067R002A077" in ntu120 - ntu60
    assert all(str(ntu.parse_sample_name(n)) == n for n in ntu120)
    with pytest.raises(ValueError, match="ntu60"):
        ntu.missing_samples("kinetics")


def test_action_names():
    ntu60, ntu120 = ntu.action_names("ntu60"), ntu.action_names("ntu120")
    assert len(ntu60) == 60 and len(ntu120) == 120 and ntu120[:60] == ntu60
    assert ntu60[0] == "drink water" and ntu60[59] == "walking apart from each other"
    assert ntu120[119] == "finger-guessing game (playing rock-paper-scissors)"
    assert not any(n.endswith(".") or n != n.strip() or not n for n in ntu120)
    with pytest.raises(ValueError, match=r"expected dataset one of \['ntu120', 'ntu60'\], got 'ntu'"):
        ntu.action_names("ntu")


def test_upright_rule_is_the_official_y_extent_times_0_8_over_x_extent():
    # Official xy_valid on the first valid frame: ptp(y) * 0.8 > ptp(x). A body 1.0 tall and 0.9
    # wide is not upright (0.8 < 0.9); 1.0 tall and 0.7 wide is.
    track = np.zeros((3, 2, 25))
    track[0, :, :2] = [0.0, 0.9]
    track[1, :, :2] = [0.0, 1.0]
    track[2] = 1.0
    assert not ntu._looks_upright(track)
    track[0, :, 1] = 0.7
    assert ntu._looks_upright(track)
    assert not ntu._looks_upright(np.zeros((3, 2, 25)))  # no valid frame

"""Tests of the UESTC skeleton readers (.txt and .mat), sample names and splits."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from data_prep import uestc
from data_prep.ntu import EmptySkeletonError, SkeletonFormatError


def make_joints(num_frames: int, seed: int = 0) -> np.ndarray:
    """(T, 25, 3) camera-space coordinates in metres with 6 decimals, like a standing person."""
    rng = np.random.default_rng(seed)
    joints = rng.uniform([-0.8, -0.9, 2.0], [0.8, 0.9, 3.5], size=(num_frames, 25, 3))
    return np.round(joints, 6)


def txt_text(joints: np.ndarray, empty_frames: tuple[int, ...] = (), newline: str = "\n"
             ) -> str:
    """A .txt skeleton file; frames listed in `empty_frames` get a ``#`` line and nothing else."""
    out = []
    for t, frame in enumerate(joints):
        out.append("#")
        if t in empty_frames:
            continue
        for j, (x, y, z) in enumerate(frame):
            out.append(f"{x:.6f} {y:.6f} {z:.6f} 0")
            out.append(f"{480 + 3 * j:.4f} {270 + 2 * j:.4f} 1")
            out.append(f"{256 + j:.4f} {212 - j:.4f} 2")
    return newline.join(out) + newline


def write_txt(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("ascii"))
    return path


# --------------------------------------------------------------------------------------------
# .txt files


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_txt_values_and_empty_frames(tmp_path, newline):
    joints = make_joints(6)
    joints[4] = 0  # A frame whose joints are all zero.
    text = txt_text(joints, empty_frames=(1,), newline=newline) + newline * 2  # Blank lines end.
    path = write_txt(tmp_path / "a3_d2_p045_c2_skeleton.txt", text)

    full = uestc.read_txt(path)
    assert full.shape == (6, 25, 3)
    assert not full[1].any() and not full[4].any()

    out = uestc.load_sample(path)
    assert out.shape == (3, 4, 25, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], joints[[0, 2, 3, 5]].transpose(2, 0, 1), atol=1e-6)


def test_txt_accepts_other_number_forms(tmp_path):
    joints = make_joints(1)
    text = txt_text(joints).replace(f"{joints[0, 0, 0]:.6f}", "-1.5E-01", 1)
    text = text.replace(f"{joints[0, 1, 2]:.6f}", "3", 1)
    out = uestc.load_sample(write_txt(tmp_path / "s.txt", text))
    assert out[0, 0, 0, 0] == np.float32(-0.15) and out[2, 0, 1, 0] == 3.0


@pytest.mark.parametrize("text,got", [
    ("", "no body in 0 frame(s)"),
    ("#\n#\n#\n", "no body in 3 frame(s)"),
    (txt_text(np.zeros((2, 25, 3))), "no body in 2 frame(s)"),
], ids=["empty-file", "only-headers", "all-zero"])
def test_txt_without_a_body_raises(tmp_path, text, got):
    path = write_txt(tmp_path / "e.txt", text)
    with pytest.raises(EmptySkeletonError) as info:
        uestc.load_sample(path)
    assert str(info.value).startswith(f"{path}: ") and str(info.value).endswith(got)


def _lines(num_frames: int = 3) -> list[str]:
    return txt_text(make_joints(num_frames, seed=1)).splitlines()


def _damaged(change: str) -> tuple[str, int, str]:
    """A damaged file's text, the 1-based line of the problem and the message after it."""
    lines = _lines()
    frame2 = 76  # 0-based line of frame 2's "#".
    if change == "truncated":
        cut = frame2 + 1 + 3 * 10 + 1  # Frame 2 ends after joint 11's camera-space line.
        return ("\n".join(lines[:cut]) + "\n", cut + 1,
                "expected the colour-pixel line (u v 1) of joint 11 of frame 2, got end of file")
    if change == "24-joints":
        del lines[73:76]  # Joint 25 of frame 1.
        return ("\n".join(lines) + "\n", 74, "expected the camera-space line (x y z 0) of "
                "joint 25 of frame 1, got '#'")
    if change == "26-joints":
        lines[76:76] = ["0.1 0.2 2.5 0", "1 2 1", "3 4 2"]
        return ("\n".join(lines) + "\n", 77, 'expected a frame line "#" after the 25 joints '
                "of frame 1, got '0.1 0.2 2.5 0'")
    if change == "letters":
        lines[frame2 + 7] = "0.1x 0.2 2.5 0"
        return "\n".join(lines), frame2 + 8, "expected a number, got '0.1x'"
    if change == "two-dots":
        lines[frame2 + 8] = "1.2.3 4 1"
        return "\n".join(lines), frame2 + 9, "expected a finite number, got '1.2.3'"
    if change == "nan":
        lines[frame2 + 1] = "nan 0.2 2.5 0"
        return "\n".join(lines), frame2 + 2, "expected a number, got 'nan'"
    if change == "no-flag":
        lines[frame2 + 10] = "0.1 0.2 2.5"
        return ("\n".join(lines), frame2 + 11, "expected the camera-space line (x y z 0) of "
                "joint 4 of frame 2, got 3 fields: '0.1 0.2 2.5'")
    if change == "wrong-flag":
        lines[4] = "0.1 0.2 2.5 1"
        return ("\n".join(lines), 5, "expected the camera-space line (x y z 0) of joint 2 of "
                "frame 1, got '0.1 0.2 2.5 1'")
    if change == "no-header":
        return "\n".join(lines[1:]), 1, 'expected a frame line "#", got'
    if change == "header-text":
        lines[frame2] = "# 2"
        return "\n".join(lines), frame2 + 1, 'expected a frame line "#" alone, got \'# 2\''
    if change == "blank-line":
        lines[frame2 + 3] = ""
        return ("\n".join(lines), frame2 + 4, "expected the depth-pixel line (u v 2) of joint 1 "
                "of frame 2, got 0 fields: an empty line")
    raise AssertionError(change)


@pytest.mark.parametrize("change", ["truncated", "24-joints", "26-joints", "letters",
                                    "two-dots", "nan", "no-flag", "wrong-flag", "no-header",
                                    "header-text", "blank-line"])
def test_damaged_txt_names_file_and_line(tmp_path, change):
    text, line, message = _damaged(change)
    path = write_txt(tmp_path / "a0_d1_p001_c1_skeleton.txt", text)
    with pytest.raises(SkeletonFormatError) as info:
        uestc.load_sample(path)
    assert str(info.value).startswith(f"{path}:{line}: {message}")
    assert info.value.line == line


# --------------------------------------------------------------------------------------------
# .mat files


def test_mat_v_and_skel_match_txt(tmp_path):
    joints = make_joints(5, seed=2)
    joints[2] = 0
    from_txt = uestc.load_sample(write_txt(tmp_path / "s.txt", txt_text(joints)))
    scipy.io.savemat(tmp_path / "v.mat", {"v": joints.reshape(5, 75)})
    scipy.io.savemat(tmp_path / "skel.mat", {"skel": joints.astype(np.float32)})
    for name in ("v.mat", "skel.mat"):
        out = uestc.load_sample(tmp_path / name)
        assert out.shape == (3, 4, 25, 1) and out.dtype == np.float32
        np.testing.assert_allclose(out, from_txt, atol=1e-6, err_msg=name)


def test_mat_single_frame_and_compressed(tmp_path):
    joints = make_joints(1, seed=3)
    scipy.io.savemat(tmp_path / "one.mat", {"v": joints.reshape(1, 75)}, do_compression=True)
    np.testing.assert_allclose(uestc.read_mat(tmp_path / "one.mat"), joints)


@pytest.mark.parametrize("contents,got", [
    ({"v": np.zeros((4, 75))}, "no body in 4 frame(s)"),
    ({"v": np.zeros((0, 0))}, "no body in 0 frame(s)"),
], ids=["all-zero", "empty-matrix"])
def test_mat_without_a_body_raises(tmp_path, contents, got):
    scipy.io.savemat(tmp_path / "e.mat", contents)
    with pytest.raises(EmptySkeletonError, match=re.escape(got)):
        uestc.load_sample(tmp_path / "e.mat")


def _v73_header() -> bytes:
    """The 128-byte header MATLAB writes before the HDF5 content of a v7.3 file."""
    text = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
            b"HDF5 schema 1.00 .")
    # Text, subsystem offset, version 0x0200 (little-endian "IM"), then HDF5 would follow.
    return (text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM" + b"\x89HDF\r\n\x1a\n"
            + b"\x00" * 64)


@pytest.mark.parametrize("change,message", [
    ("wrong-variable", "expected one variable 'v' (T x 75) or 'skel' (T x 25 x 3), got the "
                       "variables ['w']"),
    ("both-variables", "expected one variable 'v' (T x 75) or 'skel' (T x 25 x 3), got the "
                       "variables ['skel', 'v']"),
    ("v-74", "expected 'v' of shape T x 75, got shape 6 x 74"),
    ("skel-24", "expected 'skel' of shape T x 25 x 3, got shape 6 x 24 x 3"),
    ("text", "expected real numbers in 'v', got type <U"),
    ("nan", "expected finite coordinates in 'v', got nan at frame 3, joint 5, y"),
    ("v73", "expected a MATLAB v4-v7.2 .mat file (scipy.io.loadmat cannot read v7.3; re-save "
            "it in MATLAB with save(file, 'v', '-v7')), got a MATLAB v7.3 (HDF5) file"),
    ("not-mat", "expected a MATLAB .mat file, got unreadable content"),
    ("truncated", "expected a MATLAB .mat file, got unreadable content"),
])
def test_damaged_mat_names_file(tmp_path, change, message):
    path = tmp_path / "a5_d8_p113_c2_skeleton.mat"
    joints = make_joints(6, seed=4)
    if change == "wrong-variable":
        scipy.io.savemat(path, {"w": joints.reshape(6, 75)})
    elif change == "both-variables":
        scipy.io.savemat(path, {"v": joints.reshape(6, 75), "skel": joints})
    elif change == "v-74":
        scipy.io.savemat(path, {"v": joints.reshape(6, 75)[:, :74]})
    elif change == "skel-24":
        scipy.io.savemat(path, {"skel": joints[:, :24]})
    elif change == "text":
        scipy.io.savemat(path, {"v": "a skeleton"})
    elif change == "nan":
        joints[2, 4, 1] = np.nan
        scipy.io.savemat(path, {"v": joints.reshape(6, 75)})
    elif change == "v73":
        path.write_bytes(_v73_header())
    elif change == "not-mat":
        path.write_text("#\n0.1 0.2 2.5 0\n")
    elif change == "truncated":
        scipy.io.savemat(path, {"v": joints.reshape(6, 75)})
        path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(SkeletonFormatError) as info:
        uestc.load_sample(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "a0_d1_p001_c1_skeleton.npy"
    with pytest.raises(ValueError, match=re.escape(f"{path}: expected a .txt or .mat")):
        uestc.load_sample(path)


# --------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize("text", ["a12_d3_p045_c2", "a12_d3_p045_c2_skeleton.txt",
                                  "a12_d3_p045_c2_skeleton.mat", "a12_d3_p045_c2_color.avi",
                                  "/data/uestc/a12_d3_p045_c2_skeleton.txt"])
def test_parse_sample_name(text):
    name = uestc.parse_sample_name(text)
    assert name == uestc.UestcName(action=12, view=3, subject=45, camera=2)
    assert name.label == 12 and str(name) == "a12_d3_p045_c2"


def test_name_extremes():
    assert uestc.parse_sample_name("a0_d1_p001_c1") == (0, 1, 1, 1)
    assert uestc.parse_sample_name("a39_d8_p118_c2") == (39, 8, 118, 2)


@pytest.mark.parametrize("text,message", [
    ("a40_d1_p001_c1", "expected action from 0 to 39, got 40"),
    ("a1_d0_p001_c1", "expected view from 1 to 8, got 0"),
    ("a1_d9_p001_c1", "expected view from 1 to 8, got 9"),
    ("a1_d1_p000_c1", "expected subject from 1 to 118, got 0"),
    ("a1_d1_p119_c1", "expected subject from 1 to 118, got 119"),
    ("a1_d1_p001_c3", "expected camera from 1 to 2, got 3"),
    ("a05_d1_p001_c1", "expected a sample name like a12_d3_p045_c2"),
    ("a5_d1_p01_c1", "expected a sample name like a12_d3_p045_c2"),
    ("a5_d1_p001_c1_depth.txt", "expected a sample name like a12_d3_p045_c2"),
    ("S001C001P001R001A001", "expected a sample name like a12_d3_p045_c2"),
])
def test_bad_sample_names(text, message):
    with pytest.raises(ValueError, match=re.escape(f"{text}: {message}")):
        uestc.parse_sample_name(text)


# --------------------------------------------------------------------------------------------
# Splits


def test_train_subjects():
    assert len(uestc.TRAIN_SUBJECTS) == 51
    assert min(uestc.TRAIN_SUBJECTS) == 1 and max(uestc.TRAIN_SUBJECTS) == 113
    assert {3, 4, 5, 114, 118}.isdisjoint(uestc.TRAIN_SUBJECTS)


def test_xsub_uses_both_cameras_and_all_views():
    assert uestc.sample_split("a0_d8_p001_c2", "xsub") == "train"
    assert uestc.sample_split("a0_d5_p113_c1", "xsub") == "train"
    assert uestc.sample_split("a0_d1_p003_c1", "xsub") == "test"
    assert uestc.sample_split("a39_d8_p118_c2", "xsub") == "test"
    # Options narrow it, e.g. train on d1-d7 and test on d7 of camera 2 only.
    options = {"train_views": range(1, 8), "test_views": (7,), "cameras": (2,)}
    assert uestc.sample_split("a0_d8_p001_c2", "xsub", **options) is None
    assert uestc.sample_split("a0_d6_p003_c2", "xsub", **options) is None
    assert uestc.sample_split("a0_d7_p003_c2", "xsub", **options) == "test"
    assert uestc.sample_split("a0_d7_p001_c1", "xsub", **options) is None


def test_cross_view_defaults():
    split1 = {d: uestc.sample_split(f"a1_d{d}_p002_c2", "xview1") for d in uestc.VIEWS}
    assert split1 == {1: "train", 2: "test", 3: "test", 4: "test", 5: "test", 6: "test",
                      7: "test", 8: "test"}
    split2 = {d: uestc.sample_split(f"a1_d{d}_p002_c2", "xview2") for d in uestc.VIEWS}
    assert [d for d, s in split2.items() if s == "train"] == [1, 3, 5, 7]
    assert [d for d, s in split2.items() if s == "test"] == [2, 4, 6, 8]
    for benchmark in ("xview1", "xview2"):
        assert uestc.sample_split("a1_d1_p002_c1", benchmark) is None  # Front view unused.
        assert not uestc.is_training("a1_d1_p002_c1", benchmark)
    assert uestc.is_training("a1_d3_p002_c2", "xview2")
    assert not uestc.is_training("a1_d4_p002_c2", "xview2")


def test_cross_view_options():
    options = {"train_views": (3,), "test_views": (5,)}
    assert uestc.sample_split("a1_d3_p050_c2", "xview1", **options) == "train"
    assert uestc.sample_split("a1_d5_p050_c2", "xview1", **options) == "test"
    assert uestc.sample_split("a1_d4_p050_c2", "xview1", **options) is None
    assert uestc.sample_split("a1_d3_p050_c1", "xview1", cameras=(1, 2)) == "test"
    assert uestc.sample_split("a1_d1_p050_c1", "xview1", cameras=(1, 2)) == "train"
    name = uestc.UestcName(1, 1, 50, 2)
    assert uestc.is_training(name, "xview1")


@pytest.mark.parametrize("args,message", [
    (("a1_d1_p002_c2", "xview"), "expected benchmark one of ['xsub', 'xview1', 'xview2']"),
    (("a1_d1_p002_c2", "xview2", {"train_views": (1, 2), "test_views": (2, 3)}),
     "expected disjoint train and test views for xview2, got [2] in both"),
    (("a1_d1_p002_c2", "xview1", {"train_views": (0,)}), "expected views from"),
    (("a1_d1_p002_c2", "xsub", {"cameras": (3,)}), "expected cameras from [1, 2], got [3]"),
])
def test_bad_split_arguments(args, message):
    options = args[2] if len(args) == 3 else {}
    with pytest.raises(ValueError, match=re.escape(message)):
        uestc.sample_split(args[0], args[1], **options)

"""Tests of the prepare command and of the NTU reader it relies on.

The reader (whole-file array operations) must accept exactly the files that follow the format
and return exactly their values: it is run on every number form up to a length, on numbers in
many notations and on damaged files, and compared with a plain line-by-line reading of the
format written here (:func:`oracle`). What it rejects must raise an error naming the line.
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import re

import numpy as np
import pytest

from data_prep import ntu, prepare, records, synthetic

ID0 = 72057594037927936
JOINT = "0.1 0.2 3.1 250.5 200.25 900.125 500.5 0.5 0.5 0.5 0.5 2"


def lines_of_file(joint_lines: list[str] | None = None, body_line: str | None = None
                  ) -> list[str]:
    """A valid 3-frame file: one body, an empty frame, one body."""
    joints = joint_lines or [JOINT] * 25
    body = body_line or f"{ID0} 0 1 1 1 1 0 0.05 -0.2 2"
    return ["3", "1", body, "25", *joints, "0", "1", f"{ID0 + 16} 0 1 1 1 1 0 -1 -1 2", "25",
            *[JOINT] * 25]


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def oracle(raw: bytes) -> ntu.SkeletonSequence | None:
    """The format (data_prep/ntu.py's docstring) read plainly, field by field with float(); None
    if `raw` does not follow it. Slow, and independent of the reader under test."""
    text = raw.decode("latin-1")
    if set(text) - set("0123456789+-.eE \t\r\n"):
        return None
    fields = [line.split() for line in text.split("\n")]
    if any(not NUMBER.fullmatch(f) or not math.isfinite(float(f)) for line in fields for f in line):
        return None

    def count(i: int) -> int | None:  # A line holding one field of digits only.
        ok = i < len(fields) and len(fields[i]) == 1 and fields[i][0].isdigit()
        return int(fields[i][0]) if ok else None

    num_frames = count(0)
    if num_frames is None:
        return None
    frame, body_id, body_info, joints = [], [], [], []
    i = 1
    for t in range(num_frames):
        num_bodies = count(i)
        if num_bodies is None or num_bodies > 6:
            return None
        i += 1
        for _ in range(num_bodies):
            block = fields[i:i + 27]
            if (len(block) < 27 or len(block[0]) != 10 or not block[0][0].isdigit()
                    or count(i + 1) != 25 or any(len(line) != 12 for line in block[2:])):
                return None
            frame.append(t)
            body_id.append(int(block[0][0]))
            body_info.append([float(f) for f in block[0][1:]])
            joints.append([[float(f) for f in line] for line in block[2:]])
            i += 27
    if any(fields[i:]):
        return None
    return ntu.SkeletonSequence(num_frames, np.array(frame, dtype=np.int64), tuple(body_id),
                                np.array(body_info).reshape(-1, 9),
                                np.array(joints).reshape(-1, 25, 12))


def outcome(raw: bytes, xyz_only: bool = False):
    """What the reader makes of `raw` (a sequence, or the error message), after checking it
    against :func:`oracle`: the same files accepted, with the same values."""
    want = oracle(raw)
    try:
        got = ntu._read("f.skeleton", raw, xyz_only)
    except ntu.SkeletonFormatError as err:
        assert want is None, f"the reader rejects a file that follows the format: {err}"
        assert err.path == "f.skeleton"
        return str(err)
    assert want is not None, "the reader accepted a file that does not follow the format"
    assert got.num_frames == want.num_frames and got.body_id == want.body_id
    np.testing.assert_array_equal(got.frame, want.frame)
    joints = want.joints[..., :3] if xyz_only else want.joints
    np.testing.assert_array_equal(got.joints, joints)
    np.testing.assert_array_equal(np.signbit(got.joints), np.signbit(joints))
    if not xyz_only:
        np.testing.assert_array_equal(got.body_info, want.body_info)
    return got


def encode(lines: list[str], newline: str = "\n", end: str | None = None) -> bytes:
    return (newline.join(lines) + (newline if end is None else end)).encode()


def test_every_short_field_is_judged_as_the_format_says():
    """All fields of up to 5 characters over 1 - . E: as x (always converted) and as the 8th
    joint value (only checked, not converted, in xyz mode)."""
    number = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
    for length in range(1, 6):
        for chars in itertools.product("1-.E", repeat=length):
            field = "".join(chars)
            for column in (0, 7):
                values = JOINT.split()
                values[column] = field
                raw = encode(lines_of_file([" ".join(values)] + [JOINT] * 24))
                for xyz_only in (False, True):
                    result = outcome(raw, xyz_only)
                    assert isinstance(result, str) != bool(number.fullmatch(field)), field


def test_numbers_in_many_notations_read_exactly():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(400) * 10.0 ** rng.integers(-9, 9, 400),
                             rng.integers(-10**6, 10**6, 40), [0.0, -0.0, 1e-300, 123456789.0]])
    formats = ["%.7g", "%r", "%.3e", "%E", "%+.5f", "%.15g", "%.17g", "%.0f"]
    fields = []
    for k, v in enumerate(values):
        text = formats[k % len(formats)] % float(v)
        fields.append(text.replace("e", "E") if k % 3 else text)
    fields += ["-0", "+0.5", ".5", "5.", "-.25", "007.5", "1E+05", "8.094816E-05", "1e-100",
               "123456789012345", "1234567890123456", "0.000000000000001", "9" * 40]
    fields += [f + "1" for f in ("1E-0", "2.5e+0")]
    fields += ["1"] * (-len(fields) % 12)
    rows = [fields[i:i + 12] for i in range(0, len(fields), 12)]
    for i in range(0, len(rows), 25):
        block = [" ".join(r) for r in rows[i:i + 25]]
        block += [JOINT] * (25 - len(block))
        for xyz_only in (False, True):
            result = outcome(encode(lines_of_file(block)), xyz_only)
            assert not isinstance(result, str), result
    common = [" ".join(f"{v:.7g}".replace("e", "E") for v in values[k:k + 12])
              for k in range(0, 300, 12)]
    assert not isinstance(outcome(encode(lines_of_file(common))), str)


def test_randomly_damaged_files_are_judged_as_the_format_says():
    """Up to three random byte changes (replaced, inserted, deleted) in a file of many number
    forms: the reader accepts exactly those that still follow the format."""
    joints = ["-0.1 2.5E-05 3 1. .5 +7 0 1e+2 9 -1 8.094816E-05 2"] + [JOINT] * 24
    base = encode(lines_of_file(joints))
    alphabet = b"0123456789+-.eE \t\r\nx"
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(400):
        raw = bytearray(base)
        for _ in range(rng.integers(1, 4)):
            pos, char = int(rng.integers(len(raw))), alphabet[rng.integers(len(alphabet))]
            change = rng.integers(3)
            if change == 0:
                raw[pos] = char
            elif change == 1:
                raw.insert(pos, char)
            else:
                del raw[pos]
        for xyz_only in (False, True):
            accepted += not isinstance(outcome(bytes(raw), xyz_only), str)
    assert 0 < accepted < 800  # Both valid and damaged files were made.


DAMAGE = {
    "wrong joint count": lambda L: L[:3] + ["24"] + L[4:],
    "joint count written 025": lambda L: L[:3] + ["025"] + L[4:],  # valid
    "body count of 401 digits": lambda L: L[:1] + ["0" * 400 + "1"] + L[2:],  # valid
    "joint count of 401 digits": lambda L: L[:3] + ["1" + "0" * 398 + "25"] + L[4:],
    "13 fields": lambda L: L[:9] + [JOINT + " 7"] + L[10:],
    "11 fields": lambda L: L[:9] + [JOINT.rsplit(" ", 1)[0]] + L[10:],
    "blank line inside": lambda L: L[:10] + [""] + L[10:],
    "too many bodies": lambda L: L[:1] + ["7"] + L[2:],
    "frame count too large": lambda L: ["4"] + L[1:],
    "frame count too small": lambda L: ["2"] + L[1:],
    "frame count not an integer": lambda L: ["3.0"] + L[1:],
    "float body ID": lambda L: L[:2] + ["7.205759E+16 0 1 1 1 1 0 0.05 -0.2 2"] + L[3:],
    "signed body count": lambda L: L[:1] + ["+1"] + L[2:],
    "truncated": lambda L: L[:40],
    "trailing garbage": lambda L: L + ["1 2 3"],
    "trailing blank lines": lambda L: L + ["", "  ", "\t"],
    "leading spaces": lambda L: [" " + line for line in L],
    "infinite": lambda L: L[:5] + [JOINT.replace("3.1", "1E999")] + L[6:],
    "three-digit exponent": lambda L: L[:5] + [JOINT.replace("3.1", "1E-100")] + L[6:],
    "non-ascii": lambda L: L[:5] + [JOINT.replace("0.5", "0,5\u00b0", 1)] + L[6:],
    "letters": lambda L: L[:5] + [JOINT.replace("0.2", "nan")] + L[6:],
    "two dots": lambda L: L[:5] + [JOINT.replace("250.5", "250.5.1")] + L[6:],
    "long number": lambda L: L[:5] + [JOINT.replace("250.5", "1" * 250)] + L[6:],
    "empty": lambda L: [],
}


@pytest.mark.parametrize("name", DAMAGE)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_damaged_and_unusual_files_are_judged_as_the_format_says(name, newline, tmp_path):
    lines = DAMAGE[name](lines_of_file())
    raw = encode(lines, newline) if lines else b""
    for xyz_only in (True, False):  # The last, all values, is compared with read_skeleton.
        result = outcome(raw, xyz_only)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(raw)
    if isinstance(result, str):
        with pytest.raises(ntu.SkeletonFormatError) as info:
            ntu.read_skeleton(path)
        assert str(info.value) == result.replace("f.skeleton", str(path))
    else:
        got = ntu.read_skeleton(path)
        np.testing.assert_array_equal(got.joints, result.joints)


def test_no_final_newline_tabs_and_crlf_read(tmp_path):
    lines = lines_of_file()
    lines[2] = lines[2].replace(" ", "\t", 2)
    for raw in (encode(lines, "\r\n", end=""), encode(lines, "\n"), encode(lines, "\r\n"),
                b"0", b"0\n"):
        assert not isinstance(outcome(raw), str)


def test_load_sample_matches_the_reference_pipeline_on_generated_files(tmp_path):
    paths = synthetic.generate(tmp_path, seed=3, performers=(1,), setups=(1,), cameras=(1, 2),
                               replications=(1,), actions=(1, 11, 12), min_frames=20,
                               max_frames=40, progress=False)
    for path in paths:
        reference = oracle(path.read_bytes())
        want = ntu.normalize(ntu.select_bodies(reference)).transpose(3, 1, 2, 0)
        want = want.astype(np.float32)
        want = want[:, want.sum(0).sum(-1).sum(-1) != 0]
        np.testing.assert_array_equal(ntu.load_sample(path), want)


# --------------------------------------------------------------------------------------------
# The command


def small_ntu_set(folder: pathlib.Path) -> list[pathlib.Path]:
    return synthetic.generate(folder, seed=1, performers=(1, 3), setups=(1,), cameras=(1, 2),
                              replications=(1,), actions=(1, 2), min_frames=10, max_frames=20,
                              progress=False)


def test_cli_builds_skips_what_is_built_and_reports(tmp_path, capsys):
    small_ntu_set(tmp_path / "raw")
    args = ["--dataset=synthetic", f"--raw_dir={tmp_path / 'raw'}",
            f"--data_dir={tmp_path / 'tfds'}", "--num_workers=1"]
    prepare.run(args + ["--benchmarks=synthetic_xview"])
    out = capsys.readouterr().out
    assert "synthetic_xview:" in out and "synthetic_xsub" not in out
    assert prepare.is_prepared("synthetic_xview", tmp_path / "tfds")
    assert not prepare.is_prepared("synthetic_xsub", tmp_path / "tfds")
    folder = prepare.builder_for("synthetic_xview", tmp_path / "tfds").data_dir
    report = json.loads((pathlib.Path(folder) / records.REPORT_NAME).read_text())
    assert report["examples"] == 8 and report["splits"]["train"]["examples"] == 4

    prepare.run(args)  # builds xsub only
    built = {n: pathlib.Path(prepare.builder_for(n, tmp_path / "tfds").data_dir)
             for n in ("synthetic_xsub", "synthetic_xview")}
    stamps = {n: (p / "dataset_info.json").stat().st_mtime_ns for n, p in built.items()}
    for path in (tmp_path / "raw").iterdir():
        path.unlink()  # A re-run must not read raw files for built benchmarks.
    prepare.run(args)
    assert {n: (p / "dataset_info.json").stat().st_mtime_ns for n, p in built.items()} == stamps
    assert "synthetic_xsub:" in capsys.readouterr().out


def test_cli_fails_on_damage_naming_every_file(tmp_path, capsys):
    paths = small_ntu_set(tmp_path / "raw")
    damaged = [paths[0], paths[-1]]
    for path in damaged:
        lines = path.read_bytes().split(b"\n")
        lines[5] += b" 1"
        path.write_bytes(b"\n".join(lines))
    args = ["--dataset=synthetic", f"--raw_dir={tmp_path / 'raw'}",
            f"--data_dir={tmp_path / 'tfds'}", "--num_workers=1", "--benchmarks=synthetic_xsub"]
    with pytest.raises(SystemExit) as info:
        prepare.run(args)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "\nerror: synthetic_xsub: 2 problem(s)" in err
    for path in damaged:
        assert f"{path}:6: expected a joint line (12 numbers), got 13 fields" in err
    assert not prepare.is_prepared("synthetic_xsub", tmp_path / "tfds")
    prepare.run(args + ["--skip_corrupt"])
    assert prepare.is_prepared("synthetic_xsub", tmp_path / "tfds")


def test_unknown_names_are_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown dataset 'kinetics'"):
        prepare.benchmark_names("kinetics")
    with pytest.raises(ValueError, match="unknown benchmark 'ntu60_xset'"):
        prepare.builder_for("ntu60_xset", tmp_path)
    with pytest.raises(ValueError, match=r"\['ntu120_xsub'\] are not benchmarks of ntu60"):
        prepare.prepare("ntu60", tmp_path, tmp_path, benchmarks=["ntu120_xsub"])
    with pytest.raises(SystemExit) as info:
        prepare.run(["--dataset=kinetics", "--raw_dir=x"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert prepare.datasets() == ("kinetics400", "ntu120", "ntu60", "nw_ucla", "synthetic", "uestc")

"""The synthetic NTU-format dataset: file format (checked by an independent strict parser), names,
determinism, atomic writes, variants, and that the motions mean what the class names say."""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest

from data_prep import synthetic

NAME_RE = re.compile(r"^S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}\.skeleton$")
# A float as Kinect's exporter writes it: 7 significant digits, no trailing zeros, capital E.
FLOAT_RE = re.compile(r"^-?(0|[1-9]\d*)(\.\d*[1-9])?(E[-+]\d{2,3})?$")
INT_RE = re.compile(r"^(0|-?[1-9]\d*)$")
XSUB_TRAIN = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
LEFT_HAND, RIGHT_HAND = 7, 11


def strict_parse(path: pathlib.Path) -> dict:
    """Parses a .skeleton file, asserting every rule of the format; returns what it read.

    Returns {"frames": [ {body_id: (25, 12) array} ], "order": [[ids in file order]], "info":
    {body_id: [(10 raw fields) per frame]}, "crlf": bool, "text": str}.
    """
    raw = path.read_bytes()
    text = raw.decode("ascii")
    crlf = "\r\n" in text
    if crlf:
        assert "\n" not in text.replace("\r\n", ""), f"{path.name}: mixed line endings"
    else:
        assert "\r" not in text, f"{path.name}: stray CR"
    lines = text.split("\r\n" if crlf else "\n")
    assert lines[-1] == "", f"{path.name}: no newline at the end"
    lines = lines[:-1]
    pos = 0

    def take() -> str:
        nonlocal pos
        assert pos < len(lines), f"{path.name}: truncated at line {pos + 1}"
        pos += 1
        return lines[pos - 1]

    n_frames = take()
    assert INT_RE.match(n_frames), f"{path.name}: bad frame count {n_frames!r}"
    frames, order, info = [], [], {}
    for f in range(int(n_frames)):
        n_bodies = take()
        assert INT_RE.match(n_bodies) and 0 <= int(n_bodies) <= 4, f"{path.name}: frame {f}: {n_bodies!r}"
        bodies, ids = {}, []
        for _ in range(int(n_bodies)):
            fields = take().split(" ")
            assert len(fields) == 10, f"{path.name}: body line with {len(fields)} values"
            assert re.fullmatch(r"\d{17}", fields[0]), f"{path.name}: body ID {fields[0]!r}"
            for k in (1, 2, 3, 4, 5, 6, 9):
                assert INT_RE.match(fields[k]), f"{path.name}: body field {k} = {fields[k]!r}"
            assert fields[1] == "0" and fields[6] == "0" and fields[9] == "2"
            assert {fields[2], fields[4]} <= {"0", "1"} and {fields[3], fields[5]} <= {"0", "1", "2"}
            for k in (7, 8):
                assert FLOAT_RE.match(fields[k]) and -1.0 <= float(fields[k]) <= 1.0, fields[k]
            assert take() == "25", f"{path.name}: joint count line"
            joints = np.empty((25, 12))
            for j in range(25):
                values = take().split(" ")
                assert len(values) == 12, f"{path.name}: joint line with {len(values)} values"
                for v in values[:11]:
                    assert FLOAT_RE.match(v), f"{path.name}: float {v!r}"
                assert values[11] in ("1", "2"), f"{path.name}: joint tracking state {values[11]!r}"
                joints[j] = [float(v) for v in values]
            body_id = int(fields[0])
            assert body_id not in bodies, f"{path.name}: body ID twice in frame {f}"
            bodies[body_id] = joints
            ids.append(body_id)
            info.setdefault(body_id, []).append(fields)
        frames.append(bodies)
        order.append(ids)
    assert pos == len(lines), f"{path.name}: {len(lines) - pos} lines after the last frame"
    return {"frames": frames, "order": order, "info": info, "crlf": crlf, "text": text}


def body_tracks(parsed: dict) -> dict[int, np.ndarray]:
    """{body ID: (T, 25, 3) xyz, zero where the body is absent}."""
    n = len(parsed["frames"])
    tracks: dict[int, np.ndarray] = {}
    for f, bodies in enumerate(parsed["frames"]):
        for body_id, joints in bodies.items():
            tracks.setdefault(body_id, np.zeros((n, 25, 3)))[f] = joints[:, :3]
    return tracks


def energy_and_xy_valid(track: np.ndarray) -> tuple[float, bool]:
    """The official body-selection quantities: motion energy and 'upright' at the first valid frame."""
    valid = track[track.any(axis=(1, 2))]
    energy = float(sum(valid[..., c].std() for c in range(3)))
    first = valid[0]
    return energy, bool(np.ptp(first[:, 1]) * 0.8 > np.ptp(first[:, 0]))


@pytest.fixture(scope="module")
def small_grid(tmp_path_factory) -> tuple[pathlib.Path, list[pathlib.Path], list[dict]]:
    """Every class from three performers in two setups and three cameras; with each file's parse."""
    out = tmp_path_factory.mktemp("small")
    paths = synthetic.generate(out, seed=0, performers=(1, 2, 3), setups=(1, 2), cameras=(1, 2, 3),
                               replications=(1,), min_frames=30, max_frames=90, progress=False)
    return out, paths, [strict_parse(p) for p in paths]


@pytest.fixture(scope="module")
def large_grid(tmp_path_factory) -> list[tuple[pathlib.Path, dict]]:
    """Many short files, to see the per-file variants that come only now and then; with their parse."""
    out = tmp_path_factory.mktemp("large")
    paths = synthetic.generate(out, seed=3, performers=tuple(range(1, 7)), setups=(1, 2), cameras=(1, 2, 3),
                               replications=(1, 2), min_frames=16, max_frames=24, progress=False)
    return [(p, strict_parse(p)) for p in paths]


def test_class_names_and_two_person_actions():
    names = synthetic.CLASS_NAMES
    assert len(names) >= 12 and len(set(names)) == len(names)
    for pair in (("wave left hand", "wave right hand"), ("clap", "rub hands"), ("kick", "knee raise")):
        assert set(pair) <= set(names)
    assert {names[a - 1] for a in synthetic.TWO_PERSON_ACTIONS} == {"handshake", "push"}
    assert len(synthetic.PARENTS) == 25 and synthetic.PARENTS[0] == -1
    assert synthetic.PARENTS[7] == 6 and synthetic.PARENTS[21] == 7 and synthetic.PARENTS[2] == 20


def test_name_grammar_and_grid(small_grid):
    assert synthetic.sample_name(1, 2, 3, 1, 4) == "S001C002P003R001A004"
    assert synthetic.parse_name("S017C003P040R002A012.skeleton") == (17, 3, 40, 2, 12)
    assert synthetic.parse_name(pathlib.Path("x/S001C001P001R001A001")) == (1, 1, 1, 1, 1)
    for bad in ("S1C1P1R1A1", "S001C001P001R001A001.txt", "s001c001p001r001a001", "S001C001P001R001A0011"):
        with pytest.raises(ValueError, match=f"'{bad}' is not an NTU sample name"):
            synthetic.parse_name(bad)
    with pytest.raises(ValueError, match=r'name fields must be integers in 1..999, got \(1, 1, 1000, 1, 1\)'):
        synthetic.sample_name(1, 1, 1000, 1, 1)

    out, paths, _ = small_grid
    assert paths == sorted(paths) and sorted(out.iterdir()) == paths  # nothing else left behind
    assert all(NAME_RE.match(p.name) for p in paths)
    fields = [synthetic.parse_name(p) for p in paths]
    assert len(paths) == 3 * 3 * 1 * len(synthetic.CLASS_NAMES)
    # Each performer performs in one setup: setups[(performer - 1) % len(setups)].
    assert {(p, s) for s, _, p, _, _ in fields} == {(1, 1), (2, 2), (3, 1)}
    assert {a for *_, a in fields} == set(range(1, len(synthetic.CLASS_NAMES) + 1))
    # The default grid has training and test subjects under the NTU cross-subject rule.
    performers = {synthetic.parse_name(n)[2] for n in synthetic.sample_names()}
    assert performers & XSUB_TRAIN and performers - XSUB_TRAIN


def test_every_file_passes_the_strict_format_check(small_grid):
    _, paths, parses = small_grid
    for path, parsed in zip(paths, parses):
        n = len(parsed["frames"])
        assert 30 <= n <= 90
        sample = synthetic.synthesize(path.name, 0, min_frames=30, max_frames=90)
        assert sample.positions.shape[1] == n
        tracks = body_tracks(parsed)
        assert sorted(tracks) == sorted(sample.body_ids)
        for b, body_id in enumerate(sample.body_ids):  # the file holds the synthesised joints
            np.testing.assert_allclose(tracks[body_id], sample.positions[b], rtol=1e-6, atol=1e-6)
        joints = np.concatenate([np.stack(list(f.values())) for f in parsed["frames"] if f])
        assert np.all((joints[..., 2] > 1.5) & (joints[..., 2] < 4.5))  # metres from the sensor
        q = np.linalg.norm(joints[..., 7:11], axis=-1)
        assert np.all((np.abs(q - 1) < 1e-5) | (q == 0))  # unit quaternions (or Kinect's zeros)
        # Pinhole projection: depth pixel grows with x / z, falls with y / z.
        x, y, z = joints[..., 0], joints[..., 1], joints[..., 2]
        np.testing.assert_allclose(joints[..., 3], 257.5 + 365.5 * x / z, atol=1e-3)
        np.testing.assert_allclose(joints[..., 4], 210.5 - 365.5 * y / z, atol=1e-3)
        assert np.all((joints[..., 5] > 0) & (joints[..., 5] < 1920))  # colour pixels inside the image
        assert np.all((joints[..., 6] > 0) & (joints[..., 6] < 1080))


def test_lengths_vary_within_limits(small_grid, large_grid):
    lengths = [len(parsed["frames"]) for parsed in small_grid[2]]
    assert min(lengths) >= 30 and max(lengths) <= 90 and len(set(lengths)) > 10
    assert all(16 <= len(parsed["frames"]) <= 24 for _, parsed in large_grid)
    names = synthetic.sample_names(performers=(1, 2))
    default = [synthetic.synthesize(n, 0).positions.shape[1] for n in names]
    assert min(default) >= 30 and max(default) <= 300 and max(default) > 150 and np.median(default) < 100


def test_deterministic_independent_of_workers_and_resumable(tmp_path, small_grid):
    kwargs = dict(performers=(3,), setups=(1,), cameras=(2,), replications=(1,), actions=(1, 11),
                  min_frames=30, max_frames=90, progress=False)
    first = synthetic.generate(tmp_path / "a", seed=0, **kwargs)
    pooled = synthetic.generate(tmp_path / "b", seed=0, num_workers=2, **kwargs)
    other = synthetic.generate(tmp_path / "c", seed=1, **kwargs)
    for p, q, r in zip(first, pooled, other):
        assert p.read_bytes() == q.read_bytes()
        assert p.read_bytes() != r.read_bytes()
        # A file does not depend on the grid it is part of.
        assert (small_grid[0] / p.name).read_bytes() == p.read_bytes()
    # Re-running leaves correct files alone and repairs a damaged one, leaving no temporary files.
    os.utime(first[0], (1, 1))
    first[1].write_bytes(first[1].read_bytes()[:-100])
    again = synthetic.generate(tmp_path / "a", seed=0, **kwargs)
    assert again == first and first[0].stat().st_mtime == 1
    assert first[1].read_bytes() == pooled[1].read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)


def test_writer_format_details(tmp_path):
    joints = np.zeros((25, 12))
    joints[:, :3] = [0.1, -0.25, 3.0]
    joints[:, 7] = 1.0
    joints[:, 11] = 2
    joints[0, 8] = 8.094816e-05
    joints[1, 0] = -0.0
    a = synthetic.SkeletonBody(72057594037931101, (0, 1, 1, 1, 1, 0, -1.0, 0.5, 2), joints)
    b = synthetic.SkeletonBody(72057594037931102, (0, 0, 0, 0, 0, 0, 0.25, -0.125, 2), joints)
    path = synthetic.write_skeleton_file(tmp_path / "S001C001P001R001A001.skeleton", [[], [a, b], [a]],
                                         crlf=True)
    parsed = strict_parse(path)
    assert parsed["crlf"]
    assert parsed["order"] == [[], [72057594037931101, 72057594037931102], [72057594037931101]]
    text = parsed["text"]
    assert text.startswith("3\r\n0\r\n2\r\n72057594037931101 0 1 1 1 1 0 -1 0.5 2\r\n25\r\n")
    lines = text.split("\r\n")
    assert lines[5] == "0.1 -0.25 3 0 0 0 0 1 8.094816E-05 0 0 2"  # whole numbers, capital E
    assert lines[6].startswith("0 -0.25 3 ")  # no negative zero
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    lf = synthetic.format_skeleton([[a]])
    assert "\r" not in lf and lf.count("\n") == 1 + 1 + 1 + 1 + 25
    with pytest.raises(ValueError, match=r'frame 0: joints must be \(25, 12\), got \(25, 11\)'):
        synthetic.format_skeleton([[synthetic.SkeletonBody(1, a.info, joints[:, :11])]])
    with pytest.raises(ValueError, match='frame 0: body info must have 9 values, got 8'):
        synthetic.format_skeleton([[synthetic.SkeletonBody(1, a.info[:8], joints)]])


def test_real_world_variants_appear(large_grid):
    parsed = [p for _, p in large_grid]
    share = lambda flags: sum(flags) / len(flags)  # noqa: E731
    assert 0.05 < share([p["crlf"] for p in parsed]) < 0.3
    assert share(["E-0" in p["text"] for p in parsed]) > 0.2
    empty_ends = [not p["frames"][0] or not p["frames"][-1] for p in parsed]
    assert 0.02 < share(empty_ends) < 0.2
    for p in parsed:  # empty frames only at the ends
        filled = np.flatnonzero([bool(f) for f in p["frames"]])
        assert len(filled) == filled[-1] - filled[0] + 1 >= len(p["frames"]) // 2
    leans = [any(f[7] == "-1" or f[8] == "-1" for fs in p["info"].values() for f in fs) for p in parsed]
    assert share(leans) > 0.02
    zero_quat = [any((b[:, 7:11] == 0).all(axis=1).any() for fr in p["frames"] for b in fr.values())
                 for p in parsed]
    assert 0.2 < share(zero_quat) < 0.8
    assert share([" 1\n" in p["text"] or " 1\r\n" in p["text"] for p in parsed]) > 0.5  # inferred joints
    ids = [i for p in parsed for i in p["info"]]
    assert len({float(i) for i in ids}) < len(set(ids))  # IDs collide when read as floats


def test_bone_lengths_differ_between_performers():
    def bones(performer: int, action: int) -> np.ndarray:
        pos = synthetic.synthesize_sample(f"S001C002P{performer:03d}R001A{action:03d}", 0)[0]
        pos = pos[pos.any(axis=(1, 2))]
        pairs = [(0, 1), (1, 20), (4, 5), (5, 6), (12, 13), (13, 14), (4, 8)]
        return np.array([np.median(np.linalg.norm(pos[:, a] - pos[:, b], axis=-1)) for a, b in pairs])

    same_a, same_b = bones(1, 3), bones(1, 10)
    np.testing.assert_allclose(same_a, same_b, atol=0.006)  # one performer: one body
    others = [bones(p, 3) for p in (2, 3, 4, 5)]
    for other in others:
        assert np.abs(other - same_a).max() > 0.01
    heights = [b[0] + b[1] + b[4] + b[5] for b in [same_a, *others]]
    assert np.ptp(heights) > 0.04


def test_two_person_classes_have_two_real_facing_bodies():
    for action in sorted(synthetic.TWO_PERSON_ACTIONS):
        for performer, camera, rep in ((1, 1, 1), (6, 3, 2)):
            sample = synthetic.synthesize(f"S002C{camera:03d}P{performer:03d}R{rep:03d}A{action:03d}", 0)
            real = [b for b, k in enumerate(sample.kinds) if k != "spurious"]
            assert [sample.kinds[b] for b in real] == ["performer", "partner"]
            a, b = (sample.positions[i] for i in real)
            frames = a.any(axis=(1, 2))
            assert np.array_equal(frames, b.any(axis=(1, 2)))
            a, b = a[frames], b[frames]
            energies = [energy_and_xy_valid(x) for x in (a, b)]
            assert all(valid for _, valid in energies) and min(e for e, _ in energies) > 0.4
            gap = np.linalg.norm(a[:, 0] - b[:, 0], axis=-1)
            assert 0.4 < gap.min() and gap.max() < 1.6
            for me, you in ((a, b), (b, a)):  # forward = left x up, pointing at the other person
                left, up = me[:, 4] - me[:, 8], me[:, 20] - me[:, 0]
                forward = np.cross(left, up)
                assert np.mean(np.sum(forward * (you[:, 0] - me[:, 0]), axis=-1) > 0) > 0.9


def _motion(action: int, performer: int, joint: int, camera: int = 2) -> float:
    """How much a joint moves relative to the spine base over a sample (summed per-axis std)."""
    pos = synthetic.synthesize_sample(f"S001C{camera:03d}P{performer:03d}R001A{action:03d}", 0)[0]
    pos = pos[pos.any(axis=(1, 2))]
    return float((pos[:, joint] - pos[:, 0]).std(axis=0).sum())


def test_fine_motion_pairs_differ_in_the_intended_joints():
    for performer in (1, 2, 3, 7):
        camera = 1 + performer % 3
        assert _motion(1, performer, LEFT_HAND, camera) > 4 * _motion(1, performer, RIGHT_HAND, camera)
        assert _motion(2, performer, RIGHT_HAND, camera) > 4 * _motion(2, performer, LEFT_HAND, camera)

        def hands(action: int) -> np.ndarray:
            pos = synthetic.synthesize_sample(f"S001C{camera:03d}P{performer:03d}R001A{action:03d}", 0)[0]
            pos = pos[pos.any(axis=(1, 2))]
            dist = np.linalg.norm(pos[:, LEFT_HAND] - pos[:, RIGHT_HAND], axis=-1)
            return dist[len(dist) // 3: 2 * len(dist) // 3]  # the middle of the action

        clap, rub = hands(3), hands(4)
        # Clapping opens and closes the hands; rubbing keeps them together.
        assert clap.mean() > 0.2 > 0.1 > rub.mean() and np.ptp(clap) > 0.15 and np.ptp(clap) > np.ptp(rub)

        # Kick: the right foot travels much further than the right knee; knee raise: about as far.
        kick = _motion(5, performer, 19, camera) / _motion(5, performer, 17, camera)
        knee = _motion(6, performer, 19, camera) / _motion(6, performer, 17, camera)
        assert kick > 1.5 > knee
        assert _motion(5, performer, 19, camera) > 3 * _motion(5, performer, 15, camera)


def test_spurious_body_is_removed_by_the_official_selection(large_grid):
    seen = 0
    for path, parsed in large_grid:
        tracks = body_tracks(parsed)
        if len(tracks) == 1:
            continue
        stats = {i: energy_and_xy_valid(t) for i, t in tracks.items()}
        top = max(e for e, _ in stats.values())
        removed = {i for i, (e, valid) in stats.items() if e < 0.85 * top and not valid}
        kept = set(tracks) - removed
        action = synthetic.parse_name(path)[4]
        assert len(kept) == (2 if action in synthetic.TWO_PERSON_ACTIONS else 1), path.name
        for i in removed:  # present in part of the frames only, nearly static
            present = tracks[i].any(axis=(1, 2))
            assert 0 < present.sum() < 0.8 * sum(bool(f) for f in parsed["frames"])
            assert stats[i][0] < 0.6 * top
            seen += 1
    assert 0.03 * len(large_grid) < seen < 0.25 * len(large_grid)


def test_command_line(tmp_path):
    synthetic.main([f"--out_dir={tmp_path}", "--seed=2", "--performers", "5", "--setups", "3",
                    "--cameras", "1", "--replications", "2", "--actions", "10", "--max_frames=40",
                    "--no_progress"])
    (path,) = tmp_path.iterdir()
    assert path.name == "S003C001P005R002A010.skeleton"
    sample = synthetic.synthesize(path.name, 2, max_frames=40)
    assert path.read_bytes() == synthetic.format_skeleton(sample.frames, crlf=sample.crlf).encode()

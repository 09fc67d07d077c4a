"""Temporal sampling, streams and evaluation batching of the input pipeline."""

import numpy as np
import pytest

from configs import default
from stgat_jax import input_pipeline as ip


@pytest.mark.parametrize("num_frames", [7, 40, 150, 299])
def test_random_resample_is_ordered_and_covers_short_sequences(num_frames):
    rng = np.random.default_rng(0)
    idx = ip.random_resample_indices(num_frames, 150, rng)
    assert idx.shape == (150,)
    assert np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() < num_frames
    if num_frames > 150:
        assert len(np.unique(idx)) == 150  # a subset without replacement
    elif num_frames < 150:
        counts = np.bincount(idx, minlength=num_frames)
        # Positions are drawn from range(T) repeated ceil(150/T) times: no frame more often than that.
        assert counts.max() <= int(np.ceil(150 / num_frames))
    else:
        np.testing.assert_array_equal(idx, np.arange(150))


def test_random_resample_varies_with_the_rng():
    a = ip.random_resample_indices(300, 150, np.random.default_rng(1))
    b = ip.random_resample_indices(300, 150, np.random.default_rng(2))
    assert not np.array_equal(a, b)


def test_uniform_resample_and_centre_crop_match_the_official_rule():
    idx = ip.uniform_resample_indices(300, 150)
    np.testing.assert_array_equal(idx, [int(i * 300 / 150) for i in range(150)])
    idx = ip.uniform_resample_indices(47, 150)
    np.testing.assert_array_equal(idx, [int(i * 47 / 150) for i in range(150)])
    assert ip.centre_crop_start(150, 128) == 11
    # Official random_choose_simple(center=True): begin = (T - size) // 2, also for odd T - size.
    assert [ip.centre_crop_start(t, 8) for t in (9, 11, 12)] == [0, 1, 2]


def test_motion_appends_a_zero_frame_and_skips():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) ** 2
    m = ip.motion(x, 1)
    assert m.shape == x.shape and m[-1].sum() == 0
    np.testing.assert_array_equal(m[:-1, 0, 0, 0], np.diff(x[:, 0, 0, 0]))
    m2 = ip.motion(x, 2)
    assert m2.shape == (5, 1, 1, 1)
    np.testing.assert_array_equal(m2[:-1, 0, 0, 0], np.diff(x[::2, 0, 0, 0]))


def test_unknown_stream_is_an_error():
    with pytest.raises(ValueError, match="unknown stream 'bones'"):
        ip.stream_transform(np.zeros((4, 2, 25, 3), np.float32), "bones")


class _ListSource:
    def __init__(self, lengths):
        self.items = [{"skeleton": np.full((t, 2, 25, 3), i, np.float32), "label": i % 3,
                       "sample_name": f"s{i}".encode()} for i, t in enumerate(lengths)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_batches_cover_every_sample_exactly_once(process_count):
    config = default.get_testing_config()
    config.eval_batch_size = 4
    source = _ListSource([5, 9, 30, 12, 8, 3, 40])  # 7 samples: 2 global batches, 1 padded row
    seen = []
    for p in range(process_count):
        batches = list(ip.eval_batches(source, config, p, process_count))
        assert len(batches) == 2  # same number of batches on every process
        for b in batches:
            assert b["x"].shape == (4 // process_count, 2, config.data.window_frames, 25, 3)
            seen += [int(i) for i, m in zip(b["index"], b["mask"]) if m]
            # The sample's value survives sampling: record i is filled with i.
            for i, m, x in zip(b["index"], b["mask"], b["x"]):
                if m:
                    assert np.all(x == i)
    assert sorted(seen) == list(range(7))


def test_train_sample_shapes_and_determinism():
    config = default.get_testing_config()
    t = ip.TrainSample(config.data, "ntu")
    rec = {"skeleton": np.random.default_rng(0).normal(size=(33, 2, 25, 3)).astype(np.float32), "label": 4}
    a = t.random_map(rec, np.random.default_rng(5))
    b = t.random_map(rec, np.random.default_rng(5))
    assert a["x"].shape == (2, config.data.window_frames, 25, 3) and a["label"] == 4
    np.testing.assert_array_equal(a["x"], b["x"])


def test_window_longer_than_resample_is_an_error():
    config = default.get_testing_config()
    config.data.window_frames = config.data.resample_frames + 1
    with pytest.raises(ValueError, match="window_frames"):
        ip.EvalSample(config.data, "ntu")


def test_resize_frames_interpolates_linearly():
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    np.testing.assert_allclose(ip.resize_frames(x, 4), x)
    y = ip.resize_frames(x, 8)[:, 0]
    assert y[0] == 0 and y[-1] == 3 and np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(ip.resize_frames(x, 2)[:, 0], [0.5, 2.5])  # torch align_corners=False


def test_crop_resize_sampling():
    config = default.get_testing_config()
    config.data.sampling = "crop_resize"
    config.data.crop_min_frames = 4
    rec = {"skeleton": np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1) * np.ones((1, 2, 25, 3), np.float32),
           "label": 1}
    out = ip.TrainSample(config.data, "ntu").random_map(rec, np.random.default_rng(0))["x"]
    assert out.shape == (2, config.data.window_frames, 25, 3)
    frames = out[0, :, 0, 0]
    assert np.all(np.diff(frames) > 0) and frames[-1] - frames[0] >= 0.5 * 50 * 0.5  # a crop of >= half
    test = ip.EvalSample(config.data, "ntu").map(rec)["x"][0, :, 0, 0]
    assert abs(test.mean() - 24.5) < 1.0  # centred
    config.data.sampling = "nearest"
    with pytest.raises(ValueError, match="data.sampling='nearest'"):
        ip.EvalSample(config.data, "ntu")


def test_train_batches_do_not_depend_on_the_process_count():
    config = default.get_testing_config()
    config.batch_size = 4
    source = _ListSource([5 + i for i in range(10)])
    single = iter(ip.create_train_loader(source, config, seed=7, process_index=0, process_count=1))
    halves = [iter(ip.create_train_loader(source, config, seed=7, process_index=p, process_count=2))
              for p in range(2)]
    seen = []
    for _ in range(6):  # 24 samples: more than two epochs of 10
        whole = next(single)
        parts = [next(h) for h in halves]
        np.testing.assert_array_equal(whole["x"], np.concatenate([p["x"] for p in parts]))
        np.testing.assert_array_equal(whole["label"], np.concatenate([p["label"] for p in parts]))
        seen += [int(x[0, 0, 0, 0]) for x in whole["x"]]
    # Every epoch is a permutation of all samples, and epochs are shuffled differently.
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert seen[:10] != seen[10:20]


@pytest.mark.parametrize("sampling", ["resample_crop", "crop_resize"])
def test_multi_clip_eval_stacks_evenly_spread_crops(sampling):
    config = default.get_testing_config()  # resample 12 frames, window 8
    config.data.sampling = sampling
    config.data.test_crop_ratio = 0.5
    rec = {"skeleton": np.arange(40, dtype=np.float32).reshape(40, 1, 1, 1) * np.ones((1, 2, 25, 3), np.float32),
           "label": 3}
    one = ip.EvalSample(config.data, "ntu").map(rec)["x"]
    three = ip.EvalSample(config.data, "ntu", num_clips=3).map(rec)
    assert three["x"].shape == (3,) + one.shape and three["label"] == 3
    firsts = three["x"][:, 0, 0, 0, 0]
    assert firsts[0] < firsts[1] < firsts[2]  # earliest, middle and latest crops
    np.testing.assert_array_equal(three["x"][1], one)  # the middle clip is the single centre crop
    with pytest.raises(ValueError, match="num_test_clips=0"):
        ip.EvalSample(config.data, "ntu", num_clips=0)


# --- CTR-GCN's NW-UCLA options ---------------------------------------------------------------------

def _ucla_data_config(**changes):
    config = default.get_testing_config()
    data = config.data
    data.sampling, data.resample_frames, data.window_frames = "random_sorted", 52, 52
    data.center_joint, data.random_rotation, data.random_scale = 1, 60.0, (0.5, 1.5)
    data.minmax_normalize, data.stream_after_sampling = True, True
    for key, value in changes.items():
        data[key] = value
    return data


def test_random_sorted_draws_from_a_hundred_copies():
    # CTR-GCN draws 52 of range(T) * 100 without replacement: frames repeat even when T > 52,
    # where the official STGAT draw (repeats=None) never repeats one.
    for seed in range(3):
        idx = ip.random_resample_indices(200, 52, np.random.default_rng(seed), repeats=100)
        assert idx.shape == (52,) and np.all(np.diff(idx) >= 0) and 0 <= idx.min() <= idx.max() < 200
        assert len(np.unique(idx)) < 52
        assert len(np.unique(ip.random_resample_indices(200, 52, np.random.default_rng(seed)))) == 52
    one = ip.random_resample_indices(1, 52, np.random.default_rng(0), repeats=100)
    np.testing.assert_array_equal(one, np.zeros(52))


@pytest.mark.parametrize("num_frames", [1, 10, 52, 201])
def test_linspace_indices(num_frames):
    idx = ip.linspace_indices(num_frames, 52)
    assert idx[0] == 0 and idx[-1] == num_frames - 1 and np.all(np.diff(idx) >= 0)
    np.testing.assert_array_equal(idx, [int(i * (num_frames - 1) / 51 + 1e-9) for i in range(52)])


def test_rotation_scale_matrix_convention():
    # Row vectors times Ry @ Rx: 90 degrees about x takes y to z, about y takes x to -z.
    np.testing.assert_allclose(np.array([0, 1, 0]) @ ip.rotation_scale_matrix(90, 0, 1), [0, 0, 1],
                               atol=1e-12)
    np.testing.assert_allclose(np.array([1, 0, 0]) @ ip.rotation_scale_matrix(0, 90, 1), [0, 0, -1],
                               atol=1e-12)
    m = ip.rotation_scale_matrix(30, -45, 2.0)
    np.testing.assert_allclose(m @ m.T, 4 * np.eye(3), atol=1e-12)


def test_spatial_transform_centres_and_scales_each_axis_to_unit_range():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 1, 20, 3)).astype(np.float32) * [1, 2, 3] + [0.5, 1.0, 3.0]
    out = ip.SpatialTransform(_ucla_data_config())(x, None)  # evaluation: no augmentation
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.min(axis=(0, 1, 2)), -1, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=(0, 1, 2)), 1, atol=1e-6)
    low, high = x.min(axis=(0, 1, 2)), x.max(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - low) / (high - low) * 2 - 1, atol=1e-5)
    # An axis without spread becomes 0 instead of a division by zero.
    flat = x.copy()
    flat[..., 2] = 7.0
    assert np.all(ip.SpatialTransform(_ucla_data_config())(flat, None)[..., 2] == 0)


def test_spatial_transform_rotation_is_training_only_and_random():
    x = np.random.default_rng(1).normal(size=(6, 1, 20, 3)).astype(np.float32)
    t = ip.SpatialTransform(_ucla_data_config(minmax_normalize=False))
    centred = x - x[0, 0, 1]
    np.testing.assert_allclose(t(x, None), centred, atol=1e-6)
    a, b = t(x, np.random.default_rng(0)), t(x, np.random.default_rng(1))
    assert not np.allclose(a, b) and not np.allclose(a, centred)
    # A rotation times a scale in [0.5, 1.5]: distances from the centre joint grow by one factor.
    ratio = np.linalg.norm(a, axis=-1) / np.maximum(np.linalg.norm(centred, axis=-1), 1e-12)
    keep = np.linalg.norm(centred, axis=-1) > 1e-3
    assert 0.5 <= ratio[keep].min() and ratio[keep].max() <= 1.5
    np.testing.assert_allclose(ratio[keep], ratio[keep][0], rtol=1e-4)
    assert not ip.SpatialTransform(default.get_testing_config().data).active  # off by default
    with pytest.raises(ValueError, match="random_scale"):
        ip.SpatialTransform(_ucla_data_config(random_scale=(0.0, 1.0)))


def test_random_sorted_pipeline_takes_motion_from_the_sampled_frames():
    values = np.arange(10, dtype=np.float32) ** 2
    x = np.zeros((10, 1, 20, 3), np.float32)
    x[:, 0, :, :] = values[:, None, None]
    x[:, 0, 0, :] = 0  # joint 0 stays at 0: the min-max range of every axis is the same [0, 81]
    rec = {"skeleton": x, "label": 2}
    data = _ucla_data_config(stream="joint_motion", center_joint=-1)
    out = ip.EvalSample(data, "kinect_v1").map(rec)["x"]
    assert out.shape == (1, 52, 20, 3)
    sampled = values[ip.linspace_indices(10, 52)] / 81 * 2 - 1
    want = np.append(np.diff(sampled), 0)
    np.testing.assert_allclose(out[0, :, 5, 0], want, atol=1e-6)
    assert np.sum(want == 0) > 40  # repeated frames give zero motion, as in CTR-GCN
    train = ip.TrainSample(data, "kinect_v1").random_map(rec, np.random.default_rng(0))["x"]
    assert train.shape == (1, 52, 20, 3)
    with pytest.raises(ValueError, match="motion_skip"):
        ip.EvalSample(_ucla_data_config(motion_skip=2), "kinect_v1")
    with pytest.raises(ValueError, match="one clip"):
        ip.EvalSample(data, "kinect_v1", num_clips=2).map(rec)

"""What every config shares: option parsing and the base config that each config file adjusts.

Config files import this module (and the recipe modules `csta_base`, `stgat_base`); none imports
another config file's `get_config`.
"""

import ml_collections


def parse_options(arg: str | None, defaults: dict[str, str]) -> dict[str, str]:
    """Parses 'key=value,key=value' config options; an unknown key is an error."""
    options = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            raise ValueError(f"config option {item!r}: expected key=value with key in {sorted(defaults)}")
        options[key] = value
    return options


def base_config(stream: str = "joint", benchmark: str = "synthetic_xsub") -> ml_collections.ConfigDict:
    """Every field a run reads, with the values of the embedded synthetic set (configs/default.py):
    a small STGAT on synthetic NTU-format skeletons. Config files change what differs."""
    config = ml_collections.ConfigDict()

    config.dataset = ml_collections.ConfigDict()
    config.dataset.name = "synthetic"
    config.dataset.benchmark = benchmark
    config.dataset.data_dir = "data/tfds"
    config.dataset.raw_dir = "data/raw/synthetic"
    config.dataset.num_classes = 12
    config.dataset.num_persons = 2
    config.dataset.num_joints = 25
    config.dataset.graph = "ntu"
    config.dataset.test_split = "test"  # the split evaluated during and after training
    # Arguments of data_prep.synthetic.generate when the raw files are missing.
    config.dataset.synthetic_seed = 0
    config.dataset.synthetic_performers = tuple(range(1, 17))

    config.data = ml_collections.ConfigDict()
    config.data.resample_frames = 40
    config.data.window_frames = 32
    config.data.channels = 3
    config.data.stream = stream
    config.data.motion_skip = 1
    config.data.sampling = "resample_crop"  # or "crop_resize" (HCN / CSTA-CNN), "random_sorted" (CTR-GCN)
    config.data.crop_min_ratio = 0.5
    config.data.crop_max_ratio = 1.0
    config.data.crop_min_frames = 64
    config.data.test_crop_ratio = 0.9
    # CTR-GCN's NW-UCLA normalisation and augmentation (stgat_jax.input_pipeline.SpatialTransform;
    # all off here) and its order of streams and sampling.
    config.data.center_joint = -1  # >= 0: subtract this joint of the first frame
    config.data.random_rotation = 0.0  # > 0: training rotation about x and y, degrees in [-r, r]
    config.data.random_scale = (1.0, 1.0)  # training scale factor drawn from (low, high)
    config.data.minmax_normalize = False  # each channel to [-1, 1] over the whole sample
    config.data.stream_after_sampling = False  # bones and motion from the sampled frames
    config.data.num_workers = 0
    config.data.worker_buffer_size = 2

    config.model = ml_collections.ConfigDict()
    config.model.name = "stgat"
    config.model.blocks = ((32, 32, 1), (32, 64, 2), (64, 64, 1))
    config.model.num_heads = 4
    config.model.dtype = "float32"
    # 1x1/temporal convs: "cpu" (backward passes laid out for XLA:CPU), "xla" (plain autodiff, for
    # TPU/GPU) or "auto" (by the platform of the devices the step is compiled for).
    config.model.conv_impl = "auto"
    # Rematerialise each block in the backward pass: "none", "full", "dots", "dots_no_batch".
    config.model.remat = "none"

    config.optim = ml_collections.ConfigDict()
    config.optim.name = "sgd"
    config.optim.lr = 0.1
    config.optim.momentum = 0.9
    config.optim.nesterov = True
    config.optim.weight_decay = 5e-4
    config.optim.warmup_epochs = 1
    config.optim.milestones = (4, 5)
    config.optim.gamma = 0.1

    config.batch_size = 32
    config.eval_batch_size = 64
    config.num_epochs = 6
    config.num_train_steps = -1  # > 0 overrides num_epochs.
    config.log_every_steps = 20
    config.eval_every_epochs = 0.0  # > 0: evaluate on the test split and keep the best checkpoint.
    config.tensorboard = True
    config.seed = 1

    config.checkpoint = ml_collections.ConfigDict()
    config.checkpoint.every_steps = 200
    config.checkpoint.keep = 3
    config.checkpoint.async_save = True

    config.eval = ml_collections.ConfigDict()
    config.eval.checkpoint_step = -1  # -1: the latest.
    config.eval.num_test_clips = 1  # > 1: average the logits of crops at evenly spread offsets
    return config

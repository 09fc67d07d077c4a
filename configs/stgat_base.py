"""The official STGAT recipe, shared by the benchmark configs (not a config file itself).

Full STGAT (8 blocks, 8 heads), 150-frame resampling and 128-frame windows, SGD with Nesterov
momentum 0.9, LR 0.1, weight decay 5e-4, batch 32, 5 warm-up epochs, x0.1 at the milestones.
"""

import ml_collections

from configs import common, csta_base


def benchmark_config(dataset: str, benchmark: str, num_classes: int, arg: str | None,
                     num_epochs: int = 120, milestones: tuple[int, ...] = (60, 90)) -> ml_collections.ConfigDict:
    """Full STGAT, batch 32, SGD Nesterov 0.1, 5 warm-up epochs, x0.1 at the milestones.

    Options: ``stream``, ``motion_skip``, ``model`` and ``source``: ``raw`` (records of the raw
    files) or the format the records were imported from (``pyskl``, ``pyskl_2d``, ``ctrgcn``,
    ``stgat``; ``python -m data_prep.prepare --format=...``).
    """
    options = common.parse_options(arg, {"stream": "joint", "motion_skip": "1", "model": "stgat",
                                         "source": "raw"})
    config = common.base_config()
    config.dataset.name = dataset
    config.dataset.benchmark = f"{dataset}_{benchmark}"
    config.dataset.raw_dir = ""
    config.dataset.num_classes = num_classes
    if options["source"] != "raw":  # Records imported from another toolkit's files (README).
        config.dataset.benchmark += f"_{options['source']}"
    if options["source"] == "pyskl_2d":  # COCO-17 keypoints: x, y (the records add the score).
        config.dataset.num_joints = 17
        config.dataset.graph = "coco"
        config.data.channels = 2

    config.data.resample_frames = 150
    config.data.window_frames = 128
    config.data.stream = options["stream"]
    config.data.motion_skip = int(options["motion_skip"])
    config.data.num_workers = 8

    config.model.blocks = ((64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1),
                           (128, 256, 2), (256, 256, 1), (256, 256, 1), (256, 256, 1))
    config.model.num_heads = 8

    config.optim.lr = 0.1
    config.optim.warmup_epochs = 5
    config.optim.milestones = milestones
    config.batch_size = 32
    config.eval_batch_size = 32
    config.num_epochs = num_epochs
    config.log_every_steps = 100
    config.eval_every_epochs = 1.0  # as the official loop; the best checkpoint is kept in WORKDIR/best
    config.checkpoint.every_steps = 1000
    if options["model"] == "csta_cnn":
        csta_base.apply_csta_cnn(config)
        config.data.num_workers = 4
    elif options["model"] == "stgat_csta":  # STGAT with CSTA plugged in after its last block
        csta_base.add_csta_to_stgat(config)
    elif options["model"] != "stgat":
        raise ValueError(f"config option model={options['model']!r}: expected stgat, stgat_csta or csta_cnn")
    return config

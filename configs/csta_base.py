r"""CSTA-CNN (Wang, arXiv 1909.10214: HCN with coupled spatial-temporal attention) and its recipe.

Not a config file: `apply_csta_cnn` switches a config to CSTA-CNN (any config's `model=csta_cnn`),
`benchmark_config` builds the UESTC configs, `add_csta_to_stgat` plugs the module into STGAT for
ablations. The paper gives only the idea; every choice it leaves open is a model field, and
`stgat_jax/models/csta.py` says what each default is and why (the motion prior included).
Recipe (skelact's HCN): 32-frame clips, a random 50-100 % crop resized for training and the centre
90 % for testing; Adam, LR 1e-3, L2 weight decay 1e-4 on every parameter, no warm-up, global batch
64, 500 epochs with x0.1 at 350, 430 and 470 (skelact's 10x weight decay on fc7 is not reproduced).
An accelerator recipe; measured short runs are in benchmarks/RESULTS.md. Reported top-1 (from an
AI-generated summary of the paper, unverified): UESTC 95.6 (protocol not stated), UESTC cross-view
II 81.1, NTU RGB+D 60 cross-subject 84.9, cross-view 89.9.
"""

import ml_collections

from configs import common

# HCN's schedule in skelact (batch 64 = 2 GPUs x 32).
EPOCHS = 500
MILESTONES = (350, 430, 470)
BATCH_SIZE = 64


def apply_csta_cnn(config: ml_collections.ConfigDict, num_frames: int = 32) -> ml_collections.ConfigDict:
    """Switches `config` to CSTA-CNN with the HCN recipe, in place, and returns it.

    Sets the model, the crop-and-resize sampling, Adam and the schedule (module docstring); why
    each CSTA default is what it is: stgat_jax/models/csta.py. Callers may then shorten the
    schedule (the synthetic default does).
    """
    config.model = ml_collections.ConfigDict()
    config.model.name = "csta_cnn"
    config.model.fc7_features = 256
    config.model.dropout = 0.5
    config.model.csta_position = "conv2"
    config.model.csta_subnet_input = "features"
    config.model.csta_pooling = "mean"
    config.model.csta_hidden_features = 64
    config.model.csta_activation = "relu"
    config.model.csta_normalization = "softmax_rescaled"
    config.model.csta_motion_prior = 1.0
    config.model.dtype = "float32"

    config.data.sampling = "crop_resize"
    config.data.window_frames = num_frames
    config.data.resample_frames = num_frames
    config.data.crop_min_ratio = 0.5
    config.data.crop_max_ratio = 1.0
    config.data.crop_min_frames = num_frames
    config.data.test_crop_ratio = 0.9

    config.optim.name = "adam"
    config.optim.lr = 1e-3
    config.optim.weight_decay = 1e-4
    config.optim.warmup_epochs = 0
    config.optim.milestones = MILESTONES
    config.optim.gamma = 0.1
    config.batch_size = BATCH_SIZE
    config.eval_batch_size = BATCH_SIZE
    config.num_epochs = EPOCHS
    return config


def benchmark_config(dataset: str, benchmark: str, num_classes: int, num_persons: int,
                     arg: str | None) -> ml_collections.ConfigDict:
    """CSTA-CNN on a prepared benchmark `{dataset}_{benchmark}` with the HCN recipe.

    Options: `model=csta_cnn` (default) or `model=hcn` (the same network and recipe without CSTA,
    the baseline of the ablation), `stream=joint|bone|joint_motion|bone_motion`.
    """
    options = common.parse_options(arg, {"model": "csta_cnn", "stream": "joint"})
    if options["model"] not in ("csta_cnn", "hcn"):
        raise ValueError(f"config option model={options['model']!r}: expected csta_cnn or hcn")
    config = common.base_config()
    config.dataset.name = dataset
    config.dataset.benchmark = f"{dataset}_{benchmark}"
    config.dataset.raw_dir = ""
    config.dataset.num_classes = num_classes
    config.dataset.num_persons = num_persons
    apply_csta_cnn(config)
    config.model.name = options["model"]
    config.data.stream = options["stream"]
    config.data.num_workers = 4
    config.log_every_steps = 100
    config.checkpoint.every_steps = 1000
    return config


def add_csta_to_stgat(config: ml_collections.ConfigDict, blocks: tuple[int, ...] | None = None,
                      ) -> ml_collections.ConfigDict:
    """Adds a CoupledAttention after STGAT blocks `blocks` (default: the last one), in place.

    The last block's output is what STGAT averages over persons, frames and joints before its
    classifier, so with the default normalisation the map turns that average into a weighted one.
    The other fields take the CSTA-CNN defaults (stgat_jax/models/csta.py), except the motion
    prior, which stays off (csta_motion_prior = 0): it has not been measured with STGAT. Call it
    before locking the config, e.g. from a config file's `get_config`.
    """
    if config.model.name != "stgat":
        raise ValueError(f"config.model.name={config.model.name!r}; expected 'stgat'")
    num_blocks = len(config.model.blocks)
    config.model.csta_blocks = (num_blocks - 1,) if blocks is None else tuple(blocks)
    config.model.csta_hidden_features = 64
    config.model.csta_pooling = "mean"
    config.model.csta_subnet_input = "features"
    config.model.csta_normalization = "softmax_rescaled"
    config.model.csta_activation = "relu"
    config.model.csta_motion_prior = 0.0
    return config

r"""CSTA-CNN (HCN with coupled spatial-temporal attention) and its training recipe.

CSTA (Wang, arXiv 1909.10214) learns one weight per joint and one per frame with two subnetworks and
couples them by an outer product into a T x V map; CSTA-CNN plugs it into HCN. The paper's abstract
gives only that idea, so the module's design and the training recipe are reconstructions. Every
choice the paper leaves open is a config field; the defaults, and why:

model (`stgat_jax.models.csta.HCN` fields):
    csta_position = 'conv2'       where the map multiplies the features: 'input' (C=3), 'conv1'
                                  (C=64) or 'conv2' (C=32, the last tensor that still has a joint
                                  axis before conv3 mixes the joints; the most "CNN" choice).
    csta_subnet_input = 'features'  the subnetworks read the tensor they rescale; 'coordinates'
                                  makes them read the stream's input (positions or motion);
                                  'motion' the joint speeds of the model input, relative to
                                  the clip's mean speed.
    csta_pooling = 'mean'         pooling over frames (joint net) and joints (frame net): mean|max.
    csta_hidden_features = 64     width of both two-layer subnetworks.
    csta_activation = 'relu'      relu|gelu|tanh|sigmoid between the two layers.
    csta_normalization = 'softmax_rescaled'  softmax over joints and over frames, map times T*V
                                  (mean 1: uniform attention is the identity); 'sigmoid' gates;
                                  'residual' F * (1 + A).
    csta_motion_prior = 1.0       weight g of a motion prior added to the subnetworks' logits:
                                  g * log(share of the clip's motion) per joint and per frame,
                                  from the joint speeds of the model input (both streams). With
                                  the softmax, joint weight = (motion share)^g x learned factor,
                                  renormalised, and frames alike; 0 gives the plain learned
                                  attention. Not from the paper. Why on: the paper's aim is
                                  weights that show which joints and frames matter, and the
                                  classification loss alone does not make them do so. Measured
                                  on the synthetic cross-subject test files of the two one-arm
                                  classes (36 each, one run each; uniform = 0.24 per arm):
                                  without the prior the arm masses stay within 0.24-0.33 and do
                                  not follow the waving arm; the same arm leads for both
                                  classes (position stream: wave left 0.28 left / 0.33 right,
                                  wave right 0.26 / 0.28; motion stream 0.24 / 0.24 for both).
                                  With csta_subnet_input='motion' they move a little more (0.19-
                                  0.29) but three of the four class and stream pairs favour the
                                  still arm. A per-joint
                                  gain shared by all samples is absorbed by conv3, whose input
                                  channels are the joints, and the set is learnt before the
                                  subnetworks move much. With the prior the waving arm holds
                                  0.72-0.75 of the joint weight and the still arm about 0.10, in
                                  both streams. The preference comes from the prior: the learned
                                  factor alone stays near uniform (0.24 per arm), so on this set
                                  the picture shows where the body moves, re-weighted by what
                                  the subnetworks learnt. Frames follow the motion too: the
                                  largest frame weights fall where the arm is raised and lowered.
                                  On real data (NW-UCLA view 3, 12-epoch runs) the prior did
                                  not cost accuracy: 67.9 with it, 64.9 without, HCN 63.1
                                  (configs/nw_ucla.py).
    Fixed by the model, not fields: separate CSTA parameters per stream (position, motion), shared
    by the persons of a sample; the map is a plain outer product (no learned layer after it).
    num_frames = data.window_frames = 32 (HCN paper; 64 is skelact's and HCN-pytorch's clip).
    fc7_features = 256, dropout = 0.5 (HCN paper).
data (`stgat_jax.input_pipeline`, sampling='crop_resize'): a random crop of 50-100 % of the valid
    frames (at least window_frames) resized to the clip length for training; the centre 90 %
    resized for testing (skelact's HCN pipeline).
optim: Adam, LR 1e-3, L2 weight decay 1e-4 on every parameter, no warm-up, global batch 64,
    500 epochs with x0.1 at epochs 350, 430 and 470 (skelact's HCN schedule). skelact's 10x weight
    decay on fc7 is not reproduced.

Reported CSTA-CNN top-1 (an AI-generated summary of the paper, not its tables; unverified):
    UESTC 95.6 (the protocol is not stated; taken here as cross-view I, it may be cross-subject),
    UESTC cross-view II 81.1, NTU RGB+D 60 cross-subject 84.9 and cross-view 89.9
    (`configs/ntu60_xsub.py:model=csta_cnn`, `configs/ntu60_xview.py:model=csta_cnn`). For
    reference, HCN's own paper reports 86.5 / 91.1 on NTU 60, so CSTA-CNN is said to be slightly
    below HCN there. 84.9 equals HCN-pytorch's T=64 reimplementation exactly. The UESTC cross-view
    splits of the dataset paper were not available, so `data_prep` makes them options.

`add_csta_to_stgat` plugs the same module into STGAT (after chosen blocks) for ablations.
"""

import ml_collections

from configs import common

# HCN's schedule in skelact (batch 64 = 2 GPUs x 32).
EPOCHS = 500
MILESTONES = (350, 430, 470)
BATCH_SIZE = 64


def apply_csta_cnn(config: ml_collections.ConfigDict, num_frames: int = 32) -> ml_collections.ConfigDict:
    """Switches `config` to CSTA-CNN with the HCN recipe, in place, and returns it.

    Sets the model, the crop-and-resize sampling, Adam and the schedule; see the module docstring
    for every default. Callers may then shorten the schedule (the synthetic default does).
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
    The other fields take the CSTA-CNN defaults (module docstring), except the motion prior,
    which stays off (csta_motion_prior = 0): it has not been measured with STGAT. Call it before
    locking the config, e.g. from a config file's `get_config`.
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

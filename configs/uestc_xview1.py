r"""CSTA-CNN (Wang; HCN with coupled spatial-temporal attention) on UESTC varying-view, cross-view I.

    python -m data_prep.prepare --dataset=uestc --benchmarks=uestc_xview1 --raw_dir=PATH/TO/UESTC/skeletons \
        --data_dir=data/tfds
    python main.py --config=configs/uestc_xview1.py --workdir=runs/uestc_xview1_csta_cnn

40 classes, one person (M=1), 25 Kinect v2 joints. The dataset paper's cross-view splits were not
available: `data_prep.uestc` trains on one side view (c2, d1) and tests on the other c2 views (d2-d8).
HCN recipe (configs/csta_base.py: 32-frame clips, Adam 1e-3, 500 epochs at global batch 64): an
accelerator job, no full run measured here. Records keep raw camera-space coordinates in metres.
Expected top-1: 95.6, if the paper summary's unqualified "95.6 on UESTC" is this protocol
(unverified: it may be cross-subject).
Options: `model=csta_cnn|hcn` (hcn: the same network without CSTA),
`stream=joint|bone|joint_motion|bone_motion`.
"""

from configs import csta_base


def get_config(arg: str | None = None):
    return csta_base.benchmark_config("uestc", "xview1", 40, 1, arg)

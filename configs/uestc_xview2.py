r"""CSTA-CNN (Wang; HCN with coupled spatial-temporal attention) on UESTC varying-view, cross-view II.

    python -m data_prep.prepare --dataset=uestc --benchmarks=uestc_xview2 --raw_dir=PATH/TO/UESTC/skeletons \
        --data_dir=data/tfds
    python main.py --config=configs/uestc_xview2.py --workdir=runs/uestc_xview2_csta_cnn

40 classes, one person (M=1), 25 Kinect v2 joints. The dataset paper's cross-view splits were not
available: `data_prep.uestc` trains on the odd side views (c2, d1 d3 d5 d7) and tests on the even
ones (d2 d4 d6 d8).
HCN recipe (configs/csta_base.py: 32-frame clips, Adam 1e-3, 500 epochs at global batch 64): an
accelerator job, no full run measured here. Records keep raw camera-space coordinates in metres.
Expected top-1: 81.1 (from an AI-generated summary of the paper, unverified; the split may differ).
Options: `model=csta_cnn|hcn` (hcn: the same network without CSTA),
`stream=joint|bone|joint_motion|bone_motion`.
"""

from configs import csta_base


def get_config(arg: str | None = None):
    return csta_base.benchmark_config("uestc", "xview2", 40, 1, arg)

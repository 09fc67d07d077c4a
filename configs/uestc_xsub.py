r"""CSTA-CNN (Wang; HCN with coupled spatial-temporal attention) on UESTC varying-view, cross-subject.

    python -m data_prep.prepare --dataset=uestc --benchmarks=uestc_xsub --raw_dir=PATH/TO/UESTC/skeletons \
        --data_dir=data/tfds
    python main.py --config=configs/uestc_xsub.py --workdir=runs/uestc_xsub_csta_cnn

40 classes, one person (M=1), 25 Kinect v2 joints; the 51 subjects later work uses (11,360 training
and 14,240 test samples over both cameras; `data_prep.uestc`).
HCN recipe (configs/csta_base.py: 32-frame clips, Adam 1e-3, 500 epochs at global batch 64): an
accelerator job, no full run measured here. Records keep raw camera-space coordinates in metres.
Expected top-1: no figure is known for this protocol (the paper summary's unqualified "95.6 on
UESTC" is most likely cross-view I, configs/uestc_xview1.py).
Options: `model=csta_cnn|hcn` (hcn: the same network without CSTA),
`stream=joint|bone|joint_motion|bone_motion`.
"""

from configs import csta_base


def get_config(arg: str | None = None):
    return csta_base.benchmark_config("uestc", "xsub", 40, 1, arg)

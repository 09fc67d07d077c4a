r"""CSTA-CNN on UESTC RGB-D varying-view, cross-subject.

    python -m data_prep.prepare --dataset=uestc --benchmarks=uestc_xsub --raw_dir=PATH/TO/UESTC/skeletons \
        --data_dir=data/tfds
    python main.py --config=configs/uestc_xsub.py --workdir=runs/uestc_xsub_csta_cnn

40 classes, one person per sample (M=1), 25 Kinect v2 joints. Trains on the 51 subjects that later
work uses (11,360 training and 14,240 test samples over both cameras; `data_prep.uestc`).
Recipe and open choices: configs/csta_base.py (HCN recipe, T=32, Adam 1e-3, 500 epochs).

Reference: the paper summary gives "95.6 on UESTC" without naming the protocol. It is most likely
cross-view I (`configs/uestc_xview1.py`) but could be this cross-subject protocol; no other
cross-subject figure for CSTA-CNN is known. Records keep raw camera-space coordinates in metres
(the paper's UESTC normalisation is not known).
Options: `model=csta_cnn|hcn` (hcn: the same network without CSTA), `stream=joint|bone|...`.
"""

from configs import csta_base


def get_config(arg: str | None = None):
    return csta_base.benchmark_config("uestc", "xsub", 40, 1, arg)

r"""CSTA-CNN on UESTC RGB-D varying-view, cross-view II.

    python -m data_prep.prepare --dataset=uestc --benchmarks=uestc_xview2 --raw_dir=PATH/TO/UESTC/skeletons \
        --data_dir=data/tfds
    python main.py --config=configs/uestc_xview2.py --workdir=runs/uestc_xview2_csta_cnn

40 classes, one person per sample (M=1), 25 Kinect v2 joints. The dataset paper's cross-view splits
were not available: `data_prep.uestc` trains on the odd side views (c2, d1 d3 d5 d7) and tests on
the even ones (d2 d4 d6 d8) by default. Recipe and open choices: configs/csta_base.py.

Reference top-1: 81.1 (cross-view II, from an AI-generated summary of the paper, unverified; the
split may differ from the paper's). Records keep raw camera-space coordinates in metres.
Options: `model=csta_cnn|hcn` (hcn: the same network without CSTA), `stream=joint|bone|...`.
"""

from configs import csta_base


def get_config(arg: str | None = None):
    return csta_base.benchmark_config("uestc", "xview2", 40, 1, arg)

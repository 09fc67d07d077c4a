r"""CSTA-CNN on UESTC RGB-D varying-view, cross-view I.

    python -m data_prep.prepare --dataset=uestc --benchmarks=uestc_xview1 --raw_dir=PATH/TO/UESTC/skeletons \
        --data_dir=data/tfds
    python main.py --config=configs/uestc_xview1.py --workdir=runs/uestc_xview1_csta_cnn

40 classes, one person per sample (M=1), 25 Kinect v2 joints. The dataset paper's cross-view splits
were not available: `data_prep.uestc` trains on one side view (c2, d1) and tests on the other c2
views (d2-d8) by default. Recipe and open choices: configs/csta_base.py.

Reference top-1: 95.6, assuming the paper summary's unqualified "95.6 on UESTC" is this protocol
(unverified: it may be cross-subject, and a single-view training set scoring above cross-view II
would be unusual). Records keep raw camera-space coordinates in metres.
Options: `model=csta_cnn|hcn` (hcn: the same network without CSTA), `stream=joint|bone|...`.
"""

from configs import csta_base


def get_config(arg: str | None = None):
    return csta_base.benchmark_config("uestc", "xview1", 40, 1, arg)

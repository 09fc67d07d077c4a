r"""STGAT on NTU RGB+D 120, cross-subject.

    python -m data_prep.prepare --dataset=ntu120 --raw_dir=PATH/nturgb+d_skeletons_s001_s032 --data_dir=data/tfds
    python main.py --config=configs/ntu120_xsub.py:stream=joint --workdir=runs/ntu120_xsub_joint

Paper: 88.7 top-1 for the four-stream ensemble (figure not re-verified against the paper's PDF).
Options: `stream=joint|bone|joint_motion|bone_motion`, `motion_skip=1|2`,
`source=raw|pyskl|pyskl_2d|ctrgcn|stgat` (records imported with `data_prep.prepare --format`).
"""

from configs import stgat_base


def get_config(arg: str | None = None):
    return stgat_base.benchmark_config("ntu120", "xsub", 120, arg)

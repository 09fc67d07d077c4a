r"""STGAT on NTU RGB+D 60, cross-subject.

    python -m data_prep.prepare --dataset=ntu60 --raw_dir=PATH/nturgb+d_skeletons --data_dir=data/tfds
    python main.py --config=configs/ntu60_xsub.py:stream=joint --workdir=runs/ntu60_xsub_joint

Paper: 92.8 top-1 for the four-stream ensemble (joint, bone, joint motion, bone motion).
Options: `stream=joint|bone|joint_motion|bone_motion`, `motion_skip=1|2`,
`source=raw|pyskl|pyskl_2d|ctrgcn|stgat` (records imported with `data_prep.prepare --format`).
"""

from configs import stgat_base


def get_config(arg: str | None = None):
    return stgat_base.benchmark_config("ntu60", "xsub", 60, arg)

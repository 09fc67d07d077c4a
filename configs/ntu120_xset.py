r"""STGAT on NTU RGB+D 120, cross-setup (the dataset's protocol: even setup ids train).

    python -m data_prep.prepare --dataset=ntu120 --raw_dir=PATH/nturgb+d_skeletons_s001_s032 --data_dir=data/tfds
    python main.py --config=configs/ntu120_xset.py:stream=joint --workdir=runs/ntu120_xset_joint

Paper: 90.4 top-1 for the four-stream ensemble (figure not re-verified against the paper's PDF).
The official STGAT code trains on odd setups instead; to reproduce it, use
`--config.dataset.benchmark=ntu120_xset_official_stgat` (records built by the same prepare command).
Options: `stream=joint|bone|joint_motion|bone_motion`, `motion_skip=1|2`,
`source=raw|pyskl|pyskl_2d|ctrgcn|stgat` (records imported with `data_prep.prepare --format`).
"""

from configs import stgat_base


def get_config(arg: str | None = None):
    return stgat_base.benchmark_config("ntu120", "xset", 120, arg)

r"""STGAT (Hu, Liu & Feng) on NTU RGB+D 60, cross-view (train cameras 2 and 3, test camera 1).

    python -m data_prep.prepare --dataset=ntu60 --raw_dir=PATH/nturgb+d_skeletons --data_dir=data/tfds
    python main.py --config=configs/ntu60_xview.py:stream=joint --workdir=runs/ntu60_xview_joint

Full STGAT (8 blocks), the official recipe (configs/stgat_base.py): 120 epochs at global batch 32,
one stream per run. An accelerator job: no full run was measured here (a float32 step of batch 8
takes about 10 s on a 2-core CPU; benchmarks/RESULTS.md has the step and compile figures).
Expected top-1: 97.3 for the four-stream ensemble (paper).
Options: `stream=joint|bone|joint_motion|bone_motion`, `motion_skip=1|2`,
`model=stgat|stgat_csta|csta_cnn`, `source=raw|pyskl|pyskl_2d|ctrgcn|stgat` (records imported with
`data_prep.prepare --format`).
"""

from configs import stgat_base


def get_config(arg: str | None = None):
    return stgat_base.benchmark_config("ntu60", "xview", 60, arg)

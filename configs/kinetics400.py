r"""STGAT (Hu, Liu & Feng) on Kinetics-Skeleton 400 (ST-GCN release: OpenPose, 18 joints, x and y).

    python -m data_prep.prepare --dataset=kinetics400 --raw_dir=PATH/kinetics-skeleton --data_dir=data/tfds
    python main.py --config=configs/kinetics400.py:stream=joint --workdir=runs/kinetics400_joint

Full STGAT (8 blocks), the official recipe (configs/stgat_base.py): 180 epochs (x0.1 at 80 and
110) at global batch 32, one stream per run. An accelerator job: no full run was measured here
(a float32 step of batch 8 takes about 10 s on a 2-core CPU; benchmarks/RESULTS.md).
Expected top-1: 39.2 for the four-stream ensemble on the val split (paper). The graph is the
official one, shifted by one joint (quirk O7); `--config.model.openpose_fixed=True` uses the true
OpenPose skeleton. Options: `stream=joint|bone|joint_motion|bone_motion`, `motion_skip=1|2`.
"""

from configs import stgat_base


def get_config(arg: str | None = None):
    config = stgat_base.benchmark_config("kinetics400", "kinetics400", 400, arg, num_epochs=180,
                                         milestones=(80, 110))
    config.dataset.benchmark = "kinetics400"
    config.dataset.num_joints = 18
    config.dataset.graph = "openpose"
    config.dataset.test_split = "val"
    config.data.channels = 2  # x, y; the records also hold the OpenPose score
    return config

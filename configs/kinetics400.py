r"""STGAT on Kinetics-Skeleton 400 (ST-GCN release, OpenPose 18 joints, x and y channels).

    python -m data_prep.prepare --dataset=kinetics400 --raw_dir=PATH/kinetics-skeleton --data_dir=data/tfds
    python main.py --config=configs/kinetics400.py:stream=joint --workdir=runs/kinetics400_joint

Paper: 39.2 top-1 for the four-stream ensemble (val split). The official recipe trains 180 epochs with
the LR divided by 10 at epochs 80 and 110. The graph is the official one, shifted by one joint
(quirk O7); `--config.model.openpose_fixed=True` uses the true OpenPose skeleton instead.
Options: `stream=joint|bone|joint_motion|bone_motion`, `motion_skip=1|2`.
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

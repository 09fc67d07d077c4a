r"""stgat-jax entry point: train, evaluate or predict.

    python main.py                                              # embedded synthetic default
    python main.py --config=configs/ntu120_xset.py:stream=bone --workdir=runs/ntu120_xset_bone
    python main.py --config=configs/ntu120_xset.py --workdir=DIR --mode=eval
    python main.py --config=configs/ntu120_xset.py --workdir=DIR --mode=predict --input=S001C001P001R001A001.skeleton

Kept short on purpose: flags, optional multi-host initialisation, then one call into the library.
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

from stgat_jax import errors

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py")

config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG, "Config file, optionally with ':options'.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run folder (checkpoints, metrics, results). Default: runs/<config name>.")
flags.DEFINE_enum("mode", "train", ["train", "eval", "predict"],
                  "train (resumes if WORKDIR has a checkpoint), eval (restores and evaluates on the test "
                  "split) or predict (classifies --input).")
flags.DEFINE_string("input", None, "predict: a raw skeleton file, a folder of them, or an (N, C, T, V, M) .npy.")
flags.DEFINE_string("output", None, "predict: where to write the logits (.npz). Default: WORKDIR/predictions.npz.")
flags.DEFINE_integer("host_devices", 0,
                     "Split this host's CPU into N XLA devices that train data-parallel (the batch is "
                     "sharded over them, as over GPUs; benchmarks/RESULTS.md compares N=2 with one "
                     "device). 0: XLA's default.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (automatic on TPU pods and SLURM).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for multi-process runs.")
flags.DEFINE_integer("num_processes", None, "Number of processes, for multi-process runs.")
flags.DEFINE_integer("process_id", None, "This process's id, for multi-process runs.")
FLAGS = flags.FLAGS
errors.define_traceback_flag()


def default_workdir() -> str:
    path, _, option = config_flags.get_config_filename(FLAGS["config"]).partition(":")
    name = os.path.splitext(os.path.basename(path))[0]
    return os.path.join("runs", name + (f"_{option.replace('=', '-').replace(',', '_')}" if option else ""))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.host_devices < 0:
        raise app.UsageError(f"--host_devices must be >= 0 (0: XLA's default), got {FLAGS.host_devices}")
    if FLAGS.host_devices:
        # Read by XLA when JAX starts its CPU backend, so it must be set before jax is imported.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={FLAGS.host_devices}").strip()
    with errors.one_line(FLAGS.traceback):
        _run()


def _run():
    import jax

    from stgat_jax import reporting

    reporting.quiet_library_logs()

    if FLAGS.distributed or FLAGS.coordinator_address:
        # Collectives between CPU processes (tests, CPU clusters); accelerators use their own.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                                   num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
    from stgat_jax import run

    workdir = FLAGS.workdir or default_workdir()
    logging.info("JAX %s: process %d/%d, %d local / %d global devices (%s); workdir %s", jax.__version__,
                 jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count(),
                 jax.devices()[0].platform, workdir)
    if FLAGS.mode == "predict":
        if not FLAGS.input:
            raise app.UsageError("--mode=predict needs --input=PATH")
        from stgat_jax import predict

        predict.predict(FLAGS.config, workdir, FLAGS.input, FLAGS.output)
    else:
        run.run(FLAGS.config, workdir, FLAGS.mode)


if __name__ == "__main__":
    app.run(main)

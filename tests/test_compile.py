"""Ahead-of-time compilation for a TPU topology (compile only: no TPU needed) and step costs."""

import os
import subprocess
import sys

import jax
import json
import pytest

from configs import default
from stgat_jax import compile as aot
from stgat_jax import costs, models, steps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config():
    config = default.get_testing_config()
    config.model.blocks = ((8, 8, 1),)
    config.model.num_heads = 2
    return config


@pytest.fixture(scope="module")
def tpu_devices():
    pytest.importorskip("libtpu", reason="the TPU compiler comes with pip install -e '.[tpu]'")
    return aot.topology_devices("v5e:2x2")


def test_topology_devices_and_bad_names(tpu_devices):
    assert len(tpu_devices) == 4 and tpu_devices[0].platform == "tpu"
    assert costs.chip_of(tpu_devices[0]) is costs.CHIPS["v5e"]
    with pytest.raises(ValueError, match="v5e:4x4"):
        aot.topology_devices("v5e-16")


@pytest.mark.slow
def test_compile_builds_the_trainers_program_for_the_topology(tpu_devices):
    config = tiny_config()
    model, _, lowered = aot.lower_steps(config, tpu_devices, 8)
    # The program training builds for those devices the ordinary way, for the same batch.
    config.batch_size = config.eval_batch_size = 8
    mesh = steps.create_mesh(tpu_devices)
    own = steps.create_model(config, mesh)
    tx = steps.create_optimizer(config.optim, steps.create_learning_rate_fn(config.optim, 1))
    want = steps.make_train_step(own, tx, mesh).lower(steps.abstract_state(own, tx, config, mesh),
                                                      steps.abstract_batch(config, 8, mesh))
    assert lowered["train"].as_text(debug_info=False) == want.as_text(debug_info=False)
    # The layers follow the target devices' platform, not this process's CPU backend.
    assert model.conv_impl == "xla"
    assert steps.create_model(config, steps.create_mesh()).conv_impl == "cpu"

    (row,) = aot.compile_and_cost(config, tpu_devices, 8, ("train",))
    assert row["devices"] == 4 and row["batch_per_device"] == 2 and row["params"] > 0
    assert row["gflops_per_sample"] > 0 and row["hbm_gb_per_sample"] > 0 and row["temp_bytes"] > 0
    # BatchNorm statistics over the global batch and the gradients are reduced across devices.
    assert row["collectives"]["all-reduce"] > 0
    roof = row["roofline"]
    assert roof["chip"] == "v5e" and roof["step_ms"] > 0 and 0 < roof["mfu"] <= 1
    assert "conv_impl=xla" in aot.format_table([row])


@pytest.mark.slow
def test_the_compiler_refuses_a_batch_that_does_not_fit(tpu_devices):
    assert not aot.fits(tiny_config(), tpu_devices, 4 * 2**22)


def test_hbm_traffic_counts_what_a_tpu_program_moves(tpu_devices):
    """A product that reads a (M, 512) operand: XLA prefetches it into on-chip memory and its
    'bytes accessed' counts that copy several times; the program reads it from HBM once."""
    sharding = jax.sharding.SingleDeviceSharding(tpu_devices[0])
    x = jax.ShapeDtypeStruct((4096, 512), jax.numpy.bfloat16, sharding=sharding)
    w = jax.ShapeDtypeStruct((512, 256), jax.numpy.bfloat16, sharding=sharding)
    compiled = jax.jit(lambda x, w: x @ w).lower(x, w).compile()
    moved = (4096 * 512 + 512 * 256 + 4096 * 256) * 2  # read both operands, write the product
    assert costs.hbm_traffic(compiled.as_text()) == pytest.approx(moved, rel=0.02)
    accessed = costs.step_costs(compiled, 1, 1)["bytes_accessed"]
    assert accessed > 1.5 * moved


def test_hbm_traffic_of_hlo_text():
    """Async copies move their data once; fusion bodies stay on chip; tiles pad the minor dims."""
    hlo = """HloModule m

%fused (p: bf16[100,64]) -> bf16[100,64] {
  %p = bf16[100,64]{1,0:T(8,128)(2,1)} parameter(0)
  ROOT %n = bf16[100,64]{1,0:T(8,128)(2,1)} negate(%p)
}

ENTRY %main (a: bf16[100,64], b: f32[16,128]) -> (bf16[100,64], f32[16,128]) {
  %a = bf16[100,64]{1,0:T(8,128)(2,1)} parameter(0)
  %b = f32[16,128]{1,0:T(8,128)} parameter(1)
  %cs = (f32[16,128]{1,0:T(8,128)S(1)}, f32[16,128]{1,0:T(8,128)}, u32[]{:S(2)}) copy-start(%b)
  %cd = f32[16,128]{1,0:T(8,128)S(1)} copy-done(%cs)
  %f = bf16[100,64]{1,0:T(8,128)(2,1)} fusion(%a), kind=kLoop, calls=%fused
  %e = f32[16,128]{1,0:T(8,128)} exponential(%cd)
  ROOT %t = (bf16[100,64]{1,0:T(8,128)(2,1)}, f32[16,128]{1,0:T(8,128)}) tuple(%f, %e)
}
"""
    padded = 112 * 128 * 2  # (100, 64) bf16 in (16, 128) tiles
    copy = 16 * 128 * 4  # read from HBM once; its on-chip copy and reads are free
    assert costs.hbm_traffic(hlo) == 2 * padded + copy + copy


def test_max_batch_search():
    calls = []

    def fits(batch):
        calls.append(batch)
        return batch <= 1000

    assert aot.max_batch(fits, 64, 1 << 16, 16, log=lambda m: None) == (992, False)
    assert calls[:5] == [64, 128, 256, 512, 1024]
    assert aot.max_batch(lambda b: True, 64, 300, 16, log=lambda m: None) == (288, True)
    assert aot.max_batch(lambda b: False, 64, 300, 16, log=lambda m: None) == (None, False)


@pytest.mark.slow
def test_local_flops_are_the_benchmarks():
    """`--topology=local` and benchmarks/train_step.py cost the same program the same way."""
    config = default.get_testing_config()
    (row,) = aot.compile_and_cost(config, jax.devices(), 8, ("train",))
    assert row["platform"] == "cpu" and "roofline" not in row
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "train_step.py"), "--config=configs/default.py",
         "--config.data.window_frames=8", "--config.model.blocks=((16, 16, 1), (16, 16, 2))",
         "--config.model.num_heads=2", "--batch_size=8", "--dtypes=float32", "--steps=1", "--eval_steps=1"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    bench = json.loads(out.stdout.strip().splitlines()[-1])
    assert bench["train_gflops_per_sample"] == round(row["gflops_per_sample"], 3)


def test_conv_impl_follows_the_platform():
    config = tiny_config()
    assert models.build_model(config, platform="cpu").conv_impl == "cpu"
    assert models.build_model(config, platform="tpu").conv_impl == "xla"
    assert models.build_model(config, platform="gpu").conv_impl == "xla"
    config.model.conv_impl = "cpu"
    assert models.build_model(config, platform="tpu").conv_impl == "cpu"


def test_cli_bad_topology_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "stgat_jax.compile", "--config=configs/default.py",
                          "--topology=local", "--batch_size=3"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: --batch_size=3 must be a positive multiple")

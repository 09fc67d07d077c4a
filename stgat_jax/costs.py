"""What a compiled step costs on its chips: FLOPs, HBM traffic, memory, collectives, a roofline.

Everything here reads XLA's own figures for a compiled program (``compiled.cost_analysis()``,
``compiled.memory_analysis()`` and the optimised HLO text), so the same numbers come out for a
step compiled ahead of time for a TPU topology (`stgat_jax.compile`) and for one that runs here
(`benchmarks/train_step.py`). XLA analyses the program of one device (one partition of the
sharded step): per-device figures times the device count give the whole step.

HBM traffic is read off the scheduled program (:func:`hbm_traffic`), not taken from
``cost_analysis()['bytes accessed']``. The latter sums, over every instruction, the bytes of its
operands and results wherever they live: on a TPU it counts an asynchronous copy of a tensor into
on-chip memory (VMEM, memory space ``S(1)``) three times (the source, the tuple of destination and
source that ``copy-start`` returns, the ``copy-done`` result) and then the on-chip reads of the
copy again. For a single ``(102400, 512) x (512, 64)`` bf16 product on v5e it reports 537 MB where
the program reads 105 MB and writes 13 MB; for a train step it reports about twice the traffic.
Both figures are printed (``accessed_gb_per_sample`` is XLA's).

The roofline estimate of a step's time is ``max(FLOPs / peak FLOP/s, HBM bytes / HBM bandwidth)``
per chip: a lower bound that ignores collectives, latency and imperfect overlap, good for comparing
configs and chips and for seeing whether a step is bound by compute or by memory.

Chip peaks (per chip, dense, no sparsity), from the vendors' pages:

======  ===============  ===============  ================  =========  ==========================================
chip    bf16 FLOP/s      float32 FLOP/s   HBM bandwidth     HBM        source
======  ===============  ===============  ================  =========  ==========================================
v4      275e12           275e12 (*)       1200 GB/s         32 GiB     https://cloud.google.com/tpu/docs/v4
v5e     197e12           197e12 (*)       819 GB/s          16 GiB     https://cloud.google.com/tpu/docs/v5e
v5p     459e12           459e12 (*)       2765 GB/s         95 GiB     https://cloud.google.com/tpu/docs/v5p
v6e     918e12           918e12 (*)       1640 GB/s         32 GiB     https://cloud.google.com/tpu/docs/v6e
H100    989e12           495e12 (TF32)    3.35 TB/s         80 GB      https://www.nvidia.com/en-us/data-center/h100/ (SXM)
H200    989e12           495e12 (TF32)    4.8 TB/s          141 GB     https://www.nvidia.com/en-us/data-center/h200/ (SXM)
======  ===============  ===============  ================  =========  ==========================================

(*) JAX's default matmul precision multiplies float32 operands on a TPU's MXU in a single bf16
pass, so a float32 product peaks at the bf16 rate (``jax.default_matmul_precision('highest')``
costs several passes). On H100/H200, XLA runs float32 products on the tensor cores as TF32 by
default; the NVIDIA figures are the dense (not "with sparsity") ones.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import jax


@dataclasses.dataclass(frozen=True)
class Chip:
    name: str
    peak_flops: dict[str, float]  # FLOP/s per compute dtype
    hbm_bandwidth: float  # bytes/s
    hbm_bytes: float

    def peak(self, dtype: str) -> float:
        return self.peak_flops.get(dtype, self.peak_flops["bfloat16"])


_GIB = 2**30
CHIPS = {
    "v4": Chip("v4", {"bfloat16": 275e12, "float32": 275e12}, 1200e9, 32 * _GIB),
    "v5e": Chip("v5e", {"bfloat16": 197e12, "float32": 197e12}, 819e9, 16 * _GIB),
    "v5p": Chip("v5p", {"bfloat16": 459e12, "float32": 459e12}, 2765e9, 95 * _GIB),
    "v6e": Chip("v6e", {"bfloat16": 918e12, "float32": 918e12}, 1640e9, 32 * _GIB),
    "H100": Chip("H100", {"bfloat16": 989e12, "float32": 495e12}, 3.35e12, 80e9),
    "H200": Chip("H200", {"bfloat16": 989e12, "float32": 495e12}, 4.8e12, 141e9),
}

# `device_kind` as JAX reports it -> chip. Matched in order, first hit wins.
_DEVICE_KINDS = (("TPU v4", "v4"), ("TPU v5 lite", "v5e"), ("TPU v5e", "v5e"), ("TPU v5p", "v5p"),
                 ("TPU v5", "v5p"), ("TPU v6 lite", "v6e"), ("TPU v6e", "v6e"), ("H100", "H100"),
                 ("H200", "H200"))

COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_COLLECTIVE_RE = re.compile(r"\s(" + "|".join(COLLECTIVES) + r")(?:-start)?\(")


def chip_of(device: jax.Device) -> Chip | None:
    """The table's chip for a device, or None (e.g. a CPU)."""
    for kind, name in _DEVICE_KINDS:
        if kind in device.device_kind:
            return CHIPS[name]
    return None


def count_collectives(hlo_text: str) -> dict[str, int]:
    """Collective operations of an optimised HLO module by kind (an async start counts once)."""
    counts = dict.fromkeys(COLLECTIVES, 0)
    for match in _COLLECTIVE_RE.finditer(hlo_text):
        counts[match.group(1)] += 1
    return counts


_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1, "s16": 2, "u16": 2, "f16": 2,
                "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16}
# One array of an HLO shape: dtype, dims, optional layout ``{minor_to_major:T(a,b)(c,1)S(n)}``.
_ARRAY_RE = re.compile(r"\b(" + "|".join(_DTYPE_BYTES) + r")\[([0-9,]*)\](\{[^}]*\})?")
_INSTRUCTION_RE = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.*?) ([a-z][\w\-]*)\((.*)$")
_COMPUTATION_RE = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$")
# Instructions that move no data of their own.
_NO_TRAFFIC = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast", "after-all", "partition-id",
               "replica-id", "while", "conditional", "call", "opt-barrier"}


def _array_bytes(shape: str) -> list[tuple[int, int]]:
    """(bytes, memory space) of each array in an HLO shape string, tuples flattened in order.

    Bytes include the padding of a tiled layout: with tile ``T(a,b)`` (and ``(k,1)`` packing of
    narrow dtypes) the minor dimension is padded to b and the second-minor one to ``a * k``, as
    the array is laid out in memory.
    """
    arrays = []
    for dtype, dims, layout in _ARRAY_RE.findall(shape):
        sizes = [int(d) for d in dims.split(",") if d]
        layout = layout or ""
        minor_to_major = re.match(r"\{([0-9,]*)", layout)
        tile = re.search(r"T\((\d+),(\d+)\)(?:\((\d+),1\))?", layout)
        if tile and minor_to_major and len(sizes) >= 2:
            order = [int(v) for v in minor_to_major.group(1).split(",") if v]
            rows = int(tile.group(1)) * int(tile.group(3) or 1)
            cols = int(tile.group(2))
            sizes[order[0]] = -(-sizes[order[0]] // cols) * cols
            sizes[order[1]] = -(-sizes[order[1]] // rows) * rows
        space = re.search(r"S\((\d+)\)", layout)
        arrays.append((math.prod(sizes) * _DTYPE_BYTES[dtype], int(space.group(1)) if space else 0))
    return arrays


def hbm_traffic(hlo_text: str) -> int:
    """Bytes one device moves between HBM and its cores in a scheduled, optimised HLO module.

    Counts, for each instruction outside fusion bodies (a fusion's inner values stay on the
    chip), the operands it reads and the results it writes that live in memory space 0 (HBM;
    ``S(1)`` and up are on-chip memories), with the padding of their tiled layouts. An
    asynchronous copy or slice (``*-start``) moves its result once: read where the source
    lives, written where the result lives; its ``*-done`` moves nothing. The bodies of loops
    count once (the train and eval steps have none). Device memories without memory spaces or
    tiles (CPU, GPU) count every operand and result at its plain size.
    """
    computations: dict[str, list[str]] = {}
    current = None
    for line in hlo_text.splitlines():
        if not line.startswith(" "):
            match = _COMPUTATION_RE.match(line)
            current = match.group(1) if match and ("->" in line or line.startswith("ENTRY")) else None
            if current:
                computations[current] = []
        elif current is not None:
            computations[current].append(line)
    on_chip = set()  # fusion bodies and reducers: not scheduled instructions
    for lines in computations.values():
        for line in lines:
            on_chip.update(re.findall(r"(?:calls|to_apply)=%?([\w.\-]+)", line))
    total = 0
    for name, lines in computations.items():
        if name in on_chip:
            continue
        shapes: dict[str, str] = {}
        for line in lines:
            match = _INSTRUCTION_RE.match(line)
            if not match:
                continue
            result, shape, opcode, rest = match.groups()
            shapes[result] = shape
            if opcode in _NO_TRAFFIC or opcode.endswith("-done"):
                continue
            operands = [a for o in re.findall(r"%([\w.\-]+)", rest.split("),")[0].split(")")[0])
                        for a in _array_bytes(shapes.get(o, ""))]
            results = _array_bytes(shape)
            if opcode.endswith("-start") and opcode not in ("all-reduce-start", "all-gather-start",
                                                            "collective-permute-start"):
                # copy-start -> (destination, source, context); other starts -> (operands..., result, context)
                moved = results[0] if opcode == "copy-start" else results[min(len(operands), len(results) - 1)]
                total += moved[0] * (any(space == 0 for _, space in operands) + (moved[1] == 0))
            else:
                total += sum(b for b, space in operands + results if space == 0)
    return total


def _cost(compiled) -> dict[str, float]:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    return cost or {}


def step_costs(compiled, num_devices: int, batch_size: int) -> dict[str, Any]:
    """FLOPs, HBM traffic and memory of a compiled step of `batch_size` global samples.

    Returns a dict: ``gflops_per_sample``, ``hbm_gb_per_sample`` (:func:`hbm_traffic`) and
    ``accessed_gb_per_sample`` (XLA's ``bytes accessed``) for the whole step / batch (None where
    the backend gives no figure), the per-device ``flops``, ``hbm_bytes`` and ``bytes_accessed``,
    per-device memory in bytes (``argument_bytes``, ``output_bytes``, ``alias_bytes``,
    ``temp_bytes``, ``peak_bytes``; None where not reported) and ``collectives`` by kind.
    """
    cost = _cost(compiled)
    flops, accessed = cost.get("flops"), cost.get("bytes accessed")
    memory = compiled.memory_analysis()
    hlo_text = compiled.as_text()
    traffic = hbm_traffic(hlo_text) if hlo_text else None

    def mem(name):
        value = getattr(memory, name, None) if memory is not None else None
        return None if value is None else int(value)

    return {
        "gflops_per_sample": None if flops is None else flops * num_devices / batch_size / 1e9,
        "hbm_gb_per_sample": None if traffic is None else traffic * num_devices / batch_size / 1e9,
        "accessed_gb_per_sample": None if accessed is None else accessed * num_devices / batch_size / 1e9,
        "flops": flops, "hbm_bytes": traffic, "bytes_accessed": accessed,
        "argument_bytes": mem("argument_size_in_bytes"), "output_bytes": mem("output_size_in_bytes"),
        "alias_bytes": mem("alias_size_in_bytes"), "temp_bytes": mem("temp_size_in_bytes"),
        "peak_bytes": mem("peak_memory_in_bytes"),
        "collectives": count_collectives(hlo_text),
    }


def roofline(costs: dict[str, Any], chip: Chip, dtype: str, batch_per_device: int) -> dict[str, Any]:
    """Step time, samples/s per chip and MFU on `chip`, from :func:`step_costs` of one device.

    ``step_s = max(flops / peak, bytes / bandwidth)``; ``mfu`` is the fraction of the peak the
    step's FLOPs reach in that time (an upper bound); ``bound`` says which term wins;
    ``intensity`` (FLOP per byte) against ``ridge`` (peak / bandwidth) says by how much.
    """
    peak = chip.peak(dtype)
    flops = costs["flops"] or 0.0
    accessed = costs.get("hbm_bytes") or costs["bytes_accessed"] or 0.0
    compute_s, memory_s = flops / peak, accessed / chip.hbm_bandwidth
    step_s = max(compute_s, memory_s)
    return {
        "chip": chip.name, "peak_tflops": peak / 1e12, "hbm_gb_per_s": chip.hbm_bandwidth / 1e9,
        "hbm_gib": chip.hbm_bytes / _GIB,
        "step_ms": step_s * 1e3,
        "samples_per_s_per_chip": batch_per_device / step_s if step_s else None,
        "mfu": flops / step_s / peak if step_s else None,
        "bound": "compute" if compute_s >= memory_s else "memory",
        "intensity": flops / accessed if accessed else None,
        "ridge": peak / chip.hbm_bandwidth,
        "peak_fraction_of_hbm": (costs["peak_bytes"] / chip.hbm_bytes
                                 if costs.get("peak_bytes") is not None else None),
    }

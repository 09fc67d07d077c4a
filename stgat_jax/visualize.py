r"""Draws the coupled spatial-temporal attention (CSTA) of a trained model on one raw sample.

    python -m stgat_jax.visualize --config=configs/default.py:model=csta_cnn --workdir=runs/csta \
        --input=data/raw/synthetic/S001C001P003R001A001.skeleton [--out=attention.png]

The checkpoint in WORKDIR is restored, the raw file is preprocessed exactly as the records and the
evaluation preprocess it (the dataset reader, then the test-time transform
:class:`stgat_jax.input_pipeline.EvalSample`), and the model's CSTA weights are drawn, one row per
stream (CSTA-CNN: ``position`` and ``motion``; STGAT with ``csta_blocks``: one row per block):

* the coupled map A[t, v] = frame_weight[t] * joint_weight[v] as a T x V heatmap, with the frame
  weights beside it;
* the skeleton, seen from the front (performer's left on the right of the picture), at the frame
  with the largest frame weight; every joint's path over the clip in grey, bones of the left side
  blue and of the right side red, and marker areas proportional to the joint weights;
* the joint weights as bars.

The PNG path is printed. The library entry point is :func:`draw_attention`.

With ``--summary``, ``--input`` may be a file, a folder or a glob pattern, and instead of a picture
the command prints, per class (from the file names) and stream, the mean and standard deviation
over the samples of the joint-weight mass of each body part (:data:`BODY_PARTS`; a uniform
attention gives each part its share of the 25 joints, e.g. 6/25 = 0.24 per arm).
``--split=train|test`` keeps the files of that split of the configured benchmark (NTU-format
names):

    python -m stgat_jax.visualize --config=configs/default.py:model=csta_cnn --workdir=runs/csta \
        --input='data/raw/synthetic/*A00[12].skeleton' --split=test --summary
"""

from __future__ import annotations

import functools
import glob
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from data_prep import builders, ntu, uestc
from stgat_jax import errors, graphs, input_pipeline, predict, reporting, steps

Array = np.ndarray

JOINT_NAMES: tuple[str, ...] = (
    'spine base', 'spine mid', 'neck', 'head',
    'L shoulder', 'L elbow', 'L wrist', 'L hand',
    'R shoulder', 'R elbow', 'R wrist', 'R hand',
    'L hip', 'L knee', 'L ankle', 'L foot',
    'R hip', 'R knee', 'R ankle', 'R foot',
    'spine shoulder', 'L hand tip', 'L thumb', 'R hand tip', 'R thumb',
)
"""Short names of the 25 Kinect v2 joints (NTU RGB+D and UESTC order)."""

LEFT_JOINTS = frozenset({4, 5, 6, 7, 12, 13, 14, 15, 21, 22})
RIGHT_JOINTS = frozenset({8, 9, 10, 11, 16, 17, 18, 19, 23, 24})

WEIGHT_KEYS = ('joint_weights', 'frame_weights', 'map')

BODY_PARTS: dict[str, tuple[int, ...]] = {
    'left arm': (4, 5, 6, 7, 21, 22),
    'right arm': (8, 9, 10, 11, 23, 24),
    'left leg': (12, 13, 14, 15),
    'right leg': (16, 17, 18, 19),
    'trunk and head': (0, 1, 2, 3, 20),
}
"""Body parts of the 25-joint Kinect v2 skeleton (shoulder to hand tip and thumb for an arm)."""


# --- Reading the weights out of a model's aux --------------------------------------------------

def csta_weights(aux: Mapping[str, Any], sample: int = 0, person: int = 0) -> dict[str, dict[str, Array]]:
    """The CSTA weights of one sample and person, per stream, as numpy arrays.

    Args:
        aux: the second output of a model call: CSTA-CNN's ``{'position': w, 'motion': w}`` or
            STGAT's ``{'csta': {block: w}, ...}``, each ``w`` holding 'joint_weights' (N, M, V),
            'frame_weights' (N, M, T) and 'map' (N, M, T, V).
        sample: index into N.
        person: index into M.

    Returns:
        ``{stream name: {'joint_weights': (V,), 'frame_weights': (T,), 'map': (T, V)}}``.

    Raises:
        ValueError: `aux` holds no CSTA weights.
    """
    if 'csta' in aux:
        groups = {f'block {i}': w for i, w in sorted(aux['csta'].items())}
    else:
        groups = {name: aux[name] for name in ('position', 'motion') if name in aux}
    if not groups:
        raise ValueError(
            f'the model output holds no CSTA weights (aux keys {sorted(aux)}); expected '
            "'position'/'motion' (model.name='csta_cnn') or 'csta' (model.name='stgat' with "
            'model.csta_blocks)')
    out = {}
    for name, weights in groups.items():
        missing = [k for k in WEIGHT_KEYS if k not in weights]
        if missing:
            raise ValueError(f'CSTA weights of {name!r} lack {missing}; expected keys {WEIGHT_KEYS}')
        out[name] = {k: np.asarray(weights[k], np.float32)[sample, person] for k in WEIGHT_KEYS}
    return out


# --- Drawing -----------------------------------------------------------------------------------

def projection_axes(pose: Array) -> tuple[int, int, float, float]:
    """Coordinate axes and signs that show a (V, 3) NTU-order pose from the front, head up.

    The vertical axis is the one along which spine base -> spine shoulder moves most, the
    horizontal one (of the other two) the one along which right -> left shoulder moves most;
    signs put the head up and the performer's left on the right, as a camera facing them sees.

    Returns:
        (horizontal axis, vertical axis, horizontal sign, vertical sign).
    """
    up = pose[20] - pose[0]
    vertical = int(np.argmax(np.abs(up)))
    side = pose[4] - pose[8]
    others = [a for a in range(pose.shape[-1]) if a != vertical]
    horizontal = others[int(np.argmax(np.abs(side[others])))]
    v_sign = 1.0 if up[vertical] >= 0 else -1.0
    h_sign = 1.0 if side[horizontal] >= 0 else -1.0
    return horizontal, vertical, h_sign, v_sign


def _bone_colour(i: int, j: int) -> str:
    if i in LEFT_JOINTS or j in LEFT_JOINTS:
        return 'tab:blue'
    if i in RIGHT_JOINTS or j in RIGHT_JOINTS:
        return 'tab:red'
    return '0.35'


def draw_attention(
    skeleton: Array,
    weights: Mapping[str, Mapping[str, Array]],
    out_path: str | os.PathLike,
    *,
    edges: Sequence[tuple[int, int]] = graphs.NTU_EDGES,
    joint_names: Sequence[str] = JOINT_NAMES,
    title: str | None = None,
) -> pathlib.Path:
    """Draws CSTA weights as heatmaps and weighted skeletons, one row per stream, into a PNG.

    Args:
        skeleton: (T, V, 3) joint positions of the person whose weights are drawn (the frames the
            model saw). A stream whose maps have fewer frames (a strided STGAT block) is matched
            to frames ``t * T // T_stream``.
        weights: ``{stream: {'joint_weights': (V,), 'frame_weights': (T_s,), 'map': (T_s, V)}}``,
            e.g. from :func:`csta_weights`.
        out_path: PNG file to write; its folder is created.
        edges: bones as (joint, joint) pairs.
        joint_names: V names for the heatmap and bar axes.
        title: figure title.

    Returns:
        The path of the PNG.

    Raises:
        ValueError: the shapes of `skeleton` and `weights` disagree.
    """
    # matplotlib is slow to import; only drawing needs it.
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    skeleton = np.asarray(skeleton, np.float32)
    if skeleton.ndim != 3 or skeleton.shape[-1] < 2:
        raise ValueError(f'skeleton must be (T, V, C>=2) joint positions, got shape {skeleton.shape}')
    num_frames, num_joints = skeleton.shape[:2]
    if not weights:
        raise ValueError('weights is empty; expected at least one stream')
    if len(joint_names) != num_joints:
        raise ValueError(f'joint_names has {len(joint_names)} names, expected V={num_joints}')
    for name, w in weights.items():
        t_s = len(w['frame_weights'])
        if np.shape(w['joint_weights']) != (num_joints,) or np.shape(w['map']) != (t_s, num_joints):
            raise ValueError(
                f'stream {name!r}: expected joint_weights ({num_joints},) and map ({t_s}, {num_joints}), '
                f"got {np.shape(w['joint_weights'])} and {np.shape(w['map'])}")

    if skeleton.shape[-1] >= 3:
        h_axis, v_axis, h_sign, v_sign = projection_axes(skeleton.mean(axis=0))
    else:  # 2-D input: image coordinates, y down.
        h_axis, v_axis, h_sign, v_sign = 0, 1, 1.0, -1.0
    xy = np.stack([h_sign * skeleton[..., h_axis], v_sign * skeleton[..., v_axis]], axis=-1)

    rows = len(weights)
    fig = plt.figure(figsize=(17, 4.6 * rows))
    grid = fig.add_gridspec(rows, 4, width_ratios=[4.0, 0.8, 3.2, 4.0], wspace=0.35, hspace=0.45)
    ticks = np.arange(num_joints)
    for r, (name, w) in enumerate(weights.items()):
        joint_w = np.asarray(w['joint_weights'], np.float32)
        frame_w = np.asarray(w['frame_weights'], np.float32)
        att = np.asarray(w['map'], np.float32)

        ax = fig.add_subplot(grid[r, 0])
        im = ax.imshow(att, aspect='auto', cmap='magma', interpolation='nearest')
        ax.set_xticks(ticks, [f'{v} {joint_names[v]}' for v in ticks], rotation=90, fontsize=6)
        ax.set_ylabel('frame')
        ax.set_title(f'{name}: coupled map A[t, v]', fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)

        ax = fig.add_subplot(grid[r, 1], sharey=ax)
        ax.plot(frame_w, np.arange(len(frame_w)), color='tab:purple')
        ax.set_xlabel('frame weight', fontsize=8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(2))
        ax.tick_params(labelleft=False, labelsize=7)

        peak = int(np.argmax(frame_w))
        frame = min(peak * num_frames // len(frame_w), num_frames - 1)
        ax = fig.add_subplot(grid[r, 2])
        for v in range(num_joints):
            ax.plot(xy[:, v, 0], xy[:, v, 1], color='0.8', lw=0.8, zorder=1)
        for i, j in edges:
            ax.plot(xy[frame, [i, j], 0], xy[frame, [i, j], 1], color=_bone_colour(i, j), lw=2, zorder=2)
        sizes = 15 + 400 * joint_w / max(float(joint_w.max()), 1e-12)
        ax.scatter(xy[frame, :, 0], xy[frame, :, 1], s=sizes, c=joint_w, cmap='magma',
                   edgecolors='k', linewidths=0.5, zorder=3)
        ax.set_aspect('equal', adjustable='datalim')
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f'joint weights at frame {frame} (peak frame weight)', fontsize=9)

        ax = fig.add_subplot(grid[r, 3])
        colours = ['tab:blue' if v in LEFT_JOINTS else 'tab:red' if v in RIGHT_JOINTS else '0.5'
                   for v in ticks]
        ax.bar(ticks, joint_w, color=colours)
        ax.axhline(1.0 / num_joints, color='k', lw=0.8, ls='--')
        ax.set_xticks(ticks, [f'{v} {joint_names[v]}' for v in ticks], rotation=90, fontsize=6)
        ax.set_title('joint weights (dashed: uniform 1/V; blue left, red right)', fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90, bbox_inches='tight')
    plt.close(fig)
    return out_path


# --- From a raw file to a picture ----------------------------------------------------------------

def load_record(path: str | os.PathLike) -> Array:
    """Reads a raw skeleton file as a channels-last record (T, M, V, C), as the builders do.

    ``.skeleton``: NTU RGB+D reader with the official body selection and normalisation
    (`data_prep.ntu.load_sample`). ``.txt`` / ``.mat``: UESTC reader (`data_prep.uestc.load_sample`).

    Raises:
        ValueError: the file has another suffix.
    """
    suffix = pathlib.Path(path).suffix.lower()
    if suffix == '.skeleton':
        data = ntu.load_sample(path)
    elif suffix in ('.txt', '.mat'):
        data = uestc.load_sample(path)
    else:
        raise ValueError(f'{os.fspath(path)}: expected a .skeleton, .txt or .mat skeleton file, '
                         f'got the suffix {suffix!r}')
    return np.ascontiguousarray(data.transpose(1, 3, 2, 0))  # (C, T, V, M) -> (T, M, V, C)


def eval_inputs(config: ml_collections.ConfigDict, record: Array) -> tuple[Array, Array]:
    """The model input (M, T, V, C) of a record, and the joint positions (M, T, V, C) it saw.

    Both use the test-time transform; the positions use the 'joint' stream so that a bone or
    motion model can still be drawn on a skeleton.
    """
    graph = config.dataset.graph
    x = input_pipeline.EvalSample(config.data, graph).map({'skeleton': record, 'label': 0})['x']
    joint_data = ml_collections.ConfigDict(config.data.to_dict())
    joint_data.stream = 'joint'
    positions = input_pipeline.EvalSample(joint_data, graph).map({'skeleton': record, 'label': 0})['x']
    return x, positions


def pick_person(positions: Array) -> int:
    """The person (axis 0 of (M, T, V, C)) with the most non-empty frames; the first on ties."""
    filled = (np.abs(positions).sum(axis=(2, 3)) > 0).sum(axis=1)
    return int(np.argmax(filled))


def visualize(config: ml_collections.ConfigDict, workdir: str | os.PathLike, input_path: str | os.PathLike,
              out_path: str | os.PathLike | None = None, person: int = -1) -> pathlib.Path:
    """Restores WORKDIR's checkpoint, runs the model on one raw file and draws its CSTA weights.

    Args:
        config: the training config.
        workdir: the run folder holding ``checkpoints/``.
        input_path: a raw skeleton file.
        out_path: PNG to write; default ``WORKDIR/attention_{file stem}.png``.
        person: which person's weights to draw; -1 picks the one with the most non-empty frames.

    Returns:
        The path of the PNG.
    """
    record = load_record(input_path)
    x, positions = eval_inputs(config, record)
    if person < 0:
        person = pick_person(positions)
    if person >= len(x):
        raise ValueError(f'person={person} but the sample has {len(x)} person slot(s)')
    model, state, step = steps.restore_for_inference(config, workdir)
    apply = jax.jit(functools.partial(model.apply, train=False))
    logits, aux = apply({'params': state.params, 'batch_stats': state.batch_stats}, jnp.asarray(x[None]))
    probs = np.asarray(jax.nn.softmax(logits[0]))
    predicted = int(np.argmax(probs))
    stem = pathlib.Path(input_path).name.split('.')[0]
    out_path = pathlib.Path(out_path) if out_path else pathlib.Path(workdir) / f'attention_{stem}.png'
    title = (f'{stem} (person {person}): predicted "{predict.class_names(config)[predicted]}" '
             f'p={probs[predicted]:.2f}; {config.model.name} step {step}, stream {config.data.stream}')
    return draw_attention(positions[person], csta_weights(aux, 0, person), out_path, title=title)


# --- Summaries over many samples -----------------------------------------------------------------

def part_weights(joint_weights: Array, parts: Mapping[str, Sequence[int]] = BODY_PARTS) -> dict[str, Array]:
    """The weight mass of each body part: ``{part: joint_weights[..., part joints].sum(-1)}``."""
    joint_weights = np.asarray(joint_weights, np.float32)
    return {name: joint_weights[..., list(joints)].sum(axis=-1) for name, joints in parts.items()}


def sample_label(path: str | os.PathLike) -> int:
    """The 0-based class label in a raw file's name (NTU-format ``.skeleton`` or UESTC)."""
    if pathlib.Path(path).suffix.lower() == '.skeleton':
        return ntu.parse_sample_name(path).label
    return uestc.parse_sample_name(path).label


def raw_files(pattern: str | os.PathLike, config: ml_collections.ConfigDict | None = None,
              split: str = 'all') -> list[pathlib.Path]:
    """The raw skeleton files named by a file, a folder or a glob pattern, sorted.

    Args:
        pattern: a file, a folder (its .skeleton, .txt and .mat files) or a glob pattern.
        config: the training config; needed for `split` other than 'all'.
        split: 'all', or 'train' / 'test' of the configured benchmark (``config.dataset.name`` one
            of the NTU-format datasets, ``config.dataset.benchmark`` e.g. ``synthetic_xsub``).

    Raises:
        FileNotFoundError: nothing matches.
        ValueError: an unknown split, or a split of a dataset without NTU-format names.
    """
    path = pathlib.Path(pattern)
    if path.is_dir():
        files = [f for f in path.iterdir() if f.suffix.lower() in ('.skeleton', '.txt', '.mat')]
    elif path.is_file():
        files = [path]
    else:
        files = [pathlib.Path(f) for f in glob.glob(os.fspath(pattern))]
    files = sorted(files)
    if split not in ('all', 'train', 'test'):
        raise ValueError(f"split={split!r}; expected 'all', 'train' or 'test'")
    if split != 'all':
        if config is None or config.dataset.name not in builders.NTU_FAMILIES:
            raise ValueError(f'split={split!r} needs a config of an NTU-format dataset '
                             f'({sorted(builders.NTU_FAMILIES)})')
        family = builders.NTU_FAMILIES[config.dataset.name]
        known = {c.name: c for c in builders.NtuSkeleton.BUILDER_CONFIGS}
        if config.dataset.benchmark not in known:
            raise ValueError(f'split={split!r}: unknown benchmark {config.dataset.benchmark!r}; '
                             f'expected one of {sorted(known)}')
        bench = known[config.dataset.benchmark]
        files = [f for f in files
                 if ntu.is_training(f, family.split_rules, bench.benchmark, xset_rule=bench.xset_rule)
                 == (split == 'train')]
    if not files:
        raise FileNotFoundError(f'no raw skeleton files match {os.fspath(pattern)!r} (split {split})')
    return files


def summarize(config: ml_collections.ConfigDict, workdir: str | os.PathLike,
              files: Sequence[str | os.PathLike], batch_size: int = 64,
              parts: Mapping[str, Sequence[int]] = BODY_PARTS) -> dict[int, dict[str, dict[str, Array]]]:
    """The body-part weight masses of many raw files, grouped by class and stream.

    Each file is preprocessed as :func:`visualize` does and its most present person is used.

    Returns:
        ``{label: {stream: {part: (num files of that class,) masses, 'correct': (n,) bool}}}``
        where 'correct' says whether the model classified each file right.
    """
    model, state, _ = steps.restore_for_inference(config, workdir)
    apply = jax.jit(functools.partial(model.apply, train=False))
    variables = {'params': state.params, 'batch_stats': state.batch_stats}
    rows: dict[int, dict[str, dict[str, list]]] = {}
    for start in range(0, len(files), batch_size):
        chunk = files[start: start + batch_size]
        inputs, persons = [], []
        for f in chunk:
            x, positions = eval_inputs(config, load_record(f))
            inputs.append(x)
            persons.append(pick_person(positions))
        logits, aux = apply(variables, jnp.asarray(np.stack(inputs)))
        predicted = np.asarray(jnp.argmax(logits, axis=-1))
        for i, f in enumerate(chunk):
            label = sample_label(f)
            for stream, w in csta_weights(aux, i, persons[i]).items():
                row = rows.setdefault(label, {}).setdefault(stream, {})
                for part, mass in part_weights(w['joint_weights'], parts).items():
                    row.setdefault(part, []).append(float(mass))
                row.setdefault('correct', []).append(bool(predicted[i] == label))
    return {label: {stream: {k: np.asarray(v) for k, v in row.items()} for stream, row in streams.items()}
            for label, streams in sorted(rows.items())}


def format_summary(summary: Mapping[int, Mapping[str, Mapping[str, Array]]],
                   class_names: Sequence[str] | None = None) -> str:
    """A text table of :func:`summarize`: one line per class and stream, mean +- std per part."""
    lines = []
    for label, streams in summary.items():
        name = class_names[label] if class_names and label < len(class_names) else f'class {label}'
        for stream, row in streams.items():
            n = len(row['correct'])
            cells = [f'{part} {row[part].mean():.3f}+-{row[part].std():.3f}'
                     for part in row if part != 'correct']
            lines.append(f'{label:3d} {name!r} ({n} files, top-1 {row["correct"].mean():.2f}) '
                         f'{stream}: ' + ', '.join(cells))
    return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
    """Command-line entry: flags --config, --workdir, --input, --out, --person, --summary, --split."""
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    with errors.one_line(flags.FLAGS.traceback):
        _run(flags.FLAGS)


def _run(f) -> None:
    reporting.quiet_library_logs()
    if f.summary:
        files = raw_files(f.input, f.config, f.split)
        summary = summarize(f.config, f.workdir, files)
        print(format_summary(summary, predict.class_names(f.config)))
        return
    if f.split != 'all':
        raise app.UsageError('--split applies to --summary only')
    path = visualize(f.config, f.workdir, f.input, f.out or None, f.person)
    print(path)


if __name__ == '__main__':
    config_flags.DEFINE_config_file('config', None, 'Config file, optionally with :options.', lock_config=True)
    flags.DEFINE_string('workdir', None, 'Run folder whose checkpoint is restored.')
    flags.DEFINE_string('input', None, 'Raw skeleton file (.skeleton; .txt or .mat for UESTC).')
    flags.DEFINE_string('out', None, 'PNG to write (default WORKDIR/attention_<file>.png).')
    flags.DEFINE_integer('person', -1, 'Person whose weights are drawn; -1: the most present one.')
    flags.DEFINE_bool('summary', False, 'Print body-part weight summaries of the --input files '
                      '(a file, folder or glob) per class instead of drawing.')
    flags.DEFINE_enum('split', 'all', ['all', 'train', 'test'],
                      'With --summary: keep the files of this split of the configured benchmark.')
    errors.define_traceback_flag()
    flags.mark_flags_as_required(['config', 'workdir', 'input'])
    app.run(main)

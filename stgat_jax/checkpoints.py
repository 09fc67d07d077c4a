"""Orbax checkpoints holding the train state and the Grain iterator state.

A checkpoint at step s holds params, batch statistics, optimizer state, step and RNG (`state`) and,
when training, the data iterator of every process (`data`), so a resumed run continues with exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import grain
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


def checkpoint_dir(workdir: str | os.PathLike, name: str = "checkpoints") -> str:
    return os.path.join(os.path.abspath(workdir), name)


def create_manager(workdir: str | os.PathLike, *, name: str = "checkpoints", max_to_keep: int | None = 3,
                   save_interval_steps: int = 1, async_save: bool = True,
                   best_fn=None, read_only: bool = False) -> ocp.CheckpointManager:
    """A CheckpointManager over WORKDIR/NAME with items 'state' and 'data'.

    WORKDIR/checkpoints holds the latest ones (train state and data iterator); WORKDIR/best holds
    the train state with the best test top-1 when periodic evaluation is on.
    """
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, save_interval_steps=save_interval_steps,
        enable_async_checkpointing=async_save, best_fn=best_fn, best_mode="max",
        keep_checkpoints_without_metrics=True, read_only=read_only, create=not read_only)
    return ocp.CheckpointManager(checkpoint_dir(workdir, name), item_names=("state", "data"), options=options)


def save(manager: ocp.CheckpointManager, step: int, state: Any, data_iterator=None,
         metrics: dict[str, float] | None = None, force: bool = False) -> bool:
    """Saves `state` (and the iterator, if given) at `step`; returns whether a save started."""
    items = {"state": ocp.args.StandardSave(state)}
    if data_iterator is not None:
        items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    return manager.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=force)


def restore(manager: ocp.CheckpointManager, abstract_state: Any, data_iterator=None,
            step: int | None = None, partial: bool = False) -> tuple[Any, int] | None:
    """Restores the given step, or the latest readable one; None when there is no checkpoint.

    When no step is asked for and the latest checkpoint cannot be read (corrupt or partial), it
    warns and falls back to the one before it. With `partial`, only the entries `abstract_state`
    names are read (an `EvalState` from a checkpoint of a whole TrainState).
    """
    steps = sorted(manager.all_steps(), reverse=True)
    if step is not None:
        if step not in steps:
            raise FileNotFoundError(f"no checkpoint at step {step} in {manager.directory}; "
                                    f"available steps: {sorted(steps)}")
        steps = [step]
    if partial:
        state_args = ocp.args.PyTreeRestore(
            abstract_state, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_state),
            partial_restore=True)
    else:
        state_args = ocp.args.StandardRestore(abstract_state)
    for i, s in enumerate(steps):
        items = {"state": state_args}
        if data_iterator is not None:
            if os.path.isdir(os.path.join(str(manager.directory), str(s), "data")):
                items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
            else:  # e.g. converted official weights: the data stream starts from its beginning
                log.warning("checkpoint at step %d has no data-iterator state; the data stream starts "
                            "from the beginning", s)
        try:
            restored = manager.restore(s, args=ocp.args.Composite(**items))
        except Exception as e:  # Orbax raises many types for unreadable checkpoints.
            if step is not None or i == len(steps) - 1:
                raise ValueError(f"checkpoint at step {s} in {manager.directory} cannot be restored "
                                 f"({type(e).__name__}: {e})") from e
            log.warning("checkpoint at step %d in %s cannot be restored (%s: %s); falling back to "
                        "step %d", s, manager.directory, type(e).__name__, e, steps[i + 1])
            continue
        return restored["state"], s
    return None

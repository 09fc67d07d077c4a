"""Reading samples in worker processes, in order, a bounded number ahead of the writer.

:class:`SampleReader` runs :func:`data_prep.loaders.process` over a benchmark's samples, in chunks
of :data:`CHUNK`, in this process or in a pool of spawned worker processes, and hands the results
back in sample order. At most :data:`TASKS_AHEAD_PER_WORKER` chunks per worker are in flight, so
results never pile up faster than the records are written. A sample whose outcome is already
known (read for another benchmark, :class:`data_prep.records.RecordCache`) is not read again: its
outcome takes its place in the order.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import tqdm

from data_prep import loaders
from data_prep.loaders import Sample

CHUNK = 4
"""Samples per task sent to a worker process."""

TASKS_AHEAD_PER_WORKER = 4
"""Tasks in flight per worker: bounds memory, keeps the workers busy."""


@dataclasses.dataclass
class _Pending:
    """Samples handed out together, in order: a chunk being read (`task`: the pool's AsyncResult,
    or the results themselves when read in this process), or one sample with a `known` outcome."""

    samples: list[Sample]
    task: Any = None
    known: Any = None

    def results(self) -> Iterator[tuple[Sample, Any]]:
        if self.known is not None:
            return iter([(self.samples[0], self.known)])
        return zip(self.samples, self.task if isinstance(self.task, list) else self.task.get())


def _groups(samples: Sequence[Sample], known: Callable[[Sample], Any]
            ) -> Iterator[tuple[list[Sample], Any]]:
    """`samples` in order as (chunk of up to CHUNK samples to read, None) and ([sample], its
    known outcome)."""
    chunk: list[Sample] = []
    for sample in samples:
        outcome = known(sample)
        if outcome is None:
            chunk.append(sample)
            if len(chunk) == CHUNK:
                yield chunk, None
                chunk = []
        else:
            if chunk:
                yield chunk, None
                chunk = []
            yield [sample], outcome
    if chunk:
        yield chunk, None


def _unknown(sample: Sample) -> None:
    del sample


class SampleReader:
    """Reads samples with ``load`` into records of frames of ``frame_shape``
    (:func:`data_prep.loaders.process`), in ``num_workers`` processes (1: in this process).

    Use as a context manager: the pool lives until the ``with`` block ends.

    Args:
      load: reads one sample (a loader of :mod:`data_prep.loaders`).
      frame_shape: (M, V, C) of each frame of a record.
      num_workers: worker processes wanted.
      num_samples: samples to be read, if known: no more workers start than there are tasks.
    """

    def __init__(self, load: Callable[[Sample], np.ndarray], frame_shape: tuple[int, ...],
                 num_workers: int, num_samples: int | None = None):
        if num_samples is not None:
            num_workers = min(num_workers, -(-num_samples // CHUNK))
        self.num_workers = max(1, num_workers)
        self._args = (load, frame_shape)
        self._pool = None

    def __enter__(self) -> "SampleReader":
        if self.num_workers > 1:
            # Spawned, as the caller may run threads (JAX); the workers import only
            # data_prep.loaders (no TFDS), so they start in a fraction of a second.
            ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(self.num_workers, initializer=loaders.init_worker)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _start(self, chunk: list[Sample]) -> _Pending:
        """Starts reading `chunk` (in the pool, or right here)."""
        if self._pool is None:
            return _Pending(chunk, task=loaders.process(*self._args, chunk))
        return _Pending(chunk, task=self._pool.apply_async(loaders.process, (*self._args, chunk)))

    def results(self, samples: Sequence[Sample], desc: str,
                known: Callable[[Sample], Any] = _unknown) -> Iterator[tuple[Sample, Any]]:
        """Each sample with its :func:`data_prep.loaders.process` result or, where `known` gives
        one (not None), with that, in order, with a progress bar labelled `desc`."""
        ahead = self.num_workers * TASKS_AHEAD_PER_WORKER
        pending: collections.deque[_Pending] = collections.deque()
        in_flight = 0
        with tqdm.tqdm(total=len(samples), desc=desc, unit="file", dynamic_ncols=True,
                       mininterval=1.0) as bar:
            for chunk, outcome in _groups(samples, known):
                if outcome is None:
                    pending.append(self._start(chunk))
                    in_flight += 1
                else:
                    pending.append(_Pending(chunk, known=outcome))
                # Hand out what is known at the front; wait for a task only when enough are
                # in flight.
                while pending and (pending[0].known is not None or in_flight >= ahead):
                    entry = pending.popleft()
                    in_flight -= entry.known is None
                    yield from entry.results()
                    bar.update(len(entry.samples))
            while pending:
                entry = pending.popleft()
                yield from entry.results()
                bar.update(len(entry.samples))

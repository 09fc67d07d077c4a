"""Host process settings: the C allocator's handling of freed memory (glibc only).

By default glibc serves every allocation above 32 MiB with its own ``mmap`` and unmaps it when it
is freed. XLA's CPU backend allocates the buffers of a train step afresh at every step, so each
step maps, faults in and zeroes a few GiB of new pages (about 10% of a step on a 2-core machine).
:func:`keep_freed_memory` keeps freed memory in the process for the next step instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Callable

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

_kept = False


def mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt(param, value)``, or None where the C library is not glibc."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Serves all allocations from the heap and never returns freed heap memory to the system.

    The process's resident memory then stays at its peak (for training, the size of one step)
    instead of going up and down every step. Idempotent.

    Returns:
      Whether the setting is in effect (False where the C library is not glibc).
    """
    global _kept
    if _kept:
        return True
    tune = mallopt()
    if tune is None:
        return False
    # glibc reads the threshold as a size_t: -1 is the largest, so the heap is never trimmed.
    _kept = bool(tune(M_MMAP_MAX, 0)) and bool(tune(M_TRIM_THRESHOLD, -1))
    if _kept:
        logging.info("glibc keeps freed memory in the process (no mmap per buffer, no trim)")
    return _kept

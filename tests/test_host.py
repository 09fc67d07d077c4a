"""The allocator setting of the training process (glibc), checked in fresh processes."""

import subprocess
import sys
import textwrap

import pytest

from stgat_jax import host

# Allocates and frees 256 MiB (one malloc, which glibc serves with mmap by default), then
# prints how much of it is still resident.
_PROBE = textwrap.dedent("""
    import sys
    import numpy as np
    from stgat_jax import host
    if sys.argv[1] == "keep":
        assert host.keep_freed_memory() and host.keep_freed_memory()
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    before = rss()
    a = np.ones(256 << 18, np.float32)
    del a
    print((rss() - before) >> 20)
""")


@pytest.mark.skipif(host.mallopt() is None or not sys.platform.startswith("linux"),
                    reason="glibc on Linux only")
def test_keep_freed_memory_keeps_a_freed_buffer_resident():
    def kept_mib(mode):
        out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                             check=True)
        return int(out.stdout.strip())

    assert kept_mib("default") < 64  # unmapped when freed
    assert kept_mib("keep") >= 200  # stays in the heap for the next allocation

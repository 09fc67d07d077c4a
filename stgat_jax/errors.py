"""Bad input on the command line: one line on stderr and exit status 1, not a traceback.

Every command (``main.py``, ``python -m data_prep.prepare``, ``stgat_jax.convert``, ``.ensemble``,
``.visualize``, ``.summary``) runs its work inside :func:`one_line`. The errors it shortens are the
ones bad input raises: ``ValueError`` (a wrong key, shape, dtype, option or name; the readers'
format errors are ValueErrors), ``OSError`` (a missing or unreadable file) and ``KeyError``; their
messages name the file, line or key and what was expected. ``--traceback`` (or absl's
``--verbosity=1``) lets the full traceback through; any other exception always shows it.

Imports nothing heavy, so that data preparation can use it without JAX.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from absl import flags

INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, KeyError)
TRACEBACK_HELP = "show the full traceback of an error instead of one line"
_MAX_CHARS = 2000


def message(err: BaseException) -> str:
    """`err` as one line: its lines joined, cut after a few hundred characters."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else err
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = " ".join(lines) or type(err).__name__
    if isinstance(err, KeyError):
        line = f"key {line} not found"
    if len(line) > _MAX_CHARS:
        line = line[:_MAX_CHARS - 3] + "... (--traceback shows the whole message)"
    return line


def _absl_verbose() -> bool:
    """Whether absl's flags were parsed with --verbosity >= 1."""
    absl_flags = sys.modules.get("absl.flags")
    if absl_flags is None:
        return False
    flag_values = absl_flags.FLAGS
    try:
        return flag_values.is_parsed() and flag_values["verbosity"].value >= 1
    except KeyError:
        return False


@contextlib.contextmanager
def one_line(show_traceback: bool = False,
             also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turns an input error (:data:`INPUT_ERRORS` and `also`) raised inside into ``error: ...``
    on stderr and ``SystemExit(1)``, unless `show_traceback` or absl's ``--verbosity`` >= 1."""
    try:
        yield
    except INPUT_ERRORS + also as err:
        if show_traceback or _absl_verbose():
            raise
        print(f"error: {message(err)}", file=sys.stderr)
        raise SystemExit(1) from None


def add_traceback_flag(parser) -> None:
    """Adds ``--traceback`` to an argparse parser."""
    parser.add_argument("--traceback", action="store_true", help=TRACEBACK_HELP)


def define_traceback_flag(flag_values=None) -> None:
    """Defines ``--traceback`` among absl flags (the global ones by default), once."""
    flag_values = flags.FLAGS if flag_values is None else flag_values
    if "traceback" not in flag_values:
        flags.DEFINE_bool("traceback", False, TRACEBACK_HELP, flag_values=flag_values)

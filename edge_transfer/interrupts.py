"""Ctrl-C and SIGTERM as exceptions, held back while a native engine is being loaded.

An interrupt raised in the middle of ``import deepsparse`` or of a DeepSparse compile leaves the
engine's native state half-built. Measured with ``adapt`` on DeepSparse 1.8.0 (Ctrl-C at 1.5 s
to 4 s after its first progress line): the import reported "Unable to import deepsparse engine
binaries", or the process printed its clean one-line message and was then killed at exit by
SIGINT (-2) or by ``std::terminate`` (-6, "terminate called without an active exception").
Inside ``native_section()`` a signal is only recorded; it is raised as soon as the section ends,
so the engine is either fully built or not started, and the exit is the usual 130 or 143.
"""

from __future__ import annotations

import contextlib
import signal

received: list[int] = []  # signals received during this command, in order
_depth = 0  # nesting of native_section()
_held: list[int] = []  # received inside a native section, not raised yet


class Terminated(BaseException):
    """SIGTERM (what `timeout`, CI cancellation and `kill` send), raised like Ctrl-C so every
    ``finally`` and temp-folder cleanup runs instead of the process vanishing mid-write."""


def _raise_for(signum: int):
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def on_signal(signum, _frame):
    received.append(signum)
    if _depth:
        _held.append(signum)
    else:
        _raise_for(signum)


@contextlib.contextmanager
def native_section():
    """Hold SIGINT and SIGTERM (when ``on_signal`` handles them) until the block is done."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        signum = _held[-1] if _held and not _depth else None
        if signum is not None:
            _held.clear()  # raised below, or superseded by the exception already on its way
    if signum is not None:  # the block finished: the held signal takes effect now
        _raise_for(signum)

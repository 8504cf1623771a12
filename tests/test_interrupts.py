"""Signals held while a native engine is built, and pipeline threads stopped on an early exit."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from edge_transfer import interrupts


@pytest.fixture
def cli_handlers():
    previous = {s: signal.signal(s, interrupts.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.received.clear()
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)
    interrupts.received.clear()


def _deliver(sig):
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs between bytecodes of the main thread


@pytest.mark.parametrize("sig, exc", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, interrupts.Terminated)])
def test_a_signal_inside_a_native_section_is_raised_when_it_ends(cli_handlers, sig, exc):
    reached = []
    with pytest.raises(exc):
        with interrupts.native_section():
            with interrupts.native_section():  # nested: held until the outermost ends
                _deliver(sig)
                reached.append("inner end")
            reached.append("outer end")
    assert reached == ["inner end", "outer end"] and interrupts.received == [sig]
    with interrupts.native_section():  # a signal already raised is not raised again
        pass


def test_an_error_inside_a_native_section_wins_over_the_held_signal(cli_handlers):
    with pytest.raises(ValueError):
        with interrupts.native_section():
            _deliver(signal.SIGINT)
            raise ValueError("engine load failed")
    assert interrupts.received == [signal.SIGINT]  # the CLI reports it as interrupted
    with interrupts.native_section():  # and it is not raised a second time
        pass


def test_outside_a_section_the_signal_raises_at_once(cli_handlers):
    with pytest.raises(KeyboardInterrupt):
        _deliver(signal.SIGINT)
        pytest.fail("not interrupted")


def test_a_pipeline_stage_thread_is_stopped_when_the_reader_stops_early():
    from edge_transfer.adapt.loop import _in_thread

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = set(threading.enumerate())
    stage = _in_thread(_in_thread(endless()))  # two stages, like data -> backbone
    assert [next(stage) for _ in range(3)] == [0, 1, 2]
    stage.close()
    assert set(threading.enumerate()) == before, "a stage thread outlived its reader"
    count = len(produced)
    time.sleep(0.1)
    assert len(produced) == count and count <= 3 + 4  # at most one item queued and one in hand per stage

"""The venue's outbox: each session's messages leave in the order they were produced, whichever
thread sends them (gateways/venue/outbox.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import quickfix as fix

from gateways.venue.outbox import SessionOutbox

TEXT = 58


def _message(label: str) -> fix.Message:
    message = fix.Message()
    message.setField(TEXT, label)
    return message


class Recorder:
    """Records (thread name, session, label) per delivery; can hold the first one back."""

    def __init__(self, hold_first: bool = False) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, message: fix.Message, session_key: str) -> None:
        if not self.sent:
            self.first_started.set()
            self.release.wait(5)
        self.sent.append((threading.current_thread().name, session_key,
                          message.getField(TEXT)))

    def labels(self, session_key: str) -> list[str]:
        return [label for _, key, label in self.sent if key == session_key]


@pytest.fixture
def sender() -> Iterator[tuple[SessionOutbox, Recorder]]:
    recorder = Recorder(hold_first=True)
    outbox = SessionOutbox(recorder)
    thread = threading.Thread(target=outbox.run, name="sender", daemon=True)
    thread.start()
    yield outbox, recorder
    recorder.release.set()
    outbox.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_a_deferring_thread_sends_its_own_sessions_messages_itself() -> None:
    recorder = Recorder()
    outbox = SessionOutbox(recorder)  # no sender thread at all
    with outbox.deferring("S"):
        outbox.put(_message("new"), "S")
        outbox.put(_message("canceled"), "S")
        assert recorder.sent == []  # nothing leaves before the caller is done
    assert recorder.sent == [("MainThread", "S", "new"), ("MainThread", "S", "canceled")]


def test_messages_behind_ones_the_sender_is_sending_wait_their_turn(
        sender: tuple[SessionOutbox, Recorder]) -> None:
    outbox, recorder = sender
    outbox.put(_message("fill"), "S")  # the sender takes it, and is held in the send
    assert recorder.first_started.wait(5)
    with outbox.deferring("S"):
        outbox.put(_message("new"), "S")
    # The drain found the session being sent by the sender: it left its message to it.
    assert recorder.sent == []
    outbox.put(_message("md"), "T")
    recorder.release.set()
    outbox.stop()
    for _ in range(500):
        if len(recorder.sent) == 3:
            break
        time.sleep(0.01)
    assert recorder.labels("S") == ["fill", "new"]
    assert recorder.labels("T") == ["md"]
    assert {name for name, _, _ in recorder.sent} == {"sender"}


def test_what_was_queued_before_stop_is_still_sent() -> None:
    recorder = Recorder()
    outbox = SessionOutbox(recorder)
    for label in ("a", "b"):
        outbox.put(_message(label), "S")
    outbox.stop()
    outbox.run()  # returns once everything queued has gone
    assert recorder.labels("S") == ["a", "b"]

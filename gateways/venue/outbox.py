"""The venue's outgoing messages: one FIFO per client session, sent in order by whoever is free.

Why: the venue must never call quickfix while it holds its book lock (quickfix holds a
session's mutex while it runs callbacks such as ``onLogout``, and those take the book lock:
sending under the book lock could deadlock), and it must send each session's messages in the
order it produced them (a fill after the New it follows, a cancel's report after an earlier
fill). A single sender thread gave both, at the price of a thread hand-off per message.

How: messages are queued per session under the outbox's own small lock, which is never held
while sending. At most one thread sends a given session's queue at a time (it "owns" the
session while its queue is not empty), so the order is kept whoever sends. Two kinds of
thread send:
- the thread that answers a client's message on quickfix's callback thread, once it has left
  the book lock: it sends its own session's queue itself (``drain``), no hand-off;
- the sender thread (``run``), for everything else: messages produced by the flow threads,
  the order worker (when an order latency is configured) and other sessions' market data.
A thread that announced it will drain a session (``deferring``) does not wake the sender for
that session's messages; should the sender be awake anyway and take the session first, it
sends them, in order, and the drain finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator

import quickfix as fix

Deliver = Callable[[fix.Message, str], None]  # send one message to one session; never raises


class SessionOutbox:
    """Per-session FIFOs of outgoing messages; see the module docstring."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._queues: dict[str, deque[fix.Message]] = {}
        self._owned: set[str] = set()  # sessions some thread is sending right now
        self._stopped = False
        self._local = threading.local()  # .deferred: the session this thread will drain

    def put(self, message: fix.Message, session_key: str) -> None:
        """Queue ``message``; never calls quickfix, so callers may hold any venue lock."""
        with self._lock:
            self._queues.setdefault(session_key, deque()).append(message)
            if getattr(self._local, "deferred", None) != session_key:
                self._work.notify()

    @contextlib.contextmanager
    def deferring(self, session_key: str) -> Iterator[None]:
        """While inside, this thread's messages for ``session_key`` do not wake the sender; on
        the way out (after the caller's book lock is released) it sends them itself."""
        self._local.deferred = session_key
        try:
            yield
        finally:
            self._local.deferred = None
            self.drain(session_key)

    def drain(self, session_key: str) -> None:
        """Send ``session_key``'s queue, unless another thread is already sending it (it will
        send ours too: it stops only when the queue is empty)."""
        with self._lock:
            if session_key in self._owned or not self._queues.get(session_key):
                return
            self._owned.add(session_key)
        self._send_owned(session_key)

    def run(self) -> None:
        """The sender thread: send every queue no other thread is sending, until ``stop``;
        what was queued before ``stop`` is still sent."""
        while True:
            with self._lock:
                while (key := self._next_unowned()) is None and not self._stopped:
                    self._work.wait()
                if key is None:
                    return
                self._owned.add(key)
            self._send_owned(key)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._work.notify_all()

    def _next_unowned(self) -> str | None:
        for key, queue in self._queues.items():
            if queue and key not in self._owned:
                return key
        return None

    def _send_owned(self, session_key: str) -> None:
        while True:
            with self._lock:
                queue = self._queues[session_key]
                if not queue:
                    self._owned.discard(session_key)
                    return
                message = queue.popleft()
            self._deliver(message, session_key)

"""Keep one Python thread state on each quickfix thread instead of one per callback.

Why: quickfix's threads are not Python threads. Each time one calls into Python (every
``fromApp``, ``toAdmin``, every message through a Python ``Log``), the binding asks for the
interpreter lock with ``PyGILState_Ensure``; on a thread Python does not know, that creates a
thread state (a ``gettid`` call, a 16 KiB frame stack mapped with ``mmap``, its pages faulted
in) and the matching ``PyGILState_Release`` destroys it again (``munmap``, which in a process
with other running threads also interrupts their CPUs to flush their address translations).
That was done once or twice for every message received (the gateway's message log and its
``fromApp``; the venue's ``fromApp``), on the path of every order acknowledgement
(docs/benchmarks.md, "FIX order acknowledgement round trip").

How: the first time a quickfix thread calls :func:`keep_thread_state`, it calls
``PyGILState_Ensure`` once more and never releases it. The count that the binding's own
Ensure/Release pairs move up and down then never reaches zero, so the thread state stays; the
binding still takes and releases the interpreter lock around each callback as before.

Cost, named: the thread state of a quickfix thread that ends is never freed (about 17 KiB: the
state and its frame stack). The gateway's initiator runs one thread for its whole life, so that
is once per process; the venue's acceptor runs a thread per connection, so it is once per client
connection, for the life of the venue.
"""

from __future__ import annotations

import ctypes
import threading

_kept = threading.local()  # .kept: this thread's state is kept (it lives with the state)


def keep_thread_state() -> None:
    """Keep the calling thread's Python thread state alive after the current callback; call it
    from a callback quickfix makes on its own thread. Idempotent, and harmless on a thread
    Python started (its state is kept anyway)."""
    if getattr(_kept, "kept", False):
        return
    ctypes.pythonapi.PyGILState_Ensure()  # held: the interpreter lock is ours already
    _kept.kept = True

"""quickfix's FileLog, with the Logon's secrets blanked out.

Why: quickfix's FileLog writes every message as sent, so the Logon's Password(554) (and a
NewPassword(925)) would sit in clear text in ``<state_dir>/log`` for as long as the files are
kept, readable by anyone who can read the logs. The credentials come from the environment so
that they are never written anywhere; this keeps that promise for the message log too.

How: a ``LogFactory`` implemented in Python (quickfix's SWIG binding supports overriding it)
hands each session a ``Log`` that forwards to a real ``FileLog`` after replacing those fields'
values with ``***``. The logged message's checksum no longer matches its body; it is a log,
not a message store (the FileStore, which quickfix resends from, is not touched; quickfix
never stores or resends a Logon).

Cost, named: one call into Python per logged message, on the thread that sends or receives it
(a few microseconds: two substring tests and the call on to the FileLog; quickfix's Log
interface offers no way to handle only the Logon in Python and the rest in C++).
bench/bench_fix_roundtrip.py measures the gateway with it.

Two more jobs ride on the same calls, because the log is the one place quickfix shows Python
every message as text: an outgoing message that carried a secret (the Logon) has it scrubbed
from the message store too (``on_secret_sent``, gateways/fix/store_scrub.py); and incoming
execution reports are shown to ``on_report`` before quickfix validates them, so that one
quickfix then refuses with a session Reject is not lost (gateways/fix/gateway.py). A global
log (no session: what arrives before a Logon names one, e.g. junk on the port) writes at most
``MAX_GLOBAL_TEXT`` characters of each message or event.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import quickfix as fix

SECRET_TAGS = (554, 925)  # Password, NewPassword
_SECRET = re.compile("(\x01(?:" + "|".join(str(t) for t in SECRET_TAGS) + ")=)[^\x01]*")


_MARKERS = tuple(f"\x01{tag}=" for tag in SECRET_TAGS)


def redact(raw: str) -> str:
    """``raw`` with the value of every secret tag replaced by ``***`` (the substring tests
    first: nearly every message has none, and they cost a fraction of the substitution)."""
    for marker in _MARKERS:
        if marker in raw:
            return _SECRET.sub(r"\1***", raw)
    return raw


EventObserver = Callable[[str], None]  # called on quickfix's thread; must never raise
# An incoming execution report: the one quickfix's order-status fields start with. MsgType is
# the third field, after BeginString and BodyLength, so the test looks at the start only.
_REPORT = "\x0135=8\x01"
_REPORT_WITHIN = 40
MAX_GLOBAL_TEXT = 4_096


def bounded(text: str) -> str:
    """``text`` cut to MAX_GLOBAL_TEXT characters, saying how long it was."""
    if len(text) <= MAX_GLOBAL_TEXT:
        return text
    return f"{text[:MAX_GLOBAL_TEXT]}... ({len(text):,} characters; the rest not logged)"


class RedactingLog(fix.Log):
    """Forwards to ``inner`` with secrets blanked (see the module docstring), and shows each
    session event to ``on_event`` (the reconnect pacer watches connection attempts there) and
    each outgoing message that carried a secret to ``on_secret_sent``."""

    def __init__(self, inner: fix.Log, on_event: EventObserver | None = None,
                 on_secret_sent: Callable[[], object] | None = None) -> None:
        super().__init__()
        self._inner = inner
        self._on_event = on_event
        self._on_secret_sent = on_secret_sent
        # Bound once: these run for every message in and out, on the path to the wire.
        self._incoming = inner.onIncoming
        self._outgoing = inner.onOutgoing

    def clear(self) -> None:
        self._inner.clear()

    def backup(self) -> None:
        self._inner.backup()

    def onIncoming(self, text: str) -> None:  # noqa: N802 - quickfix's name
        self._incoming(redact(text))

    def onOutgoing(self, text: str) -> None:  # noqa: N802
        logged = redact(text)
        self._outgoing(logged)
        if logged is not text and self._on_secret_sent is not None:
            self._on_secret_sent()

    def onEvent(self, text: str) -> None:  # noqa: N802
        self._inner.onEvent(redact(text))
        if self._on_event is not None:
            self._on_event(text)


class ReportWatchingLog(RedactingLog):
    """A RedactingLog that also shows every incoming execution report to ``on_report``, before
    quickfix validates it (the gateway keeps it, in case quickfix refuses it). A class of its
    own so that a log without the watcher pays nothing for it: this runs for every message."""

    def __init__(self, inner: fix.Log, on_report: EventObserver,
                 on_event: EventObserver | None = None,
                 on_secret_sent: Callable[[], object] | None = None) -> None:
        super().__init__(inner, on_event, on_secret_sent)
        self._on_report = on_report

    def onIncoming(self, text: str) -> None:  # noqa: N802 - quickfix's name
        self._incoming(redact(text))
        if text.find(_REPORT, 0, _REPORT_WITHIN) >= 0:
            self._on_report(text)


class BoundedLog(RedactingLog):
    """A RedactingLog that writes at most MAX_GLOBAL_TEXT characters of each text (a global
    log, and the venue's, where anyone may send megabytes)."""

    def onIncoming(self, text: str) -> None:  # noqa: N802 - quickfix's name
        self._incoming(bounded(redact(text)))

    def onOutgoing(self, text: str) -> None:  # noqa: N802
        self._outgoing(bounded(redact(text)))

    def onEvent(self, text: str) -> None:  # noqa: N802
        self._inner.onEvent(bounded(redact(text)))
        if self._on_event is not None:
            self._on_event(text)


class RedactingFileLogFactory(fix.LogFactory):
    """A FileLog per session (and a global one, each text bounded) under ``path``, each wrapped
    in a RedactingLog; the observers are the session logs' (see RedactingLog).
    ``bound_sessions``: the session logs' texts are bounded too (the venue's: a client may
    send anything)."""

    def __init__(self, path: str, on_event: EventObserver | None = None,
                 on_report: EventObserver | None = None,
                 on_secret_sent: Callable[[], object] | None = None,
                 bound_sessions: bool = False) -> None:
        super().__init__()
        self._bound_sessions = bound_sessions
        self._path = path
        self._on_event = on_event
        self._on_report = on_report
        self._on_secret_sent = on_secret_sent

    def create(self, *args: fix.SessionID) -> fix.Log:
        log: RedactingLog
        if not args:
            log = BoundedLog(fix.FileLog(self._path))
        elif self._bound_sessions:
            log = BoundedLog(fix.FileLog(self._path, args[0]), self._on_event,
                             self._on_secret_sent)
        elif self._on_report is not None:
            log = ReportWatchingLog(fix.FileLog(self._path, args[0]), self._on_report,
                                    self._on_event, self._on_secret_sent)
        else:
            log = RedactingLog(fix.FileLog(self._path, args[0]), self._on_event,
                               self._on_secret_sent)
        # Handed over to quickfix (``__disown__``): it holds only a C++ pointer, so Python
        # must not free the object while quickfix may still write to it. Keeping the Python
        # objects here instead and dropping them with the factory freed them twice
        # (glibc: "double free detected"), after the initiator had stopped.
        return log.__disown__()

    def destroy(self, log: fix.Log) -> None:
        """Frees nothing. quickfix passes a bare pointer here, not the object ``create``
        returned, so there is no safe way to free it from Python: each session start leaves
        one small log object (and its open files) behind until the process exits. The
        service starts its session once per process, so that is one per session."""

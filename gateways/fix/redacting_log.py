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

Cost, named: one call into Python per logged message on quickfix's thread (a few
microseconds; bench/bench_fix_roundtrip.py measures the gateway with it).
"""

from __future__ import annotations

import re

import quickfix as fix

SECRET_TAGS = (554, 925)  # Password, NewPassword
_SECRET = re.compile("(\x01(?:" + "|".join(str(t) for t in SECRET_TAGS) + ")=)[^\x01]*")


_MARKERS = tuple(f"\x01{tag}=" for tag in SECRET_TAGS)


def redact(raw: str) -> str:
    """``raw`` with the value of every secret tag replaced by ``***`` (the substring test first:
    nearly every message has none, and it costs a fraction of the substitution)."""
    if not any(marker in raw for marker in _MARKERS):
        return raw
    return _SECRET.sub(r"\1***", raw)


class RedactingLog(fix.Log):
    """Forwards to ``inner`` with secrets blanked (see the module docstring)."""

    def __init__(self, inner: fix.Log) -> None:
        super().__init__()
        self._inner = inner

    def clear(self) -> None:
        self._inner.clear()

    def backup(self) -> None:
        self._inner.backup()

    def onIncoming(self, text: str) -> None:  # noqa: N802 - quickfix's name
        self._inner.onIncoming(redact(text))

    def onOutgoing(self, text: str) -> None:  # noqa: N802
        self._inner.onOutgoing(redact(text))

    def onEvent(self, text: str) -> None:  # noqa: N802
        self._inner.onEvent(redact(text))


class RedactingFileLogFactory(fix.LogFactory):
    """A FileLog per session (and a global one) under ``path``, each wrapped in a
    RedactingLog."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def create(self, *args: fix.SessionID) -> fix.Log:
        inner = fix.FileLog(self._path, args[0]) if args else fix.FileLog(self._path)
        # Handed over to quickfix (``__disown__``): it holds only a C++ pointer, so Python
        # must not free the object while quickfix may still write to it. Keeping the Python
        # objects here instead and dropping them with the factory freed them twice
        # (glibc: "double free detected"), after the initiator had stopped.
        return RedactingLog(inner).__disown__()

    def destroy(self, log: fix.Log) -> None:
        """Frees nothing. quickfix passes a bare pointer here, not the object ``create``
        returned, so there is no safe way to free it from Python: each session start leaves
        one small log object (and its open files) behind until the process exits. The
        service starts its session once per process, so that is one per session."""

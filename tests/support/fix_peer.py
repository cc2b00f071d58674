"""A scriptable FIX counterparty for tests: a real quickfix acceptor whose answers the test writes.

Why not the simulated venue: these tests are about how execagent's gateway copes with a
counterparty that is *not* the venue execagent ships (a minimal simulator, a broker that sends
odd execution reports, rejects, resends and unknown messages). The peer answers each
application message with whatever ``respond`` returns, inline in quickfix's callback (quickfix's
session mutex is recursive, so sending from the callback's own thread is safe), and records
every message it receives, admin and application, as a tag -> value dict.

Its sessions keep their sequence numbers across logons (ResetOnLogon=N), as a broker's do, so a
test can make it send while the client is away and watch the resend recover the messages.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import quickfix as fix

from gateways.fix.settings import SessionSpec, owned_session_id, write_settings

Fields = dict[int, str]
Responder = Callable[[Fields], list[fix.Message]]
SOH = "\x01"


def fields_of(message: fix.Message) -> Fields:
    """Every tag of ``message`` (header, body, trailer); a repeated tag keeps its last value."""
    return {int(tag): value for tag, _, value in
            (item.partition("=") for item in message.toString().split(SOH) if item)}


def app_message(msg_type: str, **tags: object) -> fix.Message:
    """A message of ``msg_type`` with body fields given as ``t<tag>=value``, e.g. ``t11="C1"``."""
    message = fix.Message()
    message.getHeader().setField(35, msg_type)
    for name, value in tags.items():
        if value is not None:
            message.setField(int(name.lstrip("t")), str(value))
    return message


def execution_report(cl_ord_id: str, exec_id: str, exec_type: str, ord_status: str, *,
                     qty: int, cum_qty: int, last_qty: int | None = None,
                     last_px: str | None = None, symbol: str = "GOOG", side: str = "2",
                     **extra: object) -> fix.Message:
    """An ExecutionReport with every field FIX 4.4 requires; ``extra`` as in app_message."""
    leaves = 0 if ord_status in ("2", "4", "8", "C", "3") else qty - cum_qty
    return app_message("8", t37=f"O-{cl_ord_id}", t11=cl_ord_id, t17=exec_id, t150=exec_type,
                       t39=ord_status, t55=symbol, t54=side, t38=qty, t151=leaves, t14=cum_qty,
                       t6=last_px or "0", t32=last_qty, t31=last_px,
                       t60="20261123-15:00:00.000000", **extra)


class FixPeer(fix.Application):
    """An acceptor for one client CompID; see the module docstring."""

    def __init__(self, state_dir: Path, port: int, respond: Responder | None = None,
                 begin_string: str = "FIX.4.4", comp_id: str = "PEER",
                 client_comp_id: str = "TESTER") -> None:
        super().__init__()
        self.spec = SessionSpec("acceptor", begin_string, comp_id, client_comp_id, "127.0.0.1",
                                port, state_dir)
        self.respond = respond or (lambda _fields: [])
        self.received: list[Fields] = []
        self.session_id: fix.SessionID | None = None
        self.logged_on = threading.Event()
        self.callback_errors = 0
        self._lock = threading.Lock()
        self._acceptor: fix.ThreadedSocketAcceptor | None = None
        self._parts: tuple[object, ...] = ()

    def start(self) -> None:
        settings = write_settings([self.spec], self.spec.state_dir / "peer.cfg")
        self._parts = (settings, fix.FileStoreFactory(settings), fix.FileLogFactory(settings))
        self._acceptor = fix.ThreadedSocketAcceptor(self, self._parts[1], settings,
                                                    self._parts[2])
        self._acceptor.start()

    def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.stop()
            self._acceptor = None
            self._parts = ()

    def send(self, message: fix.Message) -> bool:
        """Send on the client's session, logged on or not (quickfix stores it either way, so
        a message sent while the client is away reaches it by resend)."""
        assert self.session_id is not None
        return bool(fix.Session.sendToTarget(message, self.session_id))

    def of_type(self, msg_type: str) -> list[Fields]:
        with self._lock:
            return [f for f in self.received if f.get(35) == msg_type]

    async def wait_for(self, msg_type: str, predicate: Callable[[Fields], bool] = lambda f: True,
                       timeout_s: float = 10.0) -> Fields:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self.of_type(msg_type):
                if predicate(message):
                    return message
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {msg_type} message came; received "
                             f"{[f.get(35) for f in self.received]}")

    # --- quickfix callbacks ------------------------------------------------------------------
    def onCreate(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.session_id = owned_session_id(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.logged_on.set()

    def onLogout(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.logged_on.clear()

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self._record(message)

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        fields = self._record(message)
        try:
            replies = self.respond(fields)
        except fix.UnsupportedMessageType:
            raise  # quickfix's own signal: it answers with a BusinessMessageReject
        except Exception:  # noqa: BLE001 - a test's responder must not end the process
            self.callback_errors += 1
            return
        for reply in replies:
            fix.Session.sendToTarget(reply, sessionID)

    def _record(self, message: fix.Message) -> Fields:
        fields = fields_of(message)
        with self._lock:
            self.received.append(fields)
        return fields

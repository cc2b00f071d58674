"""The FIX order gateway: a quickfix initiator bridged into asyncio.

quickfix calls back on its own threads, and an exception escaping a callback ends the process.
So every callback here does the minimum: parse the message into a domain object, hand it to the
event loop with ``call_soon_threadsafe``, and catch *everything*, counting and logging what was
malformed. The engine never runs on a quickfix thread.

Credentials for the Logon come from the environment (``EXECAGENT_FIX_USERNAME``,
``EXECAGENT_FIX_PASSWORD``) and are never logged. Lost connections are retried with growing,
jittered waits (gateways/fix/reconnect.py).

The send path (``send``: the engine's order to the wire) is kept to the least Python: the order
is remembered for a later Reject from the intent, and ``toApp`` reads only the MsgSeqNum that
quickfix gave it (gateways/fix/rejects.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import quickfix as fix

from core.domain import ChildOrder, Instrument, OrderIntent, SessionStatus
from gateways.fix.codec import (
    FixParseError,
    decode_cancel_reject,
    decode_execution_report,
    encode_intent,
    encode_status_request,
    msg_type,
    unreadable_report,
)
from gateways.fix.reconnect import Backoff, ReconnectPacer
from gateways.fix.redacting_log import RedactingFileLogFactory
from gateways.fix.rejects import (
    RecentReports,
    SentOrderMessage,
    SentOrderMessages,
    parse_reject,
    refused_report,
    reject_event,
)
from gateways.fix.settings import SessionSpec, keep_private, owned_session_id
from gateways.fix.store_scrub import scrub_store
from gateways.fix.thread_state import keep_thread_state
from gateways.marketdata.fix_md import build_md_request, decode_market_data

log = logging.getLogger(f"execagent.{__name__}")

USERNAME, PASSWORD, TEXT, POSS_DUP, MSG_SEQ_NUM = 553, 554, 58, 43, 34
# Order messages quickfix would resend on the counterparty's ResendRequest. A resent order is
# stale (its decision was taken in another market, maybe by a process that has since died and
# been reconciled), so toApp refuses it and quickfix sends a SequenceReset-GapFill instead.
STALE_ON_RESEND = frozenset({fix.MsgType_NewOrderSingle, fix.MsgType_OrderCancelReplaceRequest})
MARKET_DATA_TYPES = (fix.MsgType_MarketDataSnapshotFullRefresh,
                     fix.MsgType_MarketDataIncrementalRefresh)

# Handed each parsed inbound event and its arrival time (time.perf_counter_ns), on the loop.
EventSink = Callable[[object, int], None]
Counter = Callable[[str], None]
# Told of every FIX message with its direction ("in" or "out") and raw MsgType(35). Called on
# quickfix's threads, so it must be thread-safe and quick (a Prometheus counter's inc is both).
MessageCounter = Callable[[str, str], None]


class FixOrderGateway(fix.Application):
    """Sends order intents and delivers execution reports and market data to the loop."""

    def __init__(
        self,
        spec: SessionSpec,
        instruments: dict[str, Instrument],
        loop: asyncio.AbstractEventLoop,
        sink: EventSink,
        subscribe_symbols: list[str] | None = None,
        on_malformed: Counter | None = None,
        on_message: MessageCounter | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        # Without a backoff, every wait is the session's fixed reconnect_seconds.
        self.backoff = backoff or Backoff(spec.reconnect_seconds, spec.reconnect_seconds, 1, 0)
        self.pacer: ReconnectPacer | None = None
        self.instruments = instruments
        self._loop = loop
        self._sink = sink
        self._subscribe = subscribe_symbols or []
        self._on_malformed = on_malformed
        self._on_message = on_message
        self.session_id: fix.SessionID | None = None
        self.logged_on = threading.Event()
        self.last_logout_text = ""
        self.malformed = 0
        self.venue_rejects = 0  # Reject (35=3) and BusinessMessageReject (35=j) received
        self._sent_orders = SentOrderMessages()
        # Execution reports as they arrived, before quickfix validated them: one it refuses
        # with a session Reject is handed over raw (gateways/fix/rejects.py, RecentReports).
        self._recent_reports = RecentReports()
        self._local = threading.local()  # .sending: the order message send() is sending
        self._initiator: fix.SocketInitiator | None = None
        self._quickfix_parts: tuple[object, ...] = ()
        self._md_requests = 0

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.pacer = ReconnectPacer(self.backoff, self._loop, lambda: self.session_id)
        # The pacer holds the session back between attempts (gateways/fix/reconnect.py);
        # quickfix's own interval is only how soon it connects once the pacer lets it.
        settings = dataclasses.replace(self.spec, reconnect_seconds=1,
                                       tolerant_reports=True).settings()
        store_dir = self.spec.state_dir / "store"
        scrub_store(store_dir)  # what an earlier process may have left in clear
        # quickfix keeps only references to the settings and factories: they must outlive the
        # initiator (the SWIG objects would otherwise be freed while it still uses them).
        self._quickfix_parts = (settings, fix.FileStoreFactory(settings),
                                RedactingFileLogFactory(
                                    str(self.spec.state_dir / "log"), self.pacer.on_event,
                                    on_report=self._recent_reports.keep,
                                    on_secret_sent=functools.partial(scrub_store, store_dir,
                                                                     tail_only=True)))
        self._initiator = fix.SocketInitiator(self, self._quickfix_parts[1], settings,
                                              self._quickfix_parts[2])
        keep_private(self.spec.state_dir)
        self._initiator.start()

    def stop(self) -> None:
        if self.pacer is not None:
            self.pacer.close()  # first: the connection that stop ends is not retried
        if self._initiator is not None:
            self._initiator.stop()
            self._initiator = None
            self._quickfix_parts = ()  # only after the engine that refers to them is gone
            # A session reset removes and re-creates its store files with the process's
            # umask: private again once quickfix is done.
            keep_private(self.spec.state_dir)
        self.logged_on.clear()

    async def wait_logged_on(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.logged_on.is_set():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    # --- outbound ---------------------------------------------------------------------------
    def send(self, intent: OrderIntent, now_ns: int) -> bool:
        """Encode and send; False (never an exception) when the session cannot take it."""
        session_id = self.session_id
        if session_id is None or not self.logged_on.is_set():
            return False
        try:
            message = encode_intent(intent, self.instruments[intent.symbol], now_ns)
        except ValueError as exc:  # an identifier that cannot be a FIX field value
            log.error("order message not sent: %s", exc)
            return False
        sending = SentOrderMessage.of(intent)
        self._local.sending = sending  # for toApp, which quickfix calls on this thread
        try:
            sent = bool(fix.Session.sendToTarget(message, session_id))
        except fix.SessionNotFound:
            return False
        finally:
            self._local.sending = None
        if sent:  # counted once the message is on its way, not on the way to the wire
            self._count("out", sending.msg_type)
        return sent

    def request_status(self, order: ChildOrder) -> bool:
        """Send an OrderStatusRequest for ``order``; False when the session cannot take it."""
        session_id = self.session_id
        if session_id is None or not self.logged_on.is_set():
            return False
        try:
            return bool(fix.Session.sendToTarget(encode_status_request(order), session_id))
        except fix.SessionNotFound:
            return False

    # --- quickfix callbacks (quickfix threads: catch everything) ----------------------------
    def onCreate(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.session_id = owned_session_id(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        try:
            keep_thread_state()  # this thread delivers the session's messages from now on
            if self.pacer is not None:
                self.pacer.on_logon()
            self.logged_on.set()
            self.last_logout_text = ""
            self._deliver(SessionStatus(True))
            if self._subscribe:
                self._md_requests += 1
                request = build_md_request(f"md-{self._md_requests}", self._subscribe)
                fix.Session.sendToTarget(request, sessionID)
        except Exception:
            log.exception("onLogon handler failed")

    def onLogout(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        try:
            was_on = self.logged_on.is_set()
            self.logged_on.clear()
            if was_on:
                self._deliver(SessionStatus(False, self.last_logout_text))
        except Exception:
            log.exception("onLogout handler failed")

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        try:
            kind = msg_type(message)
            self._count("out", kind)
            if kind == fix.MsgType_Reject:
                self._on_own_reject(message)
            elif kind == fix.MsgType_Logon:
                username = os.environ.get("EXECAGENT_FIX_USERNAME")
                password = os.environ.get("EXECAGENT_FIX_PASSWORD")
                if username:
                    message.setField(USERNAME, username)
                if password:
                    message.setField(PASSWORD, password)
        except Exception:
            log.exception("toAdmin handler failed")

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        try:
            kind = msg_type(message)
            self._count("in", kind)
            if kind == fix.MsgType_Logout and message.isSetField(TEXT):
                self.last_logout_text = message.getField(TEXT)
            elif kind == fix.MsgType_Reject:
                self._on_venue_reject(message, kind)
        except Exception:
            log.exception("fromAdmin handler failed")

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        sending: SentOrderMessage | None = getattr(self._local, "sending", None)
        if sending is not None:
            # The order message ``send`` is sending, on its own thread: fresh, not a resend.
            # All that is left to learn is the MsgSeqNum quickfix gave it, for a Reject that
            # names only that (gateways/fix/rejects.py): one field read, no more.
            try:
                self._sent_orders.record(sending, int(message.getHeader().getField(MSG_SEQ_NUM)))
            except Exception:
                log.exception("could not remember an outgoing order message")
            return
        try:
            kind = msg_type(message)
            header = message.getHeader()
            resend = header.isSetField(POSS_DUP) and header.getField(POSS_DUP) == "Y"
        except Exception:
            log.exception("toApp handler failed")
            return
        if resend and kind in STALE_ON_RESEND:
            log.info("not resending a stale order message (%s); gap-filled instead", kind)
            raise fix.DoNotSend()  # the one exception quickfix expects from toApp
        self._count("out", kind)
        try:  # an order message sent some other way than send(): remembered the slow way
            sent = SentOrderMessage.read(message, kind)
            if sent is not None:
                self._sent_orders.record(sent, int(header.getField(MSG_SEQ_NUM)))
        except Exception:
            log.exception("could not remember an outgoing order message")

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        received = time.perf_counter_ns()
        try:
            kind = msg_type(message)
            self._count("in", kind)
            if kind == fix.MsgType_ExecutionReport:
                event: object = self._decode_report(message)
            elif kind in MARKET_DATA_TYPES:
                event = decode_market_data(message, kind, self.instruments)
            elif kind == fix.MsgType_OrderCancelReject:
                event = decode_cancel_reject(message)
            elif kind == fix.MsgType_BusinessMessageReject:
                self._on_venue_reject(message, kind)
                return
            elif kind == fix.MsgType_MarketDataRequestReject:
                text = message.getField(TEXT) if message.isSetField(TEXT) else ""
                log.error("venue refused the market-data subscription: %s", text)
                return
            else:
                log.warning("unsupported application message %s from venue: answered with a "
                            "BusinessMessageReject", kind)
                self._count_malformed("unsupported")
                raise fix.UnsupportedMessageType()  # quickfix's own signal: it answers 35=j
            self._deliver(event, received)
        except fix.UnsupportedMessageType:
            raise  # the one exception quickfix expects from fromApp
        except FixParseError as exc:
            self._count_malformed("fix")
            log.warning("malformed message from venue dropped: %s", exc)
        except Exception:
            self._count_malformed("fix")
            log.exception("failed to handle a message from the venue")

    # --- helpers ----------------------------------------------------------------------------
    def _decode_report(self, message: fix.Message) -> object:
        """The report, or, when it cannot be read, the raw text and why (an
        :class:`UnreadableReport`, counted as malformed): never dropped."""
        try:
            return decode_execution_report(message, self.instruments)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the report is kept raw
            self._count_malformed("fix")
            reason = str(exc) if isinstance(exc, FixParseError) else \
                f"{type(exc).__name__}: {exc}"
            log.error("execution report that cannot be read kept raw: %s", reason)
            return unreadable_report(message.toString(), reason)

    def _on_own_reject(self, message: fix.Message) -> None:
        """quickfix is refusing an inbound message with a session Reject (its data dictionary
        failed it). An execution report so refused would be lost: hand it over raw."""
        event = refused_report(message, self._recent_reports)
        if event is not None:
            self._count_malformed("fix")
            log.error("execution report refused by quickfix kept raw: %s", event.reason)
            self._deliver(event)

    def _on_venue_reject(self, message: fix.Message, kind: str) -> None:
        """Count and log a Reject or BusinessMessageReject; when it refused one of our order
        messages, end that request as the venue would have (gateways/fix/rejects.py)."""
        self.venue_rejects += 1
        reject = parse_reject(message, kind)
        sent = self._sent_orders.find(reject.ref_seq, reject.ref_id, reject.ref_msg_type)
        if sent is None:
            log.warning("venue %s", reject.describe())
            return
        log.warning("venue refused order message %s (ClOrdID %s): %s", sent.msg_type,
                    sent.cl_ord_id, reject.describe())
        self._deliver(reject_event(sent, reject))

    def _deliver(self, event: object, received_ns: int | None = None) -> None:
        stamp = received_ns if received_ns is not None else time.perf_counter_ns()
        try:
            self._loop.call_soon_threadsafe(self._sink, event, stamp)
        except RuntimeError:
            log.debug("event loop closed; %s dropped", type(event).__name__)

    def _count(self, direction: str, kind: str) -> None:
        if self._on_message is not None:
            self._on_message(direction, kind)

    def _count_malformed(self, source: str) -> None:
        self.malformed += 1
        if self._on_malformed is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: nothing left to count for
                self._loop.call_soon_threadsafe(self._on_malformed, source)


def state_dir_for(base: Path, sender: str, target: str) -> Path:
    """One directory per session pair, so two services never share a message store."""
    return base / f"{sender}-{target}"

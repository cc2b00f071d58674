"""The simulated FIX venue.

A quickfix acceptor in front of one :class:`sim.matching.OrderBook` per symbol. One lock (the
book lock) guards the books and the order records. The threads that touch them:
- quickfix's threads deliver client messages. With no order-handling latency configured, the
  callback handles the order itself under the book lock and, once it has left the lock, sends
  its answers to its own session itself (no thread hand-off: the order acknowledgement round
  trip is the venue's hot path). With a latency, it validates and queues the order for
- a worker thread, which handles queued client orders when they are due;
- one flow thread per symbol replays the order flow (stochastic or scripted) in accelerated
  virtual time: ``virtual = start + elapsed_wall * speed``;
- one sender thread sends whatever no callback thread sends itself (``gateways/venue/outbox.py``).
Every book change goes out as a MarketDataIncrementalRefresh to the subscribed sessions. A
replay with the clients' impact (``gateways/venue/impact_flow.py``) hears, under the book lock,
of every client order that took liquidity on arrival, and moves the crowd's book then.

Why nothing talks to quickfix under the book lock: quickfix holds a session's mutex while it
runs some of our callbacks (``onLogout``, which takes the book lock), and
``Session.sendToTarget`` takes that mutex, so a thread that sent while holding the book lock
could deadlock against such a callback. Messages are produced under the book lock into
per-session FIFO queues (which keep their order) and sent after it is released.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import quickfix as fix

from core.domain import Instrument, OrdStatus, OrdType, Side, TimeInForce
from gateways.fix.codec import (
    CL_ORD_ID,
    MSG_TYPE,
    ORIG_CL_ORD_ID,
    SIDE,
    FixParseError,
    fields_of,
    msg_type,
)
from gateways.fix.redacting_log import RedactingFileLogFactory
from gateways.fix.settings import SessionSpec, keep_private, owned_session_id, write_settings
from gateways.fix.thread_state import keep_thread_state
from gateways.marketdata.fix_md import MD_REQ_ID, NO_RELATED_SYM, SYMBOL
from gateways.venue.config import VenueConfig
from gateways.venue.impact_flow import ImpactReplayFlow
from gateways.venue.messages import (
    ClientOrder,
    OrderRequest,
    as_fix42,
    build_cancel_reject,
    build_execution_report,
    build_incremental,
    build_md_reject,
    build_snapshot,
    build_unknown_order_status,
    parse_order_request,
)
from gateways.venue.outbox import SessionOutbox
from gateways.venue.personas import Persona
from sim.flow import OrderFlow
from sim.matching import Fill, OrderBook

log = logging.getLogger(f"execagent.{__name__}")

USERNAME, PASSWORD = 553, 554
SNAPSHOT_DEPTH = 20
MAX_FLOW_BATCH = 500  # flow events applied under one hold of the book lock
ORDER_REQUESTS = frozenset({fix.MsgType_NewOrderSingle, fix.MsgType_OrderCancelRequest,
                            fix.MsgType_OrderCancelReplaceRequest, fix.MsgType_OrderStatusRequest})


class VirtualClock:
    """Accelerated market time: ``speed`` market seconds per wall-clock second."""

    def __init__(self, start_ns: int, speed: float) -> None:
        self.start_ns = start_ns
        self.speed = speed
        self._wall0 = time.monotonic_ns()
        self._last = start_ns
        self._stamp_lock = threading.Lock()

    def now_ns(self) -> int:
        return self.start_ns + int((time.monotonic_ns() - self._wall0) * self.speed)

    def stamp(self, ts_ns: int | None = None) -> int:
        """An event time that never goes backwards: a flow event scheduled at ``ts_ns`` may be
        applied a little after an order handled at "now", and must not be stamped before it."""
        with self._stamp_lock:
            self._last = max(self._last, self.now_ns() if ts_ns is None else ts_ns)
            return self._last

    def wall_seconds_until(self, ts_ns: int) -> float:
        return max(ts_ns - self.now_ns(), 0) / self.speed / 1e9


@dataclass(slots=True)
class _Subscription:
    session_key: str
    req_id: str
    symbol: str


class SimulatedVenue(fix.Application):
    def __init__(self, config: VenueConfig, flows: dict[str, OrderFlow],
                 start_ns: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.instruments = {s.symbol: Instrument(s.symbol, s.tick_size) for s in config.symbols}
        missing = set(self.instruments) - set(flows)
        if missing:
            raise ValueError(f"no order flow for symbols {sorted(missing)}")
        self.flows = flows
        self._impact_flows = {symbol: flow for symbol, flow in flows.items()
                              if isinstance(flow, ImpactReplayFlow)}
        self.books = {symbol: OrderBook(symbol) for symbol in self.instruments}
        self.clock = VirtualClock(start_ns if start_ns is not None else time.time_ns(),
                                  config.speed)
        for symbol, flow in flows.items():
            flow.seed_book(self.books[symbol], self.clock.start_ns)
            self.books[symbol].take_level_changes()  # the seed is the snapshot, not an update
        self.persona = Persona.of(config.persona)
        self._order_latency_ms = (self.persona.order_latency_ms
                                  if self.persona.order_latency_ms is not None
                                  else config.order_latency_ms)
        self._passwords = {c.comp_id: c.password for c in config.clients}
        self._lock = threading.RLock()
        self._orders: dict[str, ClientOrder] = {}  # venue OrderID -> order
        self._by_client_id: dict[tuple[str, str], str] = {}  # (session, ClOrdID) -> OrderID
        self._subscriptions: list[_Subscription] = []
        self._pending: list[tuple[int, int, OrderRequest]] = []  # (due wall ns, seq, request)
        self._pending_ready = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._exec_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._outbox = SessionOutbox(self._deliver)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor: fix.ThreadedSocketAcceptor | None = None
        self._quickfix_parts: tuple[object, ...] = ()
        self._sessions: dict[str, fix.SessionID] = {}
        self.sessions_logged_on: set[str] = set()
        self.rejected_logons = 0
        self.client_filled_qty = 0  # everything clients traded, for end-of-run reconciliation
        self.flow_events = 0
        self.errors = 0

    # --- lifecycle -------------------------------------------------------------------------
    def session_specs(self) -> list[SessionSpec]:
        """One acceptor session per configured client. Sequence numbers carry on across logons
        and across the venue's own restarts (its FileStore under ``state_dir``), as a careful
        counterparty's do: a client that reconnects after a crash gets the execution reports
        it missed by resend. Orders do not survive a venue restart; the session does. A fresh
        session on both sides means a fresh ``state_dir`` on both sides."""
        return [
            SessionSpec("acceptor", self.config.begin_string, self.config.comp_id, client.comp_id,
                        self.config.host, self.config.port, self.config.state_dir)
            for client in self.config.clients
        ]

    def start(self) -> None:
        settings = write_settings(self.session_specs(), self.config.state_dir / "venue.cfg")
        # quickfix keeps only references to the settings and factories: they must outlive the
        # acceptor (the SWIG objects would otherwise be freed while it still uses them).
        # Its logs without the clients' passwords, each message bounded (a client, or anyone
        # on the port before a session is known, may send megabytes of junk):
        # gateways/fix/redacting_log.py.
        self._quickfix_parts = (settings, fix.FileStoreFactory(settings),
                                RedactingFileLogFactory(str(self.config.state_dir / "log"),
                                                        bound_sessions=True))
        # The threaded acceptor (a thread per connection): quickfix's (1.16) single-threaded
        # SocketAcceptor.stop() races its own poll thread over the socket map; right after a
        # client disconnected it crashed the process in 8 of 12 runs of five stops each, and
        # never in 50 such runs with the threaded acceptor.
        self._acceptor = fix.ThreadedSocketAcceptor(self, self._quickfix_parts[1], settings,
                                                    self._quickfix_parts[2])
        self._acceptor.start()
        keep_private(self.config.state_dir)
        self._spawn(self._outbox.run, "venue-sender")
        self._spawn(self._order_worker, "venue-orders")
        for symbol in self.flows:
            self._spawn(functools.partial(self._run_flow, symbol), f"venue-flow-{symbol}")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._pending_ready:
            self._pending_ready.notify_all()
        self._outbox.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._acceptor is not None:
            self._acceptor.stop()
            self._acceptor = None
            self._quickfix_parts = ()  # only after the engine that refers to them is gone
            # A session reset (a logon, a rejected one included) removes and re-creates its
            # store files with the process's umask: private again once quickfix is done.
            keep_private(self.config.state_dir)

    # --- quickfix callbacks --------------------------------------------------------------------
    def onCreate(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self._sessions[sessionID.toString()] = owned_session_id(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        keep_thread_state()  # this thread delivers the client's messages from now on
        self.sessions_logged_on.add(sessionID.toString())

    def onLogout(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        try:
            key = sessionID.toString()
            self.sessions_logged_on.discard(key)
            with self._lock:
                self._subscriptions = [s for s in self._subscriptions
                                       if s.session_key != key]
                if self.config.cancel_on_disconnect:
                    self._cancel_all_of(key)
        except Exception:
            self.errors += 1
            log.exception("venue onLogout failed")

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        if msg_type(message) != fix.MsgType_Logon:
            return
        client = sessionID.getTargetCompID().getValue()
        if client not in self._passwords:
            self.rejected_logons += 1
            raise fix.RejectLogon(f"unknown CompID {client}")
        expected = self._passwords[client]
        given = message.getField(PASSWORD) if message.isSetField(PASSWORD) else None
        if expected is not None and given != expected:
            self.rejected_logons += 1
            raise fix.RejectLogon("invalid password")

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        return None

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        # The whole message in one call into quickfix: an order needs nothing more of it.
        fields = fields_of(message)
        kind = fields.get(MSG_TYPE, "")
        session_key = sessionID.toString()
        if kind == fix.MsgType_MarketDataRequest:
            action = functools.partial(self._on_md_request, message, session_key)
        elif kind in ORDER_REQUESTS:
            action = functools.partial(self._on_order, kind, fields, session_key)
        else:
            raise fix.UnsupportedMessageType()  # quickfix answers BusinessMessageReject
        # The answers to this client go out from this thread, once the action has left the
        # book lock (gateways/venue/outbox.py).
        with self._outbox.deferring(session_key):
            self._guard(action)

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            self.errors += 1
            log.exception("venue failed to handle a client message")

    # --- orders ----------------------------------------------------------------------------------
    def _on_order(self, kind: str, fields: dict[int, str], session_key: str) -> None:
        """Handle the order now, on this (quickfix's) thread, when no order-handling latency
        is configured; otherwise queue it for the order worker, due after the latency."""
        try:
            request = parse_order_request(kind, fields, session_key, self.instruments)
        except FixParseError as exc:
            self._reject_unparsable(kind, fields, session_key, str(exc))
            return
        if self._order_latency_ms == 0:
            with self._lock:
                place = self._handle(request)
            if place is not None:
                # The New goes out before the order meets the book (the acknowledgement is the
                # client's hot path); then, under the lock again, the order is placed. In
                # between, this thread offers its CPU once: a client on the same machine (the
                # service in tests and benchmarks) was woken by the New and would otherwise
                # wait behind the placing and its reports to read it. It costs a system call
                # when nothing else is waiting to run.
                self._outbox.drain(request.session_key)
                os.sched_yield()
                with self._lock:
                    place()
            return
        due = time.monotonic_ns() + int(self._order_latency_ms * 1e6)
        with self._pending_ready:
            heapq.heappush(self._pending, (due, next(self._seq), request))
            self._pending_ready.notify()

    def _reject_unparsable(self, kind: str, fields: dict[int, str], session_key: str,
                           reason: str) -> None:
        cl_ord_id = fields.get(CL_ORD_ID, "?")
        if kind in (fix.MsgType_OrderCancelRequest, fix.MsgType_OrderCancelReplaceRequest):
            orig = fields.get(ORIG_CL_ORD_ID, "?")
            self._send(build_cancel_reject(cl_ord_id, orig, kind, "99", reason), session_key)
            return
        symbol = fields.get(SYMBOL, "?")
        side = fields.get(SIDE, "1")
        rejected = ClientOrder(order_id="NONE", cl_ord_id=cl_ord_id, session_key="",
                               symbol=symbol, side=Side.from_fix(side) if side in "12" else
                               Side.BUY, qty=0, price=None, ord_type=OrdType.LIMIT,
                               tif=TimeInForce.DAY, status=OrdStatus.REJECTED)
        self._send(build_execution_report(rejected, self._exec_id(), "8", None, 0, None,
                                          self.clock.stamp(), reason), session_key)

    def _order_worker(self) -> None:
        while not self._stop.is_set():
            with self._pending_ready:
                while not self._pending and not self._stop.is_set():
                    self._pending_ready.wait(0.1)
                if self._stop.is_set():
                    return
                due, _, request = self._pending[0]
                wait_s = (due - time.monotonic_ns()) / 1e9
                if wait_s > 0:
                    self._pending_ready.wait(wait_s)
                    continue
                heapq.heappop(self._pending)
                self._guard(functools.partial(self._handle_fully, request))

    def _handle_fully(self, request: OrderRequest) -> None:
        """The order worker's way (under the book lock throughout)."""
        place = self._handle(request)
        if place is not None:
            place()

    def _handle(self, request: OrderRequest) -> Callable[[], None] | None:
        """Handle ``request`` under the book lock. For an accepted NewOrderSingle this only
        acknowledges it: it returns what places the order in the book, for the caller to run
        under the book lock once the New has been sent."""
        if request.kind == fix.MsgType_NewOrderSingle or (
                self.persona.replace_as_new and
                request.kind == fix.MsgType_OrderCancelReplaceRequest):
            return self._new_order(request)
        handler = {
            fix.MsgType_OrderCancelRequest: self._cancel,
            fix.MsgType_OrderCancelReplaceRequest: self._replace,
            fix.MsgType_OrderStatusRequest: self._status,
        }[request.kind]
        handler(request)
        return None

    def _new_order(self, req: OrderRequest) -> Callable[[], None] | None:
        now = self.clock.stamp()
        key = (req.session_key, req.cl_ord_id)
        order = ClientOrder(f"O{next(self._order_ids)}", req.cl_ord_id, req.session_key,
                            req.symbol, req.side, req.qty, req.price, req.ord_type, req.tif)
        problem = self._validate_new(req, key)
        if problem:
            order.status = OrdStatus.REJECTED
            self._send(build_execution_report(order, self._exec_id(), "8", None, 0, None, now,
                                              problem), req.session_key)
            return None
        self._orders[order.order_id] = order
        self._by_client_id[key] = order.order_id
        if self.persona.fill_at_limit:
            self._fill_at_limit(order, now)
            return None
        order.status = OrdStatus.NEW
        self._send(build_execution_report(order, self._exec_id(), "0", None, 0, None, now),
                   req.session_key)
        return functools.partial(self._place, order, req)

    def _fill_at_limit(self, order: ClientOrder, now: int) -> None:
        """The fill-at-limit persona: no New, no book; a limit order is filled at once, in
        full, at its limit price; anything else is rejected."""
        if order.ord_type is not OrdType.LIMIT or order.price is None:
            order.status = OrdStatus.REJECTED
            self._send(build_execution_report(order, self._exec_id(), "8", None, 0, None, now,
                                              "only limit orders are accepted"),
                       order.session_key)
            return
        order.status = OrdStatus.FILLED
        order.cum_qty = order.qty
        order.notional_ticks = order.qty * order.price
        self.client_filled_qty += order.qty
        self._send(build_execution_report(order, self._exec_id(), "F", order.qty, order.price,
                                          self.instruments[order.symbol], now),
                   order.session_key)

    def _place(self, order: ClientOrder, req: OrderRequest) -> None:
        """Put an acknowledged order in the book: it trades, rests, or (IOC, market) its
        remainder is cancelled. An order cancelled between its acknowledgement and this (its
        client disconnected, with cancel-on-disconnect) is not placed."""
        if order.status is not OrdStatus.NEW:
            return
        now = self.clock.stamp()
        book = self.books[req.symbol]
        if req.ord_type is OrdType.MARKET:
            fills = book.add_market(order.order_id, req.side, req.qty, now, owner=req.session_key)
        else:
            assert req.price is not None
            fills = book.add_limit(order.order_id, req.side, req.price, req.qty, now,
                                   owner=req.session_key, ioc=req.tif is TimeInForce.IOC)
        self._report_fills(fills, now)
        moved = self._client_impact(req.symbol, req.side, fills, now)
        self._report_fills(moved, now)
        if order.status in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED) and \
                book.get(order.order_id) is None:
            # IOC or market remainder: the book did not keep it.
            order.status = OrdStatus.CANCELED
            self._send(build_execution_report(order, self._exec_id(), "4", None, 0, None, now),
                       req.session_key)
        self._publish(req.symbol, now, fills + moved)

    def _validate_new(self, req: OrderRequest, key: tuple[str, str]) -> str:
        if key in self._by_client_id:
            return f"duplicate ClOrdID {req.cl_ord_id}"
        if req.qty <= 0:
            return "quantity must be positive"
        if req.ord_type is OrdType.LIMIT and (req.price is None or req.price <= 0):
            return "limit order needs a positive price"
        return ""

    def _lookup(self, req: OrderRequest) -> ClientOrder | None:
        order_id = self._by_client_id.get((req.session_key, req.orig_cl_ord_id or ""))
        order = self._orders.get(order_id) if order_id else None
        if order is None or order.status.is_terminal:
            return None
        return order

    def _cancel(self, req: OrderRequest) -> None:
        now = self.clock.stamp()
        order = self._lookup(req)
        if order is None:
            self._send(build_cancel_reject(req.cl_ord_id, req.orig_cl_ord_id or "", req.kind, "1",
                                           "unknown order"), req.session_key)
            return
        self.books[order.symbol].cancel(order.order_id)
        order.status = OrdStatus.CANCELED
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, req.cl_ord_id
        self._by_client_id[(req.session_key, req.cl_ord_id)] = order.order_id
        self._send(build_execution_report(order, self._exec_id(), "4", None, 0, None, now),
                   req.session_key)
        self._publish(order.symbol, now, [])

    def _replace(self, req: OrderRequest) -> None:
        now = self.clock.stamp()
        order = self._lookup(req)
        if order is None:
            self._send(build_cancel_reject(req.cl_ord_id, req.orig_cl_ord_id or "", req.kind, "1",
                                           "unknown order"), req.session_key)
            return
        if req.qty <= order.cum_qty or req.price is None:
            self._send(build_cancel_reject(req.cl_ord_id, order.cl_ord_id, req.kind, "99",
                                           "new quantity must exceed the filled quantity and a "
                                           "price is required"), req.session_key)
            return
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, req.cl_ord_id
        order.qty, order.price = req.qty, req.price
        self._by_client_id[(req.session_key, req.cl_ord_id)] = order.order_id
        fills = self.books[order.symbol].replace(order.order_id, req.qty - order.cum_qty,
                                                 req.price, now)
        self._send(build_execution_report(order, self._exec_id(), "5", None, 0, None, now),
                   req.session_key)
        self._report_fills(fills, now)
        moved = self._client_impact(order.symbol, order.side, fills, now)
        self._report_fills(moved, now)
        self._publish(order.symbol, now, fills + moved)

    def _client_impact(self, symbol: str, side: Side, fills: list[Fill], now: int) -> list[Fill]:
        """A client's order took ``fills`` on arrival (all of them its, as the taker): in a
        replay with the clients' impact (gateways/venue/impact_flow.py) they are one market
        order, whose impact moves the crowd's book now. Returns the trades of the clients'
        orders the move crossed."""
        flow = self._impact_flows.get(symbol)
        if flow is None or not fills:
            return []
        return flow.client_traded(self.books[symbol], side, sum(f.qty for f in fills), now)

    def _status(self, req: OrderRequest) -> None:
        if not self.persona.answers_status:
            return  # the no-status persona
        order_id = self._by_client_id.get((req.session_key, req.cl_ord_id))
        order = self._orders.get(order_id) if order_id else None
        if order is None:
            self._send(build_unknown_order_status(req, self._exec_id(), self.clock.stamp()),
                       req.session_key)
            return
        self._send(build_execution_report(order, self._exec_id(), "I", None, 0,
                                          self.instruments[order.symbol], self.clock.stamp()),
                   req.session_key)

    def _report_fills(self, fills: list[Fill], now: int) -> None:
        for fill in fills:
            for order_id, owner in ((fill.maker_id, fill.maker_owner),
                                    (fill.taker_id, fill.taker_owner)):
                if owner is None or not isinstance(order_id, str):
                    continue
                order = self._orders.get(order_id)
                if order is None:
                    continue
                order.cum_qty += fill.qty
                order.notional_ticks += fill.qty * fill.price
                order.status = (OrdStatus.FILLED if order.cum_qty >= order.qty
                                else OrdStatus.PARTIALLY_FILLED)
                self.client_filled_qty += fill.qty
                self._send(build_execution_report(order, self._exec_id(), "F", fill.qty,
                                                  fill.price, self.instruments[order.symbol],
                                                  now), order.session_key)

    def _cancel_all_of(self, session_key: str) -> None:
        for order in self._orders.values():
            if order.session_key == session_key and not order.status.is_terminal:
                self.books[order.symbol].cancel(order.order_id)
                order.status = OrdStatus.CANCELED
                self._publish(order.symbol, self.clock.stamp(), [])

    def working_orders(self, session_key: str | None = None) -> list[ClientOrder]:
        with self._lock:
            return [o for o in self._orders.values() if not o.status.is_terminal
                    and (session_key is None or o.session_key == session_key)]

    def client_orders(self) -> list[ClientOrder]:
        """Every client order as the venue holds it (copies): its record, to compare with a
        client's."""
        with self._lock:
            return [dataclasses.replace(o) for o in self._orders.values()]

    def _cancel_at_random(self, symbol: str, now: int) -> None:
        """The unsolicited-cancel persona: now and then one resting client order is cancelled,
        unasked (a venue's risk check, a session schedule, an operator)."""
        persona = self.persona
        if persona.random.random() >= persona.cancel_chance:
            return
        resting = [o for o in self._orders.values() if o.symbol == symbol and
                   not o.status.is_terminal and self.books[symbol].get(o.order_id) is not None]
        if not resting:
            return
        order = persona.random.choice(resting)
        self.books[symbol].cancel(order.order_id)
        order.status = OrdStatus.CANCELED
        self._send(build_execution_report(order, self._exec_id(), "4", None, 0, None, now,
                                          "cancelled by the venue"), order.session_key)

    # --- market data -----------------------------------------------------------------------------
    def _on_md_request(self, message: fix.Message, session_key: str) -> None:
        req_id = message.getField(MD_REQ_ID) if message.isSetField(MD_REQ_ID) else ""
        count = int(message.getField(NO_RELATED_SYM)) if message.isSetField(NO_RELATED_SYM) else 0
        group = fix.Group(NO_RELATED_SYM, SYMBOL)
        symbols = []
        for index in range(1, count + 1):
            message.getGroup(index, group)
            symbols.append(group.getField(SYMBOL))
        unknown = [s for s in symbols if s not in self.books]
        if unknown or not symbols:
            self._send(build_md_reject(req_id, f"unknown symbol {unknown or '(none given)'}"),
                       session_key)
            return
        with self._lock:
            now = self.clock.stamp()
            for symbol in symbols:
                book = self.books[symbol]
                self._send(build_snapshot(req_id, symbol, book.depth(Side.BUY, SNAPSHOT_DEPTH),
                                          book.depth(Side.SELL, SNAPSHOT_DEPTH),
                                          self.instruments[symbol], now), session_key)
                self._subscriptions.append(_Subscription(session_key, req_id, symbol))

    def _publish(self, symbol: str, now: int, fills: list[Fill]) -> None:
        changes = self.books[symbol].take_level_changes()
        if not changes and not fills:
            return
        for sub in self._subscriptions:
            if sub.symbol == symbol:
                self._send(build_incremental(sub.req_id, symbol, changes, fills,
                                             self.instruments[symbol], now), sub.session_key)

    def _run_flow(self, symbol: str) -> None:
        flow = self.flows[symbol]
        while not self._stop.is_set():
            wait_s = self.clock.wall_seconds_until(flow.next_time_ns())
            if wait_s > 0:
                self._stop.wait(min(wait_s, 0.05))
                continue
            with self._lock:
                self._guard(lambda: self._flow_batch(symbol, flow))

    def _flow_batch(self, symbol: str, flow: OrderFlow) -> None:
        """Apply every flow event that is due, then publish the net book change once.

        Conflation, as real feeds do under load: at high replay speeds the flow produces
        thousands of events per wall second, and one FIX message per event made the service
        fall a minute of market time behind. Client fills are still reported event by event.
        """
        fills: list[Fill] = []
        event_ns = self.clock.stamp()
        for _ in range(MAX_FLOW_BATCH):
            if flow.next_time_ns() > self.clock.now_ns():
                break
            event_ns = self.clock.stamp(flow.next_time_ns())
            step_fills = flow.apply_next(self.books[symbol])
            self.flow_events += 1
            self._report_fills(step_fills, event_ns)
            fills.extend(step_fills)
        if self.persona.cancel_chance:
            self._cancel_at_random(symbol, event_ns)
        self._publish(symbol, event_ns, fills)

    # --- plumbing --------------------------------------------------------------------------------
    def _exec_id(self) -> str:
        return f"X{next(self._exec_ids)}"

    def _send(self, message: fix.Message, session_key: str) -> None:
        """Queue a message for ``session_key``; never blocks on quickfix (see module doc)."""
        if self.persona.rewrites:
            for each in self.persona.rewrite(message):
                self._queue(each, session_key)
            return
        self._queue(message, session_key)

    def _queue(self, message: fix.Message, session_key: str) -> None:
        if self.config.begin_string == "FIX.4.2":
            as_fix42(message)
        self._outbox.put(message, session_key)

    def _deliver(self, message: fix.Message, session_key: str) -> None:
        """Hand one message to quickfix (the outbox calls this holding no venue lock)."""
        session_id = self._sessions.get(session_key)
        try:
            if session_id is None:
                raise fix.SessionNotFound()
            fix.Session.sendToTarget(message, session_id)
        except fix.SessionNotFound:
            log.debug("session %s gone; message dropped", session_key)
        except Exception:
            self.errors += 1
            log.exception("venue failed to send a message")

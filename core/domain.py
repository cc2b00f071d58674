"""Value types shared by every part of execagent.

Why this module exists: the engine, the OMS, the risk overlay, the gateways and the simulator
all speak about the same things (a side, a price, an order, an execution report). Defining them
once, dependency-free, keeps the import graph pointing one way (everyone imports this module,
it imports nothing of ours) and keeps the per-tick path free of validation overhead: these are
plain slotted dataclasses, and pydantic lives only at the edges (configuration and the API).

Conventions:
- Prices are integer ticks of the instrument's tick size; :class:`Instrument` converts to and
  from exact decimals at the edges (FIX, files, reports). No binary float ever holds a price in
  state or on the wire.
- Quantities are integer lots of the instrument's lot size (one share for an equity; 0.000001
  BTC for BTCUSDT from Binance): the book, the policies, the OMS, the risk limits, the store
  and the API count lots, and :class:`Instrument` converts to and from the exact decimal
  quantities of the wire (FIX OrderQty and fills, a feed's sizes).
- Times are integer nanoseconds since the Unix epoch in *event time* (the feed's clock).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation


class Side(enum.IntEnum):
    """Order side; the integer value is the sign of the position change a fill causes."""

    BUY = 1
    SELL = -1

    @property
    def fix(self) -> str:
        """FIX tag 54 value."""
        return "1" if self is Side.BUY else "2"

    @classmethod
    def from_fix(cls, value: str) -> Side:
        if value == "1":
            return cls.BUY
        if value == "2":
            return cls.SELL
        raise ValueError(f"unsupported FIX Side(54)={value!r}: expected 1 (buy) or 2 (sell)")

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrdType(enum.Enum):
    """FIX OrdType(40) values execagent uses."""

    MARKET = "1"
    LIMIT = "2"


class TimeInForce(enum.Enum):
    """FIX TimeInForce(59) values execagent uses."""

    DAY = "0"
    IOC = "3"


class OrdStatus(enum.Enum):
    """FIX 4.4 OrdStatus(39). The OMS state machine is defined over these."""

    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    DONE_FOR_DAY = "3"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    STOPPED = "7"
    REJECTED = "8"
    SUSPENDED = "9"
    PENDING_NEW = "A"
    CALCULATED = "B"
    EXPIRED = "C"
    ACCEPTED_FOR_BIDDING = "D"
    PENDING_REPLACE = "E"

    @property
    def is_terminal(self) -> bool:
        """True when the order can no longer trade."""
        # By the member's code, not the member: an Enum member hashes through Enum.__hash__, a
        # Python function, its str code in C (the property 213 -> 93 ns; several calls a tick:
        # docs/benchmarks.md, "Tick to wire").
        return self._value_ in _TERMINAL_CODES


_TERMINAL_CODES = frozenset(
    status.value for status in (OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED,
                                OrdStatus.EXPIRED, OrdStatus.DONE_FOR_DAY, OrdStatus.REPLACED)
)


class ExecType(enum.Enum):
    """FIX 4.4 ExecType(150)."""

    NEW = "0"
    DONE_FOR_DAY = "3"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    STOPPED = "7"
    REJECTED = "8"
    SUSPENDED = "9"
    PENDING_NEW = "A"
    CALCULATED = "B"
    EXPIRED = "C"
    RESTATED = "D"
    PENDING_REPLACE = "E"
    TRADE = "F"
    TRADE_CORRECT = "G"
    TRADE_CANCEL = "H"
    ORDER_STATUS = "I"
    # FIX 4.2 only; a 4.2 counterparty reports fills with these.
    PARTIAL_FILL_42 = "1"
    FILL_42 = "2"

    @property
    def is_fill(self) -> bool:
        return self in (ExecType.TRADE, ExecType.PARTIAL_FILL_42, ExecType.FILL_42)


@dataclass(slots=True, frozen=True)
class Instrument:
    """A tradable symbol, its price grid and its quantity unit (``lot_size``)."""

    symbol: str
    tick_size: Decimal
    lot_size: Decimal = Decimal(1)
    # lot_size == 1: a lot count is the quantity on the wire as it is (the common case, kept
    # to one attribute read where every order is encoded and every fill decoded).
    whole_lots: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError("instrument symbol must not be empty")
        if self.tick_size <= 0:
            raise ValueError(f"tick size of {self.symbol} must be positive, got {self.tick_size}")
        if not self.lot_size.is_finite() or self.lot_size <= 0:
            raise ValueError(f"lot size of {self.symbol} must be positive, got {self.lot_size}")
        object.__setattr__(self, "whole_lots", self.lot_size == 1)

    def to_ticks(self, price: Decimal | str) -> int:
        """Exact conversion of a decimal price to ticks; raises ValueError off the grid."""
        try:
            value = Decimal(price)
        except InvalidOperation as exc:
            raise ValueError(f"price {price!r} of {self.symbol} is not a decimal number") from exc
        if not value.is_finite():
            raise ValueError(f"price {price!r} of {self.symbol} is not a finite number")
        ticks, remainder = divmod(value, self.tick_size)
        if remainder != 0:
            raise ValueError(
                f"price {price} of {self.symbol} is not on the {self.tick_size} tick grid"
            )
        return int(ticks)

    def to_price(self, ticks: int) -> Decimal:
        """Exact decimal price of a tick count."""
        return self.tick_size * ticks

    def to_lots(self, quantity: Decimal | str) -> int:
        """Exact conversion of a decimal quantity to lots; raises ValueError when it is not a
        whole number of lots."""
        try:
            value = Decimal(quantity)
        except InvalidOperation as exc:
            raise ValueError(f"quantity {quantity!r} of {self.symbol} is not a decimal "
                             "number") from exc
        if not value.is_finite():
            raise ValueError(f"quantity {quantity!r} of {self.symbol} is not a finite number")
        lots, remainder = divmod(value, self.lot_size)
        if remainder != 0:
            raise ValueError(f"quantity {quantity} of {self.symbol} is not a whole number of "
                             f"{self.lot_size} lots")
        return int(lots)

    def to_quantity(self, lots: int) -> str:
        """The exact decimal quantity of a lot count, as the wire writes it (``2000`` lots of
        0.000001 are ``0.002``; with lots of 1, the count itself)."""
        if self.whole_lots:
            return str(lots)
        return format((self.lot_size * lots).normalize(), "f")

    @property
    def lot_tick_value(self) -> Decimal:
        """What one lot gains or loses when the price moves one tick, in the quote currency:
        a notional or a P&L is lots x ticks x this."""
        return self.tick_size * self.lot_size


@dataclass(slots=True)
class BookUpdate:
    """One price level's new total displayed quantity (L2). ``qty == 0`` removes the level.

    Treat it as immutable (the conflating queue shares updates between messages), but it is not
    frozen: a frozen dataclass sets each field through ``object.__setattr__``, and at ~1.2 µs
    against ~0.3 µs per level that was a sixth of a feed's time on a depth diff. Not hashable
    for the same reason (nothing hashes one: books key levels by side and price)."""

    symbol: str
    side: Side
    price: int
    qty: int
    ts_ns: int


@dataclass(slots=True)
class Trade:
    """A print on the market (anyone's), used for trade-flow features and participation.

    Treat it as immutable; not frozen for the reason :class:`BookUpdate` gives (a frozen
    dataclass's constructor costs several times a plain one's, once per trade a feed reads)."""

    symbol: str
    price: int
    qty: int
    aggressor: Side | None
    ts_ns: int


@dataclass(slots=True)
class MarketData:
    """One feed message: level updates and trades that belong together, applied atomically.

    A tick of the engine is one of these: the book is consistent only after all its updates,
    so the policy is evaluated once per message, never in between. ``snapshot`` means the
    updates replace the whole book. Treat it as immutable (the conflating queue and the feeds
    pass the same object on); not frozen, like :class:`BookUpdate`: one is built per message
    of every feed, and a frozen constructor sets each field through ``object.__setattr__``
    (with ``Trade`` unfrozen too, the Redis feed's instructions an entry fell from 179,600 to
    169,000: callgrind, bench/feed_kernels.py). Not hashable (nothing hashes one)."""

    symbol: str
    ts_ns: int
    updates: tuple[BookUpdate, ...] = ()
    trades: tuple[Trade, ...] = ()
    snapshot: bool = False


@dataclass(slots=True)
class ParentOrder:
    """A client's instruction: trade ``qty`` of ``symbol`` between ``start_ns`` and ``end_ns``.

    ``filled``/``notional_ticks`` accumulate from execution reports (the OMS owns them), so
    the average price and the shortfall can always be derived, never stored twice.
    """

    parent_id: str
    symbol: str
    side: Side
    qty: int
    start_ns: int
    end_ns: int
    policy: str
    limit_price: int | None = None
    arrival_price_x2: int | None = None  # twice the arrival mid, in ticks: exact for half ticks
    filled: int = 0
    notional_ticks: int = 0
    child_orders_sent: int = 0
    risk_denials: int = 0
    done: bool = False
    # Why it was stopped for good (a fill that failed its checks, a replace the venue took as
    # a new order): nothing but cancels from then on. Empty while it may trade.
    stopped: str = ""

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"parent order quantity must be positive, got {self.qty}")
        if self.end_ns <= self.start_ns:
            raise ValueError("parent order must end after it starts")

    @property
    def remaining(self) -> int:
        return self.qty - self.filled


@dataclass(slots=True, frozen=True)
class NewOrder:
    """Intent to send a NewOrderSingle."""

    cl_ord_id: str
    parent_id: str
    symbol: str
    side: Side
    qty: int
    price: int | None
    ord_type: OrdType = OrdType.LIMIT
    tif: TimeInForce = TimeInForce.DAY


@dataclass(slots=True, frozen=True)
class CancelOrder:
    """Intent to send an OrderCancelRequest for the order currently known as ``orig_cl_ord_id``."""

    cl_ord_id: str
    orig_cl_ord_id: str
    parent_id: str
    symbol: str
    side: Side
    qty: int


@dataclass(slots=True, frozen=True)
class ReplaceOrder:
    """Intent to send an OrderCancelReplaceRequest: new total ``qty`` and ``price``."""

    cl_ord_id: str
    orig_cl_ord_id: str
    parent_id: str
    symbol: str
    side: Side
    qty: int
    price: int


OrderIntent = NewOrder | CancelOrder | ReplaceOrder

# How many earlier ClOrdIDs an order keeps besides its current one, after replaces: its first
# (the order's key in the store) and the latest others. Why not all: the bench's policy replaces
# one child thousands of times an hour, and every ClOrdID kept costs memory in the OMS and the
# risk ledger and bytes in every store write of the order. Named assumption: a report never names
# a ClOrdID more than this many replaces old (replaces go one at a time, each after the venue
# answered the last, and a session delivers in order); one that does is an unknown report,
# counted and logged. Fills are stored under the first ClOrdID, so recovery finds their order
# however many replaces later.
KEPT_PREVIOUS_CL_ORD_IDS = 16


@dataclass(slots=True)
class ChildOrder:
    """The OMS's record of one order at the venue, across its replaces."""

    cl_ord_id: str
    parent_id: str
    symbol: str
    side: Side
    qty: int
    price: int | None
    ord_type: OrdType
    tif: TimeInForce
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: int = 0
    notional_ticks: int = 0  # sum of fill qty x price: prices a fill only a status answer shows
    order_id: str | None = None
    pending_cl_ord_id: str | None = None  # cancel or replace request in flight
    pending_qty: int | None = None
    pending_price: int | None = None
    # The first ClOrdID and the latest before the current one (at most KEPT_PREVIOUS_CL_ORD_IDS).
    previous_cl_ord_ids: list[str] = field(default_factory=list)
    # A report about it could not be read: its state at the venue is not known until an
    # order-status answer says (service/engine.py); its parent sends nothing but cancels.
    unknown: bool = False

    @property
    def leaves_qty(self) -> int:
        return 0 if self.status.is_terminal else max(self.qty - self.cum_qty, 0)

    @property
    def first_cl_ord_id(self) -> str:
        """The ClOrdID it was first sent under: its key in the store, stable across replaces
        (``cl_ord_id`` follows each replace the venue accepts)."""
        return self.previous_cl_ord_ids[0] if self.previous_cl_ord_ids else self.cl_ord_id

    def replaced_by(self, cl_ord_id: str) -> str | None:
        """The venue accepted a replace: ``cl_ord_id`` becomes the current ClOrdID. Returns the
        earlier ClOrdID forgotten to keep the list bounded (never the first), if any."""
        previous = self.previous_cl_ord_ids
        previous.append(self.cl_ord_id)
        self.cl_ord_id = cl_ord_id
        return previous.pop(1) if len(previous) > KEPT_PREVIOUS_CL_ORD_IDS else None


@dataclass(slots=True, frozen=True)
class ExecutionReport:
    """A parsed FIX ExecutionReport (35=8), in ticks."""

    cl_ord_id: str
    exec_id: str
    exec_type: ExecType
    ord_status: OrdStatus
    symbol: str
    side: Side
    cum_qty: int
    leaves_qty: int
    last_qty: int = 0
    last_px: int | None = None
    order_id: str | None = None
    orig_cl_ord_id: str | None = None
    text: str = ""
    ts_ns: int = 0
    poss_dup: bool = False
    # AvgPx(6) in ticks (fractional: an average need not sit on the grid); None when absent.
    # Used to price fills that only an order-status answer reveals (service/state/recovery.py).
    avg_px_ticks: float | None = None
    # ExecRefID(19): the ExecID a TradeCancel or TradeCorrect amends; None on other reports.
    exec_ref_id: str | None = None
    # LastPx(31) as the venue wrote it, when it is a number off the instrument's tick grid
    # (``last_px`` is then None): kept so the fill can be recorded as what the venue said and
    # flagged (core/fill_rules.py), never rounded onto the grid.
    last_px_text: str = ""


@dataclass(slots=True, frozen=True)
class UnreadableReport:
    """An ExecutionReport the service could not read (refused by quickfix's data dictionary,
    or by the codec): kept raw, with whatever could be picked out of it, so that its order can
    be asked about (service/engine.py)."""

    raw: str
    reason: str
    cl_ord_id: str | None = None
    orig_cl_ord_id: str | None = None
    symbol: str | None = None


@dataclass(slots=True, frozen=True)
class CancelReject:
    """A parsed OrderCancelReject (35=9)."""

    cl_ord_id: str
    orig_cl_ord_id: str
    ord_status: OrdStatus | None
    reason: str
    text: str = ""


@dataclass(slots=True, frozen=True)
class SessionStatus:
    """The order session to the venue went up or down (from the gateway's callbacks)."""

    logged_on: bool
    text: str = ""


def busted_id(exec_id: str) -> str:
    """The ExecID under which the undoing of trade ``exec_id`` (busted or corrected by the
    venue) is recorded as a negative fill: the store, the OMS and the risk overlay agree on
    it, so that summing the recorded fills gives the amended quantities after a restart."""
    return f"{exec_id}:{_BUSTED}"


def busted_trade(record_id: str) -> str | None:
    """The trade a :func:`busted_id` record undoes; None for any other ExecID."""
    trade, _, suffix = record_id.rpartition(":")
    return trade if suffix == _BUSTED and trade else None


_BUSTED = "busted"

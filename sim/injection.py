"""Market events injected into a replayed LOBSTER day: what the dynamic risk posture is proved on.

A real day holds no flash crash. To see what the posture does in one, the recorded book is
distorted from an onset time on, and the agent's orders meet the distorted book: the matching of
:class:`sim.replay.ReplayMarket` runs on the distorted rows and messages, so a sell crossed in
the crash fills at the crashed price, and a resting order the recovery moves through fills as a
taker would. docs/risk.md ("Scenarios") has the definitions; in short, with ``t`` seconds since
the onset:

- ``flash-crash``: within 2 s the bid side's displayed depth is withdrawn by 90% and the whole
  book falls by 3% of the mid (both linear in ``t``); then both recover linearly over 5 minutes;
- ``liquidity-drain``: within 250 ms both sides' displayed depth falls by 95% (market makers
  pulling their quotes); it stays there 2 minutes, then comes back linearly over 3 minutes; the
  price does not move;
- ``spread-blowout``: within 250 ms the bids move down and the asks up until the spread is 10
  times what it was at the onset; it stays so for 60 s, then narrows back linearly over 60 s;
- ``quote-stuffing``: for 30 s, 2,000 extra messages a second, each adding or taking back 100
  shares at the best bid (net, the book is unchanged).

Named assumptions: prices move in whole ticks, computed from the mid at the onset; a level's
distorted quantity is the recorded one times the side's factor, at least one share (the level
stays: withdrawn depth thins every level rather than removing the inner ones); recorded
executions keep their size, so an agent order resting in a thinned queue may be reached sooner
than the displayed depth suggests. An event changes the book between the recorded messages too:
during an onset the distorted book is re-published every 50 ms, during a recovery every 500 ms
(each re-publication is one market-data message, as the cancels and sweeps of a real event
would be many).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from core.domain import BookUpdate, MarketData, Side
from sim.agent_orders import ExchangeEvent
from sim.lobster import BookRow, LobsterMessage, LobsterSample
from sim.replay import AgentFill as ReplayFill
from sim.replay import ReplayMarket, ViewedReplayMarket
from sim.replay_exchange import ReplayExchange

ONSET_GRID_NS = 50_000_000  # re-publication of the distorted book during an onset
RECOVERY_GRID_NS = 500_000_000  # and while it recovers
STUFFING_QTY = 100  # shares each stuffed message adds or takes back


class Injection(enum.StrEnum):
    NONE = "none"
    FLASH_CRASH = "flash-crash"
    LIQUIDITY_DRAIN = "liquidity-drain"
    SPREAD_BLOWOUT = "spread-blowout"
    QUOTE_STUFFING = "quote-stuffing"


@dataclass(frozen=True, slots=True)
class Distortion:
    """How the recorded book is changed at one moment: a price offset per side (fraction of the
    onset mid; negative is down), a depth factor per side, and extra messages per second."""

    bid_shift: float = 0.0
    ask_shift: float = 0.0
    bid_depth: float = 1.0
    ask_depth: float = 1.0
    stuffing_per_s: float = 0.0

    @property
    def changes_book(self) -> bool:
        return (self.bid_shift, self.ask_shift, self.bid_depth, self.ask_depth) != \
            (0.0, 0.0, 1.0, 1.0)


NO_DISTORTION = Distortion()


# (rise, hold, fall) in seconds of each injection that distorts the book.
_PHASES: dict[Injection, tuple[float, float, float]] = {
    Injection.FLASH_CRASH: (2.0, 0.0, 300.0),
    Injection.LIQUIDITY_DRAIN: (0.25, 120.0, 180.0),
    Injection.SPREAD_BLOWOUT: (0.25, 60.0, 60.0),
}
STUFFING_S = 30.0
STUFFING_PER_S = 2_000.0


def _ramp(t: float, rise_s: float, hold_s: float, fall_s: float) -> float:
    """0 before the onset, rising linearly to 1 over ``rise_s``, 1 for ``hold_s``, back to 0
    linearly over ``fall_s``."""
    if t < 0.0:
        return 0.0
    if t < rise_s:
        return t / rise_s
    t -= rise_s + hold_s
    if t <= 0.0:
        return 1.0
    return max(0.0, 1.0 - t / fall_s)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One injection at one onset: its distortion at any time, and when it changes."""

    kind: Injection
    onset_ns: int
    spread_ratio: float = 0.0  # blowout only: the onset spread over the onset mid

    def at(self, ts_ns: int) -> Distortion:
        t = (ts_ns - self.onset_ns) / 1e9
        kind = self.kind
        if kind is Injection.NONE or t < 0.0:
            return NO_DISTORTION
        if kind is Injection.QUOTE_STUFFING:
            return Distortion(stuffing_per_s=STUFFING_PER_S if t < STUFFING_S else 0.0)
        level = _ramp(t, *_PHASES[kind])
        if kind is Injection.FLASH_CRASH:
            return Distortion(bid_shift=-0.03 * level, ask_shift=-0.03 * level,
                              bid_depth=1.0 - 0.9 * level)
        if kind is Injection.LIQUIDITY_DRAIN:
            return Distortion(bid_depth=1.0 - 0.95 * level, ask_depth=1.0 - 0.95 * level)
        half = 4.5 * self.spread_ratio * level  # (10 - 1) / 2 onset spreads on each side
        return Distortion(bid_shift=-half, ask_shift=half)

    def next_change_ns(self, ts_ns: int) -> int | None:
        """When the distorted book is next re-published after ``ts_ns``: every 50 ms during the
        onset, every 500 ms during the recovery, at the recovery's start during a hold; None
        once the event is over (and for the injections that do not distort the book)."""
        phases = _PHASES.get(self.kind)
        if phases is None:
            return None
        rise, hold, fall = (int(p * 1e9) for p in phases)
        t = ts_ns - self.onset_ns
        if t < 0:
            return self.onset_ns
        if t < rise:
            return ts_ns + ONSET_GRID_NS
        if t < rise + hold:
            return self.onset_ns + rise + hold
        if t < rise + hold + fall:
            return ts_ns + RECOVERY_GRID_NS
        return None


def _shift_ticks(shift: float, mid: float) -> int:
    return round(shift * mid)


def _thin(levels: tuple[tuple[int, int], ...], offset: int, factor: float) \
        -> tuple[tuple[int, int], ...]:
    if offset == 0 and factor == 1.0:
        return levels
    return tuple((price + offset, max(1, math.floor(qty * factor))) for price, qty in levels
                 if price + offset > 0)


class InjectedReplayMarket(ViewedReplayMarket):
    """A :class:`ReplayMarket` whose book and messages are distorted by a :class:`Scenario`.

    The recorded row is kept as it is and distorted when read, at the market's current time, so
    the matching, the queue and the agent's view all see the same distorted book; every
    recorded message is shifted by its side's offset at its own time, so the queue effects of a
    recorded execution land on the distorted level it belongs to.
    """

    def __init__(self, sample: LobsterSample, scenario: Scenario,
                 start_ns: int | None = None) -> None:
        self.scenario = scenario
        self._onset_mid = 0.0
        super().__init__(sample, start_ns)
        self._messages = self._distorted(self._messages)
        if self._next is not None:
            self._next = self.distort_message(self._next)

    def view_key(self) -> int:
        return self.now_ns

    def view_of(self, raw: BookRow) -> BookRow:
        return self.distort_row(raw, self.now_ns)

    @property
    def onset_mid(self) -> float:
        """The mid the price offsets are fractions of: the recorded one when the distortion
        first applied (set once, so that every offset is a whole, consistent number of ticks)."""
        if self._onset_mid == 0.0:
            row = self.raw
            if row.bids and row.asks:
                self._onset_mid = (row.bids[0][0] + row.asks[0][0]) / 2
            else:
                self._onset_mid = float((row.bids or row.asks or ((1, 0),))[0][0])
        return self._onset_mid

    def distort_row(self, row: BookRow, ts_ns: int) -> BookRow:
        d = self.scenario.at(ts_ns)
        if not d.changes_book:
            return row
        mid = self.onset_mid
        bids = _thin(row.bids, _shift_ticks(d.bid_shift, mid), d.bid_depth)
        asks = _thin(row.asks, _shift_ticks(d.ask_shift, mid), d.ask_depth)
        return BookRow(asks, bids)

    def distort_message(self, message: LobsterMessage) -> LobsterMessage:
        d = self.scenario.at(message.ts_ns)
        shift = d.bid_shift if message.side is Side.BUY else d.ask_shift
        if shift == 0.0:
            return message
        return replace(message, price=message.price + _shift_ticks(shift, self.onset_mid))

    def _distorted(self, messages: Iterator[LobsterMessage]) -> Iterator[LobsterMessage]:
        for message in messages:
            yield self.distort_message(message)

    def settle(self, now_ns: int) -> list[ReplayFill]:
        """Move to ``now_ns`` with no recorded message: the distortion moves on, and resting
        agent orders the distorted book now crosses fill. Returns their fills."""
        self.now_ns = max(self.now_ns, now_ns)
        self._forget_consumed()
        return self._crossed_resting()


class InjectedExchange(ReplayExchange):
    """A :class:`ReplayExchange` over an :class:`InjectedReplayMarket`, adding the scenario's own
    messages: the distorted book re-published while it changes, and the stuffed quotes."""

    def __init__(self, sample: LobsterSample, symbol: str, scenario: Scenario,
                 latency_ns: int = 0, start_ns: int | None = None,
                 end_ns: int | None = None) -> None:
        market = InjectedReplayMarket(sample, scenario, start_ns)
        super().__init__(sample, symbol, latency_ns, start_ns, end_ns, market=market)
        self.injected: InjectedReplayMarket = market
        self.scenario = scenario
        self._synthetic_ns: int | None = scenario.onset_ns if scenario.kind is not \
            Injection.NONE else None
        self._stuffed = False  # the stuffed quote is showing
        self._stuffed_price: int | None = None  # where

    def next_event_ns(self) -> int | None:
        recorded = super().next_event_ns()
        synthetic = self._synthetic_ns
        if synthetic is None or (self.end_ns is not None and synthetic >= self.end_ns):
            return recorded
        if recorded is None and self.end_ns is None:
            return None
        return synthetic if recorded is None else min(recorded, synthetic)

    def step(self) -> list[ExchangeEvent]:
        synthetic = self._synthetic_ns
        recorded = super().next_event_ns()
        if synthetic is None or (recorded is not None and recorded <= synthetic) or \
                (self.end_ns is not None and synthetic >= self.end_ns):
            return super().step()
        self.now_ns = max(self.now_ns, synthetic)
        self._synthetic_ns = self._next_synthetic(synthetic)
        if self.scenario.kind is Injection.QUOTE_STUFFING:
            stuffed = self._stuff(synthetic)
            return [stuffed] if stuffed is not None else []
        fills = self.injected.settle(synthetic)
        events = self._own_fills(fills)
        market = self._market_data(())
        if market is not None:
            events.append(market)
        return events

    def _next_synthetic(self, now_ns: int) -> int | None:
        if self.scenario.kind is not Injection.QUOTE_STUFFING:
            return self.scenario.next_change_ns(now_ns)
        if self.scenario.at(now_ns).stuffing_per_s > 0.0 or self._stuffed:
            return now_ns + int(1e9 / STUFFING_PER_S)  # the last one takes its quote back
        return None

    def _stuff(self, now_ns: int) -> MarketData | None:
        """One stuffed message: 100 more shares at the best bid, or, next, those shares taken
        back from the level they were added to (the shown quantity there now)."""
        bids = self._shown[Side.BUY]
        if self._stuffed_price is not None:
            price, self._stuffed_price = self._stuffed_price, None
            qty = bids.get(price, 0)
        elif bids:
            price = self._stuffed_price = max(bids)
            qty = bids[price] + STUFFING_QTY
        else:
            return None
        self._stuffed = self._stuffed_price is not None
        return MarketData(self.symbol, now_ns, (BookUpdate(self.symbol, Side.BUY, price, qty,
                                                           now_ns),), ())


def scenario_at(sample: LobsterSample, kind: Injection, onset_ns: int) -> Scenario:
    """The scenario ``kind`` starting at ``onset_ns``; the spread blowout reads the recorded
    book's spread at the onset from ``sample``."""
    if kind is not Injection.SPREAD_BLOWOUT:
        return Scenario(kind, onset_ns)
    market = ReplayMarket(sample, onset_ns)
    book = market.book
    if not book.bids or not book.asks:
        raise ValueError("the book is not two-sided at the onset: no spread to blow out")
    mid = (book.bids[0][0] + book.asks[0][0]) / 2
    return Scenario(kind, onset_ns, (book.asks[0][0] - book.bids[0][0]) / mid)

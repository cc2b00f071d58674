"""Order flow that drives an :class:`~sim.matching.OrderBook`: the crowd the agent trades against.

:class:`StochasticFlow` is a state-dependent model in event time, whose state is the spread
and the two touch queues. Competing Poisson processes, with intensities read off the state at
every event:
- **limit orders**, at ``limit_rate`` times a factor for the current spread bucket. With a
  probability that depends on the spread bucket a new order lands *inside* the spread, at a
  fraction of the spread drawn from that bucket's empirical distribution; otherwise it lands at
  a distance behind its own touch drawn from that bucket's empirical distribution (0 joins the
  touch). This is what lets the spread be as wide as the data's: a wide spread is filled in
  steps of realistic size, not one tick at a time. Spread and touch are the crowd's own (the
  best prices holding a crowd order, :meth:`~sim.matching.OrderBook.crowd_quote`): the
  distributions were read off a day the agent was not in, and the replay the flow is measured
  against does not place the recorded orders around the agent's either;
- **market orders**, at ``market_rate`` times a factor for the spread bucket, of two kinds.
  *Excited* ones follow the crowd's own market orders: each adds, per component of
  ``excitation``, ``(branching, decay_s, same_side)``, an intensity that decays exponentially
  with ``decay_s`` and brings ``branching`` further market orders on average, each on the
  exciting order's side with probability ``same_side`` (a self-exciting, Hawkes process: real
  market orders come in bursts, a trader working an order or sweeping a book in quick
  succession). The others start bursts of their own, at the spread bucket's rate times
  ``1 - sum(branching)``, so the average rate stays ``market_rate``; with probability
  ``sign_persistence`` one takes the side of the last trade, whoever made it (the agent's
  included: order flow is autocorrelated beyond the bursts); otherwise it leans toward the
  heavier touch as the crowd's orders make it (imbalance predicts the next trade's sign; the
  agent's resting orders are left out of it). Either kind takes exactly the
  whole touch queue with probability ``touch_take_share`` (most real market orders are sized
  to the displayed quantity); otherwise its size comes from an empirical distribution;
- **cancels**, per resting crowd order: ``cancel_deep`` per second everywhere (times a factor
  for its distance behind the touch, ``cancel_behind``, when given: orders near the touch are
  cancelled faster than far ones), and at the touch the rate for the touch queue's size
  bucket (queue-reactive: a small touch queue is cancelled away much faster than a large
  one) times ``cancel_hit_side`` on the side the last market order hit and
  ``cancel_other_side`` on the other (the hit side retreats, whoever traded).
The agent's own trades move later prices through this response: a touch it consumes widens the
spread, the wider spread changes every intensity, the book re-forms around the new touch, and
the next burst's first order follows its side with probability ``sign_persistence``. Its trades
do not excite the crowd's: a burst is one trader's own succession of orders, not a reaction
to the price (the propagator estimated on the same data, :mod:`sim.impact_fit`, separates the
two and finds the reaction alone a few ticks, which the book's response gives).
Every distribution is a table of quantiles sampled by linear interpolation (an inverse CDF), so
``execagent calibrate`` (:mod:`sim.calibrate`) can estimate each one directly from LOBSTER data.
Deterministic given the seed.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_right
from dataclasses import dataclass
from math import exp, log
from typing import Final, Protocol

from core.domain import Side
from sim.matching import Fill, OrderBook

# Module constants: reading Side.BUY is an attribute lookup; Final, a compiled module reads
# them as C statics.
BUY: Final = Side.BUY
SELL: Final = Side.SELL

SPREAD_BUCKETS: Final = 7  # spreads of 1, 2-3, 4-7, 8-15, 16-31, 32-63 and 64+ ticks
BEHIND_BUCKETS: Final = 6  # distances behind the touch of 1, 2-3, 4-7, 8-15, 16-31, 32+ ticks
MAX_SEED_ORDERS: Final = 200  # per side, a bound on the starting book whatever the rates


def behind_bucket(distance: int) -> int:
    """The bucket of a distance behind the touch, in ticks (at least 1)."""
    return min(distance.bit_length() - 1, BEHIND_BUCKETS - 1)


def spread_bucket(spread: int) -> int:
    """The spread's bucket: ``floor(log2(spread))``, capped at the last bucket."""
    return min(max(spread, 1).bit_length() - 1, SPREAD_BUCKETS - 1)


# spread_bucket by table for the usual spreads: it is read at every event.
_BUCKET_TABLE: Final = 1 << SPREAD_BUCKETS
_BUCKETS: Final = tuple(spread_bucket(spread) for spread in range(_BUCKET_TABLE))


def quantile_table(values: list[float], points: int) -> tuple[float, ...]:
    """``points`` evenly spaced quantiles (minimum to maximum) of ``values``: the table that
    :func:`inverse_cdf` samples. ``values`` must not be empty."""
    ordered = sorted(values)
    last = len(ordered) - 1
    return tuple(float(ordered[round(i * last / (points - 1))]) for i in range(points))


def inverse_cdf(table: tuple[float, ...], u: float) -> float:
    """The value at probability ``u`` in [0, 1), interpolating linearly between quantiles."""
    x = u * (len(table) - 1)
    i = int(x)
    if i >= len(table) - 1:
        return table[-1]
    return table[i] + (x - i) * (table[i + 1] - table[i])


class OrderFlow(Protocol):
    """What drives a book: the simulated venue's flow thread calls these in a loop."""

    def seed_book(self, book: OrderBook, start_ns: int) -> None: ...

    def next_time_ns(self) -> int: ...

    def apply_next(self, book: OrderBook) -> list[Fill]: ...


_GEOMETRIC_DISTANCES: Final = (0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0)
_UNIFORM_SIZES: Final = (10.0, 50.0, 100.0, 150.0, 200.0)


@dataclass(frozen=True, slots=True)
class FlowParams:
    """The model's parameters. The defaults are a busy, tight, uncalibrated market for the
    generic venue and tests (new orders join near the touch, a wide spread closes one tick at a
    time); ``sim/params/*.json`` hold calibrated ones. Tuples indexed by spread bucket have
    :data:`SPREAD_BUCKETS` entries."""

    start_price: int = 58_000  # ticks: $580.00 with a $0.01 tick
    initial_spread: int = 2  # ticks, the starting book's spread
    limit_rate: float = 8.0  # limit orders per second, both sides, averaged over time
    market_rate: float = 1.5  # market orders per second, averaged over time
    limit_profile: tuple[float, ...] = (1.0,) * SPREAD_BUCKETS  # rate factor by spread bucket
    market_profile: tuple[float, ...] = (1.0,) * SPREAD_BUCKETS
    inside_share: tuple[float, ...] = (0.0,) + (0.5,) * (SPREAD_BUCKETS - 1)
    # (improvement - 1/2) / (spread - 1) of an order inside the spread, improvement in ticks
    # from its own touch: 0 is one tick in.
    inside_fractions: tuple[tuple[float, ...], ...] = ((0.0, 0.0),) * SPREAD_BUCKETS
    behind_distances: tuple[tuple[float, ...], ...] = (_GEOMETRIC_DISTANCES,) * SPREAD_BUCKETS
    cancel_deep: float = 0.1  # per resting crowd order per second, away from the touch
    # cancel_deep's factor by distance behind the own touch (BEHIND_BUCKETS entries), or
    # empty: the same rate at every distance, touch orders included.
    cancel_behind: tuple[float, ...] = ()
    queue_edges: tuple[int, ...] = (100, 200, 400, 800)  # touch queue size buckets, shares
    cancel_touch: tuple[float, ...] = (0.1,) * 5  # per order at the touch, by queue bucket
    limit_sizes: tuple[float, ...] = _UNIFORM_SIZES  # shares, quantile table
    market_sizes: tuple[float, ...] = _UNIFORM_SIZES
    imbalance_lean: float = 0.3  # P(buy market order) = 0.5 + lean * imbalance at the touch
    sign_persistence: float = 0.0  # P(a burst's first order takes the last trade's side)
    touch_take_share: float = 0.0  # P(a market order's size is the whole touch queue)
    # Self-excitation of the crowd's market orders, per component: (branching, decay_s,
    # same_side): further orders each brings on average, its intensity's decay time in
    # seconds, and the probability that one takes the exciting order's side.
    excitation: tuple[tuple[float, ...], ...] = ()
    # The touch's cancel rate (cancel_touch) times these on the side the last market order hit
    # and on the other side, whoever traded: the hit side's makers retreat.
    cancel_hit_side: float = 1.0
    cancel_other_side: float = 1.0

    def __post_init__(self) -> None:
        per_bucket = {"limit_profile": self.limit_profile,
                      "market_profile": self.market_profile,
                      "inside_share": self.inside_share,
                      "inside_fractions": self.inside_fractions,
                      "behind_distances": self.behind_distances}
        for name, share in (("sign_persistence", self.sign_persistence),
                            ("touch_take_share", self.touch_take_share)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} is a probability, got {share}")
        for name, values in per_bucket.items():
            if len(values) != SPREAD_BUCKETS:
                raise ValueError(f"{name} needs {SPREAD_BUCKETS} entries (one per spread "
                                 f"bucket), got {len(values)}")
        if len(self.cancel_touch) != len(self.queue_edges) + 1:
            raise ValueError("cancel_touch needs one entry per touch queue bucket "
                             f"({len(self.queue_edges) + 1}), got {len(self.cancel_touch)}")
        if self.initial_spread < 1:
            raise ValueError("initial_spread is at least one tick")
        if self.cancel_behind and (len(self.cancel_behind) != BEHIND_BUCKETS
                                   or min(self.cancel_behind) < 0
                                   or max(self.cancel_behind) <= 0):
            raise ValueError(f"cancel_behind needs {BEHIND_BUCKETS} factors (one per distance "
                             "bucket behind the touch), none negative and one positive, got "
                             f"{self.cancel_behind}")
        for component in self.excitation:
            if len(component) != 3:
                raise ValueError("each excitation component is (branching, decay_s, "
                                 f"same_side), got {component}")
            branching, decay_s, same_side = component
            if branching < 0 or decay_s <= 0 or not 0.0 <= same_side <= 1.0:
                raise ValueError("an excitation component needs branching >= 0, decay_s > 0 "
                                 f"and same_side in [0, 1], got {component}")
        if self.branching >= 1.0:
            raise ValueError("the excitation's branching ratios must sum to less than 1 "
                             f"(an explosive process), got {self.branching}")

    @property
    def branching(self) -> float:
        """Market orders one market order brings on average, directly."""
        return sum(component[0] for component in self.excitation)

    @property
    def mean_limit_size(self) -> float:
        return _table_mean(self.limit_sizes)

    @property
    def mean_market_size(self) -> float:
        """Shares per market order drawn from ``market_sizes`` (77 on GOOG): the volume
        estimate ``market_rate * mean_market_size`` leaves out that touch-taking orders are as
        large as the touch (GOOG's market orders averaged 83 shares in all)."""
        return _table_mean(self.market_sizes)


def _table_mean(table: tuple[float, ...]) -> float:
    """The mean of the piecewise-linear distribution :func:`inverse_cdf` samples."""
    if len(table) == 1:
        return table[0]
    return sum((a + b) / 2 for a, b in itertools.pairwise(table)) / (len(table) - 1)


def _crowd_qty(book: OrderBook, side: Side, price: int) -> int:
    """The crowd's shares resting at ``price``: what the imbalance lean reads (the agent's
    own resting orders carry no information, and the replayed market, the reference the
    simulation is measured against, does not react to them either)."""
    return sum(order.qty for order in book.queue(side, price) if order.owner is None)


class StochasticFlow:
    def __init__(self, params: FlowParams | None = None, seed: int = 0) -> None:
        self.params = params or FlowParams()
        self._rng = random.Random(seed)
        self._random = self._rng.random
        self._getrandbits = self._rng.getrandbits
        self._now_ns = 0
        self._next_ns = 0
        self._next_id = 0
        self._own: list[int] = []  # crowd orders possibly resting (pruned lazily)
        self._own_index: dict[int, int] = {}
        self._last_mid = self.params.start_price
        p = self.params
        self._limit_rates = tuple(p.limit_rate * f for f in p.limit_profile)
        # Orders that start a burst: the rest of market_rate is the bursts' excited orders.
        self._market_rates = tuple(p.market_rate * f * (1.0 - p.branching)
                                   for f in p.market_profile)
        # Excitation, per component: the intensity (per second) of excited buys and sells at
        # _excited_ns, what one crowd market order adds on its own side and on the other, and
        # the decay time in ns. _excited_side: the side of the next event if it is excited.
        self._decays_ns = [c[1] * 1e9 for c in p.excitation]
        self._jump_same = [c[0] * c[2] / c[1] for c in p.excitation]
        self._jump_other = [c[0] * (1.0 - c[2]) / c[1] for c in p.excitation]
        self._excited_buy = [0.0] * len(p.excitation)
        self._excited_sell = [0.0] * len(p.excitation)
        self._excited_ns = 0
        self._excited_side: Side | None = None
        # The touch's extra cancel rate over the deep one (never negative: a touch order is
        # cancelled at least as fast as a deep one, an assumption the GOOG data bears out).
        # With factors by distance, the deep process leaves touch orders alone and draws
        # candidates at the highest factor's rate, each kept with its own factor's share of it
        # (thinning: a Poisson process per order at its distance's rate, exactly).
        self._behind = tuple(f / max(p.cancel_behind) for f in p.cancel_behind)
        touch_deep = 0.0 if p.cancel_behind else p.cancel_deep
        self._cancel_deep = p.cancel_deep * (max(p.cancel_behind) if p.cancel_behind else 1.0)
        self._touch_extra = tuple(max(0.0, c - touch_deep) for c in p.cancel_touch)
        # The same on the side the last market order hit and on the other side.
        self._hit_extra = tuple(max(0.0, c * p.cancel_hit_side - touch_deep)
                                for c in p.cancel_touch)
        self._other_extra = tuple(max(0.0, c * p.cancel_other_side - touch_deep)
                                  for c in p.cancel_touch)
        self._limit_sizes = p.limit_sizes
        self._limit_last = len(p.limit_sizes) - 1
        # The rates as last read, with the book, its version and the crowd size they were
        # read from: unless the agent traded since, the next event reuses them (half the cost).
        self._rates = (0.0, 0.0, 0.0, 0.0, 0.0)
        self._rates_book: OrderBook | None = None
        self._rates_version = self._rates_own = -1

    # --- OrderFlow ------------------------------------------------------------------------------
    def seed_book(self, book: OrderBook, start_ns: int) -> None:
        """A starting book at ``initial_spread``, each side holding the stationary number of
        orders (arrivals per side over the deep cancel rate), placed as new orders would be."""
        p = self.params
        bid = p.start_price - p.initial_spread // 2
        ask = bid + p.initial_spread
        per_side = min(MAX_SEED_ORDERS, max(1, round(p.limit_rate / 2 / max(p.cancel_deep,
                                                                           1e-9))))
        distances = p.behind_distances[spread_bucket(p.initial_spread)]
        for i in range(per_side):
            behind = 0 if i == 0 else int(inverse_cdf(distances, self._rng.random()))
            self._limit(book, BUY, max(bid - behind, 1), start_ns)
            self._limit(book, SELL, ask + behind, start_ns)
        self._now_ns = start_ns
        self._schedule(book)

    def next_time_ns(self) -> int:
        return self._next_ns

    def apply_next(self, book: OrderBook) -> list[Fill]:
        self._now_ns = self._next_ns
        if self._decays_ns:
            self._decay_excitation()
            excited = self._excited_side
            if excited is not None:
                burst = self._market(book, excited)
                self._schedule(book)
                return burst
        # The rates _schedule read after the last event, unless the book or the crowd changed
        # since (the agent traded): then they are read again.
        if book is self._rates_book and book.version == self._rates_version and \
                len(self._own) == self._rates_own:
            limit, market, deep, touch_bid, touch_ask = self._rates
        else:
            limit, market, deep, touch_bid, touch_ask = self._read_rates(book)
        draw = self._random() * (limit + market + deep + touch_bid + touch_ask)
        fills: list[Fill] = []
        if draw < limit:
            side = BUY if self._random() < 0.5 else SELL
            fills = self._limit(book, side, self._placement(book, side), self._now_ns)
        elif draw - limit < market:
            fills = self._market(book, None)
        else:
            draw = draw - limit - market  # in this order: the float result must not change
            if draw < deep:
                self._cancel_random(book)
            elif draw < deep + touch_bid:
                self._cancel_touch(book, BUY)
            else:
                self._cancel_touch(book, SELL)
        self._schedule(book)
        return fills

    # --- the model ----------------------------------------------------------------------------
    # The per-event path is a few long methods on purpose: at a few µs an event, each Python
    # call saved (a helper, a property, a random-module wrapper) is a few percent. The draws
    # are the same, in the same order and from the same arithmetic, as the textbook form
    # (``random.expovariate``, ``random.randrange``): a seed gives the market it always gave.
    def _read_rates(self, book: OrderBook) -> tuple[float, float, float, float, float]:
        """Limit, market, deep cancel, extra touch cancel on the bid and on the ask; kept,
        with the book version and crowd size they were read from, for the next event."""
        bid, bid_qty, bid_crowd, ask, ask_qty, ask_crowd = book.touches()
        if bid is not None and ask is not None:
            spread = ask - bid
            bucket = _BUCKETS[spread] if 0 <= spread < _BUCKET_TABLE else spread_bucket(spread)
        else:
            bucket = SPREAD_BUCKETS - 1
        edges, crowd, taker = self.params.queue_edges, len(self._own), book.last_taker_side
        if taker is None:
            bid_extra = ask_extra = self._touch_extra
        elif taker is BUY:  # the asks were hit
            bid_extra, ask_extra = self._other_extra, self._hit_extra
        else:
            bid_extra, ask_extra = self._hit_extra, self._other_extra
        rates = (self._limit_rates[bucket], self._market_rates[bucket],
                 self._cancel_deep * crowd,
                 bid_extra[bisect_right(edges, bid_qty)] * bid_crowd if bid is not None
                 else 0.0,
                 ask_extra[bisect_right(edges, ask_qty)] * ask_crowd if ask is not None
                 else 0.0)
        self._rates, self._rates_book = rates, book
        self._rates_version, self._rates_own = book.version, crowd
        return rates

    def _schedule(self, book: OrderBook) -> None:
        limit, market, deep, touch_bid, touch_ask = self._read_rates(book)
        total = limit + market + deep + touch_bid + touch_ask
        # random.expovariate(total), written out: the same draw without a call's overhead.
        wait_ns = int(-log(1.0 - self._random()) / total * 1e9)
        self._excited_side = None
        if self._decays_ns:
            wait_ns = self._excited_wait(wait_ns)
        self._next_ns = self._now_ns + (wait_ns if wait_ns > 1 else 1)

    def _excited_wait(self, wait_ns: int) -> int:
        """The wait until the next event, given ``wait_ns`` until the next unexcited one: each
        component's next excited order is drawn from its decaying intensity by inversion (none,
        if an exponential draw exceeds the intensity's whole remaining integral), and the
        earliest of all wins; it sets :attr:`_excited_side`. Drawn afresh after every event,
        which is exact: given the state, the processes' futures are independent."""
        for k, decay_ns in enumerate(self._decays_ns):
            intensity = self._excited_buy[k] + self._excited_sell[k]
            if intensity <= 0.0:
                continue
            mass = intensity * decay_ns / 1e9  # orders still to come from this component
            draw = -log(1.0 - self._random())
            if draw >= mass:
                continue
            excited_ns = int(-decay_ns * log(1.0 - draw / mass))
            if excited_ns < wait_ns:
                wait_ns = excited_ns
                self._excited_side = BUY if self._random() * intensity < self._excited_buy[k] \
                    else SELL
        return wait_ns

    def _decay_excitation(self) -> None:
        elapsed = self._now_ns - self._excited_ns
        self._excited_ns = self._now_ns
        for k, decay_ns in enumerate(self._decays_ns):
            factor = exp(-elapsed / decay_ns)
            self._excited_buy[k] *= factor
            self._excited_sell[k] *= factor

    def _excite(self, side: Side) -> None:
        """A crowd market order on ``side`` raises every component's intensity."""
        same, other = self._jump_same, self._jump_other
        buys, sells = self._excited_buy, self._excited_sell
        for k in range(len(same)):
            if side is BUY:
                buys[k] += same[k]
                sells[k] += other[k]
            else:
                sells[k] += same[k]
                buys[k] += other[k]

    def _limit(self, book: OrderBook, side: Side, price: int, now: int) -> list[Fill]:
        self._next_id += 1
        order_id = self._next_id
        # self._size(limit_sizes), written out (see _size)
        table = self._limit_sizes
        x = self._random() * self._limit_last
        i = int(x)
        value = table[i] + (x - i) * (table[i + 1] - table[i]) if i < self._limit_last \
            else table[-1]
        fills = book.add_limit(order_id, side, price, max(1, round(value)), now)
        if not fills or book.get(order_id) is not None:  # without fills it surely rests
            self._own_index[order_id] = len(self._own)
            self._own.append(order_id)
        return fills

    def _placement(self, book: OrderBook, side: Side) -> int:
        p = self.params
        bid, ask = book.crowd_quote()
        if bid is not None and ask is not None:
            self._last_mid = (bid + ask) // 2
            spread = ask - bid
            bucket = _BUCKETS[spread] if 0 <= spread < _BUCKET_TABLE else spread_bucket(spread)
            if spread > 1 and self._random() < p.inside_share[bucket]:
                fraction = inverse_cdf(p.inside_fractions[bucket], self._random())
                improvement = 1 + min(int(fraction * (spread - 1)), spread - 2)
                return bid + improvement if side is BUY else ask - improvement
            near = bid if side is BUY else ask
        else:  # a side is empty: quote at the usual spread from the other side or the last mid
            bucket = spread_bucket(p.initial_spread)
            other = ask if side is BUY else bid
            if other is None:
                other = self._last_mid + (p.initial_spread // 2 if side is BUY
                                          else -(p.initial_spread // 2))
            own = bid if side is BUY else ask
            if own is not None:
                near = own
            else:
                near = other - p.initial_spread if side is BUY else other + p.initial_spread
        behind = int(inverse_cdf(p.behind_distances[bucket], self._random()))
        return max(near - behind, 1) if side is BUY else near + behind

    def _market(self, book: OrderBook, excited: Side | None) -> list[Fill]:
        """A crowd market order: on side ``excited`` if a burst brought it, else a burst's
        first order, whose side follows the last trade or the touch imbalance."""
        p = self.params
        bid, ask = book.quote()
        last = book.last_taker_side
        if excited is not None:
            side = excited
        elif last is not None and self._random() < p.sign_persistence:
            side = last
        else:
            lean = 0.0
            if bid is not None and ask is not None:
                bid_q, ask_q = _crowd_qty(book, BUY, bid), _crowd_qty(book, SELL, ask)
                if bid_q + ask_q:
                    lean = (bid_q - ask_q) / (bid_q + ask_q)
            side = BUY if self._random() < 0.5 + p.imbalance_lean * lean else SELL
        touch = ask if side is BUY else bid
        if touch is None:
            return []
        if self._decays_ns:
            self._excite(side)
        if self._random() < p.touch_take_share:
            qty = book.level_qty(SELL if side is BUY else BUY, touch)
        else:
            qty = self._size(p.market_sizes)
        self._next_id += 1
        fills = book.add_market(self._next_id, side, qty, self._now_ns)
        for fill in fills:
            if fill.maker_remaining == 0 and isinstance(fill.maker_id, int):
                self._forget(fill.maker_id)
        return fills

    def _cancel_random(self, book: OrderBook) -> None:
        if self._behind:
            self._cancel_behind(book)
            return
        own, index_of, getrandbits = self._own, self._own_index, self._getrandbits
        while own:
            # own[self._below(len(own))], then self._forget(it), written out
            n = len(own)
            bits = n.bit_length()
            index = getrandbits(bits)
            while index >= n:
                index = getrandbits(bits)
            order_id = own[index]
            del index_of[order_id]
            last = own.pop()
            if last != order_id:
                own[index] = last
                index_of[last] = index
            if book.cancel(order_id):
                return

    def _cancel_behind(self, book: OrderBook) -> None:
        """A candidate for the deep cancel process: a random crowd order, cancelled with its
        distance's share of the highest factor; touch orders are left to the touch's own
        process. A rejected candidate is an event that changes nothing."""
        own = self._own
        while own:
            order_id = own[self._below(len(own))]
            order = book.get(order_id)
            if order is None:  # filled or gone since: forget it and draw again
                self._forget(order_id)
                continue
            touch = book.best_bid() if order.side is BUY else book.best_ask()
            distance = 0 if touch is None else \
                (touch - order.price if order.side is BUY else order.price - touch)
            if distance > 0 and self._random() < self._behind[behind_bucket(distance)]:
                self._forget(order_id)
                book.cancel(order_id)
            return

    def _cancel_touch(self, book: OrderBook, side: Side) -> None:
        price = book.best_bid() if side is BUY else book.best_ask()
        if price is None:
            return
        crowd = [order.order_id for order in book.queue(side, price)
                 if order.owner is None and isinstance(order.order_id, int)]
        if crowd:
            order_id = crowd[self._below(len(crowd))]
            self._forget(order_id)
            book.cancel(order_id)

    def _below(self, n: int) -> int:
        """``random.randrange(n)`` for n >= 1, the same draws (CPython's ``_randbelow``:
        ``getrandbits`` of n's bit length until below n) without randrange's argument
        handling."""
        bits = n.bit_length()
        r = self._getrandbits(bits)
        while r >= n:
            r = self._getrandbits(bits)
        return r

    def _forget(self, order_id: int) -> None:
        index = self._own_index.pop(order_id, None)
        if index is None:
            return
        last = self._own.pop()
        if last != order_id:
            self._own[index] = last
            self._own_index[last] = index

    def _size(self, table: tuple[float, ...]) -> int:
        """Shares from the size table (whole shares, at least one)."""
        return max(1, round(inverse_cdf(table, self._random())))

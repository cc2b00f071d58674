"""Estimate the stochastic flow's parameters (:class:`sim.flow.FlowParams`) from LOBSTER data.

One pass over the messages, each read against the book row just before it (its spread bucket,
its touch queues). Estimators, each the simplest that matches how
:class:`sim.flow.StochasticFlow` uses the value:
- ``limit_rate``: submissions (type 1) per second; ``limit_profile[b]``: submissions per second
  spent in spread bucket ``b``, over ``limit_rate`` (the maximum-likelihood intensity of a
  Poisson process modulated by the spread);
- ``market_rate``, ``market_profile`` and ``market_sizes``: the same for market orders, taking
  visible executions (type 4) grouped by timestamp and side as one market order each (a sweep
  prints one execution per resting order it hits);
- ``inside_share[b]``: the share of bucket ``b``'s submissions that land strictly inside the
  spread; ``inside_fractions[b]``: their ``(improvement - 1/2) / (spread - 1)``, improvement in
  ticks from their own touch (the flow maps the fraction back to the same tick);
  ``behind_distances[b]``: the others' distance in ticks behind their own touch;
- ``cancel_touch[k]``: cancelled shares (types 2 and 3) at the touch over the time integral of
  the touch queue, for touch queues in size bucket ``k``; ``cancel_deep`` the same for the
  displayed levels behind the touch (a per-share rate, used per order: sizes and cancels are
  assumed independent, and a partial cancel counts as its share of an order);
  ``cancel_behind[k]``: the same for the displayed levels at distance bucket ``k`` behind
  their touch, over ``cancel_deep``;
- ``touch_take_share``: the share of market orders whose size is exactly the touch queue they
  met; ``market_sizes`` come from the others;
- ``excitation`` (the bursts market orders come in) and ``sign_persistence`` between bursts:
  :mod:`sim.excitation_fit`, on days with :data:`MIN_BURST_ORDERS` market orders or more; on
  shorter days no bursts, and ``sign_persistence`` is ``2 P(same side as the previous market
  order) - 1``, what copying the last trade's side with that probability and otherwise drawing
  a fair side would give (the imbalance lean's small effect on that probability is ignored);
- ``cancel_hit_side`` and ``cancel_other_side``, how the side a trade hit retreats: set by
  simulation so that the flow's response to one order of the day's median size, over the two
  minutes after it, is the propagator's (:mod:`sim.retreat_fit`; 1 and 1 on days too short
  for the bursts or the propagator, :data:`MIN_BURST_ORDERS` and
  :data:`sim.impact_fit.MIN_ORDERS` market orders);
- the ``impact`` section, the propagator of the agent's transient impact in the replay:
  :mod:`sim.impact_fit` (none, and the reason under ``dynamics``, on a day with too few market
  orders);
- ``limit_sizes``: submitted sizes; ``imbalance_lean``: ``E[sign x imbalance] / (2
  E[imbalance^2])`` over the market orders that start bursts (as for the persistence; all of
  them on a day without bursts), the least-squares slope of ``P(buy) = 0.5 + lean x
  imbalance`` on the touch imbalance just before each market order, clipped to [-0.5, 0.5];
- ``start_price``: the first mid; ``initial_spread``: the median spread over book rows.
Distributions are quantile tables (:func:`sim.flow.quantile_table`), cut above their 99th
percentile (a handful of far-off orders would otherwise set the table's last segment). A spread
bucket with fewer than :data:`MIN_SAMPLES` observations of a kind takes the whole day's value
for that kind (rate factor 1, pooled distribution). ``queue_edges`` is a choice, not an
estimate; the output says so.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.domain import Side
from sim.flow import (
    BEHIND_BUCKETS,
    SPREAD_BUCKETS,
    FlowParams,
    behind_bucket,
    quantile_table,
    spread_bucket,
)
from sim.impact_fit import fit_impact, impact_section, market_orders
from sim.lobster import EventType, LobsterSample
from sim.propagator import ImpactParams
from sim.retreat_fit import LAGS_S, TRIALS, fit_retreat, with_retreat

MIN_SAMPLES = 50
MIN_BURST_ORDERS = 200  # market orders needed to fit the bursts and the retreat
DISTANCE_POINTS = 21  # quantiles 0, 5%, ..., 100% (of the data below its 99th percentile)
FRACTION_POINTS = 11
SIZE_POINTS = 21
NOT_CALIBRATED = ("queue_edges",)


@dataclasses.dataclass
class _Tally:
    """What one pass over the data counts."""

    seconds: list[float]
    submits: list[int]
    markets: list[int]
    inside: list[list[float]]
    behind: list[list[float]]
    touch_cancelled: list[float]
    touch_exposure: list[float]
    behind_cancelled: list[float]
    behind_exposure: list[float]
    behind_cancels: list[int]
    same_side: int = 0
    deep_cancelled: float = 0.0
    deep_exposure: float = 0.0
    # Each market order's time, aggressor sign and the touch imbalance just before it.
    leans: list[tuple[int, float, float]] = dataclasses.field(default_factory=list)

    @classmethod
    def empty(cls, queue_buckets: int) -> _Tally:
        return cls([0.0] * SPREAD_BUCKETS, [0] * SPREAD_BUCKETS, [0] * SPREAD_BUCKETS,
                   [[] for _ in range(SPREAD_BUCKETS)], [[] for _ in range(SPREAD_BUCKETS)],
                   [0.0] * queue_buckets, [0.0] * queue_buckets, [0.0] * BEHIND_BUCKETS,
                   [0.0] * BEHIND_BUCKETS, [0] * BEHIND_BUCKETS)

    def expose_behind(self, bid: int, ask: int, bids: Sequence[tuple[int, int]],
                      asks: Sequence[tuple[int, int]], dt: float) -> None:
        """Credit ``dt`` seconds of the displayed levels behind each touch to their distance
        buckets."""
        for price, qty in bids[1:]:
            self.behind_exposure[behind_bucket(bid - price)] += qty * dt
        for price, qty in asks[1:]:
            self.behind_exposure[behind_bucket(price - ask)] += qty * dt


def _require_depth(sample: LobsterSample) -> None:
    if sample.levels < 2:
        raise ValueError(f"{sample.source}: a file of {sample.levels} level shows no order behind "
                         "the touch, where the flow's placement and cancel rates are read: "
                         "calibrate needs at least 2 levels (10 give the full estimates)")


def calibrate(sample: LobsterSample, tick_size: Decimal = Decimal("0.01"),
              symbol: str | None = None, retreat_trials: int = TRIALS) -> dict[str, Any]:
    """The parameters and where they came from, as the JSON document ``calibrate`` writes;
    prices in ticks of ``tick_size``; ``symbol``: the instrument's name (default: the
    sample's ticker); ``retreat_trials``: paired runs per simulated response of the retreat's
    fit (fewer are quicker and noisier)."""
    _require_depth(sample)
    edges = FlowParams().queue_edges
    tally = _Tally.empty(len(edges) + 1)
    limit_sizes: list[float] = []
    market_groups: dict[tuple[int, Side], int] = {}
    group_touch: dict[tuple[int, Side], int] = {}  # the touch queue each market order met
    last_side: Side | None = None
    spreads: list[int] = []
    first_ts = last_ts = None
    start_mid: int | None = None
    previous = None
    rows = 0
    for message, row in sample.events(tick_size):
        first_ts = message.ts_ns if first_ts is None else first_ts
        if previous is not None and previous.bids and previous.asks and last_ts is not None:
            (bid, bid_q), (ask, ask_q) = previous.bids[0], previous.asks[0]
            bucket = spread_bucket(ask - bid)
            dt = (message.ts_ns - last_ts) / 1e9
            tally.seconds[bucket] += dt
            tally.touch_exposure[bisect_right(edges, bid_q)] += bid_q * dt
            tally.touch_exposure[bisect_right(edges, ask_q)] += ask_q * dt
            tally.deep_exposure += (sum(q for _, q in previous.bids[1:])
                                    + sum(q for _, q in previous.asks[1:])) * dt
            tally.expose_behind(bid, ask, previous.bids, previous.asks, dt)
            own, own_q = (bid, bid_q) if message.side is Side.BUY else (ask, ask_q)
            if message.event is EventType.SUBMIT:
                tally.submits[bucket] += 1
                limit_sizes.append(message.qty)
                improvement = message.price - bid if message.side is Side.BUY \
                    else ask - message.price
                if bid < message.price < ask:
                    tally.inside[bucket].append((improvement - 0.5) / (ask - bid - 1))
                elif improvement <= 0:
                    tally.behind[bucket].append(-improvement)
            elif message.event in (EventType.DELETE, EventType.PARTIAL_CANCEL):
                if message.price == own:
                    tally.touch_cancelled[bisect_right(edges, own_q)] += message.qty
                else:
                    tally.deep_cancelled += message.qty
                    distance = own - message.price if message.side is Side.BUY \
                        else message.price - own
                    if distance > 0:
                        tally.behind_cancelled[behind_bucket(distance)] += message.qty
                        tally.behind_cancels[behind_bucket(distance)] += 1
            elif message.event is EventType.EXECUTE_VISIBLE:
                key = (message.ts_ns, message.side)
                if key not in market_groups:
                    tally.markets[bucket] += 1
                    group_touch[key] = own_q
                    tally.same_side += message.side is last_side
                    last_side = message.side
                    imbalance = (bid_q - ask_q) / (bid_q + ask_q)
                    # The aggressor is opposite to the resting order LOBSTER names.
                    sign = 1.0 if message.side is Side.SELL else -1.0
                    tally.leans.append((message.ts_ns, sign, imbalance))
                market_groups[key] = market_groups.get(key, 0) + message.qty
        if row.bids and row.asks:
            spreads.append(row.asks[0][0] - row.bids[0][0])
            if start_mid is None:
                start_mid = (row.bids[0][0] + row.asks[0][0]) // 2
        last_ts = message.ts_ns
        previous = row
        rows += 1
    seconds = sum(tally.seconds)
    if first_ts is None or last_ts is None or seconds <= 0 or not sum(tally.submits) \
            or not market_groups or start_mid is None or not tally.deep_exposure:
        raise ValueError(f"{sample.source}: too little data to calibrate (needs submissions, "
                         "executions and a two-sided book over a positive time span)")
    params = FlowParams(
        start_price=start_mid,
        initial_spread=max(1, sorted(spreads)[len(spreads) // 2]),
        limit_rate=sum(tally.submits) / seconds,
        market_rate=len(market_groups) / seconds,
        limit_profile=_profile(tally.submits, tally.seconds),
        market_profile=_profile(tally.markets, tally.seconds),
        inside_share=tuple(
            len(tally.inside[b]) / tally.submits[b] if tally.submits[b] >= MIN_SAMPLES
            else sum(map(len, tally.inside)) / sum(tally.submits) for b in range(SPREAD_BUCKETS)),
        inside_fractions=_tables(tally.inside, FRACTION_POINTS, (0.0, 0.0)),
        behind_distances=_tables(tally.behind, DISTANCE_POINTS, (0.0, 0.0)),
        cancel_deep=tally.deep_cancelled / tally.deep_exposure,
        cancel_behind=_behind_factors(tally),
        cancel_touch=tuple(c / e if e else tally.deep_cancelled / tally.deep_exposure
                           for c, e in zip(tally.touch_cancelled, tally.touch_exposure,
                                           strict=True)),
        limit_sizes=_table(limit_sizes, SIZE_POINTS),
        market_sizes=_table([float(q) for key, q in market_groups.items()
                             if q != group_touch[key]] or [1.0], SIZE_POINTS),
        touch_take_share=sum(q == group_touch[key] for key, q in market_groups.items())
        / len(market_groups),
        sign_persistence=max(0.0, 2 * tally.same_side / max(len(market_groups) - 1, 1) - 1),
        imbalance_lean=_lean(tally.leans, 0.0),
    )
    params, dynamics, impact = _dynamics(sample, tick_size, params, tally.leans, retreat_trials)
    document = {
        "data": f"LOBSTER {sample.ticker} {sample.date}, {sample.levels} levels "
                f"({sample.source.name})",
        "symbol": symbol or sample.ticker,
        "tick_size": str(tick_size),
        "events": rows,
        "seconds": round((last_ts - first_ts) / 1e9, 3),
        "params": _rounded(dataclasses.asdict(params)),
        "not_calibrated": list(NOT_CALIBRATED),
        "dynamics": _rounded(dynamics),
    }
    if impact is not None:
        document["impact"] = impact
    return document


def _dynamics(sample: LobsterSample, tick_size: Decimal, params: FlowParams,
              leans: list[tuple[int, float, float]], retreat_trials: int) \
        -> tuple[FlowParams, dict[str, Any], dict[str, Any] | None]:
    """The bursts, the persistence between them and the hit side's retreat, what they were
    estimated from, and the propagator's ``impact`` section (None, with the reason in the
    record, on a day with too few market orders for it). ``params`` unchanged on a day with
    too few market orders for the bursts."""
    times, signs, _, _ = market_orders(sample, tick_size)
    record: dict[str, Any] = {}
    impact: ImpactParams | None
    try:
        impact, source = fit_impact(sample, tick_size)
    except ValueError as exc:
        impact, source = None, {}
        record["no_impact"] = str(exc)
    if len(times) < MIN_BURST_ORDERS:
        record.update(market_orders=len(times),
                      note=f"fewer than {MIN_BURST_ORDERS} market orders: no bursts, no retreat")
        return params, record, None if impact is None else impact_section(impact, source)
    # scipy (the train extra) only here: the daemon and its image read params files through
    # this module (load_flow_params) without it.
    from sim.excitation_fit import fit_excitation
    bursts = fit_excitation(times, signs)
    params = dataclasses.replace(
        params, excitation=tuple(tuple(c) for c in bursts["excitation"]),
        sign_persistence=bursts["sign_persistence"],
        imbalance_lean=_lean(leans, bursts["apart_s"]))
    record.update(market_orders=len(times),
                  bursts={key: bursts[key] for key in ("background_per_s", "log_likelihood",
                                                        "explosive")})
    if impact is None:
        return params, record, None
    qty = round(impact.reference_qty)
    target = statistics.fmean(impact.kernel(qty, lag * 10**9) for lag in LAGS_S)
    factor, response = fit_retreat(params, qty, target, retreat_trials)
    record.update(retreat={"factor": factor, "order_qty": qty, "lags_s": list(LAGS_S),
                           "real_response_ticks": target,
                           "simulated_response_ticks": response},
                  fitted_by_simulation=["cancel_hit_side", "cancel_other_side"])
    return with_retreat(params, factor), record, impact_section(impact, source)


def _behind_factors(tally: _Tally) -> tuple[float, ...]:
    """Each distance bucket's cancel rate per share over the rate behind the touch as a whole;
    1 where a bucket saw fewer than :data:`MIN_SAMPLES` cancels."""
    overall = tally.deep_cancelled / tally.deep_exposure
    return tuple(c / e / overall if n >= MIN_SAMPLES and e > 0 else 1.0
                 for c, e, n in zip(tally.behind_cancelled, tally.behind_exposure,
                                    tally.behind_cancels, strict=True))


def _lean(leans: list[tuple[int, float, float]], apart_s: float) -> float:
    """``E[sign x imbalance] / (2 E[imbalance^2])`` over the market orders more than
    ``apart_s`` after the previous one (0: all), clipped to [-0.5, 0.5]."""
    numerator = denominator = 0.0
    previous: int | None = None
    for ts_ns, sign, imbalance in leans:
        if previous is None or ts_ns - previous > apart_s * 1e9:
            numerator += sign * imbalance
            denominator += imbalance * imbalance
        previous = ts_ns
    return max(-0.5, min(0.5, numerator / (2 * denominator) if denominator else 0.0))


def _profile(counts: list[int], seconds: list[float]) -> tuple[float, ...]:
    """Each bucket's rate over the whole day's; 1 where a bucket saw too few events."""
    overall = sum(counts) / sum(seconds)
    return tuple(c / s / overall if c >= MIN_SAMPLES and s > 0 else 1.0
                 for c, s in zip(counts, seconds, strict=True))


def _table(values: list[float], points: int) -> tuple[float, ...]:
    """The quantile table of ``values`` below their 99th percentile."""
    ordered = sorted(values)
    return quantile_table(ordered[:max(1, math.ceil(len(ordered) * 0.99))], points)


def _tables(by_bucket: list[list[float]], points: int,
            fallback: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """One table per spread bucket; the pooled one where a bucket has too few values."""
    pooled = [v for values in by_bucket for v in values]
    whole = _table(pooled, points) if pooled else fallback
    return tuple(_table(values, points) if len(values) >= MIN_SAMPLES else whole
                 for values in by_bucket)


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits, so the file stays small and diffs stay readable."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def load_flow_params(path: Path | str) -> FlowParams:
    """Parameters from a file ``calibrate`` wrote; ValueError (one line) for any other file."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    params = document.get("params") if isinstance(document, dict) else None
    if not isinstance(params, dict):
        raise ValueError(f"{path}: no 'params' object: not a file `execagent calibrate` wrote")
    known = {field.name for field in dataclasses.fields(FlowParams)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{path}: unknown flow parameters {unknown}")
    try:
        return FlowParams(**{key: _tupled(value) for key, value in params.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid flow parameters: {exc}") from None


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value

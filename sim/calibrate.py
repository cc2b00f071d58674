"""Estimate the stochastic flow's parameters (:class:`sim.flow.FlowParams`) from LOBSTER data.

Estimators, each the simplest that matches how :class:`sim.flow.StochasticFlow` uses the value:
- ``limit_rate``: submissions (type 1) per second of the sample;
- ``market_rate`` and ``mean_market_size``: visible executions (type 4) grouped by timestamp
  and side into one market order each (a sweep prints one execution per resting order it hits);
- ``mean_limit_size``: the mean submitted size;
- ``improve_probability``: the share of submissions that land strictly inside the spread;
- ``placement_decay``: the maximum-likelihood geometric parameter ``1 / (1 + mean distance)`` of
  the other submissions' distance in ticks behind their own side's best price;
- ``cancel_rate``: full deletions (type 3) per second, divided by the mean number of resting
  orders, itself estimated as the mean displayed depth over the sample's levels divided by the
  mean submitted size (LOBSTER shows levels, not orders);
- ``imbalance_lean``: ``E[sign x imbalance] / (2 E[imbalance^2])``, the least-squares slope of
  ``P(buy) = 0.5 + lean x imbalance`` on the touch imbalance just before each market order,
  clipped to [-0.5, 0.5];
- ``start_price``: the first mid, in ticks.
The rest (``thin_queue``, ``refill_boost``, ``initial_levels``, ``initial_orders_per_level``,
``max_distance``) are not identified by this data and keep their defaults; the output says so.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from service.domain import Side
from sim.flow import FlowParams
from sim.lobster import BookRow, EventType, LobsterSample

MIN_MEAN_SIZE = 11.0
NOT_CALIBRATED = ("thin_queue", "refill_boost", "initial_levels", "initial_orders_per_level",
                  "max_distance")


def calibrate(sample: LobsterSample) -> dict[str, Any]:
    """The parameters and where they came from, as the JSON document ``calibrate`` writes."""
    submits = deletes = inside = 0
    submit_qty = distance_sum = 0
    market_groups: dict[tuple[int, Side], int] = {}
    lean_num = lean_den = 0.0
    depth_sum = rows = 0
    first_ts = last_ts = None
    start_mid: int | None = None
    previous: BookRow | None = None
    for message, row in zip(sample.messages(), sample.book_rows(), strict=True):
        first_ts = message.ts_ns if first_ts is None else first_ts
        last_ts = message.ts_ns
        if start_mid is None and row.bids and row.asks:
            start_mid = (row.bids[0][0] + row.asks[0][0]) // 2
        if previous is not None and previous.bids and previous.asks:
            if message.event is EventType.SUBMIT:
                submits += 1
                submit_qty += message.qty
                bid, ask = previous.bids[0][0], previous.asks[0][0]
                if bid < message.price < ask:
                    inside += 1
                else:
                    distance_sum += bid - message.price if message.side is Side.BUY \
                        else message.price - ask
            elif message.event is EventType.DELETE:
                deletes += 1
            elif message.event is EventType.EXECUTE_VISIBLE:
                key = (message.ts_ns, message.side)
                if key not in market_groups:
                    bid_q, ask_q = previous.bids[0][1], previous.asks[0][1]
                    imbalance = (bid_q - ask_q) / (bid_q + ask_q)
                    # The aggressor is opposite to the resting order LOBSTER names.
                    sign = 1.0 if message.side is Side.SELL else -1.0
                    lean_num += sign * imbalance
                    lean_den += imbalance * imbalance
                market_groups[key] = market_groups.get(key, 0) + message.qty
        depth_sum += sum(q for _, q in row.bids) + sum(q for _, q in row.asks)
        rows += 1
        previous = row
    if first_ts is None or last_ts is None or last_ts <= first_ts or not submits \
            or not market_groups or start_mid is None:
        raise ValueError(f"{sample.source}: too little data to calibrate (needs submissions, "
                         "executions and a two-sided book over a positive time span)")
    seconds = (last_ts - first_ts) / 1e9
    mean_limit_size = submit_qty / submits
    mean_resting_orders = depth_sum / rows / mean_limit_size
    lean = lean_num / (2 * lean_den) if lean_den else 0.0
    params = dataclasses.replace(
        FlowParams(),
        start_price=start_mid,
        limit_rate=submits / seconds,
        market_rate=len(market_groups) / seconds,
        cancel_rate=deletes / seconds / mean_resting_orders,
        improve_probability=inside / submits,
        placement_decay=1.0 / (1.0 + distance_sum / max(submits - inside, 1)),
        # The flow draws sizes in round lots of 10 and needs a mean above one lot.
        mean_limit_size=max(mean_limit_size, MIN_MEAN_SIZE),
        mean_market_size=max(sum(market_groups.values()) / len(market_groups), MIN_MEAN_SIZE),
        imbalance_lean=max(-0.5, min(0.5, lean)),
    )
    return {
        "data": f"LOBSTER {sample.ticker} {sample.date}, {sample.levels} levels "
                f"({sample.source.name})",
        "events": rows,
        "seconds": round(seconds, 3),
        "params": dataclasses.asdict(params),
        "not_calibrated": list(NOT_CALIBRATED),
    }


def load_flow_params(path: Path | str) -> FlowParams:
    """Parameters from a file ``calibrate`` wrote."""
    document = json.loads(Path(path).read_text())
    return FlowParams(**document["params"])

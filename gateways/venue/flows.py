"""The markets the simulated venue can run per symbol: the stochastic order flow, generic or
calibrated to LOBSTER GOOG 2012-06-21 (the LOBSTER replay is :mod:`gateways.venue.replay_flow`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import sim
from gateways.venue.config import VenueSymbol
from sim.calibrate import load_flow_params
from sim.flow import FlowParams, OrderFlow, StochasticFlow

FlowFactory = Callable[[VenueSymbol], OrderFlow]
CALIBRATED_PARAMS = Path(sim.__file__).parent / "params" / "GOOG_2012-06-21.json"


def stochastic_flow(symbol: VenueSymbol) -> OrderFlow:
    """The venue's generic market: the seeded stochastic order flow with its default rates
    around the symbol's start price."""
    start_ticks = int(symbol.start_price / symbol.tick_size)
    return StochasticFlow(FlowParams(start_price=start_ticks), seed=symbol.seed)


def calibrated_flow(symbol: VenueSymbol) -> OrderFlow:
    """The demo's market: the flow calibrated to LOBSTER GOOG 2012-06-21, the market the
    shipped policy was trained in, around the symbol's start price."""
    params = dataclasses.replace(load_flow_params(CALIBRATED_PARAMS),
                                 start_price=int(symbol.start_price / symbol.tick_size))
    return StochasticFlow(params, seed=symbol.seed)

"""``/readyz``: can the service trade now, as a whole and symbol by symbol, and if not, why.

Why per symbol: a service whose FIX session is up can still be unable to trade a symbol whose
feed is stale (every message dropped as malformed looks like silence), resyncing, reconnecting or
stopped, or whose book has no two-sided quote fresh enough for the risk overlay's price checks.
Each symbol's answer is what the overlay would say of a new order on it now, in the order of its
controls; the whole is ready only when every service-wide check passes and every symbol is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from risk.overlay import RiskOverlay
from risk.state import TradingState
from service.api.schemas import Readiness, SymbolReadiness
from service.engine import Engine
from service.feeds import ServiceFeeds


def symbol_readiness(symbol: str, engine: Engine, risk: RiskOverlay,
                     feeds: ServiceFeeds | None, has_source: bool) -> SymbolReadiness:
    """One symbol: its feed and that feed's health, and the first reason a new order on it
    would be refused now (None: it would go out, limits permitting)."""
    found = feeds.feed_of(symbol) if feeds is not None else None
    name, health = (found[0], found[1].health.value) if found is not None else (None, None)
    reason = _refusal(symbol, engine, risk, has_source)
    return SymbolReadiness(ready=reason is None, feed=name, health=health, reason=reason)


def _refusal(symbol: str, engine: Engine, risk: RiskOverlay, has_source: bool) -> str | None:
    if not has_source:
        return ("no market data: fix.market_data is off and market_data.feeds names no other "
                "source for it")
    stop = risk.stopped_symbols().get(symbol)
    if stop is not None:
        return f"new orders stopped: {stop}"
    limits = risk.limits
    if symbol in limits.global_.restricted_symbols:
        return "restricted (global.restricted_symbols)"
    if symbol not in limits.symbols:
        return "no risk limits for it (symbols in the limits file)"
    if engine.books[symbol].mid_x2() is None:
        return "no two-sided book yet"
    age_s = engine.wall_ns_since_tick(symbol) / 1e9
    max_age_s = limits.global_.max_reference_age_seconds
    if age_s > max_age_s:
        return (f"no market data for {age_s:.3g} s: orders need a two-sided quote at most "
                f"{max_age_s:g} s old (global.max_reference_age_seconds)")
    return None


def readiness(checks: Mapping[str, bool], symbols: Iterable[str], engine: Engine | None,
              risk: RiskOverlay, feeds: ServiceFeeds | None,
              sourced: Iterable[str]) -> Readiness:
    """The whole answer: the service-wide ``checks`` and, once the engine runs, each symbol
    (``sourced``: the symbols that have a market-data source at all)."""
    per_symbol: dict[str, SymbolReadiness] = {}
    if engine is not None:
        with_source = set(sourced)
        per_symbol = {symbol: symbol_readiness(symbol, engine, risk, feeds,
                                               symbol in with_source) for symbol in symbols}
    all_checks = {**checks, "trading_not_halted": risk.state is not TradingState.HALTED,
                  "symbols_tradable": engine is not None
                  and all(answer.ready for answer in per_symbol.values())}
    return Readiness(ready=all(all_checks.values()), checks=all_checks, symbols=per_symbol)

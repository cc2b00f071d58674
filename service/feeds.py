"""The service's market-data feeds: built from configuration, pumped into the engine through
one bounded conflating queue, and allowed to stop trading on their symbols.

Why one module: the three duties belong together. A feed is only as good as its health, so the
same place that starts it also decides, per symbol, whether new orders may go out on its book
(the risk overlay's per-symbol stop), and moves its messages to the engine without letting a
fast feed bury a slow engine.

What happens to one message: the feed yields it; the staleness watchdog notes its arrival;
its exchange-to-receipt latency is observed; it goes into the :class:`ConflatingQueue` (merged
into a waiting message of its symbol if one waits, so the queue stays bounded and the book still
gets every update); the drain task hands the oldest entry to ``Engine.handle``, which applies it
to the book and lets the policies decide once on the resulting state.

When a symbol's feed is not LIVE (stale: silent past ``market_data.stale_seconds``; resyncing
after a gap; connecting; ended), :meth:`RiskOverlay.stop_symbol` denies new orders and replaces
on it; when the feed is live again the stop is cleared, with no operator. The overlay's global
stale-feed kill switch stays the last resort. The gate follows every change of a feed's health
as it happens (``Feed.on_health``), and is compared with it again on every message (one
attribute and one set lookup), on every watchdog transition, and by the supervisor four times
per stale timeout.

Symbols whose source is FIX (the default) get the same health, watchdog, stop and metrics
(``fix:<symbol>``), but their messages are not pumped through the conflating queue: they reach
the engine in the FIX session's order, beside its execution reports (inline feeds,
gateways/marketdata/fix_feed.py), and each one is reported here all the same (:meth:`passed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import redis.asyncio as aioredis

from core.domain import Instrument, MarketData
from gateways.marketdata.binance_ws import BinanceWsConfig, BinanceWsFeed
from gateways.marketdata.conflation import ConflatingQueue
from gateways.marketdata.feed import Feed, FeedHealth
from gateways.marketdata.file_replay import FileReplayFeed
from gateways.marketdata.fix_feed import FixMarketData
from gateways.marketdata.redis_stream import RedisStreamFeed
from gateways.marketdata.staleness import StaleChange, StalenessWatchdog
from risk.overlay import RiskOverlay
from service.config import (
    BinanceWsFeedConfig,
    FeedConfig,
    FileReplayFeedConfig,
    MarketDataConfig,
    RedisStreamFeedConfig,
)
from service.metrics import LatencyBuckets, Metrics
from sim.lobster import LobsterFormatError, open_sample

log = logging.getLogger(f"execagent.{__name__}")

_LIVE = FeedHealth.LIVE
Handler = Callable[[MarketData, int], None]


class FeedSetupError(ValueError):
    """A configured feed cannot be built; the message names it and says why."""


def feed_name(spec: FeedConfig) -> str:
    """The ``feed`` label: source and symbol, a closed set fixed by the configuration."""
    return f"{spec.source}:{spec.symbol}"


def build_feed(spec: FeedConfig, instrument: Instrument,
               redis_client: Callable[[str], aioredis.Redis]) -> Feed:
    """One feed from its configuration. ``redis_client(url)`` shares a client per URL."""
    if isinstance(spec, BinanceWsFeedConfig):
        return BinanceWsFeed(BinanceWsConfig(spec.rest_url, spec.ws_url, instrument,
                                             depth_limit=spec.depth_limit))
    if isinstance(spec, RedisStreamFeedConfig):
        return RedisStreamFeed(redis_client(spec.redis_url.get_secret_value()), instrument,
                               spec.group, spec.consumer, spec.prefix, start_id=spec.start_id)
    if isinstance(spec, FileReplayFeedConfig):
        return _file_replay(spec, instrument)
    raise FeedSetupError(f"market_data.feeds: {spec.symbol} has no feed adapter for "
                         f"source {spec.source!r}")


def _file_replay(spec: FileReplayFeedConfig, instrument: Instrument) -> FileReplayFeed:
    where = f"market_data.feeds {feed_name(spec)}"
    if not Path(spec.path).exists():
        raise FeedSetupError(f"{where}: {spec.path} does not exist")
    if spec.format == "binance":
        return FileReplayFeed.binance([Path(spec.path)], spec.symbol, spec.speed,
                                      instrument.tick_size, instrument.lot_size)
    try:
        sample = open_sample(spec.path)
        if sample.ticker != spec.symbol:
            raise FeedSetupError(f"{where}: {spec.path} holds {sample.ticker}, not "
                                 f"{spec.symbol}")
        sample.read(instrument.tick_size)  # a defect stops the start, not the running feed
    except (LobsterFormatError, OSError) as exc:
        raise FeedSetupError(f"{where}: {exc}") from exc
    return FileReplayFeed.lobster(sample, spec.speed, instrument.tick_size)


class ServiceFeeds:
    """The configured feeds, their pumps, the conflating queue and the gate.

    ``feeds`` may be given directly (tests, embedding); otherwise :meth:`from_config` builds
    them. ``clock_ns`` is the watchdog's monotonic clock (injectable so tests never wait)."""

    def __init__(self, feeds: Mapping[str, Feed], risk: RiskOverlay, metrics: Metrics,
                 symbols: list[str], *, stale_seconds: float = 2.0, queue_max_depth: int = 64,
                 clock_ns: Callable[[], int] = time.monotonic_ns,
                 measure_latency: frozenset[str] = frozenset(),
                 redis_clients: list[aioredis.Redis] | None = None) -> None:
        self.feeds = dict(feeds)
        self.risk = risk
        self.metrics = metrics
        self.queue = ConflatingQueue(queue_max_depth)
        self.watchdog = StalenessWatchdog(stale_seconds, self._on_stale, clock_ns)
        self.measure_latency = measure_latency
        self._redis_clients = redis_clients or []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped: set[str] = set()
        self._been_live: set[str] = set()  # feeds live at least once: a stop is then news
        # Set as the service stops (before its FIX session goes down): the feeds' last stops
        # are its own doing, and not news either.
        self.closing = False
        self.latency = {name: LatencyBuckets() for name in self.feeds}
        for name, feed in self.feeds.items():
            self.watchdog.register(name, feed.symbol, feed)
            feed.on_health = functools.partial(self.gate, name)  # the stop follows every change
            self.gate(name)  # nothing has arrived yet: not live, stopped until it is
        metrics.watch_feeds(self.feeds, self.latency, self._is_stale, self.stopped, symbols,
                            lambda: self.queue.depth, lambda: self.queue.conflated)

    @classmethod
    def from_config(cls, config: MarketDataConfig, instruments: Mapping[str, Instrument],
                    risk: RiskOverlay, metrics: Metrics,
                    fix_market_data: FixMarketData | None = None) -> ServiceFeeds:
        """Every configured feed whose source is not FIX, and ``fix_market_data``'s feeds (the
        symbols subscribed over FIX). Raises FeedSetupError."""
        clients: dict[str, aioredis.Redis] = {}

        def client(url: str) -> aioredis.Redis:
            if url not in clients:
                try:
                    clients[url] = aioredis.Redis.from_url(url)  # connects on first use
                except ValueError as exc:  # the URL itself; shown without its password
                    raise FeedSetupError(f"market_data.feeds: redis_url is not a Redis URL "
                                         f"(redis://, rediss:// or unix://): {exc}") from None
            return clients[url]

        feeds: dict[str, Feed] = {feed_name(spec): build_feed(spec, instruments[spec.symbol],
                                                              client)
                                  for spec in config.feeds if spec.source != "fix"}
        if fix_market_data is not None:
            feeds.update((feed.name, feed) for feed in fix_market_data.feeds.values())
        kill_after = risk.limits.global_.stale_feed_seconds
        if feeds and config.stale_seconds >= kill_after:
            log.warning("market_data.stale_seconds %g is not below the risk limits' "
                        "global.stale_feed_seconds %g: a silent feed will fire the kill switch "
                        "before (or as) it stops its symbol", config.stale_seconds, kill_after)
        # File replays carry historical event times: their "latency" would be years. FIX is
        # left out too: the simulated venue stamps its own accelerated market clock.
        live = frozenset(feed_name(spec) for spec in config.feeds
                         if spec.source in ("binance_ws", "redis_stream"))
        built = cls(feeds, risk, metrics, list(instruments), stale_seconds=config.stale_seconds,
                    queue_max_depth=config.queue_max_depth, measure_latency=live,
                    redis_clients=list(clients.values()))
        if fix_market_data is not None:
            fix_market_data.on_passed = built.passed
        return built

    # --- the gate: per-symbol stop in the risk overlay ------------------------------------------
    def gate(self, name: str) -> None:
        """Stop or allow new orders on ``name``'s symbol from its health now."""
        feed = self.feeds[name]
        symbol = feed.symbol
        if feed.health is _LIVE:
            self._been_live.add(name)
            if symbol in self._stopped:
                self._stopped.discard(symbol)
                self.risk.clear_symbol_stop(symbol)
            return
        self._stopped.add(symbol)  # the reason kept up to date (the overlay logs the first)
        self.risk.stop_symbol(symbol, f"feed {name} is {feed.health.value}",
                              expected=self.closing or name not in self._been_live)

    def stopped(self, symbol: str) -> bool:
        return symbol in self._stopped

    def feed_of(self, symbol: str) -> tuple[str, Feed] | None:
        """The name and feed of ``symbol``'s market data, or None when it has none."""
        for name, feed in self.feeds.items():
            if feed.symbol == symbol:
                return name, feed
        return None

    def _is_stale(self, name: str) -> bool:
        return self.watchdog.is_stale(name, self.feeds[name].symbol)

    def _on_stale(self, change: StaleChange) -> None:
        self.gate(change.feed)

    def check(self) -> None:
        """One supervision round: staleness, then every feed's health (the periodic task's
        work; tests call it with an injected clock)."""
        self.watchdog.check()
        for name in self.feeds:
            self.gate(name)

    # --- tasks -----------------------------------------------------------------------------------
    async def start(self, handle: Handler) -> None:
        """Pump every feed into the queue and the queue into ``handle`` (``Engine.handle``)."""
        for name, feed in self.feeds.items():
            if not feed.inline:
                self._tasks.append(asyncio.create_task(self._pump(name, feed),
                                                       name=f"feed-{name}"))
        self._tasks.append(asyncio.create_task(self._drain(handle), name="feed-drain"))
        self._tasks.append(asyncio.create_task(self._supervise(), name="feed-supervisor"))

    def passed(self, name: str) -> None:
        """Feed ``name`` passed a message on (pumped here, or inline: FIX): the watchdog's
        touch, and the gate brought up to date when the feed's health changed since."""
        feed = self.feeds[name]
        self.watchdog.touch(name, feed.symbol)
        if (feed.health is _LIVE) is (feed.symbol in self._stopped):
            self.gate(name)

    async def _pump(self, name: str, feed: Feed) -> None:
        put, passed = self.queue.put, self.passed
        latency = self.latency[name] if name in self.measure_latency else None
        try:
            async for message in feed:
                received = time.perf_counter_ns()
                passed(name)
                if latency is not None:
                    latency.observe(max(0, time.time_ns() - message.ts_ns) / 1e9)
                put(message, received)
        except Exception:
            log.exception("feed %s failed; its symbol stays stopped", name)
        finally:
            # Its iterator is done, so nothing more will come whatever health it claims: an
            # ended feed is not restarted (restart the service), and its symbol stays stopped.
            feed.health = FeedHealth.STOPPED
            self.gate(name)
        log.log(logging.INFO if self.closing else logging.WARNING, "feed %s ended", name)

    async def _drain(self, handle: Handler) -> None:
        get = self.queue.get
        while True:
            message, received = await get()
            try:
                handle(message, received)  # Engine.handle counts and logs its own failures
            except Exception:
                log.exception("market data for %s could not be handled", message.symbol)

    async def _supervise(self) -> None:
        interval = self.watchdog.timeout_ns / 4e9
        while True:
            await asyncio.sleep(interval)
            try:
                self.check()
            except Exception:
                log.exception("feed supervision failed")

    async def stop(self) -> None:
        self.closing = True
        for name, feed in self.feeds.items():
            try:
                await feed.close()
            except Exception:
                log.exception("feed %s did not close cleanly", name)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for client in self._redis_clients:
            await client.aclose()
        self._redis_clients = []

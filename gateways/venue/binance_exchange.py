"""A Binance spot look-alike that replays a capture, for testing and demonstrating the websocket
feed without the internet.

Why it exists: a feed that "never lies" must be proven against the things that make feeds lie
(lost, repeated and reordered messages, dropped connections), and against the exact bytes the
exchange sends. This server replays the raw capture lines of ../shared/data over
``/stream?streams=...`` (Binance's combined-stream envelope, unchanged) and answers
``GET /api/v3/depth?symbol=...&limit=...`` from its own book, built from the capture's snapshot
plus every depth update it has replayed so far (sent or deliberately lost), so a snapshot is
always consistent with the replay position, exactly as on the real exchange.

Fault injection counts depth messages (gap, duplicate, reorder) or messages sent on one
connection (disconnect); after a disconnect the replay moves on ``disconnect_skip`` messages
while "nobody listens", so the reconnecting client has to resync. One subscriber at a time: the
replay position is shared, and a second concurrent subscriber is refused (409).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

from sim.binance import read_capture_lines

log = logging.getLogger(f"execagent.{__name__}")

MIN_SLEEP_S = 0.005
MALFORMED = (  # what a broken proxy or a protocol change might deliver
    "{not json",
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT"}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"p":61000,"q":null,"m":"x"}}',
    "[1, 2, 3]",
    '{"stream":"btcusdt@bookTicker","data":"nonsense"}',
)


@dataclass(slots=True)
class ExchangeConfig:
    """What to replay, how fast, and which faults to inject (0 disables a fault)."""

    paths: list[Path]
    symbol: str = "BTCUSDT"
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (see BinanceTestExchange.port)
    speed: float = 1.0  # 1: capture time; 10: ten times faster; 0: as fast as the socket takes
    gap_every: int = 0  # lose every Nth depth update
    duplicate_every: int = 0  # send every Nth depth update twice
    reorder_every: int = 0  # send every Nth depth update after the one that follows it
    disconnect_after: int = 0  # close each connection after N messages
    disconnect_skip: int = 50  # messages the replay moves on while the client reconnects
    malformed_every: int = 0  # after every Nth message, send a malformed one
    # Hold each connection's replay until a REST snapshot has been asked for. Not what Binance
    # does, but at speed 0 the replay otherwise runs far ahead of a client's first snapshot
    # (aiohttp buffers it all), and a benchmark would mostly measure dropped messages.
    start_on_snapshot: bool = False


@dataclass(slots=True)
class ExchangeStats:
    sent: int = 0
    gaps: int = 0
    duplicates: int = 0
    reorders: int = 0
    disconnects: int = 0
    malformed: int = 0
    snapshots: int = 0
    connections: int = 0


@dataclass(slots=True)
class _Line:
    received_ns: int
    stream: str
    raw: str
    first_id: int = 0  # U and u of a depth update, 0 otherwise
    final_id: int = 0
    data: dict[str, Any] = field(default_factory=dict)


class BinanceTestExchange:
    """aiohttp server: websocket replay plus REST depth snapshots, with fault injection."""

    def __init__(self, config: ExchangeConfig) -> None:
        self.config = config
        self.stats = ExchangeStats()
        self.finished = False  # the capture has been replayed to its end
        self._lines = self._read()
        self._bids: dict[Decimal, tuple[str, str]] = {}
        self._asks: dict[Decimal, tuple[str, str]] = {}
        self._last_id = 0
        self._lookahead: list[_Line] = []
        self._depth_seen = 0
        self._held: _Line | None = None  # a depth update held back to be sent out of order
        self._subscribed = False
        self._snapshot_asked = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = config.port
        self._prime()

    # --- the replay -------------------------------------------------------------------------------
    def _read(self) -> Iterator[_Line]:
        for path, line_no, received_ns, raw in read_capture_lines(self.config.paths):
            try:
                payload = json.loads(raw)
            except ValueError:
                log.warning("%s line %d: not JSON, not replayed", path.name, line_no)
                continue
            data = payload.get("data", payload) if isinstance(payload, dict) else None
            if not isinstance(data, dict):
                continue
            stream = str(payload.get("stream", ""))
            if data.get("e") == "depthUpdate":
                yield _Line(received_ns, stream, raw.strip(), int(data["U"]), int(data["u"]),
                            data)
            else:
                yield _Line(received_ns, stream, raw.strip(), data=data)

    def _prime(self) -> None:
        """Find the capture's snapshot (near its start) so REST can answer from the first
        message on; the lines read past meanwhile are replayed as usual."""
        for line in self._lines:
            if "lastUpdateId" in line.data:
                self._last_id = int(line.data["lastUpdateId"])
                for side, key in ((self._bids, "bids"), (self._asks, "asks")):
                    for price, qty in line.data[key]:
                        side[Decimal(price)] = (price, qty)
                return
            self._lookahead.append(line)
        raise ValueError(f"no REST depth snapshot (lastUpdateId) in {self.config.paths}")

    def _next(self) -> _Line | None:
        """The next line to send (snapshot lines are REST-only and skipped); depth updates are
        applied to the exchange's book as they are read, whether sent or lost."""
        while True:
            if self._lookahead:
                line = self._lookahead.pop(0)
            else:
                read = next(self._lines, None)
                if read is None:
                    return None
                line = read
            if "lastUpdateId" in line.data:
                continue
            if line.final_id and line.final_id > self._last_id:
                for side, key in ((self._bids, "b"), (self._asks, "a")):
                    for price, qty in line.data[key]:
                        if Decimal(qty) == 0:
                            side.pop(Decimal(price), None)
                        else:
                            side[Decimal(price)] = (price, qty)
                self._last_id = line.final_id
            return line

    def _outgoing(self, line: _Line) -> list[_Line]:
        """The messages to send for one replayed line, after fault injection."""
        config = self.config
        if not line.final_id:
            return [line]
        self._depth_seen += 1
        n = self._depth_seen
        if config.gap_every and n % config.gap_every == 0:
            self.stats.gaps += 1
            return []
        if config.reorder_every and n % config.reorder_every == 0 and self._held is None:
            self.stats.reorders += 1
            self._held = line
            return []
        out = [line]
        if self._held is not None:
            out.append(self._held)
            self._held = None
        if config.duplicate_every and n % config.duplicate_every == 0:
            self.stats.duplicates += 1
            out.append(line)
        return out

    # --- HTTP -------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/ws", self._stream)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        if symbol.upper() != self.config.symbol:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return web.json_response({"code": -1100, "msg": "Illegal characters in 'limit'."},
                                     status=400)
        limit = max(1, min(limit, 5000))
        self.stats.snapshots += 1
        self._snapshot_asked.set()
        bids = [self._bids[p] for p in sorted(self._bids, reverse=True)[:limit]]
        asks = [self._asks[p] for p in sorted(self._asks)[:limit]]
        return web.json_response({"lastUpdateId": self._last_id,
                                  "bids": [list(level) for level in bids],
                                  "asks": [list(level) for level in asks]})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if self._subscribed:
            return web.Response(status=409, text="the test exchange serves one subscriber\n")
        wanted = set(filter(None, request.query.get("streams", "").split("/")))
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._subscribed = True
        self.stats.connections += 1
        self._snapshot_asked.clear()
        # Someone must read, or the client's close frame is never answered and its close()
        # waits for a timeout; reading also ends the replay as soon as the client leaves.
        reader = asyncio.create_task(self._read_until_closed(ws))
        try:
            await self._replay(ws, wanted)
        except ConnectionError:
            pass
        finally:
            self._subscribed = False
            reader.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    @staticmethod
    async def _read_until_closed(ws: web.WebSocketResponse) -> None:
        async for _ in ws:  # subscribers have nothing to say; close frames are answered
            pass

    async def _replay(self, ws: web.WebSocketResponse, wanted: set[str]) -> None:
        config = self.config
        sent_here = 0
        base: tuple[float, int] | None = None
        if config.start_on_snapshot:
            await self._snapshot_asked.wait()
        while not ws.closed:
            line = self._next()
            if line is None:
                self.finished = True
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"end of capture")
                return
            if wanted and line.stream not in wanted:
                continue
            if config.speed > 0:
                if base is None:
                    base = (time.monotonic(), line.received_ns)
                due = base[0] + (line.received_ns - base[1]) / 1e9 / config.speed
                delay = due - time.monotonic()
                if delay > MIN_SLEEP_S:  # shorter waits are batched: a sleep costs ~1 ms
                    await asyncio.sleep(delay)
            for message in self._outgoing(line):
                await ws.send_str(message.raw)
                self.stats.sent += 1
                sent_here += 1
                if config.malformed_every and self.stats.sent % config.malformed_every == 0:
                    await ws.send_str(MALFORMED[self.stats.malformed % len(MALFORMED)])
                    self.stats.malformed += 1
            if config.disconnect_after and sent_here >= config.disconnect_after:
                self.stats.disconnects += 1
                for _ in range(config.disconnect_skip):
                    self._next()
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"injected disconnect")
                return

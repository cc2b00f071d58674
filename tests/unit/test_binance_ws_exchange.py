"""The test exchange on a tiny hand-made capture: what it sends, what its snapshot says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from gateways.venue.binance_exchange import BinanceTestExchange, ExchangeConfig


def _depth(first: int, final: int, bid: str, qty: str) -> dict[str, Any]:
    return {"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": final,
        "b": [[bid, qty]], "a": []}}


def _capture(tmp_path: Path) -> Path:
    lines = [_depth(95, 99, "99.00", "1"),  # before the snapshot: already in it
             {"lastUpdateId": 100, "bids": [["100.00", "1"]], "asks": [["101.00", "1"]]},
             _depth(101, 102, "100.10", "2"), _depth(103, 104, "100.20", "3"),
             _depth(105, 106, "100.10", "0"), _depth(107, 108, "100.30", "4")]
    path = tmp_path / "capture.txt"
    path.write_text("".join(f"{1_000 + i} {json.dumps(line)}\n" for i, line in enumerate(lines)))
    return path


async def _session(exchange: BinanceTestExchange, before: int = 0) \
        -> tuple[list[Any], list[dict[str, Any]]]:
    """Messages received on one connection, and snapshots taken after ``before`` of them."""
    received: list[Any] = []
    snapshots = []
    async with aiohttp.ClientSession() as session:
        if before == 0:
            async with session.get(f"{exchange.url}/api/v3/depth",
                                   params={"symbol": "BTCUSDT", "limit": "5"}) as response:
                snapshots.append(await response.json())
        async with session.ws_connect(f"{exchange.url.replace('http', 'ws')}/stream") as ws:
            async for message in ws:
                received.append(json.loads(message.data)["data"])
                if len(received) == before:
                    async with session.get(f"{exchange.url}/api/v3/depth",
                                           params={"symbol": "btcusdt"}) as response:
                        snapshots.append(await response.json())
    return received, snapshots


async def test_the_snapshot_follows_the_replay_including_lost_updates(tmp_path: Path) -> None:
    exchange = BinanceTestExchange(ExchangeConfig([_capture(tmp_path)], speed=0, gap_every=3))
    await exchange.start()
    try:
        received, snapshots = await _session(exchange)
    finally:
        await exchange.stop()
    assert snapshots[0]["lastUpdateId"] == 100
    assert snapshots[0]["bids"] == [["100.00", "1"]]
    # Depth updates are counted from the capture's first: the third (103-104) is lost.
    assert [m["u"] for m in received] == [99, 102, 106, 108]
    assert exchange.stats.gaps == 1 and exchange.finished


async def test_a_snapshot_mid_replay_is_at_the_replay_position(tmp_path: Path) -> None:
    exchange = BinanceTestExchange(ExchangeConfig([_capture(tmp_path)], speed=0))
    await exchange.start()
    try:
        received, snapshots = await _session(exchange, before=5)
    finally:
        await exchange.stop()
    assert [m["u"] for m in received] == [99, 102, 104, 106, 108]
    # At least everything received is in it (the server may have read one line further).
    assert snapshots[0]["lastUpdateId"] >= 108
    assert snapshots[0]["bids"] == [["100.30", "4"], ["100.20", "3"], ["100.00", "1"]]


async def test_duplicates_reordering_and_disconnects(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    duplicated = BinanceTestExchange(ExchangeConfig([path], speed=0, duplicate_every=2))
    reordered = BinanceTestExchange(ExchangeConfig([path], speed=0, reorder_every=2))
    dropped = BinanceTestExchange(ExchangeConfig([path], speed=0, disconnect_after=2,
                                                 disconnect_skip=1))
    sequences = []
    for exchange in (duplicated, reordered, dropped):
        await exchange.start()
        try:
            sequences.append([m["u"] for m in (await _session(exchange))[0]])
        finally:
            await exchange.stop()
    assert sequences[0] == [99, 102, 102, 104, 106, 106, 108]
    assert sequences[1] == [99, 104, 102, 108, 106]
    assert sequences[2] == [99, 102]  # then closed; 104 is skipped while nobody listens
    assert dropped.stats.disconnects == 1


def test_the_cli_rejects_a_missing_capture_with_a_hint(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "service", "feed-server", "--data",
                             str(tmp_path / "absent.gz")], capture_output=True, text=True,
                            check=False, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2, result.stderr
    assert "no capture file" in result.stderr and "--data" in result.stderr

"""The order acknowledgement round trip over FIX, beside bare quickfix doing the same exchange.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_fix_roundtrip``). Two measurements on
127.0.0.1, in the same run, with the same session settings (FIX 4.4, FileStore and FileLog, data
dictionary validation) and the same topology: the answering side runs in a process of its own
(this script started again with ``--serve``), as the venue does in production (``execagent
venue``), so the two sides do not share one interpreter lock.

- **service**: the service's ``FixOrderGateway`` sends a NewOrderSingle to the simulated venue
  (``SimulatedVenue``, order latency 0); timed from just before ``gateway.send`` to the
  arrival of the venue's ExecutionReport New in the gateway's ``fromApp`` (the stamp the
  gateway hands the engine). The order is a day limit far below the touch: it rests, and the
  venue answers it with the New alone, as the floor's acceptor does. After each block the
  block's orders are cancelled (untimed; their Canceled reports awaited), so the book stays
  small. The venue's market is still (no crowd flow), so what is timed is the order path.
- **floor**: two bare quickfix sessions: an initiator builds the same NewOrderSingle with
  quickfix as it comes (a ``setField`` per field, bench/_plain_fix.py; inside the timing, as
  ``gateway.send`` builds its own) and sends it; an acceptor
  answers each with an ExecutionReport New from inside its ``fromApp``. No parsing into domain
  objects, no threads of our own, no asyncio, quickfix's own FileLog.

Both pairs of sessions stay logged on for the whole run, and the round trips alternate between
them in blocks of ``BLOCK`` (floor first in one block pair, service first in the next), so a
spell of the VM's noise falls on both measurements alike instead of on whichever ran during it.

Goal: the service's p50 and p99 at most 1.3 times the floor's; the script exits 1 when
either is missed. Timing goals live here, never in the tests.

Also printed: the CPU time each side's process spent per timed round trip (``time.process_time``
in this process, ``/proc/<pid>/stat`` for the answering one, summed over the blocks), which says
what the code costs whatever else the machine is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import quickfix as fix

from bench._plain_fix import plain_new_order_single
from bench._timing import percentile, report
from core.domain import (
    CancelOrder,
    ExecType,
    ExecutionReport,
    Instrument,
    NewOrder,
    OrdType,
    Side,
    TimeInForce,
)
from gateways.fix.gateway import FixOrderGateway
from gateways.fix.settings import SessionSpec, owned_session_id, write_settings
from gateways.venue.config import VenueClient, VenueConfig, VenueSymbol
from gateways.venue.venue import SimulatedVenue
from service.net import free_port
from sim.matching import Fill, OrderBook

ROUND_TRIPS = 10_000
WARMUP = 300
BLOCK = 200  # timed round trips of one side before the other side's turn
BLOCK_WARMUP = 20  # untimed round trips that start each block: the side's code is warm again
GOAL_RATIO = 1.3
BLOCK_DEADLINE_S = 30.0  # for one block of the service's round trips: ~30 ms when all is well
GOOG = Instrument("GOOG", Decimal("0.01"))
BID, ASK = 58_000, 58_002
FAR_BELOW = 50_000  # a buy limit there rests: it never trades against the still book


class StillMarket:
    """An order flow with a two-sided book and no events: the venue's flow thread sleeps."""

    def seed_book(self, book: OrderBook, start_ns: int) -> None:
        for level, order_id in zip(range(5), itertools.count(10**9), strict=False):
            book.add_limit(order_id, Side.BUY, BID - level, 500, start_ns)
            book.add_limit(order_id + 100, Side.SELL, ASK + level, 500, start_ns)

    def next_time_ns(self) -> int:
        return 2**62

    def apply_next(self, book: OrderBook) -> list[Fill]:
        return []


def _order(n: int) -> NewOrder:
    return NewOrder(f"B{n}", "P", "GOOG", Side.BUY, 100, FAR_BELOW, OrdType.LIMIT,
                    TimeInForce.DAY)


# --- the answering sides, each run in its own process ---------------------------------------------
def _serve_venue(port: int, state_dir: Path) -> Callable[[], None]:
    venue = SimulatedVenue(
        VenueConfig(port=port, clients=[VenueClient(comp_id="BENCH")],
                    symbols=[VenueSymbol(symbol="GOOG", tick_size=GOOG.tick_size,
                                         start_price=Decimal("580.01"))],
                    state_dir=state_dir / "venue"),
        flows={"GOOG": StillMarket()})
    venue.start()
    gc.collect()
    gc.freeze()  # as `execagent venue` does once listening
    return venue.stop


def _serve_floor(port: int, state_dir: Path) -> Callable[[], None]:
    spec = SessionSpec("acceptor", "FIX.4.4", "FLOOR-A", "FLOOR-I", "127.0.0.1", port,
                       state_dir / "floor-acceptor", heartbeat_seconds=30)
    settings = write_settings([spec], spec.state_dir / "acceptor.cfg")
    parts = [settings, fix.FileStoreFactory(settings), fix.FileLogFactory(settings)]
    acceptor = fix.ThreadedSocketAcceptor(_Acceptor(), parts[1], settings, parts[2])
    acceptor.start()

    def stop() -> None:
        acceptor.stop()
        del parts[:]  # quickfix holds references only: the parts must outlive the acceptor

    return stop


def _serve(role: str, port: int, state_dir: Path, cpus: set[int]) -> int:
    """``--serve ROLE PORT DIR CPUS``: answer until stdin closes (the parent ends the run)."""
    if cpus:
        os.sched_setaffinity(0, cpus)  # before quickfix starts: its threads inherit it
    stop = (_serve_venue if role == "venue" else _serve_floor)(port, state_dir)
    print("ready", flush=True)
    sys.stdin.read()
    stop()
    return 0


def split_cpus() -> tuple[set[int], set[int]]:
    """(the measuring process's CPUs, the answering process's): the last CPU this process may
    use for the answering side, the rest for this one; both empty (no pinning) on one CPU.

    Why bench/bench_tick_to_wire.py uses it: the venue stands for another machine. Left to the
    scheduler on this 2-core VM, the venue's thread woken by an order on loopback ran on the
    engine's core and preempted it inside ``sendToTarget`` (perf's sched_switch: the engine
    runnable, switched out on return from ``send``), so the call returned only once the venue
    had answered (``python -m bench.tick_probe stages --pin none|both``: median
    ``sendToTarget`` of an order-sending tick 327 against 110 µs). This bench does not pin
    (``answering(..., pin=False)``): tried, no setting did better for the service's ratio than
    the run-to-run spread, and with both of the gateway's threads on one core some runs stalled
    for milliseconds at p99, floor and service alike (docs/benchmarks.md). Neither side here
    does a tick's work around the send."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(), set()
    return set(cpus[:-1]), {cpus[-1]}


@dataclass(frozen=True)
class Answerer:
    """The answering side's process: where it listens, and its CPU time so far."""

    port: int
    pid: int

    def cpu_s(self) -> float:
        """User plus system time of the process (``/proc/<pid>/stat``, clock ticks)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def answering(role: str, state_dir: Path, pin: bool = False) -> Iterator[Answerer]:
    """The answering side ``role`` ("venue": the simulated venue on a still book, client
    CompID BENCH; "floor": a bare acceptor) in its own process. With ``pin``, on a CPU of its
    own, while this thread (and the threads it starts, quickfix's among them) keeps to the
    others (``split_cpus``)."""
    own, theirs = split_cpus() if pin else (set(), set())
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", __spec__.name, "--serve", role, str(port),
                              str(state_dir), ",".join(map(str, sorted(theirs)))],
                             cwd=Path(__file__).resolve().parents[1],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    before = os.sched_getaffinity(0)
    try:
        if own:
            os.sched_setaffinity(0, own)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield Answerer(port, child.pid)
    finally:
        os.sched_setaffinity(0, before)
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


@contextlib.contextmanager
def serving(role: str, state_dir: Path, pin: bool = False) -> Iterator[int]:
    """``answering``, yielding only the port. bench/bench_tick_to_wire.py runs its venue
    this way, pinned."""
    with answering(role, state_dir, pin) as answerer:
        yield answerer.port


@dataclass
class CpuPerTrip:
    """CPU time of the sending and the answering process over the timed round trips."""

    sender_s: float = 0.0
    answerer_s: float = 0.0
    trips: int = 0

    @contextlib.contextmanager
    def measuring(self, answerer: Answerer, trips: int) -> Iterator[None]:
        """Add the CPU both processes spend inside the block (``trips`` round trips)."""
        sender0, answerer0 = time.process_time(), answerer.cpu_s()
        yield
        self.sender_s += time.process_time() - sender0
        self.answerer_s += answerer.cpu_s() - answerer0
        self.trips += trips

    @property
    def sender_us(self) -> float:
        return self.sender_s / max(1, self.trips) * 1e6

    @property
    def answerer_us(self) -> float:
        return self.answerer_s / max(1, self.trips) * 1e6


# --- the service's gateway against the simulated venue --------------------------------------------
class _Reports:
    """The gateway's sink in this bench: resolves a future per (ClOrdID, ExecType) the loop
    registered before sending, with the arrival stamp the gateway hands the engine.

    Why not an ``asyncio.Queue`` read through ``asyncio.wait_for``: that is a Task and a timer
    per awaited report, event-loop work right after each send, holding the interpreter lock
    when the venue's answer arrives on the gateway's quickfix thread, which then waits for it
    (the service's p50 fell from 222-271 to 187-196 µs with these futures, same service code:
    docs/benchmarks.md). That is the harness's cost, not the gateway's; the service's engine
    takes each report in the sink's callback the same way."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._awaited: dict[tuple[str, ExecType], asyncio.Future[int]] = {}

    def expect(self, cl_ord_id: str, exec_type: ExecType) -> asyncio.Future[int]:
        future: asyncio.Future[int] = self._loop.create_future()
        self._awaited[(cl_ord_id, exec_type)] = future
        return future

    def __call__(self, event: object, received_ns: int) -> None:
        if isinstance(event, ExecutionReport):
            future = self._awaited.pop((event.cl_ord_id, event.exec_type), None)
            if future is not None:
                future.set_result(received_ns)


class ServiceSide:
    """The service's gateway logged on to the simulated venue, sending blocks of orders."""

    def __init__(self, venue: Answerer, state_dir: Path) -> None:
        self.venue = venue
        self.cpu = CpuPerTrip()
        self._reports = _Reports(asyncio.get_running_loop())
        spec = SessionSpec("initiator", "FIX.4.4", "BENCH", "SIMVENUE", "127.0.0.1", venue.port,
                           state_dir / "gateway", heartbeat_seconds=30)
        self._gateway = FixOrderGateway(spec, {"GOOG": GOOG}, asyncio.get_running_loop(),
                                        self._reports)
        self._order_numbers = itertools.count()
        self._cancel_ids = itertools.count()

    async def start(self) -> None:
        self._gateway.start()
        if not await self._gateway.wait_logged_on(10):
            raise RuntimeError("the gateway did not log on to the simulated venue")

    def stop(self) -> None:
        self._gateway.stop()

    async def block(self, trips: int, timed: bool) -> list[int]:
        """``trips`` orders: the round trip of each (with ``timed``, under the CPU count),
        then, untimed, a cancel for each, awaited."""
        samples: list[int] = []
        orders = [_order(next(self._order_numbers)) for _ in range(trips)]
        # One deadline for the block (a lost report fails the bench), not a timer per trip.
        async with asyncio.timeout(BLOCK_DEADLINE_S):
            with self.cpu.measuring(self.venue, trips) if timed else contextlib.nullcontext():
                for order in orders:
                    new = self._reports.expect(order.cl_ord_id, ExecType.NEW)
                    sent = time.perf_counter_ns()
                    if not self._gateway.send(order, time.time_ns()):
                        raise RuntimeError("the gateway could not send")
                    samples.append(await new - sent)
            for order in orders:
                cancel = CancelOrder(f"C{next(self._cancel_ids)}", order.cl_ord_id, "P",
                                     "GOOG", order.side, order.qty)
                canceled = self._reports.expect(cancel.cl_ord_id, ExecType.CANCELED)
                if not self._gateway.send(cancel, time.time_ns()):
                    raise RuntimeError("the gateway could not send")
                await canceled
        return samples


# --- bare quickfix: the floor ---------------------------------------------------------------------
class _Acceptor(fix.Application):
    """Answers each NewOrderSingle with an ExecutionReport New, inline."""

    def __init__(self) -> None:
        super().__init__()
        self.exec_ids = itertools.count(1)

    def onCreate(self, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def onLogon(self, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def onLogout(self, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        report = fix.Message()
        report.getHeader().setField(35, "8")
        for tag, value in ((37, "O1"), (11, message.getField(11)),
                           (17, f"X{next(self.exec_ids)}"), (150, "0"), (39, "0"),
                           (55, message.getField(55)), (54, message.getField(54)),
                           (38, message.getField(38)), (40, "2"), (44, message.getField(44)),
                           (151, message.getField(38)), (14, "0"), (6, "0"),
                           (60, message.getField(60))):
            report.setField(tag, value)
        fix.Session.sendToTarget(report, sessionID)


class _Initiator(fix.Application):
    """Sends and stamps the arrival of each answer; nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.session_id: fix.SessionID | None = None
        self.logged_on = threading.Event()
        self.answered = threading.Event()
        self.answered_ns = 0

    def onCreate(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.session_id = owned_session_id(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.logged_on.set()

    def onLogout(self, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803
    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None: ...  # noqa: N802, N803

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:  # noqa: N802, N803
        self.answered_ns = time.perf_counter_ns()
        self.answered.set()


class FloorSide:
    """Two bare quickfix sessions (this process's initiator, the answering process's
    acceptor), sending blocks of orders."""

    def __init__(self, acceptor: Answerer, state_dir: Path) -> None:
        self.acceptor = acceptor
        self.cpu = CpuPerTrip()
        spec = SessionSpec("initiator", "FIX.4.4", "FLOOR-I", "FLOOR-A", "127.0.0.1",
                           acceptor.port, state_dir / "floor-initiator", heartbeat_seconds=30)
        self._app = _Initiator()
        settings = spec.settings()
        # quickfix holds references only: the parts must outlive the initiator.
        self._parts = (settings, fix.FileStoreFactory(settings), fix.FileLogFactory(settings))
        self._initiator = fix.SocketInitiator(self._app, self._parts[1], settings,
                                              self._parts[2])
        self._order_numbers = itertools.count()

    def start(self) -> None:
        self._initiator.start()
        if not self._app.logged_on.wait(10):
            raise RuntimeError("the floor's sessions did not log on")

    def stop(self) -> None:
        self._initiator.stop()

    def block(self, trips: int, timed: bool) -> list[int]:
        """``trips`` orders, each timed to its answer's arrival."""
        session_id = self._app.session_id
        assert session_id is not None
        samples: list[int] = []
        with self.cpu.measuring(self.acceptor, trips) if timed else contextlib.nullcontext():
            for _ in range(trips):
                n = next(self._order_numbers)
                self._app.answered.clear()
                sent = time.perf_counter_ns()  # the message is built inside the timing
                message = plain_new_order_single(_order(n), GOOG, time.time_ns())
                fix.Session.sendToTarget(message, session_id)
                if not self._app.answered.wait(10):
                    raise RuntimeError("the floor's acceptor did not answer")
                samples.append(self._app.answered_ns - sent)
        return samples


async def _interleaved(acceptor: Answerer, venue: Answerer,
                       state_dir: Path) -> tuple[FloorSide, list[int], ServiceSide, list[int]]:
    """Warm both up, then alternate blocks: ``BLOCK_WARMUP`` untimed round trips and ``BLOCK``
    timed ones, the floor's block first in every other pair. The untimed start keeps the switch
    from one side's code to the other's out of the samples: a cost both sides would pay, which
    would bring the ratio toward 1. The floor's blocking waits hold up the event loop, which the
    gateway does not need between its own blocks (heartbeats are 30 s apart)."""
    floor_side, service_side = FloorSide(acceptor, state_dir), ServiceSide(venue, state_dir)
    floor_side.start()
    await service_side.start()
    floor: list[int] = []
    service: list[int] = []

    def floor_block() -> None:
        floor_side.block(BLOCK_WARMUP, timed=False)
        floor.extend(floor_side.block(BLOCK, timed=True))

    async def service_block() -> None:
        await service_side.block(BLOCK_WARMUP, timed=False)
        service.extend(await service_side.block(BLOCK, timed=True))

    try:
        floor_side.block(WARMUP, timed=False)
        await service_side.block(WARMUP, timed=False)
        gc.collect()
        gc.freeze()  # as the service does once started (service/app.py); the floor alike
        for pair in range(ROUND_TRIPS // BLOCK):
            if pair % 2 == 0:
                floor_block()
            await service_block()
            if pair % 2 == 1:
                floor_block()
    finally:
        service_side.stop()
        floor_side.stop()
    return floor_side, floor, service_side, service


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    if sys.argv[1:2] == ["--serve"]:
        cpus = {int(cpu) for cpu in sys.argv[5].split(",") if cpu}
        return _serve(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), cpus)
    with contextlib.ExitStack() as stack:
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fix-")))
        acceptor = stack.enter_context(answering("floor", state_dir))
        venue = stack.enter_context(answering("venue", state_dir))
        floor_side, floor, service_side, service = asyncio.run(
            _interleaved(acceptor, venue, state_dir))
    report(f"FIX order acknowledgement round trip on 127.0.0.1 ({ROUND_TRIPS:,} each, "
           f"in alternating blocks of {BLOCK})",
           {"floor: bare quickfix NewOrderSingle -> ExecutionReport": floor,
            "service: gateway -> simulated venue -> ExecutionReport New": service})
    print(f"CPU per round trip: floor {floor_side.cpu.sender_us:.0f} µs initiator + "
          f"{floor_side.cpu.answerer_us:.0f} µs acceptor; service "
          f"{service_side.cpu.sender_us:.0f} µs gateway + {service_side.cpu.answerer_us:.0f} µs "
          "venue")
    met = True
    for q in (50, 99):
        floor_q = percentile(sorted(floor), q)
        service_q = percentile(sorted(service), q)
        ratio = service_q / floor_q
        met &= ratio <= GOAL_RATIO
        verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
        print(f"p{q}: service {service_q / 1000:.1f} µs / floor {floor_q / 1000:.1f} µs = "
              f"{ratio:.2f}x (goal <= {GOAL_RATIO}x) -> {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

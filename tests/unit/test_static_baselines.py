"""VWAP, Almgren-Chriss and POV baselines, the volume profile they use, and the engine's count of
market volume POV follows. (TWAP's own tests are in test_baselines.py.)"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.depth_book import DepthBook
from core.domain import BookUpdate, Instrument, MarketData, ParentOrder, Side, Trade
from models.actions import WAIT, Action, ActionKind
from models.baselines import (
    DEFAULT_POV_RATE,
    DEFAULT_SIGMA_BPS,
    AlmgrenChrissParams,
    AlmgrenChrissPolicy,
    PassiveFrontPolicy,
    PovPolicy,
    TwapPolicy,
    VwapPolicy,
    almgren_chriss_fraction,
)
from models.names import ALL_BASELINE_NAMES, BASELINE_NAMES, RULE_BASELINE_NAMES
from models.policy import DecisionContext
from models.registry import POLICY_NAMES, make_policy
from service.engine import Engine
from service.metrics import Metrics
from service.state.store import MemoryStore
from sim import profile as profiles
from sim.lobster import open_sample
from sim.profile import ProfileFormatError, VolumeProfile, volume_profile
from tests.support.risk import make_overlay, roomy

SECOND = 10**9
ROOT = Path(__file__).resolve().parents[2]
GOOG = ROOT.parent / "shared" / "data" / "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
LOBSTER_NAME = "AAA_2012-06-21_34200000_57600000_{kind}_2.csv"
# Parents below run 100 s in 10 slices of 10 s from the Unix epoch: 00:00 UTC.
QTY, N_SLICES, HORIZON_S = 1000, 10, 100
# Heavy first half: 80% of the volume in [0, 50) s after midnight UTC, 20% in [50, 100).
FRONT_HEAVY = VolumeProfile(50, (0.8, 0.2), open_seconds=0, utc_offset_hours=0)


def _ctx(now_s: float, filled: int = 0, ioc: int = 0, market_volume: int = 0,
         qty: int = QTY, start_s: float = 0) -> DecisionContext:
    start_ns = int(start_s * SECOND)
    parent = ParentOrder("P", "GOOG", Side.SELL, qty, start_ns, start_ns + HORIZON_S * SECOND,
                         "test")
    parent.filled = filled
    book = _book()
    return DecisionContext(np.zeros(12, np.float32), parent, book,
                           start_ns + int(now_s * SECOND), qty // N_SLICES, N_SLICES, 0, ioc,
                           market_volume)


def _book() -> DepthBook:
    book = DepthBook("GOOG")
    book.apply(BookUpdate("GOOG", Side.BUY, 100, 10, 0))
    book.apply(BookUpdate("GOOG", Side.SELL, 101, 10, 0))
    return book


def _grid() -> list[tuple[float, int, int]]:
    """Times across every slice and fill states around the schedules' steps."""
    return [(now, filled, ioc) for now in np.arange(0.0, 100.0, 2.5)
            for filled in (0, 50, 100, 160, 300, 500, 800, 990) for ioc in (0, 30)]


# --- VWAP ------------------------------------------------------------------------------------
def test_vwap_schedule_at_start_middle_and_end() -> None:
    vwap = VwapPolicy(FRONT_HEAVY)
    # Cumulative share at slice k: 0.16 k up to 50 s, then 0.8 + 0.04 (k - 5).
    assert [vwap.target(_ctx(0), k) for k in range(11)] == \
        [0, 160, 320, 480, 640, 800, 840, 880, 920, 960, 1000]
    assert vwap.act(_ctx(0)) == Action(ActionKind.REST_NEAR, 160)  # rests the first slice
    assert vwap.act(_ctx(50, filled=800)) == Action(ActionKind.REST_NEAR, 40)
    assert vwap.act(_ctx(50, filled=700)) == Action(ActionKind.CROSS, 100)  # slice 5 left 100
    assert vwap.act(_ctx(50, filled=700, ioc=100)) == Action(ActionKind.REST_NEAR, 40)
    assert vwap.act(_ctx(99, filled=960)) == Action(ActionKind.REST_NEAR, 40)  # the last slice
    assert vwap.act(_ctx(99, filled=1000)) == WAIT


def test_vwap_trades_more_in_heavy_buckets_than_twap() -> None:
    vwap, twap = VwapPolicy(FRONT_HEAVY), TwapPolicy(passive=True)
    vwap_rest = vwap.act(_ctx(0)).qty
    twap_rest = twap.act(_ctx(0)).qty
    assert vwap_rest > twap_rest  # heavy bucket: more than the flat slice
    light = vwap.act(_ctx(55, filled=800)).qty
    assert light < twap_rest  # light bucket: less
    # A back-heavy profile mirrors it.
    back = VwapPolicy(VolumeProfile(50, (0.2, 0.8), open_seconds=0, utc_offset_hours=0))
    assert back.act(_ctx(0)).qty < twap_rest


def test_vwap_spreads_a_bucket_evenly_when_the_horizon_starts_inside_it() -> None:
    # Start 25 s into the heavy bucket: [25, 50) holds 0.4 (0.016 a second), [50, 100) holds
    # 0.2 (0.004 a second) and [100, 125), past the profile's close, nothing: 0.6 in all.
    vwap = VwapPolicy(FRONT_HEAVY)
    targets = [vwap.target(_ctx(0, start_s=25), k) for k in range(11)]
    assert targets[1] == 266  # 10 s x 0.016 / 0.6
    assert targets[2] == 533
    assert targets[3] == 700  # 0.4 + 5 s x 0.004, over 0.6
    assert targets[8:] == [1000, 1000, 1000]  # done when the profile's day is


def test_vwap_without_a_profile_is_passive_twap() -> None:
    vwap, twap = VwapPolicy(), TwapPolicy(passive=True)
    for now, filled, ioc in _grid():
        assert vwap.act(_ctx(now, filled, ioc)) == twap.act(_ctx(now, filled, ioc)), (now, filled)


def test_vwap_outside_the_profiles_day_is_passive_twap() -> None:
    # The profile covers 09:30-16:00 New York; the parents run at 20:00 New York.
    day = VolumeProfile(300, (0.5, 0.25, 0.25), open_seconds=34_200)
    vwap, twap = VwapPolicy(day), TwapPolicy(passive=True)
    for now, filled, ioc in _grid():
        assert vwap.act(_ctx(now, filled, ioc)) == twap.act(_ctx(now, filled, ioc))


# --- Almgren-Chriss --------------------------------------------------------------------------
def test_kappa_is_the_closed_form() -> None:
    assert AlmgrenChrissParams(sigma=2.0, eta=0.5, risk_aversion=0.125).kappa == 1.0
    assert AlmgrenChrissParams(risk_aversion=0.0).kappa == 0.0


@pytest.mark.parametrize("kwargs", [{"eta": 0.0}, {"sigma": -1.0}, {"risk_aversion": -1e-6},
                                    {"sigma": math.nan}])
def test_bad_almgren_chriss_params_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Almgren-Chriss"):
        AlmgrenChrissParams(**kwargs)


def test_trajectory_matches_sinh_form_and_is_monotone_and_front_loaded() -> None:
    kappa, horizon = 0.02, 100.0
    times = np.linspace(0.0, horizon, 201)
    done = [almgren_chriss_fraction(kappa, t, horizon) for t in times]
    for t, value in zip(times, done, strict=True):
        expected = 1 - math.sinh(kappa * (horizon - t)) / math.sinh(kappa * horizon)
        assert value == pytest.approx(expected, abs=1e-12)
    assert done[0] == 0.0 and done[-1] == pytest.approx(1.0, abs=1e-15)
    assert all(b > a for a, b in itertools.pairwise(done))
    assert all(value > t / horizon for t, value in zip(times[1:-1], done[1:-1], strict=True))
    # No overflow where sinh itself would: almost everything goes at once.
    assert almgren_chriss_fraction(50.0, 1.0, 1000.0) == pytest.approx(1.0)
    assert almgren_chriss_fraction(50.0, 0.01, 1000.0) == pytest.approx(1 - math.exp(-0.5))


def test_almgren_chriss_schedule_at_start_middle_and_end() -> None:
    # kappa = 0.02 per second, kappa T = 2.
    ac = AlmgrenChrissPolicy(AlmgrenChrissParams(sigma=1.0, eta=1.0, risk_aversion=4e-4))
    targets = [ac.target(_ctx(0), k) for k in range(11)]
    assert targets[0] == 0 and targets[-1] == QTY
    assert all(b > a for a, b in itertools.pairwise(targets))
    assert targets[1] == math.floor(QTY * (1 - math.sinh(1.8) / math.sinh(2.0)))
    assert targets[5] > QTY // 2  # front-loaded: more than half by half-time
    assert ac.act(_ctx(0)) == Action(ActionKind.REST_NEAR, targets[1])
    assert ac.act(_ctx(50, filled=targets[5] - 30)) == Action(ActionKind.CROSS, 30)
    assert ac.act(_ctx(50, filled=targets[5])) == \
        Action(ActionKind.REST_NEAR, targets[6] - targets[5])
    assert ac.act(_ctx(99, filled=targets[9])) == Action(ActionKind.REST_NEAR, QTY - targets[9])


def test_more_risk_aversion_front_loads_more() -> None:
    targets = [[AlmgrenChrissPolicy(AlmgrenChrissParams(1.0, 1.0, lam)).target(_ctx(0), k)
                for k in range(1, 10)] for lam in (1e-5, 1e-4, 1e-3)]
    for low, high in itertools.pairwise(targets):
        assert all(h >= lo for lo, h in zip(low, high, strict=True))
        assert any(h > lo for lo, h in zip(low, high, strict=True))


@pytest.mark.parametrize("risk_aversion", [0.0, 1e-30, 1e-10])
def test_almgren_chriss_with_kappa_near_zero_is_passive_twap(risk_aversion: float) -> None:
    # kappa T: 0 (exactly), 1e-13 (below the linear cut-off), 1e-3 (sinh form, < 1 share off).
    ac = AlmgrenChrissPolicy(AlmgrenChrissParams(1.0, 1.0, risk_aversion))
    twap = TwapPolicy(passive=True)
    for now, filled, ioc in _grid():
        assert ac.act(_ctx(now, filled, ioc)) == twap.act(_ctx(now, filled, ioc)), (now, filled)


def test_params_from_the_shipped_calibration_use_the_default_sigma() -> None:
    # The calibration file holds order-flow parameters, no volatility.
    params = AlmgrenChrissParams.from_calibration(ROOT / "sim" / "params" / "GOOG_2012-06-21.json")
    assert params == AlmgrenChrissParams()
    assert params.sigma == DEFAULT_SIGMA_BPS


def test_params_from_calibration_take_sigma_when_present(tmp_path: Path) -> None:
    bps = tmp_path / "bps.json"
    bps.write_text(json.dumps({"params": {"start_price": 58_000}, "sigma_bps_per_sqrt_s": 1.5}))
    assert AlmgrenChrissParams.from_calibration(bps, risk_aversion=2e-6) == \
        AlmgrenChrissParams(1.5, 0.1, 2e-6)
    ticks = tmp_path / "ticks.json"
    ticks.write_text(json.dumps({"params": {"start_price": 58_000,
                                            "sigma_ticks_per_sqrt_s": 2.9}}))
    assert AlmgrenChrissParams.from_calibration(ticks).sigma == pytest.approx(0.5)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json"):
        AlmgrenChrissParams.from_calibration(broken)


# --- POV -------------------------------------------------------------------------------------
def test_pov_follows_market_volume() -> None:
    pov = PovPolicy()  # 10%, slice 100
    assert pov.rate == DEFAULT_POV_RATE == 0.1
    assert pov.act(_ctx(5, market_volume=0)) == WAIT
    assert pov.act(_ctx(5, market_volume=500)) == Action(ActionKind.REST_NEAR, 50)
    assert pov.act(_ctx(5, market_volume=999)) == Action(ActionKind.REST_NEAR, 99)
    assert pov.act(_ctx(5, market_volume=1000)) == Action(ActionKind.REST_NEAR, 100)
    assert pov.act(_ctx(5, market_volume=1010)) == Action(ActionKind.CROSS, 101)  # > a slice
    assert pov.act(_ctx(50, filled=250, market_volume=3000)) == Action(ActionKind.REST_NEAR, 50)
    assert pov.act(_ctx(50, filled=250, ioc=50, market_volume=3000)) == WAIT
    assert pov.act(_ctx(50, filled=400, market_volume=3000)) == WAIT  # ahead: never sells back
    # Capped at the parent: at the end only the remainder.
    assert pov.act(_ctx(99, filled=990, market_volume=10**6)) == Action(ActionKind.REST_NEAR, 10)
    assert PovPolicy(0.25).act(_ctx(5, market_volume=200)) == Action(ActionKind.REST_NEAR, 50)


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, math.inf])
def test_pov_rate_must_be_a_share(rate: float) -> None:
    with pytest.raises(ValueError, match="POV rate"):
        PovPolicy(rate)


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.volumes: list[int] = []

    def act(self, ctx: DecisionContext) -> Action:
        self.volumes.append(ctx.market_volume)
        return WAIT


class _NoSend:
    def send(self, intent: object, now_ns: int) -> bool:
        return True


def test_engine_counts_market_volume_from_the_parents_start() -> None:
    instruments = {"GOOG": Instrument("GOOG", Decimal("0.01"))}
    engine = Engine(instruments, make_overlay(roomy()), _NoSend(), MemoryStore(), Metrics())
    recorder = _Recorder()
    start = 10 * SECOND
    engine.submit(ParentOrder("P", "GOOG", Side.SELL, 1000, start, start + 100 * SECOND,
                              "recorder"), recorder)
    quotes = (BookUpdate("GOOG", Side.BUY, 57_999, 500, 0),
              BookUpdate("GOOG", Side.SELL, 58_001, 500, 0))

    def tick(ts_s: float, *sizes: int) -> None:
        ts = int(ts_s * SECOND)
        trades = tuple(Trade("GOOG", 58_001, size, Side.BUY, ts) for size in sizes)
        engine.on_market_data(MarketData("GOOG", ts, quotes, trades), 0)

    tick(1, 300)  # before the start: not counted, and no decision
    tick(10, 40, 60)  # at the start: counted
    tick(11)
    tick(12, 7)
    assert recorder.volumes == [100, 100, 107]
    assert engine.errors == 0


# --- volume profiles -------------------------------------------------------------------------
def _write_sample(folder: Path, messages: list[str]) -> Path:
    (folder / LOBSTER_NAME.format(kind="message")).write_text("\n".join(messages) + "\n")
    (folder / LOBSTER_NAME.format(kind="orderbook")).write_text(
        "\n".join(["5851300,10,5851200,100,5851400,5,-9999999999,0"] * len(messages)) + "\n")
    return folder


def test_profile_from_a_lobster_sample_counts_executions_per_bucket(tmp_path: Path) -> None:
    sample = open_sample(_write_sample(tmp_path, [
        "34100,4,9,500,5851200,1",  # before the open: left out
        "34200,1,11,100,5851200,1",  # a submission: not volume
        "34200.5,4,11,40,5851200,1",  # bucket 0
        "34500,5,0,60,5851250,-1",  # hidden, bucket 1
        "34799.9,4,11,20,5851200,1",  # bucket 1
        "34800,3,11,40,5851200,1",  # a deletion: not volume
        "35100,4,12,80,5851300,-1",  # bucket 3
        "57599,6,0,1000,5851200,1",  # the closing cross: left out
    ]))
    profile = volume_profile(sample)
    assert (profile.bucket_seconds, profile.open_seconds, profile.utc_offset_hours) == \
        (300, 34_200, -4)
    assert len(profile.fractions) == 78  # 09:30-16:00 from the file name
    assert profile.fractions[:4] == (0.2, 0.4, 0.0, 0.4)
    assert sum(profile.fractions[4:]) == 0
    coarse = volume_profile(sample, bucket_seconds=600)
    assert coarse.fractions[:2] == (0.6, 0.4) and len(coarse.fractions) == 39


def test_profile_maps_epoch_times_to_the_exchanges_day() -> None:
    profile = VolumeProfile(100, (0.5, 0.5), open_seconds=34_200)
    open_ns = int(dt.datetime(2012, 6, 21, 13, 30, tzinfo=dt.UTC).timestamp()) * SECOND
    assert profile.time_of_day(open_ns) == 34_200
    assert profile.cumulative(34_200 - 1) == 0.0
    assert profile.cumulative(34_250) == 0.25
    assert profile.cumulative(34_400) == profile.cumulative(50_000) == 1.0
    assert profile.share(34_250, 34_350) == 0.5


@pytest.mark.skipif(not GOOG.exists(), reason=f"shared market data not found at {GOOG}")
def test_goog_profile_is_heaviest_at_the_close() -> None:
    profile = volume_profile(open_sample(GOOG))
    assert len(profile.fractions) == 78
    assert max(profile.fractions) == profile.fractions[-1]
    assert math.fsum(profile.fractions) == pytest.approx(1.0)


def test_profile_json_roundtrip(tmp_path: Path) -> None:
    profile = VolumeProfile.from_volumes(300, [3, 1, 0, 2], open_seconds=34_200)
    path = tmp_path / "profile.json"
    profiles.save(profile, path)
    loaded = profiles.load(path)
    assert loaded == profile
    assert loaded.cumulative(34_200 + 450) == pytest.approx(0.5 + 1 / 12)
    assert isinstance(make_policy("vwap", volume_profile=path), VwapPolicy)


@pytest.mark.parametrize("content, complaint", [
    ("{not json", "cannot read"),
    ("[0.5, 0.5]", "JSON object"),
    ('{"bucket_seconds": 300}', "missing fractions"),
    ('{"bucket_seconds": 300, "fractions": "0.5,0.5"}', "list of numbers"),
    ('{"bucket_seconds": 300, "fractions": []}', "at least one bucket"),
    ('{"bucket_seconds": 300, "fractions": [0.5, "a"]}', "bucket 1"),
    ('{"bucket_seconds": 300, "fractions": [1.5, -0.5]}', "bucket 1"),
    ('{"bucket_seconds": 300, "fractions": [0.5, 0.4]}', "sum to 1"),
    ('{"bucket_seconds": 0, "fractions": [1.0]}', "bucket_seconds"),
    ('{"bucket_seconds": 300.5, "fractions": [1.0]}', "bucket_seconds"),
    ('{"bucket_seconds": 300, "fractions": [1.0], "open_seconds": 90000}', "open_seconds"),
])
def test_malformed_profile_files_are_refused_clearly(tmp_path: Path, content: str,
                                                     complaint: str) -> None:
    path = tmp_path / "bad_profile.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=complaint) as caught:
        profiles.load(path)
    assert "bad_profile.json" in str(caught.value)
    assert isinstance(caught.value, ProfileFormatError)


def test_missing_profile_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        profiles.load(tmp_path / "nowhere.json")


# --- front-loaded passive ----------------------------------------------------------------------
def test_passive_front_rests_a_multiple_of_the_slice_from_the_start_and_never_crosses() -> None:
    front = PassiveFrontPolicy()
    assert front.multiple == 4.0
    assert front.act(_ctx(-1.0)) == WAIT  # before the parent starts
    # Ten slices of 100: four of them rest at once, whatever the schedule or the fills say
    # (the engine caps an order at what the parent still needs).
    for now, filled, ioc in _grid():
        assert front.act(_ctx(now, filled, ioc)) == Action(ActionKind.REST_NEAR, 400)
    assert PassiveFrontPolicy(2.5).act(_ctx(0)) == Action(ActionKind.REST_NEAR, 250)
    # A slice too small for the multiple still rests one share.
    assert PassiveFrontPolicy(0.001).act(_ctx(0)) == Action(ActionKind.REST_NEAR, 1)


@pytest.mark.parametrize("multiple", [0.0, -1.0, math.nan, math.inf])
def test_passive_front_multiple_must_be_positive(multiple: float) -> None:
    with pytest.raises(ValueError, match="multiple must be positive"):
        PassiveFrontPolicy(multiple)


# --- registry --------------------------------------------------------------------------------
def test_registry_builds_every_baseline_by_name() -> None:
    assert {"twap", "twap_passive", "vwap", "almgren_chriss", "almgren_chriss_alpha", "pov",
            "passive_front", "onnx"} == set(POLICY_NAMES) == {*ALL_BASELINE_NAMES, "onnx"}
    # The rule a model learned is run when named, never among the default comparisons.
    assert not set(BASELINE_NAMES) & set(RULE_BASELINE_NAMES)
    for name in ("twap", "twap_passive", "vwap", "almgren_chriss", "pov", "passive_front"):
        assert make_policy(name).name == name
    vwap = make_policy("vwap")
    assert isinstance(vwap, VwapPolicy) and vwap.profile is None
    ac = make_policy("almgren_chriss", ac_params=AlmgrenChrissParams(2.0, 0.5, 0.125))
    assert isinstance(ac, AlmgrenChrissPolicy) and ac.kappa == 1.0
    pov = make_policy("pov", pov_rate=0.2)
    assert isinstance(pov, PovPolicy) and pov.rate == 0.2
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("vwapp")


def test_urgency_tilts_almgren_chriss_and_pov_only() -> None:
    from models.registry import make_policy

    normal = make_policy("almgren_chriss")
    urgent = make_policy("almgren_chriss", urgency="high")
    relaxed = make_policy("almgren_chriss", urgency="low")
    assert relaxed.kappa < normal.kappa < urgent.kappa  # type: ignore[attr-defined]
    assert make_policy("pov", pov_rate=0.2, urgency="high").rate == 0.4  # type: ignore[attr-defined]
    assert make_policy("pov", pov_rate=0.8, urgency="high").rate == 1.0  # type: ignore[attr-defined]
    assert make_policy("twap", urgency="high").name == "twap"
    with pytest.raises(ValueError, match="urgency must be one of"):
        make_policy("twap", urgency="asap")

"""``execagent scenario`` on a short cut of the GOOG day: the injected crash is seen within
500 ms, the JSON has every key, and a user's mistakes exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

pytestmark = pytest.mark.integration

GOOG = Path(__file__).resolve().parents[3] / "shared" / "data" / \
    "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
KEYS = {"elevated_after_ms", "stressed_after_ms", "stressed_seconds", "elevated_seconds",
        "is_bps_posture_on", "is_bps_posture_off", "orders_sent_stressed",
        "shares_filled_stressed"}


@pytest.mark.skipif(not GOOG.exists(), reason="the LOBSTER sample is not in ../shared/data")
def test_a_flash_crash_is_stressed_within_half_a_second(tmp_path: Path) -> None:
    out = tmp_path / "crash.json"
    # A 20 s parent starting 2 s before the onset: seconds of replay, not minutes.
    assert main(["scenario", "--data", str(GOOG), "--inject", "flash-crash", "--at",
                 "11:00:00", "--horizon", "20", "--lead", "2", "--qty", "300",
                 "--no-clean-day", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= KEYS
    assert result["stressed_after_ms"] is not None and result["stressed_after_ms"] <= 500
    assert result["elevated_after_ms"] <= result["stressed_after_ms"]
    assert result["new_orders_sent_stressed"] == 0  # STRESSED sends nothing that adds risk
    assert result["stressed_seconds"] > 0


@pytest.mark.parametrize("args, message", [
    (["--at", "25:00:00"], "is not HH:MM:SS"),
    (["--at", "09:31:00"], "300 s of market"),
    (["--inject", "meteor"], None),
    (["--qty", "0"], "must be positive"),
])
def test_mistakes_exit_2_with_one_line(args: list[str], message: str | None,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    if not GOOG.exists() and message != "must be positive":
        pytest.skip("the LOBSTER sample is not in ../shared/data")
    base = {"--data": str(GOOG), "--inject": "flash-crash", "--at": "11:00:00"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["scenario", *[x for kv in base.items() for x in kv]]
    with pytest.raises(SystemExit) if message is None else _nothing():
        code = main(argv)
        assert code == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


class _nothing:  # noqa: N801 - a context manager used like pytest.raises
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False

"""A policy book picks a model per parent by side, participation and horizon, and refuses a
book, or a parent, it cannot serve in one line."""

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.names import is_book
from models.policy import ModelError, OutsideTrainedRange
from models.policy_book import PolicyBook
from models.task import TASK_RANGE_KEY
from tests.support.onnx_models import constant_action_policy

RATE = 20.0  # shares/s: the models' training market
BUY, SELL = 1, -1


def _model(folder: Path, name: str, sides: list[str], participation: tuple[float, float] = (
        0.01, 0.25), horizon_s: tuple[float, float] = (300.0, 1200.0)) -> Path:
    task_range = json.dumps({"sides": sides, "participation": list(participation),
                             "horizon_seconds": list(horizon_s), "volume_per_second": RATE})
    return constant_action_policy(folder / name, 1, {TASK_RANGE_KEY: task_range})


def _book(folder: Path, text: str) -> Path:
    path = folder / "book.yaml"
    path.write_text(text)
    return path


def _qty(participation: float, horizon_s: float = 600.0) -> int:
    return round(participation * RATE * horizon_s)


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    """A desk model for both sides and a small-sell specialist; the book sends small sells
    to the specialist, everything else to the desk model."""
    _model(tmp_path, "desk.onnx", ["buy", "sell"])
    _model(tmp_path, "small-sell.onnx", ["sell"], (0.01, 0.05))
    return _book(tmp_path, """
entries:
  - model: small-sell.onnx
    sides: [sell]
  - model: desk.onnx
    sides: [buy, sell]
    participation: [0.01, 0.25]
    horizon_minutes: [5, 20]
""")


def test_each_parent_goes_to_the_first_entry_that_covers_it(desk: Path) -> None:
    book = PolicyBook(desk)
    assert is_book(desk) and not is_book(desk.with_name("desk.onnx"))
    assert book.model_for(SELL, _qty(0.02), 600.0).name == "small-sell.onnx"
    assert book.model_for(SELL, _qty(0.20), 600.0).name == "desk.onnx"
    assert book.model_for(BUY, _qty(0.02), 600.0).name == "desk.onnx"
    # Participation against the symbol's own rate: the same shares are 4% at 50 shares/s.
    assert book.model_for(SELL, _qty(0.10), 600.0, volume_per_s=50.0).name == \
        "small-sell.onnx"


def test_a_parent_no_entry_covers_is_refused_with_every_entrys_reason(desk: Path) -> None:
    with pytest.raises(OutsideTrainedRange) as refused:
        PolicyBook(desk).model_for(BUY, _qty(0.10, 3600.0), 3600.0)
    message = str(refused.value)
    assert "\n" not in message and "no model for this parent" in message
    assert "entry 1 (small-sell.onnx): the entry's sides are sell only, not buy" in message
    assert "entry 2 (desk.onnx): a horizon of 60 min is outside the entry's 5-20 min" in message
    assert message.endswith("name a baseline policy to work it")


@pytest.mark.parametrize(("text", "problem"), [
    ("entries: []", "entries"),
    ("entries:\n  - model: desk.onnx\n    sides: [buy]\n    urgency: high", "urgency"),
    ("entries:\n  - model: desk.onnx\n    sides: [short]", "sides"),
    ("entries:\n  - model: missing.onnx\n    sides: [buy]", "missing.onnx does not exist"),
    ("entries:\n  - model: small-sell.onnx\n    sides: [buy]",
     "entry 1: small-sell.onnx was not trained to buy"),
    ("entries:\n  - model: small-sell.onnx\n    sides: [sell]\n    participation: [0.01, 0.1]",
     "participation [0.01, 0.1] reaches outside the model's trained [0.01, 0.05]"),
    ("entries:\n  - model: desk.onnx\n    sides: [sell]\n    horizon_minutes: [1, 10]",
     "horizon_minutes [1.0, 10.0] reaches outside the model's trained [5, 20]"),
    ("entries:\n  - model: desk.onnx\n    sides: [sell]\n    participation: [0.2, 0.1]",
     "is not a [low, high] pair"),
    ("entries: [", "not valid YAML"),
    ("- desk.onnx", "invalid"),
])
def test_a_book_that_cannot_serve_is_refused_in_one_line(desk: Path, text: str,
                                                         problem: str) -> None:
    with pytest.raises(ModelError) as refused:
        PolicyBook(_book(desk.parent, text))
    assert problem in str(refused.value) and "\n" not in str(refused.value)


def test_an_unreadable_book_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot be read"):
        PolicyBook(tmp_path / "absent.yaml")


def test_a_book_that_is_not_text_is_one_line(desk: Path) -> None:
    path = desk.parent / "binary.yaml"
    path.write_bytes(b"entries:\n  - model: \xff\xfe.onnx\n")
    with pytest.raises(ModelError) as refused:
        PolicyBook(path)
    assert "is not UTF-8 text: invalid start byte at byte 20" in str(refused.value)


def test_the_book_and_its_models_are_fingerprinted_as_read(desk: Path) -> None:
    book = PolicyBook(desk)
    assert book.sha256 == hashlib.sha256(desk.read_bytes()).hexdigest()
    assert [entry.sha256 for entry in book.entries] == [
        hashlib.sha256((desk.parent / name).read_bytes()).hexdigest()
        for name in ("small-sell.onnx", "desk.onnx")]


def test_every_parent_gets_a_covering_model_or_a_refusal(desk: Path) -> None:
    book = PolicyBook(desk)  # read once: the property is about picking, not loading

    @settings(max_examples=200, deadline=None)
    @given(side=st.sampled_from([BUY, SELL]), qty=st.integers(1, 1_000_000),
           horizon_s=st.floats(1.0, 10_000.0))
    def picks_the_first_cover(side: int, qty: int, horizon_s: float) -> None:
        covering = [e for e in book.entries if e.covers.refusal(side, qty, horizon_s) is None]
        try:
            chosen = book.model_for(side, qty, horizon_s)
        except OutsideTrainedRange:
            assert not covering
            return
        assert chosen == covering[0].model

    picks_the_first_cover()

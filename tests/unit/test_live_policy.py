"""The policy a parent gets: the named one, the live model, or the model a policy book picks;
a recovered parent the policy it was worked by, or TWAP when that cannot be built any more."""

import json
import logging
from pathlib import Path

import pytest

from core.domain import ParentOrder, Side
from models.baselines import TwapPolicy
from models.policy import ModelError, OnnxPolicy, OutsideTrainedRange
from models.task import TASK_RANGE_KEY
from service.live_policy import LivePolicies, book_policy_name
from tests.support.onnx_models import constant_action_policy

RATE = 20.0  # shares/s: the models' training market


def _model(folder: Path, name: str, sides: list[str]) -> Path:
    task_range = json.dumps({"sides": sides, "participation": [0.01, 0.25],
                             "horizon_seconds": [300.0, 1200.0], "volume_per_second": RATE})
    return constant_action_policy(folder / name, 1, {TASK_RANGE_KEY: task_range})


@pytest.fixture
def book(tmp_path: Path) -> Path:
    _model(tmp_path, "buyer.onnx", ["buy"])
    _model(tmp_path, "seller.onnx", ["sell"])
    path = tmp_path / "book.yaml"
    path.write_text("entries:\n  - model: buyer.onnx\n    sides: [buy]\n"
                    "  - model: seller.onnx\n    sides: [sell]\n")
    return path


def _parent(side: Side, qty: int, policy: str, minutes: float = 10.0) -> ParentOrder:
    return ParentOrder("P1", "GOOG", side, qty, 0, int(minutes * 60e9), policy)


def test_a_book_gives_each_parent_its_entrys_model_under_the_models_name(book: Path) -> None:
    policies = LivePolicies("onnx", book, lambda: book)
    buy = policies.for_parent(Side.BUY, 2_400, 600.0)
    sell = policies.for_parent(Side.SELL, 2_400, 600.0)
    assert isinstance(buy, OnnxPolicy) and buy.path.name == "buyer.onnx"
    assert isinstance(sell, OnnxPolicy) and sell.path.name == "seller.onnx"
    assert (buy.name, sell.name) == ("rl:buyer", "rl:seller")
    # A baseline named by the operator is built as it is, the book aside.
    assert isinstance(policies.for_parent(Side.BUY, 2_400, 600.0, "twap"), TwapPolicy)


def test_a_parent_no_entry_covers_is_refused_in_one_line(book: Path) -> None:
    with pytest.raises(OutsideTrainedRange) as refused:
        LivePolicies("onnx", book, lambda: book).for_parent(Side.SELL, 2_400, 3_600.0)
    message = str(refused.value)
    assert "\n" not in message and "book.yaml has no model for this parent" in message
    assert "entry 1 (buyer.onnx): the entry's sides are buy only, not sell" in message


def test_a_single_live_model_refuses_what_it_was_not_trained_for(tmp_path: Path) -> None:
    seller = _model(tmp_path, "seller.onnx", ["sell"])
    policies = LivePolicies("onnx", seller, lambda: seller)
    assert policies.book is None and policies.for_parent(Side.SELL, 2_400, 600.0).name == "rl"
    with pytest.raises(OutsideTrainedRange, match="sell only, not buy"):
        policies.for_parent(Side.BUY, 2_400, 600.0)


def test_a_recovered_parent_gets_the_policy_it_was_worked_by(book: Path,
                                                             tmp_path: Path) -> None:
    policies = LivePolicies("onnx", book, lambda: book)
    again = policies.for_recovered(_parent(Side.SELL, 2_400, book_policy_name(
        tmp_path / "seller.onnx")))
    assert isinstance(again, OnnxPolicy) and again.path.name == "seller.onnx"
    assert again.name == "rl:seller"
    # A single live model's parents carry "rl": they get the live model (after a promotion,
    # the one live now), without the trained-range check they passed once.
    seller = tmp_path / "seller.onnx"
    single = LivePolicies("twap", seller, lambda: seller)
    resumed = single.for_recovered(_parent(Side.SELL, 2_400, "rl", minutes=90.0))
    assert isinstance(resumed, OnnxPolicy) and resumed.path == seller
    assert single.for_recovered(_parent(Side.BUY, 100, "twap_passive")).name == "twap_passive"


@pytest.mark.parametrize(("policy", "problem"), [
    ("rl:buyer", "the book now gives such a parent to seller.onnx"),
    ("rl:retired", "the book now gives such a parent to seller.onnx"),
    ("magic", "unknown policy 'magic'"),
])
def test_a_recovered_parent_whose_policy_cannot_be_built_resumes_with_twap(
        book: Path, policy: str, problem: str, caplog: pytest.LogCaptureFixture) -> None:
    policies = LivePolicies("onnx", book, lambda: book)
    with caplog.at_level(logging.ERROR, logger="execagent.service.live_policy"):
        resumed = policies.for_recovered(_parent(Side.SELL, 2_400, policy))
    assert isinstance(resumed, TwapPolicy) and not resumed.passive
    assert problem in caplog.text and "it resumes with twap" in caplog.text


def test_a_book_parent_resumes_with_twap_once_the_service_runs_one_model(
        book: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seller = tmp_path / "seller.onnx"
    policies = LivePolicies("onnx", seller, lambda: seller)
    with caplog.at_level(logging.ERROR, logger="execagent.service.live_policy"):
        resumed = policies.for_recovered(_parent(Side.SELL, 2_400, "rl:seller"))
    assert isinstance(resumed, TwapPolicy)
    assert "no longer names a policy book" in caplog.text


def test_two_models_of_one_stem_in_a_book_are_refused_in_one_line(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        _model(tmp_path / folder, "desk.onnx", ["buy", "sell"])
    book = tmp_path / "book.yaml"
    book.write_text("entries:\n  - model: a/desk.onnx\n    sides: [buy]\n"
                    "  - model: b/desk.onnx\n    sides: [sell]\n"
                    "  - model: a/desk.onnx\n    sides: [sell]\n")
    with pytest.raises(ModelError) as refused:
        LivePolicies("onnx", book, lambda: book)
    message = str(refused.value)
    assert "\n" not in message and "share the name 'rl:desk'" in message
    assert message.endswith("rename one")
    # One model in two entries is one name: accepted.
    book.write_text("entries:\n  - model: a/desk.onnx\n    sides: [buy]\n"
                    "  - model: ./a/desk.onnx\n    sides: [sell]\n")
    assert LivePolicies("onnx", book, lambda: book).book is not None

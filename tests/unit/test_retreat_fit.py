"""The retreat found by simulation: the response to one order grows with the hit side's
retreat, and a response beyond the grid's reach is capped at its ends. (That the search
lands on the shipped GOOG factor is checked where GOOG is recalibrated, test_calibrate.py.)"""

from __future__ import annotations

from pathlib import Path

from sim.calibrate import load_flow_params
from sim.retreat_fit import GRID, causal_response, fit_retreat, with_retreat

SHIPPED = Path(__file__).resolve().parents[2] / "sim" / "params" / "GOOG_2012-06-21.json"
TRIALS = 100


def test_the_response_to_one_order_grows_with_the_retreat() -> None:
    params = load_flow_params(SHIPPED)
    calm, retreating = (causal_response(with_retreat(params, r), 91, TRIALS) for r in (1.0, 4.0))
    assert retreating > calm + 3.0


def test_a_response_beyond_the_search_is_capped_at_its_ends() -> None:
    params = load_flow_params(SHIPPED)
    assert fit_retreat(params, 91, 1_000.0, 20)[0] == GRID[-1]
    assert fit_retreat(params, 91, -1_000.0, 20)[0] == GRID[0]

"""``execagent evaluate-grid``'s outputs: per parent (side and size) the policies' statistics,
the paired differences, the verdict against the product goal (:mod:`.verdict`) and what rl did
(:mod:`.decisions`), as JSON, console tables and a results-page section with one row per
parent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from service.evaluation.compare import PairedDifference, PolicyStats
from service.evaluation.decisions import MARKS, DecisionRecord
from service.evaluation.results_page import summary_json
from service.evaluation.verdict import MARGIN_BPS, MEAN_RATIO, RATIO_FLOOR_BPS, Verdict

COLUMNS = ("side", "participation", "qty", "rl mean", "best baseline (mean)", "ratio (goal)",
           "worst paired 95% CI", "std / best's std [95% CI of rl - best]", "denials",
           "verdict")
# Whole headers and numbers; the other columns fold a long name rather than cut it.
SHORT_COLUMNS = ("side", "participation", "qty", "rl mean", "denials")


@dataclass(frozen=True, slots=True)
class GridCell:
    """One parent's evaluation: ``participation`` is its quantity's share of the volume
    expected over the horizon, whether the command line gave a share or a quantity."""

    side: str
    participation: float
    qty: int
    data: str
    episodes: int
    stats: list[PolicyStats]
    diffs: list[PairedDifference]
    verdict: Verdict
    decisions: DecisionRecord

    @property
    def rl(self) -> PolicyStats:
        return next(s for s in self.stats if s.name == "rl")


def grid_json(cells: Sequence[GridCell], data: str, command: str) -> dict[str, object]:
    return {
        "data": data,
        "episodes": cells[0].episodes if cells else 0,
        "command": command,
        "goal": {"mean_ratio": MEAN_RATIO, "ratio_floor_bps": RATIO_FLOOR_BPS,
                 "margin_bps": MARGIN_BPS, "paired_ci95_upper_below_bps": 0.0,
                 "std_at_most_best_baseline": True, "risk_denials": 0},
        "passed": sum(c.verdict.passed for c in cells),
        "pass": all(c.verdict.passed for c in cells),
        "cells": [{"side": c.side, "participation": c.participation, "qty": c.qty,
                   **summary_json(c.stats, c.diffs, c.episodes, c.data),
                   "verdict": c.verdict.as_json(), "rl_decisions": c.decisions.as_json()}
                  for c in cells],
    }


def grid_rows(cells: Sequence[GridCell]) -> list[list[str]]:
    rows = []
    for c in cells:
        v, rl = c.verdict, c.rl
        ratio = (f"{rl.is_bps_mean / v.best.is_bps_mean:.2f} (<= {MEAN_RATIO:g})"
                 if v.best.is_bps_mean >= RATIO_FLOOR_BPS else
                 f"{rl.is_bps_mean - v.best.is_bps_mean:+.2f} bps (<= -{MARGIN_BPS:g})")
        rows.append([
            c.side, f"{c.participation:.1%}", f"{c.qty:,}", f"{rl.is_bps_mean:.2f}",
            f"{v.best.name} ({v.best.is_bps_mean:.2f})", ratio,
            f"[{v.worst.ci_low_bps:+.2f}, {v.worst.ci_high_bps:+.2f}] {v.worst.baseline}",
            _std_cell(rl.is_bps_std, v), str(rl.risk_denials),
            "pass" if v.passed else f"fail ({', '.join(v.failed)})"])
    return rows


def _std_cell(rl_std: float, verdict: Verdict) -> str:
    timing = next(c for c in verdict.criteria if c.name == "timing_risk")
    cell = f"{rl_std:.2f} / {verdict.best.is_bps_std:.2f}"
    if timing.ci95 is not None:
        cell += f" [{timing.ci95[0]:+.2f}, {timing.ci95[1]:+.2f}]"
    return cell


DECISION_COLUMNS = ("side", "participation", "decisions", "most chosen actions",
                    *(f"done by {mark:g}" for mark in MARKS))


def decision_rows(cells: Sequence[GridCell]) -> list[list[str]]:
    return [[c.side, f"{c.participation:.1%}", f"{c.decisions.decisions:,}",
             ", ".join(f"{label} {share:.0%}" for label, share in
                       list(c.decisions.shares.items())[:3]),
             *(_share_text(c.decisions.done_by[mark]) for mark in MARKS)] for c in cells]


def _share_text(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def decision_table(cells: Sequence[GridCell]) -> Table:
    table = Table(title="what rl did: its decisions by action, the parent done by each part of "
                        "the horizon (mean over episodes)")
    for column in DECISION_COLUMNS:
        table.add_column(column, justify="left" if column in ("side", "most chosen actions")
                         else "right", overflow="fold")
    for row in decision_rows(cells):
        table.add_row(*row)
    return table


def grid_table(cells: Sequence[GridCell]) -> Table:
    table = Table()
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("side", "verdict") else "right",
                         no_wrap=column in SHORT_COLUMNS, overflow="fold")
    for row in grid_rows(cells):
        table.add_row(*row)
    return table


def grid_markdown(cells: Sequence[GridCell], data: str, command: str) -> str:
    passed = sum(c.verdict.passed for c in cells)
    lines = [
        f"## Verdict grid: {data}",
        "",
        f"Produced by `{command}`. Shortfall in basis points of the arrival notional, a cost "
        "positive; every parent on the same episodes. The goal, per parent: rl's mean at most "
        f"{MEAN_RATIO:g} x the best baseline's (where that is below {RATIO_FLOOR_BPS:g} bps, at "
        f"least {MARGIN_BPS:g} bps below it), the paired 95% interval of rl minus each baseline "
        "below zero, rl's std (timing risk) at most the best baseline's (judged on the values; "
        "beside them the paired bootstrap 95% interval of rl's std minus the best's), no risk "
        "denials. "
        f"**{passed} of {len(cells)} parents pass.**",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS[1:-1]) + " | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in grid_rows(cells)]
    lines += ["", "What rl did: the share of its decisions by action, and the parent's filled "
              "share by each part of the horizon (mean over episodes).", "",
              "| " + " | ".join(DECISION_COLUMNS) + " |",
              "| --- | " + " | ".join("---:" for _ in DECISION_COLUMNS[1:3]) + " | --- | "
              + " | ".join("---:" for _ in MARKS) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in decision_rows(cells)]
    return "\n".join(lines) + "\n"

"""The evaluation's outputs: the results page (markdown plus PNG plots) and the JSON summary.

The page states what the numbers were measured on (simulated flow or the replay of one day of
one stock), the command that produced them, and the paired comparison, so a reader can judge
and reproduce them without asking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.table import Table

from service.evaluation.backtest import EpisodeResult
from service.evaluation.compare import PairedDifference, PolicyStats


def stats_table(stats: Sequence[PolicyStats], title: str) -> Table:
    table = Table(title=title)
    for column in ("policy", "IS mean", "IS median", "IS std (timing risk)", "impact",
                   "fill rate", "child orders", "risk denials"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for s in stats:
        table.add_row(s.name, f"{s.is_bps_mean:.3f}", f"{s.is_bps_median:.3f}",
                      f"{s.is_bps_std:.3f}", f"{s.impact_bps_mean:.3f}", f"{s.fill_rate:.1%}",
                      f"{s.child_orders_mean:.1f}", str(s.risk_denials))
    return table


def summary_json(stats: Sequence[PolicyStats], diffs: Sequence[PairedDifference],
                 episodes: int, data: str) -> dict[str, object]:
    return {
        "episodes": episodes,
        "data": data,
        "policies": {s.name: s.as_json() for s in stats},
        "paired_differences": [
            {"policy": d.policy, "baseline": d.baseline, "mean_bps": d.mean_bps,
             "ci95_bps": [d.ci_low_bps, d.ci_high_bps]} for d in diffs],
    }


def write_json(path: Path, document: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_plots(results: Mapping[str, Sequence[EpisodeResult]], directory: Path,
                stem: str) -> list[Path]:
    """The shortfall distribution per policy and the mean inventory path; [] without
    matplotlib (it comes with the ``train`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    names = list(results)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.boxplot([[r.shortfall_bps for r in results[n]] for n in names], showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("implementation shortfall (bps, cost > 0)")
    ax.set_title("Shortfall per episode, by policy")
    ax.grid(axis="y", alpha=0.3)
    distribution = directory / f"{stem}-shortfall.png"
    fig.tight_layout()
    fig.savefig(distribution, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in names:
        paths = [r.inventory for r in results[name]]
        points = len(paths[0])
        mean = [sum(p[k] for p in paths) / len(paths) for k in range(points)]
        ax.plot([k / (points - 1) for k in range(points)], mean, label=name)
    ax.set_xlabel("fraction of the horizon elapsed")
    ax.set_ylabel("fraction of the parent left")
    ax.set_title("Mean inventory path")
    ax.grid(alpha=0.3)
    ax.legend()
    inventory = directory / f"{stem}-inventory.png"
    fig.tight_layout()
    fig.savefig(inventory, dpi=110)
    plt.close(fig)
    return [distribution, inventory]


def results_markdown(stats: Sequence[PolicyStats], diffs: Sequence[PairedDifference],
                     data: str, command: str, plots: Sequence[Path], page: Path,
                     notes: str = "") -> str:
    lines = [
        f"## {data}",
        "",
        f"Produced by `{command}`. Implementation shortfall (IS) and market impact in basis points"
        " of the arrival notional, a cost positive; IS std is the timing risk.",
        "",
        "| policy | episodes | IS mean | IS median | IS std | impact mean | fill rate | "
        "child orders | risk denials |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in stats:
        lines.append(f"| {s.name} | {s.episodes} | {s.is_bps_mean:.3f} | {s.is_bps_median:.3f} "
                     f"| {s.is_bps_std:.3f} | {s.impact_bps_mean:.3f} | {s.fill_rate:.1%} | "
                     f"{s.child_orders_mean:.1f} | {s.risk_denials} |")
    if diffs:
        lines += ["", "Paired differences (policy minus baseline, same episodes; negative means "
                  "the policy cost less), bootstrap 95% confidence interval:", "",
                  "| policy | baseline | mean diff (bps) | 95% CI | excludes 0 |",
                  "| --- | --- | ---: | --- | --- |"]
        for d in diffs:
            lines.append(f"| {d.policy} | {d.baseline} | {d.mean_bps:+.3f} | "
                         f"[{d.ci_low_bps:+.3f}, {d.ci_high_bps:+.3f}] | "
                         f"{'yes' if d.excludes_zero else 'no'} |")
    for plot in plots:
        lines += ["", f"![{plot.stem}]({plot.relative_to(page.parent).as_posix()})"]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def upsert_section(page: Path, key: str, markdown: str) -> None:
    """Put ``markdown`` into ``page`` between markers named ``key``, replacing what an earlier
    run wrote there and keeping everything else (the page's own prose, other data's sections)."""
    begin, end = f"<!-- evaluate:{key}:begin -->", f"<!-- evaluate:{key}:end -->"
    text = page.read_text(encoding="utf-8") if page.exists() else "# Results\n"
    block = f"{begin}\n{markdown}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")

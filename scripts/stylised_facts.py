"""Stylised facts of the stochastic flow against the LOBSTER day it was calibrated on.

Run from the project root:

    .venv/bin/python scripts/stylised_facts.py \
        ../shared/data/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip \
        --params sim/params/GOOG_2012-06-21.json --seed 1 --out docs/simulator

Simulates as many seconds as the data spans, measures both with :mod:`sim.stylised`, and
writes ``stylised-facts.json`` and four PNG plots (spread distribution, event rates by type and
level, mid-price volatility at 1 s, 1 min and 10 min, price response to a market order by size)
into ``--out``; prints the headline numbers as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sim.calibrate import load_flow_params
from sim.lobster import open_sample
from sim.stylised import KINDS, LEVELS, SIZE_LABELS, flow_facts, lobster_facts

COLOURS = {"real": "tab:blue", "simulated": "tab:orange"}
SPREAD_BINS = 80  # ticks; wider spreads share the last bin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a LOBSTER sample (zip or folder)")
    parser.add_argument("--params", type=Path, required=True, help="calibrated flow (JSON)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/simulator"))
    args = parser.parse_args()
    real = lobster_facts(open_sample(args.data))
    simulated = flow_facts(load_flow_params(args.params), args.seed, real["seconds"])
    facts = {"data": args.data.name, "params": str(args.params), "seed": args.seed,
             "real": real, "simulated": simulated}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stylised-facts.json").write_text(json.dumps(facts, indent=1) + "\n")
    both = {"real": real, "simulated": simulated}
    _spread(both, args.out / "spread.png")
    _rates(both, args.out / "event-rates.png")
    _volatility(both, args.out / "volatility.png")
    _response(both, args.out / "price-response.png")
    print(_table(real, simulated))
    return 0


def _spread(both: dict[str, dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, facts in both.items():
        share = [0.0] * (SPREAD_BINS + 1)
        for spread, value in facts["spread_share"].items():
            share[min(int(spread), SPREAD_BINS)] += value
        ax.step(range(SPREAD_BINS + 1), share, where="mid", color=COLOURS[name],
                label=f"{name} (mean {facts['spread_mean']:.1f} ticks)")
    ax.set_xlabel(f"spread, ticks ({SPREAD_BINS}+ in the last bin)")
    ax.set_ylabel("share of time")
    ax.legend()
    _save(fig, path)


def _rates(both: dict[str, dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(KINDS), figsize=(11, 3.5), sharey=False)
    width = 0.4
    for ax, kind in zip(axes, KINDS, strict=True):
        for i, (name, facts) in enumerate(both.items()):
            values = [facts["rates_per_s"][kind][level] for level in LEVELS]
            ax.bar([x + (i - 0.5) * width for x in range(len(LEVELS))], values, width,
                   color=COLOURS[name], label=name)
        ax.set_xticks(range(len(LEVELS)), LEVELS, fontsize=8)
        ax.set_title(f"{kind} orders")
        ax.set_xlabel("level (1 = touch)")
    axes[0].set_ylabel("events per second")
    axes[0].legend()
    _save(fig, path)


def _volatility(both: dict[str, dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    horizons = list(next(iter(both.values()))["mid_change_std"])
    width = 0.4
    for i, (name, facts) in enumerate(both.items()):
        ax.bar([x + (i - 0.5) * width for x in range(len(horizons))],
               [facts["mid_change_std"][h] for h in horizons], width, color=COLOURS[name],
               label=name)
    ax.set_xticks(range(len(horizons)), horizons)
    ax.set_ylabel("std of mid change, ticks")
    ax.legend()
    _save(fig, path)


def _response(both: dict[str, dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, facts in both.items():
        for key, style in (("response_now", "-"), ("response_10s", "--")):
            labels = [s for s in SIZE_LABELS if facts[key][s] is not None]
            ax.plot([SIZE_LABELS.index(s) for s in labels], [facts[key][s] for s in labels],
                    style, marker="o", color=COLOURS[name],
                    label=f"{name}, {'at once' if key == 'response_now' else 'after 10 s'}")
    ax.set_xticks(range(len(SIZE_LABELS)), SIZE_LABELS)
    ax.set_xlabel("market order size, shares")
    ax.set_ylabel("mid move in its direction, ticks")
    ax.legend(fontsize=8)
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(real: dict[str, Any], simulated: dict[str, Any]) -> str:
    rows = [("mean spread, ticks (time-weighted)", "spread_mean", None),
            ("std of mid change over 1 s, ticks", "mid_change_std", "1s"),
            ("std of mid change over 60 s, ticks", "mid_change_std", "60s"),
            ("std of mid change over 600 s, ticks", "mid_change_std", "600s")]
    lines = ["| fact | real | simulated |", "| --- | ---: | ---: |"]
    for label, key, sub in rows:
        r = real[key] if sub is None else real[key][sub]
        s = simulated[key] if sub is None else simulated[key][sub]
        lines.append(f"| {label} | {r:.2f} | {s:.2f} |")
    for kind in KINDS:
        r = sum(real["rates_per_s"][kind].values())
        s = sum(simulated["rates_per_s"][kind].values())
        lines.append(f"| {kind} orders per second | {r:.3f} | {s:.3f} |")
    lines.append("| mid move after any market order, at once / 10 s, ticks | "
                 f"{_num(real['response_now_all'])} / {_num(real['response_10s_all'])} | "
                 f"{_num(simulated['response_now_all'])} / "
                 f"{_num(simulated['response_10s_all'])} |")
    for size in SIZE_LABELS:
        r, s = real["response_now"][size], simulated["response_now"][size]
        r10, s10 = real["response_10s"][size], simulated["response_10s"][size]
        lines.append(f"| mid move after a market order of {size} shares, at once / 10 s, ticks "
                     f"| {_num(r)} / {_num(r10)} | {_num(s)} / {_num(s10)} |")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())

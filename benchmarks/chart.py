#!/usr/bin/env python3
"""Draws docs/benchmarks.png (events/s per scenario) from the output of a --quick run.

Usage: python3 benchmarks/chart.py docs/benchmarks-quick.txt docs/benchmarks.png
Needs matplotlib (Debian: apt-get install python3-matplotlib, then run with /usr/bin/python3).
"""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LINE = re.compile(r"^(?P<name>[a-z0-9-]+): (?P<rate>\d+) events/s, (?P<bytes>\d+) B/event$")
FAMILY = {  # colour by what a scenario is: our engine, a raw baseline, or a peer library
    "engine": "#1f6feb",
    "baseline": "#8b949e",
    "peer": "#d29922",
}


def family(name: str) -> str:
    if name.startswith("engine"):
        return "engine"
    if name.endswith("baseline"):
        return "baseline"
    return "peer"


def main(source: str, target: str) -> None:
    rows = []
    with open(source, encoding="utf-8") as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                rows.append((m["name"], int(m["rate"]), int(m["bytes"])))
    if not rows:
        sys.exit(f"no '<scenario>: <n> events/s, <b> B/event' lines in {source}")

    rows.reverse()  # first scenario on top
    names = [r[0] for r in rows]
    rates = [r[1] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.4))
    bars = ax.barh(names, rates, color=[FAMILY[family(n)] for n in names])
    ax.set_xscale("log")
    ax.set_xlabel("events/s, publish → delivered (log scale; higher is better)")
    ax.set_title("EventNotify --quick: events/s per scenario (one process, back to back)")
    for bar, (name, rate, size) in zip(bars, rows):
        ax.text(bar.get_width() * 1.08, bar.get_y() + bar.get_height() / 2, f"{rate:,}/s  ·  {size:,} B/event",
                va="center", fontsize=8)
    ax.set_xlim(min(rates) / 2, max(rates) * 30)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in FAMILY.values()]
    ax.legend(handles, ["EventNotify", "raw baseline (the limit)", "peer library"], loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks-quick.txt",
         sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks.png")

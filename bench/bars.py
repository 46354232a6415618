"""Quality bars shared by bench/demo_quality.py and bench/edits_quality.py: a figure, its bar, met or not."""
from __future__ import annotations

from typing import NamedTuple


class Figure(NamedTuple):
    label: str
    value: float
    bar: str
    ok: bool


def report(rows: list[Figure]) -> int:
    """Print one line per figure and a summary; the exit status is 1 when any bar is missed."""
    if not rows:
        print("no figures")
        return 1
    width = max(len(r.label) for r in rows)
    for r in rows:
        print(f"{r.label:<{width}}  {r.value:8.3f}  bar {r.bar:<38} {'ok' if r.ok else 'MISSED'}")
    missed = [r.label for r in rows if not r.ok]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} bars met" + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0

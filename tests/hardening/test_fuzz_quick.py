"""The quick fuzz run (issue 26 item 7): a few hundred seeded mutants of every format the studio writes,
each opened as the studio opens it. Only the studio's own errors may escape; no open may hang past 20 s,
crash its process, or peak above 512 MB. The long run (10,000 mutants) is `bench/fuzz.py` by hand."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fuzz  # noqa: E402

MAX_MB = 512
TIMEOUT_S = 20


def test_mutations_are_seeded_and_change_the_file():
    data = b"\x80\x04K\x05K\x07\x86." * 4
    a = [fuzz.mutate(data, "pickle", random.Random(f"3:{i}")) for i in range(20)]
    b = [fuzz.mutate(data, "pickle", random.Random(f"3:{i}")) for i in range(20)]
    assert a == b and all(m != data for m in a) and len(set(a)) > 10


def test_quick_fuzz_run_lets_only_studio_errors_escape():
    report = fuzz.run(mutants=300, seed=26, timeout=TIMEOUT_S, max_mb=MAX_MB)
    print(report.summary())
    assert report.mutants == 300 and report.findings == [], report.summary()
    assert report.outcomes["ok"] > 0 and report.outcomes["refused"] > 0  # mutants that load and that do not
    assert len(report.per_sample) >= 17  # every sample format was exercised (ONNX too when installed)
    assert max(report.peak_mb.values()) < MAX_MB and max(report.seconds.values()) < TIMEOUT_S
    assert report.multiline == 0  # every refusal is one line
    if report.warned:
        pytest.fail(f"{report.warned} opens printed or warned before their result:\n{report.summary()}")

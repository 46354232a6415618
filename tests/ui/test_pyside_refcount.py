"""Qt calls must not wear out None's reference count: PySide6 6.12 does on CPython 3.11, so pyproject.toml
keeps 3.11 on an earlier release; this catches a bad combination before a user's session aborts."""
from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtWidgets import QApplication, QToolButton
app = QApplication([])
b = QToolButton()
b.setCheckable(True)
for i in range(50_000):  # each call once dropped a reference to None; None starts with ~5k
    b.setChecked(i % 2 == 0)
    b.setEnabled(True)
    b.setText("x")
print("ok")
"""


def test_many_qt_setter_calls_do_not_crash_the_interpreter():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"

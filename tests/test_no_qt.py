"""Layering: everything outside studio.ui imports without Qt, so the CLI and scripts run headless."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy")

SCRIPT = r"""
import importlib, importlib.util, json, pkgutil, sys

def walk(pkg_name):
    # pkgutil.walk_packages would import studio.ui to list it; recurse by hand and skip it unimported.
    # __main__ modules are programs (importing one runs it), not libraries.
    pkg = importlib.import_module(pkg_name)
    yield pkg_name
    for m in pkgutil.iter_modules(pkg.__path__, pkg_name + "."):
        if m.name == "studio.ui" or m.name.endswith(".__main__"):
            continue
        if m.ispkg:
            yield from walk(m.name)
        else:
            importlib.import_module(m.name)
            yield m.name

names = list(walk("studio")) + list(walk("latent_studio_plugins"))
for name in ("latent_studio_plugins.dcgan", "studio.cli"):
    if name not in names and importlib.util.find_spec(name) is not None:
        importlib.import_module(name)
        names.append(name)
qt = sorted(k for k in sys.modules if k.split(".")[0] in QT)
print(json.dumps({"imported": names, "qt": qt}))
"""


def test_nothing_outside_studio_ui_loads_qt():
    code = f"QT = {QT_MODULES!r}\n" + SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    imported = result["imported"]
    for expected in ("studio.core.recipe", "studio.model.registry", "studio.render.worker",
                     "latent_studio_plugins.dcgan.plugin"):
        assert expected in imported
    assert not any(n.startswith("studio.ui") for n in imported)
    assert result["qt"] == [], f"Qt modules loaded outside studio.ui: {result['qt']}"

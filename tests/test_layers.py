"""The import-linter contracts in pyproject.toml ([tool.importlinter]) hold: core is data and maths, the
layers below the UI run without Qt, the studio reaches plugin families only through the registry, and no
family imports another. `make test` runs them here, so a layering slip fails the suite like a bug."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("importlinter", reason="import-linter is a dev dependency (pip install -e '.[dev]')")

from importlinter import api  # noqa: E402  (the public entry points; importing it configures the adapters)
from importlinter.application import use_cases  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
def _config() -> dict[str, Any]:
    """pyproject's [tool.importlinter]."""
    cfg = api.read_configuration(str(ROOT / "pyproject.toml"))
    return {"session_options": cfg["session_options"], "contracts_options": list(cfg["contracts_options"])}


def _ini(cfg: dict[str, Any]) -> str:
    """The configuration in import-linter's INI form (what `lint-imports --config` reads besides TOML)."""
    def value(v: Any) -> str:
        return "".join(f"\n    {x}" for x in v) if isinstance(v, list) else str(v)

    lines = ["[importlinter]"] + [f"{k} = {value(v)}" for k, v in cfg["session_options"].items()]
    for i, c in enumerate(cfg["contracts_options"]):
        lines += ["", f"[importlinter:contract:{i}]"] + [f"{k} = {value(v)}" for k, v in c.items() if k != "id"]
    return "\n".join(lines) + "\n"


def test_the_contracts_cover_the_layers_the_issue_names():
    contracts = _config()["contracts_options"]
    assert sorted(c["type"] for c in contracts) == ["forbidden", "forbidden", "forbidden", "independence"]
    core = next(c for c in contracts if c.get("source_modules") == ["studio.core"])
    assert {"studio.model", "studio.render", "studio.ui", "studio.demo"} <= set(core["forbidden_modules"])
    qt = next(c for c in contracts if "PySide6" in c.get("forbidden_modules", ()))
    assert {"studio.core", "studio.model", "studio.render"} <= set(qt["source_modules"])
    fams = next(c for c in contracts if c["type"] == "independence")
    # every family package under plugins/ is in it (a new family must be added to the contract)
    packages = {f"latent_studio_plugins.{d.name}" for d in (ROOT / "plugins").iterdir() if (d / "__init__.py").exists()}
    assert {"latent_studio_plugins.dcgan", "latent_studio_plugins.stylegan", "latent_studio_plugins.pggan",
            "latent_studio_plugins.stylegan1"} <= packages
    assert set(fams["modules"]) == packages


def test_import_layers_are_kept(tmp_path, capsys):
    config = tmp_path / "importlinter.ini"
    config.write_text(_ini(_config()), encoding="utf-8")
    ok = use_cases.lint_imports(config_filename=str(config), cache_dir=None, no_logo=True)
    out = capsys.readouterr().out
    assert ok == use_cases.SUCCESS and "0 broken" in out, out


def test_a_broken_layer_is_reported(tmp_path, capsys):
    """The same machinery fails on an import that exists (the UI uses core), so a pass above means kept."""
    cfg = _config()
    cfg["contracts_options"] = [{"name": "ui without core", "type": "forbidden",
                                 "source_modules": ["studio.ui"], "forbidden_modules": ["studio.core"]}]
    config = tmp_path / "broken.ini"
    config.write_text(_ini(cfg), encoding="utf-8")
    assert use_cases.lint_imports(config_filename=str(config), cache_dir=None, no_logo=True) == use_cases.FAILURE
    assert "1 broken" in capsys.readouterr().out


FAMILY_CHECK = r"""
import importlib, pkgutil, sys
import plugins

FAMILIES = ("dcgan", "stylegan", "stargan", "onnx")


class Gone:
    '''A finder that makes one family look deleted.'''

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named {fullname!r}")
        return None


for gone in FAMILIES:
    for m in [m for m in sys.modules if m.startswith("plugins.")]:
        del sys.modules[m]
    finder = Gone(f"plugins.{gone}")
    sys.meta_path.insert(0, finder)
    try:
        for other in FAMILIES:
            if other == gone:
                continue
            pkg = importlib.import_module(f"plugins.{other}")
            for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                if info.name.endswith(".testing"):
                    continue  # test helpers may use anything
                importlib.import_module(info.name)
        for m in ("studio.cli.convert", "studio.cli.train", "studio.train.dcgan", "studio.train.stargan",
                  "studio.train.stylegan2", "studio.render.backend"):
            importlib.import_module(m)
    finally:
        sys.meta_path.remove(finder)
print("ok")
"""


def test_deleting_a_family_breaks_no_other_module():
    """With each family hidden in turn, every module of the others and of the studio's trainers and converter
    still imports (the contracts say so from the source; this checks it by running the imports)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", FAMILY_CHECK], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]

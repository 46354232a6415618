"""Installed names that cannot collide, and resources found through the package, not the source tree."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from studio import bundled


def test_a_shadowing_plugins_folder_hides_no_family(tmp_path):
    shadow = tmp_path / "plugins"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('a stranger package called plugins')\n")
    code = ("from studio.model.registry import Registry\n"
            "reg = Registry.discover()\n"
            "print(sorted(p.name for p in reg.plugins)); print(reg.problems)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    names, problems = proc.stdout.strip().splitlines()
    assert {"DCGAN", "StyleGAN", "StarGAN"} <= set(ast.literal_eval(names))
    assert problems == "[]"


def test_bundled_files_come_from_the_package():
    assert (bundled.resources_dir() / "themes" / "dark.qss").is_file()
    assert (bundled.resources_dir() / "icons" / "open.svg").is_file()
    assert bundled.attribute_model_path().is_file()
    names = [p.name for p in bundled.demo_checkpoints()]
    assert "toyfaces_attributes.safetensors" not in names  # a classifier, not a model to open
    assert {"dcgan_toyfaces.safetensors", "stylegan2_toyfaces.safetensors"} <= set(names)


@pytest.mark.parametrize("name, file", [("demo:dcgan", "dcgan_toyfaces.safetensors"),
                                        ("demo:StyleGAN2", "stylegan2_toyfaces.safetensors"),
                                        ("demo:stargan_toyfaces", "stargan_toyfaces.safetensors")])
def test_demos_by_name(name, file):
    assert bundled.resolve_demo(name).name == file


def test_an_unknown_demo_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="demo:stylegan2"):
        bundled.resolve_demo("demo:biggan")

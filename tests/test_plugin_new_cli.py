"""`latent-studio plugin new`: the drop-in it writes loads through $LATENT_STUDIO_PLUGIN_PATH as written and
reproduces the official references; an unknown layout gets a skeleton with its guesses marked."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import shared_path
from studio.cli import main
from studio.model.registry import Registry

ERIK = ("gan", "wgan_gp", "dcgan", "lsgan")
WHOLE = {"netG_full.pth": ("z_nz100.npy", "out_netG_full_eval.npy"),
         "gan.pkl": ("z_nz32.npy", "out_gan_pkl_G_eval.npy"),
         "netG_models.pth": ("z_nz32.npy", "out_netG_models_eval.npy"),
         "generator_sequential.pth": ("z16.npy", "out_sequential_eval.npy")}


def _write_and_open(ckpt, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "plugins"
    folder.mkdir()
    out = folder / "my_gan.py"
    assert main(["plugin", "new", str(ckpt), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    text = out.read_text()
    monkeypatch.setenv("LATENT_STUDIO_PLUGIN_PATH", str(folder))
    reg = Registry.discover()
    assert not reg.problems
    return reg.open(ckpt), text, said


@pytest.mark.shared
@pytest.mark.parametrize("name", ERIK)
def test_plugin_new_for_eriklindernoren_files_loads_as_written(tmp_path, monkeypatch, capsys, name):
    folder = shared_path("fixtures", "eriklindernoren_pytorch_gan", name)
    g, text, said = _write_and_open(folder / "generator.pth", tmp_path, monkeypatch, capsys)
    assert g.plugin_name == "my_gan"  # the drop-in (sniff 1.0), not the stock family
    assert "# GUESS" in text and "eps 0.8" in text and "LeakyReLU(0.2)" in text
    assert "guessed (marked # GUESS)" in said and "activation" in said
    z = torch.from_numpy(np.load(folder / "z.npy"))
    assert np.abs(g.generate(z).numpy() - np.load(folder / "out_eval.npy")).max() <= 1e-5


@pytest.mark.shared
@pytest.mark.parametrize("name", list(WHOLE))
def test_plugin_new_for_whole_module_pickles_loads_as_written(tmp_path, monkeypatch, capsys, name):
    folder = shared_path("fixtures", "whole_module_pickles")
    g, text, said = _write_and_open(folder / name, tmp_path, monkeypatch, capsys)
    assert g.plugin_name == "my_gan"
    assert "weights_only=False" not in text and "pickle.load" not in text and "eval(" not in text
    if name != "generator_sequential.pth":  # the user's class: its forward is the guess
        assert "self.main(z)  # GUESS" in text and "forward" in said
    zfile, ref = WHOLE[name]
    z = torch.from_numpy(np.load(folder / zfile)).reshape(-1, g.info.z_dim)
    assert np.abs(g.generate(z).numpy() - np.load(folder / ref)).max() <= 1e-5


def test_unknown_layout_gets_a_marked_skeleton_and_says_so(tmp_path, capsys):
    net = nn.ModuleDict({"enc": nn.Linear(6, 10), "dec": nn.Sequential(nn.Conv2d(10, 3, 1), nn.Tanh())})
    ckpt = tmp_path / "odd.pth"
    torch.save(net.state_dict(), ckpt)
    out = tmp_path / "odd_plugin.py"
    assert main(["plugin", "new", str(ckpt), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "SKELETON" in said and "GUESS" in said
    text = out.read_text()
    assert text.count("# GUESS") >= 3 and "SKELETON" in text
    compile(text, str(out), "exec")  # a skeleton still parses: the author edits it, not its syntax


def test_plugin_new_refuses_to_overwrite_and_reports_one_line(tmp_path, capsys, tiny_dcgan_path):
    out = tmp_path / "mine.py"
    out.write_text("# my own work\n")
    assert main(["plugin", "new", str(tiny_dcgan_path), "--out", str(out)]) == 2
    assert out.read_text() == "# my own work\n"
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--force" in err
    assert main(["plugin", "new", str(tiny_dcgan_path), "--out", str(tmp_path / "x.txt")]) == 2


def test_plugin_new_for_a_leaky_pytorch_examples_file_marks_the_activation(tmp_path, capsys, tiny_dcgan_path):
    out = tmp_path / "netg.py"
    assert main(["plugin", "new", str(tiny_dcgan_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "nn.ReLU(True),  # GUESS: pytorch/examples uses ReLU; LeakyReLU(0.2) if you trained so" in text


def test_render_recipe_of_a_picked_variant_renders_that_variant(tmp_path, capsys, tiny_dcgan_path):
    """A recipe made on the LeakyReLU(0.2) variant of a file (its ModelRef records the pick after the hash)
    re-renders as that variant from the command line, without a 'changed' warning."""
    import json

    from PIL import Image

    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.render.engine import ModelCache, Renderer

    g = Registry.discover(search_paths=[]).open(tiny_dcgan_path).choose(activation="LeakyReLU(0.2)")
    ref = ModelRef(str(tiny_dcgan_path), g.model_id)
    assert ref.picks == {"activation": "LeakyReLU(0.2)"} and ModelRef("x", "abc").picks == {}
    recipe = Recipe(ref, SeedLatent(3))
    (tmp_path / "r.json").write_text(recipe.to_json())
    out = tmp_path / "a.png"
    assert main(["render", "--recipe", str(tmp_path / "r.json"), "--out", str(out), "--device", "cpu"]) == 0
    assert "differs" not in capsys.readouterr().err
    want = Renderer().render(g, recipe).image
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), want)
    assert ModelCache(torch.device("cpu")).get(ref).model_id == g.model_id
    plain = Renderer().render(g.choose(activation="ReLU"), recipe).image
    assert not np.array_equal(plain, want)
    json.loads((tmp_path / "r.json").read_text())  # still a plain recipe file

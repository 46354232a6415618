"""`latent-studio directions labellers|sample|fit`: on the demos and, with the example drop-ins, the real CelebA
DCGAN; bad requests are one line and exit status 2."""
from __future__ import annotations

import json

import pytest

from studio.model import labellers as L
from studio.model import registry as registry_mod
from tests.conftest import ROOT, run_cli, shared_path


@pytest.fixture
def examples_path(monkeypatch, tmp_path):
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(ROOT / "examples" / "plugins"))
    monkeypatch.setattr(registry_mod, "user_plugin_dir", lambda: tmp_path / "none")
    registry_mod.reset_default_registry()
    L.reset_labellers()
    yield
    registry_mod.reset_default_registry()
    L.reset_labellers()


def test_fit_on_the_real_celeba_dcgan_with_the_example_labeller(capsys, examples_path, tmp_path):
    ckpt = shared_path("real_checkpoints", "celeba_dcgan32", "generator.pt")
    code, out, err = run_cli(capsys, "directions", "labellers", ckpt, "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [x["name"] for x in listed["labellers"]] == ["CelebA tones"]
    assert "ToyFaces attribute model" in [x["name"] for x in listed["not_for_this_model"]]
    code, out, err = run_cli(capsys, "directions", "fit", ckpt, "--attribute", "Light_Hair", "--keep-fixed",
                             "Light_Background", "--n", "800", "--evaluate-seeds", "8", "--json",
                             "--out", tmp_path / "hair.lsdir")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["held_out_accuracy"] > ev["chance"] + 0.15
    assert ev["walk"]["change"]["Light_Hair"] > 0.4
    # keeping the background fixed takes most of its change out of the walk
    assert abs(ev["walk"]["change"]["Light_Background"]) < 0.5 * abs(ev["walk_before_projection"]["change"]["Light_Background"])
    assert (tmp_path / "hair.lsdir").is_file()


@pytest.mark.parametrize("args, message", [
    (["--attribute", "Wings"], "'Wings' is not offered"),
    (["--attribute", "Smiling", "--labeller", "Nobody"], "'Nobody' scoring 'Smiling' is not offered"),
    (["--attribute", "Smiling", "--keep-fixed", "Wings"], "does not score 'Wings'"),
    (["--attribute", "Smiling", "--keep-fixed", "Smiling"], "both edited and kept fixed"),
    (["--attribute", "Smiling", "--space", "w"], "no W space"),
    (["--attribute", "Smiling", "--scores", "x.csv"], "--scores and --samples go together"),
    ([], "name the --attribute"),
])
def test_bad_fit_requests_are_one_line(capsys, args, message):
    code, out, err = run_cli(capsys, "directions", "fit", "demo:dcgan", "--n", "40", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_sample_refuses_an_existing_folder_and_writes_latents_only_on_request(capsys, tmp_path):
    code, out, err = run_cli(capsys, "directions", "sample", "demo:dcgan", "--n", "5", "--no-images",
                             "--out", tmp_path / "s")
    assert code == 0 and (tmp_path / "s" / "latents.npy").is_file() and not (tmp_path / "s" / "images").exists()
    code, out, err = run_cli(capsys, "directions", "sample", "demo:dcgan", "--n", "5", "--out", tmp_path / "s")
    assert code == 2 and "already exists" in err

"""PGGAN (pytorch_GAN_zoo) and StyleGAN1 (rosinality) loaders reproduce the official code's reference
outputs in ../shared/fixtures (skipped when absent), and their scale / step / alpha choices work."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_path
from studio.core.recipe import ModelRef, Recipe, VectorLatent
from studio.core.style_edits import with_mix
from studio.errors import CheckpointError, RecipeError
from studio.model.registry import Registry

pytestmark = pytest.mark.shared

# pggan: the manifest's hint is ~1e-6 (our forward keeps the zoo's operation order and matches it exactly).
PGGAN_TOL = 1e-6


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _err(out: torch.Tensor, ref: np.ndarray) -> float:
    out = out.detach().cpu().numpy()
    assert out.shape == ref.shape
    return float(np.abs(out - ref).max())


# -- PGGAN -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def zoo() -> Path:
    return shared_path("fixtures", "pggan_gan_zoo")


def _zoo_save(path: Path, config: dict, legacy: bool = False, **parts: object) -> None:
    """torch.save as the zoo's trainer does: config pickled as a models.utils.config.BaseConfig (a module
    made up here for the save, removed after it: loading must never need it)."""
    import types

    names = ["models", "models.utils", "models.utils.config"]
    fake = {n: types.ModuleType(n) for n in names}
    BaseConfig = type("BaseConfig", (), {"__module__": "models.utils.config"})
    fake["models.utils.config"].BaseConfig = BaseConfig
    cfg = BaseConfig()
    cfg.__dict__.update(config)
    sys.modules.update(fake)
    try:
        torch.save({"config": cfg, **parts}, path, _use_new_zipfile_serialization=not legacy)
    finally:
        for n in names:
            sys.modules.pop(n, None)


def test_pggan_every_reference_output(registry, zoo):
    manifest = _manifest(zoo)
    z = torch.from_numpy(np.load(zoo / "z.npy"))
    outputs = manifest["outputs"]
    assert len(outputs) == 4
    for out in outputs:
        ckpt = next(c for c in manifest["checkpoints"] if c["file"] == out["checkpoint"])
        g = registry.open(zoo / out["checkpoint"])
        want = ("pggan", 32, ckpt["config"]["latentVectorDim"])
        assert (g.info.family, g.info.resolution, g.info.z_dim) == want
        choices = {c.name: c for c in g.info.choices}
        assert float(choices["alpha"].value) == ckpt["config_alpha"]  # read from the pickled BaseConfig
        assert choices["scale"].value == "3" and choices["scale"].values == ("0", "1", "2", "3")
        assert choices["network"].value == "avgG"
        network = "avgG" if out["network"].startswith("avgG") else "netG"
        g = g.choose(network=network)
        ref = np.load(zoo / out["file"])
        assert _err(g.generate(z), ref) <= PGGAN_TOL, out["file"]
        # What the manifest's sensitivity checks catch is caught here too: the other network is far off.
        other = g.choose(network="netG" if network == "avgG" else "avgG")
        assert _err(other.generate(z), ref) > 0.1


def test_pggan_loading_imports_nothing_from_the_file(registry, zoo):
    for name in list(sys.modules):
        assert not name.startswith("models"), name
    g = registry.open(zoo / "pgan_tiny_s3_i96000.pt")
    assert g.info.family == "pggan"
    assert not [m for m in sys.modules if m == "models" or m.startswith("models.")]


def test_pggan_fade_in_alpha_and_scale_picks(registry, zoo):
    z = torch.from_numpy(np.load(zoo / "z.npy"))
    g = registry.open(zoo / "pgan_tiny_s3_i12000.pt")  # alpha 0.25 in its config
    ref = np.load(zoo / "out_avgG_alpha025.npy")
    assert _err(g.generate(z), ref) <= PGGAN_TOL
    # alpha ignored, or the convention swapped, would be far off (the manifest's sensitivity)
    assert _err(g.choose(alpha="0").generate(z), ref) > 0.5
    assert _err(g.choose(alpha="0.75").generate(z), ref) > 0.5
    # The scales the file holds: each an image at its own size, a distinct model id, the file's alpha only
    # at the file's scale.
    ids = {g.model_id}
    for scale, res in enumerate((4, 8, 16)):
        s = g.choose(scale=str(scale))
        assert s.info.resolution == res and s.generate(z).shape == (4, 3, res, res)
        assert {c.name: c.value for c in s.info.choices}["alpha"] == "0"
        assert [st.name for st in s.stages][-1] == f"scale{scale}+torgb"
        ids.add(s.model_id)
    assert len(ids) == 4 and g.model_id == g.choose(scale="3").model_id
    back = g.choose(scale="1").choose(scale="3")
    assert back.model_id == g.model_id and torch.equal(back.generate(z), g.generate(z))
    with pytest.raises(RecipeError, match="scale must be one of 0, 1, 2, 3"):
        g.choose(scale="4")
    with pytest.raises(RecipeError, match="alpha must be a number from 0 to 1"):
        g.choose(alpha="1.5")


def test_pggan_hub_layout_with_a_dict_config_and_old_keys(registry, zoo, tmp_path):
    """The released hub files go through the same load_state_dict; their config may be a plain dict, and
    older files lack the '.module.' level in their keys."""
    from studio.model.safeload import load_torch

    from latent_studio_plugins.pggan.plugin import CONFIG_CLASS, _ZooConfig

    obj = load_torch(zoo / "pgan_tiny_s3_i12000.pt", stand_ins={CONFIG_CLASS: _ZooConfig})
    plain = {k.replace(".module.", "."): v for k, v in obj["avgG"].items()}
    hub = tmp_path / "celebaHQ_s3_i12000-6196db68.pth"
    torch.save({"config": dict(vars(obj["config"])), "netG": obj["netG"], "netD": obj["netD"],
                "avgG": plain}, hub)
    g = registry.open(hub)
    z = torch.from_numpy(np.load(zoo / "z.npy"))
    assert _err(g.generate(z), np.load(zoo / "out_avgG_alpha025.npy")) <= PGGAN_TOL
    # a config whose depths contradict the weights is refused in one sentence
    bad = dict(vars(obj["config"]), depthOtherScales=[12, 8])
    torch.save({"config": bad, "netG": obj["netG"], "netD": obj["netD"]}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"config gives scale depths \[16, 12, 8\] but its weights "
                                              r"have \[16, 12, 8, 6\]"):
        registry.open(tmp_path / "bad.pth")


# -- StyleGAN1 -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sg1() -> Path:
    return shared_path("fixtures", "stylegan1_rosinality")


def _arrays(folder: Path, *names: str) -> list[torch.Tensor]:
    return [torch.from_numpy(np.load(folder / f"{n}.npy")) for n in names]


def _close(out: torch.Tensor, folder: Path, name: str, atol: float = 1e-4) -> None:
    """The manifest's comparison: rtol 1e-5, atol 1e-4 (outputs are unbounded, |x| up to ~37)."""
    ref = np.load(folder / name)
    out_np = out.detach().cpu().numpy()
    assert out_np.shape == ref.shape
    assert np.allclose(out_np, ref, rtol=1e-5, atol=atol), (name, float(np.abs(out_np - ref).max()))


def with_fixture_noise(g, recipes, noise):
    """The recipes' stage inputs with the fixture's saved noise images in place of the noise mode."""
    ctx = g.context(recipes)
    ctx.extras.pop("noise", None)
    ctx.extras["noise_tensors"] = g._checked_noise(noise, len(recipes))
    ctx.cacheable = False
    return g.run(ctx)


@pytest.mark.parametrize("file", ["train_step-4.model", "030000.model"])
def test_stylegan1_every_reference_output(registry, sg1, file):
    manifest = _manifest(sg1)
    assert file in {c["file"] for c in manifest["checkpoints"]}
    g = registry.open(sg1 / file)
    step = {c.name: c for c in g.info.choices}["step"]
    if file.startswith("train_step"):  # trained up to step 3: its name says so
        assert step.value == "3" and "from the name train_step-4" in step.source
    else:  # a bare g_running file records no step; here every block's noise weights were perturbed
        assert step.value == "8" and "trained noise weights" in step.source
        g = g.choose(step="3")
    info = g.info
    assert (info.family, info.resolution, info.z_dim, info.w_dim, info.num_ws) == ("stylegan1", 32, 32, 32, 4)
    assert g.style_resolutions() == [4, 8, 16, 32]
    z, z_source, mean = _arrays(sg1, "z", "z_source", "mean_style")
    noise = _arrays(sg1, *(f"noise_{i}" for i in range(4)))
    # mean_style is generate.py's (seed 777), computed at load, not read from the fixture
    assert float((g.w_avg - mean[0]).abs().max()) <= 1e-6
    _close(g.generate(z, noise=noise), sg1, "out_step3_alpha1.npy")
    _close(g.generate(z, noise=noise), sg1, "out_step3_alpha_default.npy")
    _close(g.generate(z, 0.7, noise=noise), sg1, "out_step3_alpha1_psi07.npy")
    _close(g.choose(alpha="0.25").generate(z, noise=noise), sg1, "out_step3_alpha025.npy")
    # style_mixing(mixing_range=(0, 1)): blocks 0-1 from z_source, 2-3 from z, both truncated to mean_style
    ws = torch.cat([g.map(z_source, truncation=0.7)[:, :2], g.map(z, truncation=0.7)[:, 2:]], dim=1)
    _close(g.synthesize(ws, noise=noise), sg1, "out_mix_range01_psi07.npy")
    # ... and as the studio's recipes: z with a Mix edit of style inputs [0, 2) from z_source
    recipes = [with_mix(Recipe(ModelRef("sg1"), VectorLatent(tuple(a.tolist())), truncation=0.7), "mix:B",
                        (0, 2), values=tuple(b.tolist())) for a, b in zip(z, z_source)]
    _close(with_fixture_noise(g, recipes, noise), sg1, "out_mix_range01_psi07.npy")
    # step 5: 128 px, through progression[4] (upsample + conv) and progression[5] (FusedUpsample). The
    # manifest's own independent reimplementation is 2e-4 off here (float32 summation order in the
    # transposed conv, |x| up to 37), so atol 3e-4; we measure 2.3e-4.
    g5 = g.choose(step="5")
    assert g5.info.resolution == 128 and g5.info.num_ws == 6
    _close(g5.generate(z[:1], noise=_arrays(sg1, *(f"noise5_{i}" for i in range(6)))), sg1,
           "out_step5_alpha1.npy", atol=3e-4)


def test_stylegan1_noise_modes_and_errors(registry, sg1):
    from studio.render.engine import Renderer
    from studio.core.recipe import SeedLatent

    g = registry.open(sg1 / "train_step-4.model")
    z = _arrays(sg1, "z")[0]
    noise = _arrays(sg1, *(f"noise_{i}" for i in range(4)))
    with_noise = g.generate(z, noise=noise)
    # the saved noise matters (the manifest's "fresh random noise" sensitivity is 13.5)
    assert _err(g.generate(z, noise="none"), with_noise.numpy()) > 1.0
    assert torch.equal(g.generate(z, noise="const"), g.generate(z, noise="const"))
    with pytest.raises(RecipeError, match="3 noise images for a step-3 model; it needs 4"):
        g.generate(z, noise=noise[:3])
    with pytest.raises(RecipeError, match=r"noise image 1 has shape \[4, 1, 4, 4\]"):
        g.generate(z, noise=[noise[0], noise[0], noise[2], noise[3]])
    # recipes: seeded random noise renders the same twice; a late style edit re-runs only the last block
    r = Renderer()
    base = Recipe(ModelRef("sg1"), SeedLatent(3), noise="random", noise_seed=5)
    first = r.render(g, base)
    assert [st.name for st in g.stages] == ["b4.conv", "b8.conv", "b16.conv", "b32.conv", "torgb"]
    assert first.stages_run == len(g.stages) == 5
    again = Renderer().render(g, base)
    assert np.array_equal(first.image, again.image)
    fine = with_mix(base, "mix:rows:3-3", (3, 4), seed=9)
    inc = r.render(g, fine)
    assert inc.stages_run == 2 and not np.array_equal(inc.image, first.image)  # the last block and torgb
    # the last block's features stay inspectable while it fades in (its skip RGB rides beside them)
    from studio.model.layer_labels import layer_shapes

    assert layer_shapes(g.choose(alpha="0.5"))["b32.conv"] == (8, 32, 32)


def test_stylegan1_renamed_training_file_takes_its_step_from_the_weights(registry, sg1, tmp_path):
    """Untrained blocks keep NoiseInjection's zero init; the step follows from the last trained one."""
    sd = torch.load(sg1 / "030000.model", weights_only=True)
    for i in range(4, 9):
        for k in (1, 2):
            sd[f"generator.progression.{i}.noise{k}.weight_orig"].zero_()
    path = tmp_path / "renamed.pt"
    torch.save(sd, path)
    g = registry.open(path)
    step = {c.name: c for c in g.info.choices}["step"]
    assert step.value == "3" and g.info.resolution == 32
    z = _arrays(sg1, "z")[0]
    _close(g.generate(z, noise=_arrays(sg1, *(f"noise_{i}" for i in range(4)))), sg1, "out_step3_alpha1.npy")


def test_pggan_file_that_would_run_code_is_refused_and_nothing_runs(registry, zoo, tmp_path):
    """A zoo-looking checkpoint (BaseConfig, netG) that also pickles a call to os.system: the allow-list
    unpickler admits only the inert BaseConfig stand-in, so the call is refused and the marker never
    appears."""
    import os

    from studio.model.safeload import load_torch

    from latent_studio_plugins.pggan.plugin import CONFIG_CLASS, _ZooConfig

    obj = load_torch(zoo / "pgan_tiny_s3_i96000.pt", stand_ins={CONFIG_CLASS: _ZooConfig})
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    config = vars(obj["config"])
    _zoo_save(tmp_path / "e.pt", config, netG=obj["netG"], avgG=obj["avgG"], hook=Evil())
    with pytest.raises(CheckpointError, match="refusing to execute them") as err:
        registry.open(tmp_path / "e.pt")
    assert "allow" not in str(err.value).lower() and not marker.exists()
    # ...and the same file without the call loads (the BaseConfig itself is data)
    _zoo_save(tmp_path / "ok.pt", config, netG=obj["netG"], avgG=obj["avgG"])
    assert registry.open(tmp_path / "ok.pt").info.family == "pggan"


def test_pggan_sizes_come_from_the_weights(registry, zoo, tmp_path):
    from studio.model.safeload import load_torch

    from latent_studio_plugins.pggan.plugin import CONFIG_CLASS, _ZooConfig

    obj = load_torch(zoo / "pgan_tiny_s3_i96000.pt", stand_ins={CONFIG_CLASS: _ZooConfig})
    huge = dict(vars(obj["config"]), dimOutput=10 ** 12)
    torch.save({"config": huge, "netG": obj["netG"]}, tmp_path / "claims.pth")
    with pytest.raises(CheckpointError, match="1e\\+12 output channels but its weights take 24 and give 3"):
        registry.open(tmp_path / "claims.pth")


def test_pggan_acgan_category_values_are_the_condition(registry, zoo, tmp_path):
    """With attributes (categoryVectorDim > 0) formatLayer reads the noise, then the category one-hots:
    those are the model's condition, not part of the standard-normal z."""
    from studio.model.safeload import load_torch

    from latent_studio_plugins.pggan.plugin import CONFIG_CLASS, _ZooConfig

    obj = load_torch(zoo / "pgan_tiny_s3_i96000.pt", stand_ins={CONFIG_CLASS: _ZooConfig})
    cfg = dict(vars(obj["config"]), noiseVectorDim=20, categoryVectorDim=4)
    torch.save({"config": cfg, "netG": obj["netG"], "avgG": obj["avgG"]}, tmp_path / "ac.pth")
    g = registry.open(tmp_path / "ac.pth")
    assert (g.info.z_dim, g.info.c_dim) == (20, 4)
    z = torch.from_numpy(np.load(zoo / "z.npy"))
    assert _err(g.generate(z[:, :20], c=z[:, 20:]), np.load(zoo / "out_avgG_alpha0.npy")) <= PGGAN_TOL


def test_stylegan1_released_file_takes_its_step_from_its_size(registry, sg1, tmp_path):
    """The README's released files (stylegan-256px-new.model: a dict with g_running) name their size, which
    is what generate.py --size turns into the step."""
    sd = torch.load(sg1 / "030000.model", weights_only=True)
    torch.save({"g_running": sd}, tmp_path / "stylegan-32px-new.model")
    g = registry.open(tmp_path / "stylegan-32px-new.model")
    step = {c.name: c for c in g.info.choices}["step"]
    assert step.value == "3" and "from the name stylegan-32px-new (32 px)" in step.source
    assert g.info.format == "rosinality released checkpoint (g_running)"
    z = _arrays(sg1, "z")[0]
    _close(g.generate(z, noise=_arrays(sg1, *(f"noise_{i}" for i in range(4)))), sg1, "out_step3_alpha1.npy")


def test_pggan_legacy_format_file(registry, zoo, tmp_path):
    """The released files date from torch 1.x: the same dict in torch's legacy (non-zip) format loads too."""
    from studio.model.safeload import load_torch

    from latent_studio_plugins.pggan.plugin import CONFIG_CLASS, _ZooConfig

    obj = load_torch(zoo / "pgan_tiny_s3_i12000.pt", stand_ins={CONFIG_CLASS: _ZooConfig})
    _zoo_save(tmp_path / "celebaHQ_s3_i12000-6196db68.pth", vars(obj["config"]), legacy=True,
              netG=obj["netG"], netD=obj["netD"], avgG=obj["avgG"])
    g = registry.open(tmp_path / "celebaHQ_s3_i12000-6196db68.pth")
    z = torch.from_numpy(np.load(zoo / "z.npy"))
    assert _err(g.generate(z), np.load(zoo / "out_avgG_alpha025.npy")) <= PGGAN_TOL

"""Plugin discovery: entry points, drop-in files, and plugins that misbehave."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import studio
from studio.errors import CheckpointError
from studio.model import registry as registry_mod
from studio.model.registry import Registry

DROPIN = '''
from studio.model.api import ModelInfo
from studio.model.modules import module_generator
import torch

class Doubler:
    """Reads any state_dict with a single 'scale' tensor: output = tanh(z * scale) as a 1x1 'image'."""
    name = "{name}"
    formats = "scale-only test checkpoints"

    def sniff(self, probe):
        sd = probe.state_dict()
        return 1.0 if sd is not None and set(sd) == {{"scale"}} else 0.0

    def load(self, probe, device):
        net = torch.nn.Sequential(torch.nn.Tanh())
        scale = float(probe.state_dict()["scale"])
        info = ModelInfo(family="toy", format="scale", resolution=1, channels=3, z_dim=3)
        return module_generator(net, info, device, input_fn=lambda ctx: (ctx.z * scale).reshape(-1, 3, 1, 1))

plugin = Doubler()
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch) -> Path:
    """An empty drop-in folder on $LATENT_STUDIO_PLUGIN_PATH, and no real user plugin folder."""
    d = tmp_path / "plugins"
    d.mkdir()
    monkeypatch.setenv(registry_mod.PLUGIN_PATH_ENV, str(d))
    monkeypatch.setattr(registry_mod, "user_plugin_dir", lambda: tmp_path / "no-user-plugins")
    registry_mod.reset_default_registry()
    yield d
    registry_mod.reset_default_registry()


def test_discovery_finds_the_dcgan_entry_point(tiny_dcgan_path):
    reg = Registry.discover(search_paths=[])
    assert "DCGAN" in [p.name for p in reg.plugins] and reg.problems == []
    assert "pytorch/examples" in reg.describe_formats()
    g = reg.open(tiny_dcgan_path)
    assert g.info.family == "dcgan" and g.info.resolution == 32


def test_dropin_file_on_plugin_path_is_found_and_loads(plugin_dir, tmp_path):
    (plugin_dir / "scale_plugin.py").write_text(DROPIN.format(name="Scale toy"))
    (plugin_dir / "_private_helper.py").write_text("raise RuntimeError('underscore files are not plugins')")
    ckpt = tmp_path / "toy.pth"
    torch.save({"scale": torch.tensor(2.0)}, ckpt)
    g = studio.load(ckpt, device="cpu")
    assert g.info.family == "toy"
    z = torch.tensor([[0.1, -0.2, 0.3]])
    assert torch.allclose(g.generate(z).flatten(), torch.tanh(2.0 * z).flatten(), atol=1e-6)
    reg = registry_mod.default_registry()
    assert [p.name for p in reg.plugins][-1] == "Scale toy" and "DCGAN" in [p.name for p in reg.plugins]
    assert reg.problems == []


def test_dropin_that_fails_to_import_is_reported_and_others_still_work(plugin_dir, tmp_path, tiny_dcgan_path):
    (plugin_dir / "a_broken.py").write_text("raise ImportError('needs the frobnicate package')\n")
    (plugin_dir / "b_not_a_plugin.py").write_text("plugin = 42\n")
    (plugin_dir / "c_scale.py").write_text(DROPIN.format(name="Scale toy"))
    reg = Registry.discover()
    assert [p.name for p in reg.plugins][-1] == "Scale toy" and "DCGAN" in [p.name for p in reg.plugins]
    assert len(reg.problems) == 2
    assert "a_broken.py" in reg.problems[0] and "needs the frobnicate package" in reg.problems[0]
    assert "b_not_a_plugin.py" in reg.problems[1] and "not a GeneratorPlugin" in reg.problems[1]
    assert reg.open(tiny_dcgan_path).info.family == "dcgan"
    ckpt = tmp_path / "toy.pth"
    torch.save({"scale": torch.tensor(1.0)}, ckpt)
    assert reg.open(ckpt).info.family == "toy"


def test_dropin_cannot_replace_a_registered_family(plugin_dir):
    (plugin_dir / "impostor.py").write_text(DROPIN.format(name="DCGAN"))
    reg = Registry.discover()
    assert [type(p).__name__ for p in reg.plugins if p.name == "DCGAN"] == ["DCGANPlugin"]


class _Raises:
    formats = "nothing"

    def __init__(self, name: str, where: str, score: float = 1.0):
        self.name, self.where, self.score = name, where, score

    def sniff(self, probe):
        if self.where == "sniff":
            raise ZeroDivisionError("sniff exploded")
        return self.score

    def load(self, probe, device):
        raise KeyError("load exploded")


def test_plugin_raising_in_sniff_is_skipped(tiny_dcgan_path):
    from latent_studio_plugins.dcgan import plugin as dcgan

    assert Registry([_Raises("bad", "sniff"), dcgan]).open(tiny_dcgan_path).info.family == "dcgan"
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        Registry([_Raises("bad", "sniff")]).open(Path(__file__))


def test_plugin_raising_in_load_gives_a_message_and_falls_back(tiny_dcgan_path):
    from latent_studio_plugins.dcgan import plugin as dcgan

    # The broken plugin is more confident, so it is tried first; the next candidate still loads the file.
    assert Registry([_Raises("bad", "load"), dcgan]).open(tiny_dcgan_path).info.family == "dcgan"
    with pytest.raises(CheckpointError) as err:
        Registry([_Raises("bad", "load")]).open(tiny_dcgan_path)
    msg = str(err.value)
    assert "netG_epoch_3.pth could not be loaded" in msg and "bad plugin failed: KeyError" in msg
    assert "load exploded" in msg


def test_module_with_plugins_list_registers_each(tmp_path):
    src = DROPIN.format(name="One") + "\nPLUGINS = [Doubler(), type('Two', (Doubler,), {'name': 'Two'})]\n"
    f = tmp_path / "multi.py"
    f.write_text(src)
    reg = Registry.discover(search_paths=[f])
    # entry-point families first (DCGAN among them), then the drop-in module's plugins in order
    assert [p.name for p in reg.plugins][-2:] == ["One", "Two"] and "DCGAN" in [p.name for p in reg.plugins]

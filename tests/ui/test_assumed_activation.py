"""A DCGAN-layout file trained with LeakyReLU, in the real main window: the model panel says the activation
was assumed, and picking LeakyReLU(0.2) there renders the network that was trained, recorded in the recipe's
model reference."""
from __future__ import annotations

import torch
from torch import nn

from studio.render.engine import Renderer
from tests.conftest import make_dcgan

from .helpers import drop_files


def test_the_assumed_activation_is_shown_and_switching_it_renders_the_trained_network(qtbot, window, tmp_path):
    net = make_dcgan(z_dim=16, ngf=8, seed=4)
    leaky = nn.Sequential(*[nn.LeakyReLU(0.2) if isinstance(m, nn.ReLU) else m for m in net]).eval()
    path = tmp_path / "netG_epoch_9.pth"
    torch.save({f"main.{k}": v for k, v in leaky.state_dict().items()}, path)
    s, box = window.session, window.model_panel.choices
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [path])
    assert box.isVisibleTo(window.model_panel) and box.editors["activation"].currentText() == "ReLU"
    assert box.notes["activation"].text().startswith("assumed")
    plain = window.canvas.image().copy()
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        box.editors["activation"].textActivated.emit("LeakyReLU(0.2)")
    assert s.recipe.model.sha256.endswith("#activation=LeakyReLU(0.2)")
    assert box.editors["activation"].currentText() == "LeakyReLU(0.2)" and box.notes["activation"].text() == "picked"
    with torch.no_grad():
        truth = leaky(s.generator.latents([s.recipe.latent.seed]).reshape(1, -1, 1, 1))
    assert torch.allclose(s.generator.run(s.generator.recipe_context([s.recipe])), truth, atol=1e-6, rtol=0)
    shown = window.canvas.image()
    assert (shown != plain).any() and (shown == Renderer().render(s.generator, s.recipe).image).all()


def test_a_project_saved_with_the_picked_activation_reopens_as_that_variant(qtbot, window, tmp_path):
    net = make_dcgan(z_dim=16, ngf=8, seed=5)
    leaky = nn.Sequential(*[nn.LeakyReLU(0.2) if isinstance(m, nn.ReLU) else m for m in net]).eval()
    path = tmp_path / "netG_epoch_2.pth"
    torch.save({f"main.{k}": v for k, v in leaky.state_dict().items()}, path)
    s, box = window.session, window.model_panel.choices
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [path])
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        box.editors["activation"].textActivated.emit("LeakyReLU(0.2)")
    s.update("seed", recipe=s.recipe.with_seed(7))
    project, picked = s.project(), s.generator.model_id
    errors: list[str] = []
    s.error.connect(errors.append)
    with qtbot.waitSignal(s.projectRestored, timeout=20000):
        s.open_model(path, project)
    assert not errors and s.generator.model_id == picked and s.recipe.latent.seed == 7
    assert box.editors["activation"].currentText() == "LeakyReLU(0.2)"

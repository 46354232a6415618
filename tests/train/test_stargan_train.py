"""The StarGAN demo trainer: valid targets and counterfactuals, deterministic resume, and an export that the
studio's own loader opens and translates with."""
from __future__ import annotations

import numpy as np
import torch

import studio
from studio.demo import toyfaces
from studio.train import stargan
from studio.train.loop import load_state

from .resume import assert_resume_matches

TINY = stargan.Hyper(conv_dim=4, repeat_num=1, d_conv_dim=4, d_repeat=3)


def test_targets_are_valid_and_counterfactuals_change_only_the_labels():
    x, c_org, c_trg, x_cf = stargan.training_batch(24, step=3, seed=1, p_single=0.5)
    hair = list(stargan.HAIR)
    assert torch.all(c_trg[:, hair].sum(1) == 1)  # exactly one hair colour
    assert set(torch.unique(c_trg).tolist()) <= {0.0, 1.0}
    params = toyfaces.sample_params(np.random.default_rng([1, 3]), 24)
    cf = toyfaces.render_batch([stargan.with_labels(p, t) for p, t in zip(params, c_trg.numpy())])
    assert np.array_equal(cf.binary, c_trg.numpy())  # the rendered face carries exactly the target labels
    same = (c_trg == c_org).all(1)
    assert same.any() and not same.all()
    assert torch.equal(x_cf[same], x[same])  # unchanged labels: the very same image
    assert not torch.equal(x_cf[~same], x[~same])
    # The same (seed, step) replays the same batch; another step does not.
    again = stargan.training_batch(24, step=3, seed=1, p_single=0.5)
    assert all(torch.equal(a, b) for a, b in zip((x, c_org, c_trg, x_cf), again))
    assert not torch.equal(stargan.training_batch(24, step=4, seed=1, p_single=0.5)[0], x)


def test_discriminator_heads_have_the_yunjey_shapes():
    d = stargan.Discriminator(64, conv_dim=4, repeat_num=3)
    src, cls = d(torch.zeros(2, 3, 64, 64))
    assert src.shape == (2, 1, 8, 8) and cls.shape == (2, 6)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    assert_resume_matches(stargan.train, tmp_path, batch=2, h=TINY, progress=False, save_every=2)
    assert load_state(tmp_path / "cut" / "state.pt", {}).step == 4


def test_export_loads_through_studio_load_and_translates(tmp_path):
    g_net, state = stargan.train(tmp_path / "run", 2, batch=2, h=TINY, progress=False)
    path = tmp_path / "sg.safetensors"
    stargan.export(g_net, path, state, TINY)
    g = studio.load(str(path), device="cpu")
    assert g.info.family == "stargan" and g.info.resolution == 64
    assert g.info.attributes == toyfaces.BINARY_ATTRIBUTES
    assert g.exclusive_groups == ((0, 1, 2),)
    assert "safetensors" in g.info.format and g.info.name == "StarGAN ToyFaces 64"
    x = stargan.to_tensor(toyfaces.sample(3, 5).images)
    c = torch.tensor([[0, 1, 0, 1, 0, 1]] * 3, dtype=torch.float32)
    out = g.translate(x, c)
    with torch.no_grad():  # fp16 storage: the loaded model matches the trained one to half precision
        ref = g_net.half().float()(x, c)
    assert out.shape == (3, 3, 64, 64)
    assert (out - ref).abs().max() < 1e-3

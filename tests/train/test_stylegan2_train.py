"""The StyleGAN2 demo trainer: gradients reach every trainable tensor, style mixing really mixes, resume is
deterministic, and the export opens through the studio's own loader with a working w_avg."""
from __future__ import annotations

import torch

import studio
from latent_studio_plugins.stylegan.ops import bias_act
from studio.train import stylegan2

from .resume import assert_resume_matches

TINY = stylegan2.generator_config(z_dim=16, mapping_layers=2, channels=(16, 16, 8, 8, 8))


def test_bias_act_autograd_path_gives_the_inference_values():
    x = torch.randn(2, 4, 5, 5)
    b = torch.randn(4)
    ref = bias_act(x.clone(), b, "lrelu", gain=1.4, clamp=0.7, inplace=True)
    xg = x.clone().requires_grad_(True)
    out = bias_act(xg, b, "lrelu", gain=1.4, clamp=0.7, inplace=True)
    assert torch.equal(out, ref)
    out.sum().backward()
    assert xg.grad is not None and torch.equal(x, xg.detach())  # the input was not overwritten


def test_every_trainable_tensor_gets_a_gradient_and_the_effective_weights_match_the_network():
    torch.manual_seed(0)
    g = stylegan2.TrainableG(TINY)
    img = g.synthesis(g.mixed_ws(torch.randn(4, 16)))
    assert img.shape == (4, 3, 64, 64)
    img.square().mean().backward()
    missing = [k for k, p in g.raw.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    sd = g.net.state_dict()  # the network's buffers start at raw * gain (what the export will hold)
    for name, value in g.effective().items():
        assert torch.equal(sd[name], value.detach()), name
    # Mapping weights carry the 0.01 learning-rate multiplier; demodulated conv weights no gain at all.
    assert g.gains["mapping.fc0.weight"] == 0.01 / 4.0
    assert g.gains["synthesis.b8.conv0.weight"] == 1.0


def test_style_mixing_takes_late_styles_from_a_second_latent():
    torch.manual_seed(1)
    g = stylegan2.TrainableG(TINY)
    z = torch.randn(3, 16)
    torch.manual_seed(5)
    plain = g.mixed_ws(z, prob=0.0)
    assert torch.equal(plain, plain[:, :1].expand_as(plain))  # no mixing: one w for every layer
    mixed = g.mixed_ws(z, prob=1.0)
    same = (mixed == plain).all(dim=2).all(dim=0)
    assert same[0] and not same.all()  # the first style stays, a tail comes from another z
    k = int(same.float().argmin())
    assert same[:k].all() and not same[k:].any()


def test_resume_matches_an_uninterrupted_run(tmp_path):
    g_full = assert_resume_matches(stylegan2.train, tmp_path, batch=4, cfg=TINY, progress=False, save_every=2,
                                   r1_every=2)
    w_avg = g_full.mapping.w_avg
    assert w_avg.abs().sum() > 0  # tracked during training, not left at zero


def test_export_loads_through_studio_load_with_w_avg(tmp_path):
    g_net, state = stylegan2.train(tmp_path / "run", 2, batch=4, cfg=TINY, progress=False)
    path = tmp_path / "sg2.safetensors"
    stylegan2.export(g_net, path, state)
    g = studio.load(str(path), device="cpu")
    assert g.info.family == "stylegan2" and g.info.resolution == 64
    assert g.info.name == "StyleGAN2 ToyFaces 64" and "safetensors" in g.info.format
    z = torch.randn(3, 16)
    with torch.no_grad():  # fp16 storage: the loaded model matches the trained one to half precision
        ref = g_net.half().float()(z)
    assert (g.generate(z) - ref).abs().max() < 1e-3
    assert torch.allclose(g.w_avg, g_net.mapping.w_avg, atol=1e-3)
    centre = g.generate(z, truncation=0.0)  # psi 0: every latent lands on w_avg, one image
    assert torch.allclose(centre, centre[:1].expand_as(centre), atol=1e-5)


def test_r1_gamma_reaches_the_discriminator_and_the_exported_header(tmp_path, capsys):
    import json

    from safetensors import safe_open

    def d_after_one_step(gamma: float, run: str) -> dict[str, torch.Tensor]:
        stylegan2.train(tmp_path / run, 1, batch=4, cfg=TINY, progress=False, r1_gamma=gamma)
        return torch.load(tmp_path / run / "state.pt", weights_only=True)["D"]

    weak, strong = d_after_one_step(0.1, "weak"), d_after_one_step(10.0, "strong")
    assert any(not torch.equal(weak[k], strong[k]) for k in weak)  # step 0 is an R1 step
    out = tmp_path / "sg2.safetensors"
    assert stylegan2.main(["--steps", "1", "--batch", "2", "--device", "cpu", "--r1-gamma", "0.5",
                           "--out-dir", str(tmp_path / "cli"), "--export", str(out)]) == 0
    with safe_open(str(out), "pt") as f:  # the header says how to rerun the command
        header = json.loads(f.metadata()["latent_studio"])
    assert header["r1_gamma"] == 0.5 and header["steps"] == 1 and header["device"] == "cpu"

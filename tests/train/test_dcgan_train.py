"""The DCGAN demo trainer: resume is deterministic, the returned generator is the weight average with its own
BatchNorm statistics, and the export opens through the studio's loader."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import studio
from latent_studio_plugins.dcgan.network import build
from studio.train import dcgan

from .resume import assert_resume_matches

TINY = dict(batch=4, z_dim=8, ngf=4, ndf=4, progress=False, save_every=2, sample_every=2)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    assert_resume_matches(dcgan.train, tmp_path, **TINY)


def test_the_generator_returned_is_the_weight_average_not_the_last_step(tmp_path):
    g_ema, _ = dcgan.train(tmp_path / "run", 6, **TINY)
    payload = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    last = payload["G"]
    convs = [k for k in last if k.endswith("weight") and last[k].dim() == 4]
    ema = g_ema.state_dict()
    assert any(not torch.equal(ema[k], last[k]) for k in convs)  # averaged, so behind the last step
    for k in convs:
        assert torch.equal(ema[k], payload["G_ema"][k])
    assert not g_ema.training


def test_batchnorm_statistics_are_measured_with_the_averaged_weights():
    torch.manual_seed(0)
    g = build(dcgan.generator_config(8, 4))
    g.apply(dcgan._init)
    first = next(m for m in g.modules() if isinstance(m, nn.BatchNorm2d))
    seen = []
    hook = first.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    dcgan.recalibrate_batchnorm(g, 8, batches=3, batch=32)
    hook.remove()
    acts = torch.cat(seen)  # every calibration batch, equally weighted
    assert torch.allclose(first.running_mean, acts.mean(dim=(0, 2, 3)), atol=1e-5)
    assert not g.training and first.momentum == 0.1  # the training momentum is put back


def test_discriminator_scores_each_image_on_its_own():
    """R1 penalises each real image's gradient: a logit must not depend on the rest of the batch."""
    torch.manual_seed(0)
    d = dcgan.discriminator(4).apply(dcgan._init)
    x = torch.randn(5, 3, 64, 64)
    alone = torch.cat([d(x[i:i + 1]) for i in range(5)])
    assert d(x).shape == (5, 1) and torch.allclose(d(x), alone, atol=1e-6)


def test_lazy_r1_is_the_scaled_squared_input_gradient():
    from studio.train.loop import lazy_r1

    w = torch.randn(3, 8, 8)
    linear = lambda x: (x * w).sum(dim=(1, 2, 3))  # noqa: E731  (gradient w for every image)
    real = torch.randn(4, 3, 8, 8)
    penalty = lazy_r1(linear, real, gamma=2.0, every=16)
    assert torch.allclose(penalty, w.square().sum() * (2.0 / 2) * 16)
    assert not real.requires_grad  # the caller's batch is left as it was


def test_r1_gamma_reaches_the_discriminator(tmp_path):
    def d_after_one_step(gamma: float, run: str) -> dict[str, torch.Tensor]:
        dcgan.train(tmp_path / run, 1, r1_gamma=gamma, **TINY)
        return torch.load(tmp_path / run / "state.pt", weights_only=True)["D"]

    weak, strong = d_after_one_step(0.1, "weak"), d_after_one_step(100.0, "strong")
    assert any(not torch.equal(weak[k], strong[k]) for k in weak)  # step 0 is an R1 step


def test_path_length_penalty_measures_how_far_the_image_moves_per_step_in_z():
    g = nn.ConvTranspose2d(8, 3, 4, bias=False)  # linear in z: doubling it doubles every path length
    z = torch.randn(6, 8, 1, 1)

    def penalty(scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        pl = dcgan.PathLength(decay=0.25)
        torch.manual_seed(0)  # the same image-space noise for both
        with torch.no_grad():
            g.weight.mul_(scale)
        out = pl.penalty(g, z, weight=1.0, every=1)
        with torch.no_grad():
            g.weight.div_(scale)
        return out, pl.mean

    p1, mean1 = penalty(1.0)
    p2, mean2 = penalty(2.0)
    assert torch.allclose(mean2, 2 * mean1) and mean1 > 0  # the running mean moved a quarter of the way
    assert torch.allclose(p2, 4 * p1, rtol=1e-4)  # a squared deviation from that mean


def test_path_length_weight_reaches_the_generator(tmp_path):
    def g_after_one_step(weight: float, run: str) -> dict[str, torch.Tensor]:
        dcgan.train(tmp_path / run, 1, pl_weight=weight, **TINY)
        return torch.load(tmp_path / run / "state.pt", weights_only=True)["G"]

    weak, strong = g_after_one_step(0.1, "weak"), g_after_one_step(10.0, "strong")
    assert any(not torch.equal(weak[k], strong[k]) for k in weak)  # step 0 is a path length step


def test_export_loads_through_studio_load(tmp_path):
    g_net, state = dcgan.train(tmp_path / "run", 2, **TINY)
    path = tmp_path / "dcgan.safetensors"
    dcgan.export(g_net, path, state)
    g = studio.load(str(path), device="cpu")
    assert g.info.family == "dcgan" and g.info.resolution == 64
    z = torch.randn(3, 8)
    with torch.no_grad():
        ref = g_net.half().float()(z.reshape(3, 8, 1, 1))
    assert (g.generate(z) - ref).abs().max() < 1e-2


def test_a_state_from_another_trainer_version_is_refused_by_name(tmp_path):
    from studio.errors import StudioError

    dcgan.train(tmp_path / "run", 1, **TINY)
    state = tmp_path / "run" / "state.pt"
    payload = torch.load(state, weights_only=True)
    del payload["G_ema"]  # what a run started before the EMA generator existed holds
    torch.save(payload, state)
    with pytest.raises(StudioError, match="has no G_ema.*new --out-dir"):
        dcgan.train(tmp_path / "run", 2, **TINY)


def test_last_weights_follow_the_same_trajectory_as_the_average(tmp_path):
    g_last, _ = dcgan.train(tmp_path / "last", 3, weights="last", **TINY)
    dcgan.train(tmp_path / "ema", 3, **TINY)
    trained = torch.load(tmp_path / "ema" / "state.pt", weights_only=True)["G"]
    for k, v in g_last.state_dict().items():  # the average changes what is returned, not the training
        assert torch.equal(v, trained[k]), k
    assert not g_last.training


def test_command_line_exports_only_when_asked_and_says_what_it_wrote(tmp_path, capsys):
    import json

    base = ["--steps", "1", "--batch", "2", "--device", "cpu", "--out-dir", str(tmp_path / "run")]
    assert dcgan.main(base) == 0
    assert not list(tmp_path.glob("*.safetensors")) and capsys.readouterr().out == ""
    out = tmp_path / "demo.safetensors"
    more = ["--export", str(out), "--weights", "last", "--r1-gamma", "7", "--pl-weight", "0.5"]
    assert dcgan.main(base + more) == 0
    said = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert said["exported"] == str(out) and said["steps"] == 1
    g = studio.load(str(out), device="cpu")
    assert g.info.family == "dcgan"
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:  # the header says how to rerun the command
        header = json.loads(f.metadata()["latent_studio"])
    assert header["steps"] == 1 and header["seed"] == 0 and header["batch"] == 2
    assert header["device"] == "cpu" and header["weights"] == "last" and header["r1_gamma"] == 7.0
    assert header["pl_weight"] == 0.5

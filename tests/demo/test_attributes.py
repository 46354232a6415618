import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from studio.demo import attributes, toyfaces
from studio.demo.toyfaces import BINARY_ATTRIBUTES, CONTINUOUS_FACTORS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def net() -> attributes.AttributeNet:
    return attributes.train_attribute_model(steps=100, batch=8, seed=0, log=None)


@pytest.fixture(scope="module")
def held_out() -> toyfaces.ToyFacesBatch:
    return toyfaces.sample(200, seed=424242)


def test_short_training_learns_hair_colour(net, held_out):
    pred = attributes.predict(net, held_out.images)
    hair_probs = np.stack([pred[n] for n in BINARY_ATTRIBUTES[:3]], axis=1)
    acc = (hair_probs.argmax(1) == held_out.binary[:, :3].argmax(1)).mean()
    assert acc > 0.9, acc  # chance is 1/3


def test_predict_keys_shapes_and_ranges(net, held_out):
    pred = attributes.predict(net, held_out.images[:7])
    assert set(pred) == set(BINARY_ATTRIBUTES) | set(CONTINUOUS_FACTORS)
    for name in BINARY_ATTRIBUTES:
        assert pred[name].shape == (7,) and np.all((pred[name] >= 0) & (pred[name] <= 1))
    assert all(pred[name].shape == (7,) for name in CONTINUOUS_FACTORS)


def test_input_conventions_agree(net, held_out):
    imgs = held_out.images[:4]
    as_uint8 = attributes.to_input(imgs)
    as_float = attributes.to_input(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0)
    assert as_uint8.shape == (4, 3, 64, 64)
    assert float(as_uint8.min()) >= -1.0 and float(as_uint8.max()) <= 1.0
    torch.testing.assert_close(as_uint8, as_float)
    # A 2x nearest upscale is undone exactly by area resizing back to 64x64.
    big = imgs.repeat(2, axis=1).repeat(2, axis=2)
    torch.testing.assert_close(attributes.to_input(big), as_uint8)
    assert attributes.to_input(imgs[0]).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError):
        attributes.to_input(np.zeros((2, 64, 64), np.uint8))


def test_save_load_round_trip(net, held_out, tmp_path):
    x = attributes.to_input(held_out.images[:16])
    with torch.no_grad():
        ref_logits, ref_regs = net(x)
    path = tmp_path / "attr.safetensors"
    attributes.save(net, path, info={"steps": 150})
    loaded = attributes.load(path)
    with torch.no_grad():
        logits, regs = loaded(x)
    assert torch.equal(logits, ref_logits) and torch.equal(regs, ref_regs)
    assert attributes.checkpoint_info(path) == {"steps": 150}
    assert path.stat().st_size < 2_000_000

    half = tmp_path / "attr16.safetensors"
    attributes.save(net, half, half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    with torch.no_grad():
        logits16, _ = attributes.load(half)(x)
    torch.testing.assert_close(logits16, ref_logits, atol=0.05, rtol=0.01)


def test_load_rejects_foreign_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "something-else"})
    with pytest.raises(ValueError):
        attributes.load(path)


def test_training_is_deterministic():
    a = attributes.train_attribute_model(steps=3, batch=4, seed=1, log=None).state_dict()
    b = attributes.train_attribute_model(steps=3, batch=4, seed=1, log=None).state_dict()
    c = attributes.train_attribute_model(steps=3, batch=4, seed=2, log=None).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)



def test_training_restores_thread_setting():
    torch.set_num_threads(2)
    try:
        attributes.train_attribute_model(steps=1, batch=2, seed=0, log=None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_toy_fid_zero_for_identical_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
    assert abs(attributes.toy_fid(a, a)) < 1e-6
    # Equal covariances: the distance is exactly the squared mean shift.
    assert attributes.toy_fid(a, a + 0.5) == pytest.approx(16 * 0.25, rel=1e-6)
    fids = [attributes.toy_fid(a, a * s) for s in (1.0, 1.2, 1.5, 2.0)]
    assert fids[0] < 1e-6 and all(x < y for x, y in zip(fids, fids[1:]))
    with pytest.raises(ValueError):
        attributes.toy_fid(a, a[:, :8])


def test_toy_fid_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) * 1.3 + 0.2
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb) - 2 * np.trace(linalg.sqrtm(ca @ cb).real)
    assert attributes.toy_fid(a, b) == pytest.approx(ref, rel=1e-6)


def test_toy_fid_on_features_separates_distributions(net):
    feats = lambda batch: attributes.extract_features(net, batch.images)  # noqa: E731
    a = feats(toyfaces.sample(250, seed=1001))
    b = feats(toyfaces.sample(250, seed=1002))
    shifted = feats(toyfaces.sample_overrides(250, seed=1003, Blond_Hair=1))
    assert a.shape == (250, net.config["feature_dim"])
    assert attributes.toy_fid(a, shifted) > 3 * attributes.toy_fid(a, b)


def test_cli_trains_and_saves(tmp_path, capsys):
    out = tmp_path / "ckpt" / "a.safetensors"
    assert attributes.main(["--steps", "2", "--batch", "4", "--eval-n", "40", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in BINARY_ATTRIBUTES)
    info = attributes.checkpoint_info(out)
    assert info["steps"] == 2 and set(BINARY_ATTRIBUTES) <= set(info["metrics"])
    assert isinstance(attributes.load(out), attributes.AttributeNet)


def test_gaussian_blur_per_image_sigma():
    x = torch.zeros(3, 3, 16, 16)
    x[:, :, 8, 8] = 1.0
    y = attributes.gaussian_blur(x, torch.tensor([1e-4, 0.7, 1.5]))
    assert torch.equal(y[0], x[0])  # vanishing sigma is the identity
    torch.testing.assert_close(y.sum((2, 3)), x.sum((2, 3)))  # mass kept away from borders
    assert y[1, 0, 8, 8] > y[2, 0, 8, 8] > 0 and y[2, 0, 8, 10] > y[1, 0, 8, 10]
    const = torch.full((1, 3, 8, 8), 0.3)
    torch.testing.assert_close(attributes.gaussian_blur(const, 1.0), const)  # replicate padding

import dataclasses

import numpy as np
import pytest

from studio.demo import toyfaces
from studio.demo.toyfaces import BINARY_ATTRIBUTES, CONTINUOUS_FACTORS, SIZE


@pytest.fixture(scope="module")
def big() -> toyfaces.ToyFacesBatch:
    return toyfaces.sample(2000, seed=7)


def test_same_seed_same_bytes_different_seed_differs():
    a, b, c = toyfaces.sample(12, seed=3), toyfaces.sample(12, seed=3), toyfaces.sample(12, seed=4)
    assert a.images.tobytes() == b.images.tobytes()
    assert np.array_equal(a.binary, b.binary) and np.array_equal(a.continuous, b.continuous)
    assert np.array_equal(a.hair_mask, b.hair_mask) and np.array_equal(a.glasses_mask, b.glasses_mask)
    assert a.images.tobytes() != c.images.tobytes()
    # Sequence seeds (used for training batches) are distinct from the plain int seed.
    assert toyfaces.sample(4, seed=(3, 0, 1)).images.tobytes() != a.images[:4].tobytes()


def test_shapes_and_dtypes():
    b = toyfaces.sample(5, seed=0)
    assert b.images.shape == (5, SIZE, SIZE, 3) and b.images.dtype == np.uint8
    assert b.binary.shape == (5, len(BINARY_ATTRIBUTES)) and b.binary.dtype == np.float32
    assert b.continuous.shape == (5, len(CONTINUOUS_FACTORS)) and b.continuous.dtype == np.float32
    for m in (b.hair_mask, b.glasses_mask):
        assert m.shape == (5, SIZE, SIZE) and m.dtype == bool
    assert len(b) == 5 and set(np.unique(b.binary)) <= {0.0, 1.0}
    assert np.all(np.abs(b.continuous) <= 1.0)
    img, masks = toyfaces.render_face(b.params[0])
    assert np.array_equal(img, b.images[0]) and np.array_equal(masks["hair"], b.hair_mask[0])


def test_exactly_one_hair_colour_and_roughly_balanced(big):
    assert np.all(big.binary[:, :3].sum(1) == 1)
    rates = big.binary.mean(0)
    assert np.all(np.abs(rates[:3] - 1 / 3) < 0.05)
    assert abs(rates[3] - toyfaces.P_EYEGLASSES) < 0.05
    assert abs(rates[4] - 0.5) < 0.05 and abs(rates[5] - 0.5) < 0.05
    assert np.all(np.abs(big.continuous.mean(0)) < 0.08)
    assert np.all(big.continuous.std(0) > 0.5)  # spread over [-1, 1], not collapsed


def test_factors_are_independent(big):
    corr = np.corrcoef(np.concatenate([big.binary[:, 3:], big.continuous], axis=1), rowvar=False)
    off_diag = corr[~np.eye(len(corr), dtype=bool)]
    assert np.abs(off_diag).max() < 0.1
    glasses, male = big.binary[:, 3], big.binary[:, 4]
    assert abs(np.corrcoef(glasses, male)[0, 1]) < 0.05


def test_masks_present_exactly_when_attribute_present(big):
    has_glasses = big.binary[:, BINARY_ATTRIBUTES.index("Eyeglasses")] > 0
    glasses_px = big.glasses_mask.sum((1, 2))
    assert np.all(glasses_px[has_glasses] > 30)
    assert np.all(glasses_px[~has_glasses] == 0)
    hair_px = big.hair_mask.sum((1, 2))
    assert np.all(hair_px > 100) and np.all(hair_px < SIZE * SIZE / 2)
    # Long hair is drawn for non-male faces, so their hair masks are larger on average.
    male = big.binary[:, BINARY_ATTRIBUTES.index("Male")] > 0
    assert hair_px[~male].mean() > 1.5 * hair_px[male].mean()


def test_hair_mask_pixels_have_the_hair_colour():
    b = toyfaces.sample_overrides(8, seed=1, Blond_Hair=1, lighting=0.0)
    px = b.images[b.hair_mask].astype(float)
    # Blond is the only yellow in the palette: red and green well above blue.
    assert np.median(px[:, 0] - px[:, 2]) > 80 and np.median(px[:, 1] - px[:, 2]) > 50
    px = b.images[~b.hair_mask].astype(float)
    assert np.median(px[:, 0] - px[:, 2]) < 40


def test_overrides_force_factors_and_keep_the_rest():
    base = toyfaces.sample(40, seed=5)
    forced = toyfaces.sample_overrides(40, seed=5, Eyeglasses=1, Male=0, tilt=0.5)
    col = {n: i for i, n in enumerate(BINARY_ATTRIBUTES)}
    assert np.all(forced.binary[:, col["Eyeglasses"]] == 1) and np.all(forced.binary[:, col["Male"]] == 0)
    assert np.all(forced.continuous[:, CONTINUOUS_FACTORS.index("tilt")] == 0.5)
    for name in ("Black_Hair", "Blond_Hair", "Brown_Hair", "Smiling"):
        assert np.array_equal(forced.binary[:, col[name]], base.binary[:, col[name]])
    keep = [i for i, n in enumerate(CONTINUOUS_FACTORS) if n != "tilt"]
    assert np.array_equal(forced.continuous[:, keep], base.continuous[:, keep])

    no_black = toyfaces.sample_overrides(300, seed=6, Black_Hair=0)
    assert np.all(no_black.binary[:, 0] == 0)
    assert 0.35 < no_black.binary[:, 1].mean() < 0.65  # replacement keeps blond/brown balanced
    assert np.all(toyfaces.sample_overrides(10, seed=6, Brown_Hair=1).binary[:, 2] == 1)


@pytest.mark.parametrize("bad", [{"Hat": 1}, {"Male": 0.5}, {"tilt": 2.0},
                                 {"Black_Hair": 1, "Blond_Hair": 1},
                                 {"Black_Hair": 0, "Blond_Hair": 0, "Brown_Hair": 0}])
def test_bad_overrides_rejected(bad):
    with pytest.raises((KeyError, ValueError)):
        toyfaces.sample_overrides(2, seed=0, **bad)


def test_glasses_change_pixels_only_near_glasses_mask():
    for p in toyfaces.sample(10, seed=11).params:
        off = dataclasses.replace(p, eyeglasses=False)
        on = dataclasses.replace(p, eyeglasses=True)
        img_off, masks_off = toyfaces.render_face(off)
        img_on, masks_on = toyfaces.render_face(on)
        changed = np.any(img_on != img_off, axis=-1)
        assert changed.sum() > 30
        assert not np.any(changed & ~masks_on["glasses"])
        assert changed.sum() > 0.5 * masks_on["glasses"].sum()  # the mask is not just a big blob
        assert not masks_off["glasses"].any()


def test_every_factor_changes_the_image():
    p = toyfaces.sample(1, seed=2).params[0]
    ref, _ = toyfaces.render_face(p)
    changes = {"hair": (p.hair + 1) % 3, "male": not p.male, "smiling": not p.smiling,
               "eyeglasses": not p.eyeglasses}
    changes.update({n: -0.9 if getattr(p, n) > 0 else 0.9 for n in CONTINUOUS_FACTORS})
    for field, value in changes.items():
        img, _ = toyfaces.render_face(dataclasses.replace(p, **{field: value}))
        diff = np.abs(img.astype(int) - ref).sum(-1)
        assert (diff > 10).sum() > 20, field


def test_smile_changes_only_the_mouth_region():
    p = dataclasses.replace(toyfaces.sample(1, seed=9).params[0], tilt=0.0, pos_x=0.0, pos_y=0.0)
    a, _ = toyfaces.render_face(dataclasses.replace(p, smiling=False))
    b, _ = toyfaces.render_face(dataclasses.replace(p, smiling=True))
    ys, xs = np.nonzero(np.any(a != b, axis=-1))
    assert len(ys) > 10
    assert ys.min() >= 30 + 4 and ys.max() <= 30 + 14  # head centre row 30, mouth around +9
    assert xs.min() >= 32 - 9 and xs.max() <= 32 + 9

"""Source labels estimated by the ToyFaces attribute model, in a translation model's label order."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.demo import estimate, toyfaces
from studio.demo.toyfaces import BINARY_ATTRIBUTES


def test_estimates_match_the_true_labels_in_the_models_order():
    faces = toyfaces.sample(120, seed=777)
    names = ("Smiling", "Blond_Hair", "Male", "Black_Hair", "Eyeglasses", "Brown_Hair")  # any order
    est = estimate.source_labels(faces.images, names)
    truth = faces.binary[:, [BINARY_ATTRIBUTES.index(n) for n in names]]
    assert est.shape == (120, 6) and set(np.unique(est)) <= {0.0, 1.0}
    assert (est == truth).all(1).mean() >= 0.95
    hair = [names.index(n) for n in ("Blond_Hair", "Black_Hair", "Brown_Hair")]
    assert (est[:, hair].sum(1) == 1).all()  # always exactly one hair colour


def test_model_tensors_and_uint8_images_give_the_same_labels():
    faces = toyfaces.sample(16, seed=5)
    x = torch.from_numpy(faces.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    names = BINARY_ATTRIBUTES
    assert np.array_equal(estimate.source_labels(x, names), estimate.source_labels(faces.images, names))
    assert estimate.photo_source(x[:1], names) == tuple(estimate.source_labels(x[:1], names)[0])


def test_only_known_label_sets_are_estimated():
    assert estimate.knows(("Male", "Eyeglasses")) and estimate.knows(BINARY_ATTRIBUTES)
    assert not estimate.knows(("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"))
    assert not estimate.knows(())
    with pytest.raises(ValueError, match="Young"):
        estimate.source_labels(toyfaces.sample(2, 0).images, ("Male", "Young"))

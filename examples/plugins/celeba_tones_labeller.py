"""Drop-in labeller for the CelebA 32x32 face DCGAN (celeba_dcgan32.py beside it): four honest tone scores.

No weights, no download: each attribute is computed from the pixels of a centred 32x32 face crop, so what it
measures is exactly what it says, and fitting a direction with it shows the labeller workflow on a real model
without the ToyFaces attribute model:

- Light_Background: luminance of the two top corners (6x5 pixels each), where CelebA crops show background;
- Light_Hair: luminance of the band above the forehead (rows 1-5, columns 9-22), hair in most crops;
- Fair_Skin: luminance of the cheeks and nose (rows 13-20, columns 11-20);
- Warm_Skin: red minus blue over the same patch.

Each value becomes a probability with a logistic curve centred on its median over 2,000 samples of the
DCGAN (seeds 5000-6999; 10th-90th percentiles in the comments), so about half the samples are positive.
Copy this file next to celeba_dcgan32.py in your plugin folder (or point $LATENT_STUDIO_PLUGIN_PATH at this
folder); the Directions panel then offers "CelebA tones" for that model, and
`latent-studio directions fit generator.pt --attribute Light_Hair` fits on it.

A trained classifier is a drop-in the same way: `labeller = torch_labeller("my_weights.pt", MyNet(), names,
"My classifier", 32, applies_to=...)` (weights read with weights_only=True), or `onnx_labeller("clf.onnx",
names, ...)` with the onnx extra. See docs/plugins.md.
"""
from __future__ import annotations

import numpy as np

from studio.model.api import ModelInfo
from studio.model.labellers import Labeller

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# (centre: the DCGAN samples' median, scale): the 10th-90th percentiles were
CALIBRATION = {
    "Light_Background": (90.0, 25.0),   # 34.5 - 174.1
    "Light_Hair": (120.0, 25.0),        # 52.3 - 183.6
    "Fair_Skin": (146.0, 15.0),         # 104.1 - 177.0
    "Warm_Skin": (59.0, 12.0),          # 31.8 - 88.7
}


def measures(images: np.ndarray) -> dict[str, np.ndarray]:
    """The four raw values of (N, 32, 32, 3) uint8 images, in pixel units."""
    x = np.asarray(images, np.float32)
    lum = x @ LUMA
    n = len(x)
    corners = np.concatenate([lum[:, :6, :5].reshape(n, -1), lum[:, :6, -5:].reshape(n, -1)], axis=1)
    skin = x[:, 13:21, 11:21]
    return {"Light_Background": corners.mean(1), "Light_Hair": lum[:, 1:6, 9:23].mean((1, 2)),
            "Fair_Skin": (skin @ LUMA).mean((1, 2)), "Warm_Skin": (skin[..., 0] - skin[..., 2]).mean((1, 2))}


def predict(images: np.ndarray) -> dict[str, np.ndarray]:
    return {k: 1.0 / (1.0 + np.exp(-(v - CALIBRATION[k][0]) / CALIBRATION[k][1])) for k, v in measures(images).items()}


def for_celeba_faces(info: ModelInfo) -> bool:
    """Its domain: the CelebA DCGAN example's faces (centred 32x32 crops)."""
    return info.family == "celeba-dcgan32"


labeller = Labeller("CelebA tones", tuple(CALIBRATION), predict, for_celeba_faces,
                    domain="CelebA 32 px centred face crops", input_size=32)

"""StyleGAN style mixing on the demo StyleGAN2: do the coarse styles carry pose and shape, the rest colour?

Karras et al. (2019, fig. 3): copying the coarse styles (4x4 and 8x8) from source A into B brings A's pose
and face shape while B's colours stay. Each trial takes seeds A and B, renders B with style inputs 0-3 from
A through the studio's own path (a mixing-grid cell: a Mix edit on B's recipe, run by the Renderer) and
scores the mix, A and B with the ToyFaces attribute model. Bars (>= 200 trials): the mix's head position
x / y, tilt and face width correlate with A's at >= 0.8; its hair colour class equals B's, and its skin
tone is closer to B's than to A's, in >= 80% of trials. Hair colour and background follow whichever styles
the frozen demo happened to learn them in: reported with their history, not gates (issue 22).

Run alone: `.venv/bin/python bench/edits_mixing.py [--trials 200]`, or as a section of edits_quality.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bars import Figure, reported, run_section  # noqa: E402
from studio.core.recipe import ModelRef, Recipe, SeedLatent  # noqa: E402
from studio.demo import attributes  # noqa: E402
from studio.demo.toyfaces import HAIR_COLOURS  # noqa: E402

CHECKPOINT = ROOT / "checkpoints" / "stylegan2_toyfaces.safetensors"
ATTRIBUTE_MODEL = ROOT / "checkpoints" / "toyfaces_attributes.safetensors"
COARSE = (0, 4)  # style inputs of the 4x4 and 8x8 blocks
SEED_A, SEED_B = 60_000, 70_000  # seeds the other edit benches do not use
POSE_FACTORS = ("pos_x", "pos_y", "tilt", "face_width")
COLOUR_FACTORS = ("skin_tone", "background")
# Background colour, like hair colour, lives in this demo's 4x4-8x8 styles (its model card; the layer map):
# a property of the frozen model, so reported with its history as hair colour is.
TRAINED_PROPERTIES = ("background",)
CORR_BAR = 0.8
FOLLOW_BAR = 0.8
# Which style inputs carry hair colour is a property of how the tiny demo trained (the layer map shows it in
# the 8x8 input here, the paper's 1024 px model in the fine ones), and the demo models are frozen (issue 22):
# reported with its history, not a gate.
COLOUR_HISTORY = (
    "2026-11-25 StyleGAN2 5,000 steps (67e3b6e): 0.34 (skin tone 0.71, background 0.245)",
    "2026-12-02 StyleGAN2 16,000 steps, bundled now (dae0db7): 0.36 (skin tone 0.805, background 0.155)",
)


def hair_class(p: dict[str, np.ndarray]) -> np.ndarray:
    return np.argmax(np.stack([p[f"{c}_Hair"] for c in HAIR_COLOURS], axis=1), axis=1)


def figures(trials: int) -> list[Figure]:
    import studio
    from studio.render.engine import Renderer
    from studio.render.mixing import cell_recipe

    if not CHECKPOINT.exists() or not ATTRIBUTE_MODEL.exists():
        return [Figure("mixing: demo checkpoints present", 0.0, "checkpoints/*.safetensors", False)]
    g = studio.load(str(CHECKPOINT), device="cpu")
    net = attributes.load(ATTRIBUTE_MODEL)
    renderer = Renderer()
    base = Recipe(ModelRef(str(CHECKPOINT), g.model_id), SeedLatent(0))
    seeds_a, seeds_b = range(SEED_A, SEED_A + trials), range(SEED_B, SEED_B + trials)
    mixes = [cell_recipe(base, b, a, COARSE) for a, b in zip(seeds_a, seeds_b)]

    def scores(recipes: list[Recipe]) -> dict[str, np.ndarray]:
        return attributes.predict(net, renderer.render_batch(g, recipes, batch_size=100))

    p_mix = scores(mixes)
    p_a = scores([base.with_seed(s) for s in seeds_a])
    p_b = scores([base.with_seed(s) for s in seeds_b])
    rows = []
    for f in POSE_FACTORS:
        r = float(np.corrcoef(p_mix[f], p_a[f])[0, 1])
        r_b = float(np.corrcoef(p_mix[f], p_b[f])[0, 1])
        rows.append(Figure(f"mixing: {f} corr with A", r, f">= {CORR_BAR} (with B: {r_b:.2f})", r >= CORR_BAR))
    same_hair = float((hair_class(p_mix) == hair_class(p_b)).mean())
    rows.append(reported("mixing: hair colour class = B's", same_hair, f">= {FOLLOW_BAR} ({trials} trials)",
                         COLOUR_HISTORY))
    for f in COLOUR_FACTORS:
        follows = float((np.abs(p_mix[f] - p_b[f]) < np.abs(p_mix[f] - p_a[f])).mean())
        label, bar = f"mixing: {f} closer to B than A", f">= {FOLLOW_BAR} ({trials} trials)"
        rows.append(reported(label, follows, bar, COLOUR_HISTORY) if f in TRAINED_PROPERTIES
                    else Figure(label, follows, bar, follows >= FOLLOW_BAR))
    return rows


if __name__ == "__main__":
    raise SystemExit(run_section(__doc__, figures))

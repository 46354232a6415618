"""Bar: conditional manipulation (InterFaceGAN) on the demo DCGAN: Eyeglasses with Male kept fixed.

Label 3,000 generated samples (seeds from FIT_SEED0 on) with the ToyFaces attribute model and fit logistic
boundaries in z for Eyeglasses and for Male (fit_attribute_job with keep_fixed, the app's and the CLI's own
path); the conditional direction is the Eyeglasses normal projected orthogonal to the Male normal. Walk
`trials` fresh seeds (0..trials-1) from -2 to +2 standard deviations along the plain Eyeglasses normal and
along the conditional direction (evaluate_fit_job: what the Directions panel's evaluation plot shows) and
score every attribute at each amount.

P(male) change: per seed, |P(male) at +2 - P(male) at -2|, averaged (a per-seed figure, so moves in opposite
directions do not cancel); the signed mean is printed too. Bars: the conditional direction changes P(male)
by at most half of what the plain direction does (issue 22), and it still adds glasses: its mean
P(eyeglasses) rise is at least 0.8 of the plain direction's.
Run alone: `.venv/bin/python bench/edits_conditional.py [--trials 200]`, or as a section of edits_quality.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bars import Figure, run_section  # noqa: E402

CHECKPOINT = ROOT / "checkpoints" / "dcgan_toyfaces.safetensors"
ATTRIBUTE_MODEL = ROOT / "checkpoints" / "toyfaces_attributes.safetensors"
EDIT, KEEP = "Eyeglasses", "Male"
FIT_SAMPLES = 3000
HALF_BAR = 0.5
KEEPS_EDIT_BAR = 0.8


def figures(trials: int) -> list[Figure]:
    import time

    import studio
    from studio.model.labellers import toyfaces_labeller
    from studio.render.analysis import evaluate_fit_job, fit_attribute_job, run_job
    from studio.render.engine import Renderer

    for p in (CHECKPOINT, ATTRIBUTE_MODEL):
        if not p.exists():
            return [Figure(f"conditional: {p.name} present", 0.0, "file exists", False)]
    g = studio.load(str(CHECKPOINT), device="cpu")
    lab = toyfaces_labeller(ATTRIBUTE_MODEL)
    renderer = Renderer()
    t0 = time.perf_counter()
    fitted = run_job(fit_attribute_job(g, renderer, lab, EDIT, FIT_SAMPLES, "logistic", "z", keep_fixed=(KEEP,)))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = run_job(evaluate_fit_job(g, renderer, lab, fitted, seeds=range(trials)))
    walk_s = time.perf_counter() - t0
    cond, plain = ev.walk, ev.plain
    assert plain is not None
    cos = fitted.direction.info["cosine_to_kept_before"][KEEP]
    print(f"conditional: fitted {EDIT} and {KEEP} on {FIT_SAMPLES} samples in {fit_s:.1f}s (held-out "
          f"{fitted.fit.test_accuracy:.3f} / {fitted.kept[KEEP].test_accuracy:.3f}); cosine of the two normals "
          f"{cos:+.3f}; walked {trials} seeds x {len(cond.amounts)} amounts twice in {walk_s:.1f}s")
    for how, w in (("plain", plain), ("Male kept", cond)):
        print(f"conditional: {how:<9} " + ", ".join(f"{a} {w.change(a):+.3f}" for a in w.scores))
    male_plain, male_cond = plain.abs_change(KEEP), cond.abs_change(KEEP)
    rise_plain, rise_cond = plain.change(EDIT), cond.change(EDIT)
    return [
        Figure(f"conditional: P({KEEP.lower()}) change, plain {EDIT}", male_plain,
               f"reported (signed {plain.change(KEEP):+.3f})", True),
        Figure(f"conditional: P({KEEP.lower()}) change, {KEEP} kept fixed", male_cond,
               f"<= {HALF_BAR} x plain = {HALF_BAR * male_plain:.3f} (signed {cond.change(KEEP):+.3f})",
               male_cond <= HALF_BAR * male_plain),
        Figure(f"conditional: P({EDIT.lower()}) rise, plain", rise_plain, "reported", True),
        Figure(f"conditional: P({EDIT.lower()}) rise, {KEEP} kept fixed", rise_cond,
               f">= {KEEPS_EDIT_BAR} x plain = {KEEPS_EDIT_BAR * rise_plain:.3f}",
               rise_cond >= KEEPS_EDIT_BAR * rise_plain),
    ]


if __name__ == "__main__":
    raise SystemExit(run_section(__doc__, figures))

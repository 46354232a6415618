"""The ranges of the studio's sliders, in one Qt-free place so bench/slider_ranges.py measures what the UI offers.

Each range was set from that bench: the mean pixel change (0-255) between a slider's default and its
extremes on the bundled demos, against VISIBLE_CHANGE. Noise is the exception that proved the rule: the
bundled StyleGAN2 barely uses its trained noise (all layers at x3 moved its image by 0.3-0.4/255), and how
little differs by a factor of 50 from layer to layer, so a fixed multiplier range cannot fit. Its per-layer
maximum is measured on the open model instead (studio/render/noise_ranges.py) to reach NOISE_TARGET.
"""
from __future__ import annotations

import math

VISIBLE_CHANGE = 3.0         # mean |change| (0-255) a slider's extreme must reach to read as "does something"
NOISE_TARGET = 6.0           # what one noise layer at its maximum aims for (0-255, mean over the image)
TRUNCATION_RANGE = (0.0, 1.5)  # psi: 0 is the mean face, 1 the model as trained, above 1 exaggerates
WALK_RANGE = 3.0             # walk sliders: +-3 standard deviations (PCA, SeFa, fitted) or direction units
UNIT_SCALE_RANGE = (0.0, 3.0)  # Features: a unit's activation times 0 (dropped) to 3
ATTRIBUTE_STRENGTH_RANGE = (-1.0, 2.0)  # StarGAN: beyond [0, 1] is exaggeration, marked as such
NOISE_DEFAULT_MAX = 3.0      # a noise layer's slider before its range is measured (and the least it offers)
NOISE_MAX_CAP = 10_000.0     # never beyond: at this the layer's noise is all its features hold


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= x (slider ends read as round numbers)."""
    if not math.isfinite(x) or x <= 0:
        return NOISE_DEFAULT_MAX
    k = math.floor(math.log10(x))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10 ** k >= x * (1 - 1e-9):
            return m * 10 ** k
    return 10.0 ** (k + 1)


def noise_max_from(probes: list[tuple[float, float]], target: float = NOISE_TARGET) -> float:
    """A layer's slider maximum from (multiplier, mean change) measurements in increasing multiplier order:
    where the change crosses `target`, interpolated in log-log between the two probes around it."""
    hit = next((i for i, (_, d) in enumerate(probes) if d >= target), None)
    if hit is None:
        return NOISE_MAX_CAP
    m1, d1 = probes[hit]
    if hit == 0 or d1 <= 0:
        m = m1 * target / d1 if d1 > 0 else m1
    else:
        m0, d0 = probes[hit - 1]
        if d0 <= 0:
            m = m1
        else:
            t = (math.log(target) - math.log(d0)) / max(math.log(d1) - math.log(d0), 1e-9)
            m = math.exp(math.log(m0) + t * (math.log(m1) - math.log(m0)))
    return min(NOISE_MAX_CAP, max(NOISE_DEFAULT_MAX, nice_ceiling(m)))

"""The InterFaceGAN workflow for scores made outside the studio: sampled latents out, a scores file in.

`export` (studio/render/samples_export.py) writes a folder: `latents.npy` (N, dim) float32 in the space named
by `samples.json`, the seeds they came from, and optionally `images/000000.png ...` in the same order. A
researcher scores the images with any tool and writes the scores beside them, one row per sample in that
order: `.npy` of shape (N,) or (N, k), or `.csv` with a header naming the columns (a `seed` or `index`
column, when present, must match the samples' order). `read_scores` checks the length, NaN and infinities,
and the column names before anything is fitted, so a misaligned file is one clear sentence, not a direction
fitted to noise.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from studio.errors import StudioError

if TYPE_CHECKING:
    from studio.core.labelled import FittedDirection

MANIFEST = "samples.json"
LATENTS = "latents.npy"
IMAGES = "images"
FORMAT = "latent-studio/samples"
INDEX_COLUMNS = ("seed", "index")


class ScoresError(StudioError):
    """A samples folder or scores file that cannot be used (missing, misaligned, NaN, unknown column)."""


@dataclass(frozen=True)
class SampleSet:
    """What `samples.json` records: which model, which space, which seeds, in the latents' row order."""

    model_id: str
    model_name: str
    space: str
    seeds: tuple[int, ...]
    images: bool

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, "model_sha256": self.model_id, "model_name": self.model_name,
                "space": self.space, "n": len(self.seeds), "seeds": list(self.seeds), "images": self.images,
                "latents": LATENTS, "order": "row i of latents.npy is images/{i:06d}.png and row i of the scores"}


def image_name(i: int) -> str:
    return f"{i:06d}.png"


def read_samples(folder: str | Path) -> tuple[SampleSet, np.ndarray]:
    """The manifest and (N, dim) latents of an exported samples folder, checked against each other."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise ScoresError(f"{folder} has no {MANIFEST}: export samples first (latent-studio directions "
                          f"sample, or Directions > Export samples)") from None
    except (OSError, ValueError) as exc:
        raise ScoresError(f"cannot read {folder / MANIFEST}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ScoresError(f"{folder / MANIFEST} is not a Latent Studio samples manifest")
    try:
        latents = np.load(folder / LATENTS, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ScoresError(f"cannot read {folder / LATENTS}: {exc}") from None
    seeds = tuple(int(s) for s in meta.get("seeds", ()))
    if latents.ndim != 2 or len(latents) != len(seeds):
        raise ScoresError(f"{LATENTS} holds {latents.shape} but {MANIFEST} lists {len(seeds)} seeds")
    return SampleSet(str(meta.get("model_sha256", "")), str(meta.get("model_name", "")), str(meta.get("space", "z")),
                     seeds, bool(meta.get("images", False))), latents.astype(np.float32)


def read_scores(path: str | Path, n: int, seeds: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """{column: (n,) float64} from a .npy or .csv scores file aligned with n samples (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise ScoresError(f"no scores file {path}")
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ScoresError(f"cannot read {path.name} as a numeric .npy array: {exc}") from None
        if a.dtype.kind not in "biuf":
            raise ScoresError(f"{path.name} holds {a.dtype} values, not numbers")
        if a.ndim == 2 and a.shape[1] == 1 or a.ndim == 1:
            cols = {path.stem: a.reshape(-1)}
        elif a.ndim == 2:
            cols = {f"{path.stem}[{j}]": a[:, j] for j in range(a.shape[1])}
        else:
            raise ScoresError(f"{path.name} has shape {a.shape}: expected (N,) or (N, k) scores")
        out = {k: np.asarray(v, np.float64) for k, v in cols.items()}
    elif path.suffix.lower() == ".csv":
        out = _read_csv(path, seeds)
    else:
        raise ScoresError(f"{path.name}: scores are read from .npy or .csv files")
    for name, v in out.items():
        if len(v) != n:
            raise ScoresError(f"{path.name} has {len(v)} scores in {name!r} but the samples number {n}: "
                              f"a scores file must have one row per exported sample, in their order")
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            raise ScoresError(f"{path.name}: {name!r} has {len(bad)} missing or non-finite value(s) "
                              f"(first at row {int(bad[0])})")
    return out


def _read_csv(path: Path, seeds: Sequence[int] | None) -> dict[str, np.ndarray]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScoresError(f"cannot read {path.name}: {exc}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ScoresError(f"{path.name} needs a header row naming its columns and one row per sample")
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header):
        raise ScoresError(f"{path.name}: every column needs a name in the header row (got {header})")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ScoresError(f"{path.name}: column name(s) {', '.join(dupes)} appear more than once")
    if all(_is_number(h) for h in header):
        raise ScoresError(f"{path.name}: the first row is numbers; it must be a header naming the columns")
    cols: dict[str, list[float]] = {h: [] for h in header}
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ScoresError(f"{path.name} line {i} has {len(r)} values for {len(header)} columns")
        for h, c in zip(header, r):
            c = c.strip()
            if c.lower() in ("", "nan", "na", "null"):
                cols[h].append(math.nan)
            elif _is_number(c):
                cols[h].append(float(c))
            else:
                raise ScoresError(f"{path.name} line {i}: {h!r} is {c!r}, not a number")
    out = {h: np.asarray(v, np.float64) for h, v in cols.items()}
    for key in INDEX_COLUMNS:
        if key in out:
            idx = out.pop(key)
            want = np.asarray(seeds if key == "seed" and seeds is not None else np.arange(len(idx)), np.float64)
            if len(idx) == len(want) and not np.array_equal(idx, want):
                first = int(np.flatnonzero(idx != want)[0])
                raise ScoresError(f"{path.name}: its {key!r} column is not in the samples' order (row {first}: "
                                  f"{idx[first]:g}, expected {want[first]:g})")
    if not out:
        raise ScoresError(f"{path.name} has no score columns besides {', '.join(INDEX_COLUMNS)}")
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def labels_from_scores(scores: np.ndarray, threshold: float | None = None,
                       extremes: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the samples used, the 0/1 labels of those samples) from one score column.

    0/1 columns are labels as they are. `extremes` r (InterFaceGAN's chosen_num_or_ratio) keeps the top and
    bottom fraction r of the samples (positives, negatives) and leaves the ambiguous middle out; otherwise a
    score above `threshold` (default 0.5 for probabilities in [0, 1], else the median) is positive."""
    s = np.asarray(scores, np.float64).reshape(-1)
    if extremes is not None:
        if not 0 < extremes <= 0.5:
            raise ScoresError(f"the extremes fraction must be in (0, 0.5], got {extremes}")
        k = max(1, int(round(extremes * len(s))))
        order = np.argsort(s, kind="stable")
        use = np.zeros(len(s), bool)
        use[order[:k]] = use[order[-k:]] = True
        y = np.zeros(len(s), bool)
        y[order[-k:]] = True
        return use, y[use]
    if np.isin(s, (0.0, 1.0)).all():
        return np.ones(len(s), bool), s > 0.5
    if threshold is None:
        threshold = 0.5 if s.min() >= 0 and s.max() <= 1 else float(np.median(s))
    return np.ones(len(s), bool), s > threshold


def fit_scores(folder: str | Path, scores_path: str | Path, attribute: str | None, model_id: str,
               model_name: str = "", classifier: str = "logistic", keep_fixed: Sequence[str] = (),
               threshold: float | None = None, extremes: float | None = None,
               name: str | None = None) -> "FittedDirection":
    """Fit a direction from an exported samples folder and a scores file made outside (one column is the
    attribute, others may be kept fixed). The samples must come from the model open now (`model_id`)."""
    from studio.core.labelled import fit_labelled

    samples, latents = read_samples(folder)
    if samples.model_id and model_id and samples.model_id != model_id:
        raise ScoresError(f"the samples in {Path(folder).name} were drawn from {samples.model_name or 'another model'}"
                          f", not the model open now: their latents mean nothing here")
    scores = read_scores(scores_path, len(latents), samples.seeds)
    if attribute is None:
        if len(scores) != 1:
            raise ScoresError(f"{Path(scores_path).name} has columns {', '.join(scores)}: name the one to fit")
        attribute = next(iter(scores))
    unknown = [c for c in (attribute, *keep_fixed) if c not in scores]
    if unknown:
        raise ScoresError(f"{Path(scores_path).name} has no column {', '.join(map(repr, unknown))} "
                          f"(its columns: {', '.join(scores)})")
    labels = {c: labels_from_scores(scores[c], threshold, extremes) for c in (attribute, *keep_fixed)}
    return fit_labelled(latents, labels, attribute, name or attribute, samples.space, model_id, model_name,
                        classifier, keep_fixed, {"labels": f"scores file {Path(scores_path).name}",
                                                 "first_seed": samples.seeds[0] if samples.seeds else 0})

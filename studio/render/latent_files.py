"""External latent files (.npy / .npz / .pt) to and from recipe latents, the space inferred from the shape.

Other tools keep their inversions as bare arrays: the NVlabs projector writes `projected_w.npz` (key "w",
shape [1, num_ws, w_dim]), e4e and PTI save W+ tensors in .pt files, InterFaceGAN keeps z codes in .npy. A
vector of z_dim values is z, of w_dim values one w, of num_ws * w_dim a W+ point; where z_dim == w_dim the
caller must say which (`space=`). .pt files load with torch's weights-only unpickler (no code runs).
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import torch

from studio.core.recipe import Recipe, SeedLatent, VectorLatent
from studio.core.wspace import WLatent
from studio.errors import RecipeError
from studio.model.api import Generator

SUFFIXES = (".npy", ".npz", ".pt", ".pth")
KEYS = ("w", "ws", "latent", "latents", "z", "code", "codes")  # tried in order in a file holding several
MAX_BYTES = 256 << 20


class AmbiguousSpace(RecipeError):
    """The file's shape fits several of the model's spaces (`options`): the caller must name one."""

    def __init__(self, message: str, options: list[str]):
        super().__init__(message)
        self.options = options


@dataclass(frozen=True)
class ImportedLatent:
    latent: WLatent | VectorLatent
    space: str        # "z", "w" or "w+"
    note: str = ""    # e.g. "the first of 4 latents in the file"


def _arrays(path: Path) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise RecipeError(f"{path.name}: latent files are {', '.join(SUFFIXES)}, not {suffix or 'no suffix'}")
    if not path.is_file():
        raise RecipeError(f"{path.name} is not a file")
    if path.stat().st_size > MAX_BYTES:
        raise RecipeError(f"{path.name} is larger than any latent file ({path.stat().st_size >> 20} MB)")
    data = path.read_bytes()
    try:
        if suffix == ".npy":
            return {"": np.load(io.BytesIO(data), allow_pickle=False)}
        if suffix == ".npz":
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise RecipeError(f"{path.name} is not a readable {suffix} latent file ({str(exc)[:120]})") from None
    except Exception as exc:  # the weights-only unpickler refuses anything but tensors and containers
        raise RecipeError(f"{path.name} holds objects other than tensors; only plain tensors are read "
                          f"({type(exc).__name__})") from None
    if torch.is_tensor(obj):
        return {"": obj.detach().float().numpy()}
    if isinstance(obj, dict):
        out = {str(k): v.detach().float().numpy() for k, v in obj.items() if torch.is_tensor(v)}
        if out:
            return out
    raise RecipeError(f"{path.name} holds no tensor (a .pt latent file is a tensor or a dict of tensors)")


def _pick(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    for key in KEYS:
        if key in arrays:
            return arrays[key]
    raise RecipeError(f"{name} holds several arrays ({', '.join(sorted(arrays))}) and none is named "
                      f"{' / '.join(KEYS)}")


def read_latent(path: str | Path, g: Generator, space: str | None = None, index: int = 0) -> ImportedLatent:
    """The latent in `path` for g; `space` ("z", "w" or "w+") is needed only where the shape cannot tell;
    a file of several latents gives its `index`-th."""
    path = Path(path).expanduser()
    a = np.asarray(_pick(_arrays(path), path.name), dtype=np.float64)
    info = g.info
    if a.ndim == 0 or a.size == 0:
        raise RecipeError(f"{path.name} holds no latent vector (shape {list(a.shape)})")
    if not np.isfinite(a).all():
        raise RecipeError(f"{path.name} holds non-finite values")
    per = {}  # values per latent -> space
    if info.z_dim:
        per.setdefault(info.z_dim, []).append("z")
    if g.has_w:
        per.setdefault(info.w_dim, []).append("w")
        per.setdefault(info.num_ws * info.w_dim, []).append("w+")
    # rows: the trailing dims that make one latent; leading dims count latents
    found = None
    for k in range(a.ndim):
        size = int(np.prod(a.shape[k:]))
        if size in per and (a.ndim - k <= 2):
            found = k
            break
    if found is None:
        want = ", ".join(f"{n} ({'/'.join(s)})" for n, s in sorted(per.items()))
        raise RecipeError(f"{path.name} holds shape {list(a.shape)}; this model's latents have {want} values")
    rows = a.reshape(-1, int(np.prod(a.shape[found:])))
    spaces = per[rows.shape[1]]
    if a.ndim - found == 2 and a.shape[-1] == info.w_dim and "w+" in spaces:
        spaces = ["w+"]
    if space is not None:
        if space not in spaces:
            raise RecipeError(f"{path.name}: {rows.shape[1]} values per latent are {' or '.join(spaces)} "
                              f"for this model, not {space}")
        spaces = [space]
    if len(spaces) > 1:
        raise AmbiguousSpace(f"{path.name}: {rows.shape[1]} values could be {' or '.join(spaces)} for this "
                             f"model; say which space it is", list(spaces))
    if not 0 <= index < len(rows):
        raise RecipeError(f"{path.name} holds {len(rows)} latents; index {index} is out of range")
    v = tuple(float(x) for x in rows[index])
    chosen = spaces[0]
    latent: WLatent | VectorLatent = VectorLatent(v) if chosen == "z" else WLatent(v)
    if chosen == "w+":  # stored as one w when every row is the same
        latent = WLatent.of(np.asarray(v, np.float32).reshape(info.num_ws, info.w_dim))
    note = f"latent {index + 1} of {len(rows)} in the file" if len(rows) > 1 else ""
    return ImportedLatent(latent, chosen, note)


def latent_array(g: Generator, recipe: Recipe) -> tuple[str, np.ndarray]:
    """The recipe's latent with truncation and walks applied, as other tools keep it: ("w", [1, num_ws,
    w_dim]) for models with a W space (the NVlabs projector's layout), else ("z", [1, z_dim])."""
    from studio.model.spaces import style_inputs

    if g.has_w:
        return "w", style_inputs(g, [recipe]).astype(np.float32)
    if not isinstance(recipe.latent, (SeedLatent, VectorLatent)):
        raise RecipeError(f"a {recipe.latent.kind} latent has no z to export")
    return "z", g.edited_z(recipe)[None].astype(np.float32)


def write_latent(path: str | Path, g: Generator, recipe: Recipe) -> str:
    """Write the recipe's latent to `path` (.npy, .npz with key "w" / "z", or .pt with the same key),
    atomically; returns the space written."""
    from studio.atomic import write_atomic

    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise RecipeError(f"{path.name}: latents are written as {', '.join(SUFFIXES)}, not {suffix or 'no suffix'}")
    key, a = latent_array(g, recipe)
    buf = io.BytesIO()
    if suffix == ".npy":
        np.save(buf, a)
    elif suffix == ".npz":
        np.savez(buf, **{key: a})
    else:
        torch.save({key: torch.from_numpy(a)}, buf)
    write_atomic(path, buf.getvalue())
    return "w+" if key == "w" else "z"

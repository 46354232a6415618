"""StarGAN v2's recipe semantics, shared by the torch family and its ONNX twin: a photo, target domains
and a style source in, the translation out.

The domain values (the recipe's Attributes edit) weight the per-domain style codes: one-hot is the
official synthesis, other values blend domains. The style comes from a seed through the mapping network
(latent-guided) or from a reference photo through the style encoder (reference-guided). It lives in
studio/model so neither family imports the other; each supplies its own networks (torch modules or
ONNX Runtime sessions) through `set_style_networks` and its own stages.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from studio.core.attributes import attribute_values
from studio.core.latents import seed_to_z
from studio.core.photo import ImageLatent, latent_tensor, style_source
from studio.core.recipe import Recipe
from studio.errors import RecipeError
from studio.model.api import StageContext
from studio.model.photo_input import PhotoTranslator, photo_context

STYLE, STYLE_KEY = "style", "style_key"  # StageContext.extras keys: the style code and its cache-key part


def _key(t: Tensor) -> bytes:
    h = hashlib.blake2b(str(tuple(t.shape)).encode(), digest_size=16)
    h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.digest()


class StyleCodeTranslator(PhotoTranslator):
    """Mixin for a Generator subclass (before Generator in its bases): StarGAN v2 recipes, example input
    and `translate`. The class calls `set_style_networks` and provides the stages, which read the photo
    (extras IMAGE) and the style code (extras STYLE, keyed by STYLE_KEY)."""

    labels_name = "domain values"

    def set_style_networks(self, mapping: Callable[[Tensor], Tensor], style_encoder: Callable[[Tensor], Tensor],
                           latent_dim: int, num_domains: int, multiple: int) -> None:
        """Where per-domain style codes come from: torch modules here, ONNX Runtime sessions in the ONNX
        family's twin (which reuses every recipe rule of this class)."""
        self.mapping, self.style_encoder = mapping, style_encoder
        self.latent_dim = latent_dim
        self.exclusive_groups = (tuple(range(num_domains)),)  # one domain at a time
        self.multiple = multiple
        self._ref_styles: dict[bytes, Tensor] = {}

    # -- styles ------------------------------------------------------------------------------------
    def style(self, domains: Tensor, z: Tensor | None = None, reference: Tensor | None = None) -> Tensor:
        """Style codes (N, style_dim): per-domain codes from z (mapping network) or reference images
        (style encoder), weighted by `domains` (N, num_domains)."""
        with torch.inference_mode():
            if reference is not None:
                key = _key(reference)
                per_domain = self._ref_styles.get(key)
                if per_domain is None:
                    per_domain = self.style_encoder(reference.to(self.device))
                    if len(self._ref_styles) > 16:
                        self._ref_styles.clear()
                    self._ref_styles[key] = per_domain
            else:
                assert z is not None
                per_domain = self.mapping(z.to(self.device))
            return torch.einsum("nd,nds->ns", domains.to(per_domain), per_domain)

    def _style_z(self, seed: int) -> Tensor:
        """The mapping network's input for a style seed (1, latent_dim): StarGAN v2 samples it normal."""
        return torch.from_numpy(seed_to_z(seed, self.latent_dim, "normal"))[None]

    def _domains(self, values: Sequence[float]) -> list[float]:
        return list(values) if any(values) else [1.0] + [0.0] * (len(values) - 1)  # none set: the first

    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        n = len(self.info.attributes)
        images, styles = [], []
        for r in recipes:
            if not isinstance(r.latent, ImageLatent):
                raise RecipeError(f"StarGAN v2 translates a photo: this recipe starts from a {r.latent.kind} "
                                  "latent; open a photo instead")
            images.append(latent_tensor(r.latent, self.info.resolution))
            d = torch.tensor([self._domains(attribute_values(r, n))], dtype=torch.float32)
            src = style_source(r)
            ref = src.reference()
            if ref is not None:
                styles.append(self.style(d, reference=latent_tensor(ref, self.info.resolution)))
            else:
                z = self._style_z(src.seed)
                styles.append(self.style(d, z=z))
        return self._context(torch.cat(images).to(self.device), torch.cat(styles))

    def _context(self, x: Tensor, s: Tensor) -> StageContext:
        ctx = photo_context(x, None)
        ctx.extras[STYLE] = s.to(self.device)
        ctx.extras[STYLE_KEY] = _key(s)
        return ctx

    def example_context(self) -> StageContext:
        r, n = self.info.resolution, len(self.info.attributes)
        z = self._style_z(0)
        return self._context(torch.zeros(1, 3, r, r, device=self.device), self.style(torch.eye(n)[:1], z=z))

    # -- scripting ---------------------------------------------------------------------------------
    def translate(self, x: Tensor | np.ndarray, labels: Tensor | np.ndarray | Sequence[float],
                  z: Tensor | np.ndarray | None = None, reference: Tensor | np.ndarray | None = None) -> Tensor:
        """Images (N, 3, H, W) in [-1, 1] translated to domain weights `labels` ((N, D) or (D,)); the style
        from latents z (N, latent_dim), else reference images (N, 3, H, W), else seed 0."""
        x, d = self.checked_inputs(x, labels)
        if reference is not None:
            reference = torch.as_tensor(reference, dtype=torch.float32)
            r = self.info.resolution
            if reference.shape != (x.shape[0], 3, r, r):
                raise RecipeError(f"reference images must be shaped ({x.shape[0]}, 3, {r}, {r}), "
                                  f"not {tuple(reference.shape)}")
            s = self.style(d, reference=reference)
        else:
            if z is None:
                z = self._style_z(0).expand(x.shape[0], -1)
            s = self.style(d, z=torch.as_tensor(z, dtype=torch.float32).reshape(-1, self.latent_dim))
        return self.run(self._context(x, s))

    def __repr__(self) -> str:
        i = self.info
        return (f"<{type(self).__name__} {i.resolution}x{i.resolution} domains={list(i.attributes)} "
                f"on {self.device}>")

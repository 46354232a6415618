"""The plugin API: what a generator family provides and what the rest of the studio relies on.

A family (built in under plugins/, or a third party's package or drop-in file) provides a
GeneratorPlugin that recognises checkpoint files and turns one into a Generator. A Generator is a list
of Stages run in order; the render engine caches each stage's output so a change that only a late stage
reads re-runs only the stages after it.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from studio.core.latents import seed_to_z
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent, Walk
from studio.errors import Cancelled, PluginError, RecipeError, StudioError, clipped, users_interrupt
from studio.model.numerics import computing_in

if TYPE_CHECKING:
    from studio.model.probe import Probe
    from studio.model.units import UnitPlan

# translate: a photo translator (photo in, photo out); transform: StyleGAN3 shift / rotate of the input
CAPABILITIES = ("walk", "style_mix", "attributes", "features", "translate", "transform")


@dataclass(frozen=True)
class Choice:
    """A setting a checkpoint holds several of, or cannot record, that the user may pick: a progressive
    GAN's scale or fade-in alpha, which of its networks to run. `value` is what this load uses, `values` what
    the family's `Generator.choose(name=...)` accepts (empty: a number in [lo, hi]), and `source` says where
    the value came from ("from the file", "default: the file does not record it"), so nothing is assumed
    silently. `info` and the model panel show it."""

    name: str
    value: str
    values: tuple[str, ...] = ()
    lo: float = 0.0
    hi: float = 1.0
    source: str = ""
    label: str = ""  # what to call it in the UI ("Scale"); the name when empty


@dataclass(frozen=True)
class ConditionPart:
    """One named piece of a conditional model's condition vector, in the order the model reads them: `classes`
    (one-hot over `size` classes; a blend of several is a class interpolation) or `continuous` codes
    (InfoGAN's, each a slider from `lo` to `hi`). `names` are the class names (BigGAN's ImageNet labels) or
    the codes'."""

    name: str
    kind: str = "classes"  # "classes" | "continuous"
    size: int = 0
    names: tuple[str, ...] = ()
    lo: float = -1.0
    hi: float = 1.0


@dataclass(frozen=True)
class ModelInfo:
    """What the UI and the CLI need to know about a loaded generator (shown in the model panel)."""

    family: str
    format: str
    resolution: int
    channels: int = 3
    z_dim: int = 0
    prior: str = "normal"
    w_dim: int = 0
    num_ws: int = 0
    c_dim: int = 0
    layer_names: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset({"walk", "features"})
    name: str = ""
    choices: tuple[Choice, ...] = ()  # settings the user may pick (see Choice); a family provides `choose`
    # what the c_dim condition values are (see ConditionPart); empty with c_dim > 0: c_dim one-hot classes
    condition_parts: tuple[ConditionPart, ...] = ()
    # stages that read the class, for a per-layer class (BigGAN, as GANSpace offers): studio.core.class_edits
    class_layers: tuple[str, ...] = ()

    def parts(self) -> tuple[ConditionPart, ...]:
        """The condition's parts, a single unnamed class part for a plain one-hot model."""
        if self.condition_parts or not self.c_dim:
            return self.condition_parts
        return (ConditionPart("class", "classes", self.c_dim),)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["choices"] = [{**c, "values": list(c["values"])} for c in d["choices"]]
        d["capabilities"] = sorted(self.capabilities)
        d["layer_names"] = list(self.layer_names)
        d["attributes"] = list(self.attributes)
        d["condition_parts"] = [{**p, "names": list(p["names"])} for p in d["condition_parts"]]
        d["class_layers"] = list(self.class_layers)
        return d


@dataclass
class StageContext:
    """Everything stages read besides their input tensor, for one batch.

    `key` fingerprints the inputs of the first stage (latents, condition); each stage adds what it
    reads itself through Stage.inputs, so the engine can chain cache keys. `key_fields` names what the key
    covers: a family whose stages each report their own share of ws (StyleGAN) leaves ws out, or a change
    to the last style rows would change every stage's key and defeat the cache.
    """

    z: Tensor | None = None
    ws: Tensor | None = None
    c: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    cacheable: bool = True
    key_fields: tuple[str, ...] = ("z", "ws", "c")
    units: "UnitPlan" = ()  # per sample, its unit edits: applied after the stage they name, keyed there
    # the number format stages compute in (studio.render.precision): "fp32", "bf16" or "fp16"; not part of
    # `key`, the renderer chains it into its cache keys
    precision: str = "fp32"

    def key(self) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        for name in self.key_fields:
            t = getattr(self, name)
            h.update(name.encode())
            if t is None:
                h.update(b"-")
            else:
                h.update(str(tuple(t.shape)).encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()


@runtime_checkable
class Stage(Protocol):
    """One step of a generator's forward pass. Its output is the input of the next stage."""

    name: str

    def inputs(self, ctx: StageContext) -> bytes:
        """What this stage reads from ctx (its style rows, unit masks); part of its cache key."""

    def __call__(self, x: Tensor | None, ctx: StageContext) -> Tensor: ...


class Generator:
    """A loaded generator: stages plus how a recipe becomes their inputs.

    Families subclass this (StyleGAN overrides `context` to map z to w and apply W-space edits);
    plain feed-forward generators need nothing but stages and `info`.
    """

    plugin_name = ""  # the plugin that loaded it (set by the registry): named when one of its stages fails
    # BigGAN also passes truncation to its forward (standing statistics), so interpolation keeps it
    truncation_in_forward = False

    def __init__(self, info: ModelInfo, stages: Sequence[Stage], device: torch.device | str = "cpu",
                 model_id: str = "", modules: Sequence[torch.nn.Module] = ()):
        self.info = info
        self.stages: list[Stage] = list(stages)
        self.device = torch.device(device)
        self.model_id = model_id  # content hash of the checkpoint: cache and recipe identity
        self._modules = list(modules)
        for m in self._modules:
            m.to(self.device).eval()

    # -- latents ---------------------------------------------------------------------------------
    def z_mean(self) -> np.ndarray:
        """The centre that truncation pulls toward (the prior's mean for z-space models)."""
        return np.zeros(self.info.z_dim, np.float32)

    def latent(self, spec: SeedLatent | VectorLatent) -> np.ndarray:
        if isinstance(spec, SeedLatent):
            return seed_to_z(spec.seed, self.info.z_dim, self.info.prior)
        if not isinstance(spec, VectorLatent):
            raise RecipeError(f"this {self.info.family} model cannot start from a {spec.kind} latent")
        v = np.asarray(spec.values, np.float32)
        if v.shape != (self.info.z_dim,):
            raise RecipeError(f"latent vector has {v.size} values but this model's z has {self.info.z_dim}")
        return v

    def latents(self, seeds: Sequence[int]) -> Tensor:
        """z for seeds, shape (N, z_dim), on the generator's device: the one way seeds become latents
        (through `latent`, so a family's own prior or seeding applies everywhere)."""
        if not len(seeds):
            return torch.zeros(0, self.info.z_dim, device=self.device)
        z = np.stack([self.latent(SeedLatent(int(s))) for s in seeds])
        return torch.from_numpy(z).to(self.device)

    # -- W space -----------------------------------------------------------------------------------
    @property
    def has_w(self) -> bool:
        """Whether this model maps z to a W space (style inputs) that recipes, arithmetic and fitting can
        use: it states a w_dim and overrides `map`."""
        return bool(self.info.w_dim and self.info.num_ws) and type(self).map is not Generator.map

    def map(self, z: Tensor | np.ndarray, c: Tensor | None = None, truncation: float | Tensor = 1.0,
            truncation_cutoff: int | None = None) -> Tensor:
        """Style inputs ws (N, num_ws, w_dim) for z (N, z_dim); `truncation` pulls the first
        `truncation_cutoff` rows (all when None) toward w_avg. Families with a mapping network override
        it; here it says clearly that there is no W space."""
        raise RecipeError(f"{self.info.name or self.info.family} models have no W space; use z")

    def choose(self, **picks: str) -> "Generator":
        """The same checkpoint with other values for its `info.choices` (a new Generator whose model_id
        names the picks, so caches and workspaces keep them apart); families with choices override it."""
        if not picks:
            return self
        raise RecipeError(f"{self.info.name or self.info.family} has no settings to pick "
                          f"({', '.join(sorted(picks))})")

    # -- recipe to stage inputs --------------------------------------------------------------------
    def edited_z(self, recipe: Recipe) -> np.ndarray:
        """The recipe's z after truncation and z-space walks (walks after truncation: psi never scales them)."""
        z = self.latent(recipe.latent)
        mean = self.z_mean()
        z = mean + recipe.truncation * (z - mean)
        for e in recipe.edits:
            if isinstance(e, Walk) and e.space != "z" and not self.has_w:  # would be silently ignored
                raise RecipeError(f"walk {e.label!r} is in {e.space.upper()} space, which this "
                                  f"{self.info.family} model does not have")
            if isinstance(e, Walk) and e.space == "z":
                d = np.asarray(e.direction, np.float32)
                if d.shape != z.shape:
                    raise RecipeError(f"walk {e.label!r} has {d.size} values but this model's z has {z.size}")
                z = z + e.amount * d
        return z.astype(np.float32)

    def context(self, recipes: Sequence[Recipe]) -> StageContext:
        """Stage inputs for a batch of recipes."""
        z = torch.from_numpy(np.stack([self.edited_z(r) for r in recipes])).to(self.device)
        return StageContext(z=z, c=self._condition(recipes))

    def recipe_context(self, recipes: Sequence[Recipe]) -> StageContext:
        """`context` plus the recipes' unit edits: what renderers use (families override only `context`)."""
        from studio.core.units import unit_edits
        from studio.model.units import check_layers

        ctx = self.context(recipes)
        plan = tuple(unit_edits(r) for r in recipes)
        if any(plan):
            check_layers(plan, [s.name for s in self.stages])
            ctx.units = plan
        return ctx

    def example_context(self) -> StageContext:
        """Stage inputs for one representative sample, for tools that need only shapes (info, probes);
        families whose recipes do not start from a seed (image translators) override it."""
        return self.context([Recipe(ModelRef(""), SeedLatent(0))])

    def _condition(self, recipes: Sequence[Recipe]) -> Tensor | None:
        if not self.info.c_dim:
            return None
        rows = [r.condition or (0.0,) * self.info.c_dim for r in recipes]
        if any(len(r) != self.info.c_dim for r in rows):
            raise RecipeError(f"this model takes {self.info.c_dim} condition values")
        return torch.tensor(rows, dtype=torch.float32, device=self.device)

    # -- running -----------------------------------------------------------------------------------
    def steps(self, ctx: StageContext, start: int = 0, x: Tensor | None = None, stop: int | None = None,
              cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, Tensor]]:
        """The one stage loop: (i, stage i's output) for stages[start:stop] from x, one stage per step.

        `run`, the renderer's cached run and its stage-per-step batches all step through here. `cancel` is
        polled before each stage so stale work stops early; inference mode is on only while a stage runs, so
        a loop suspended between steps (a background job) leaves it off on its thread.

        Whatever a stage raises, BaseException included (a plugin's SystemExit, KeyboardInterrupt or
        GeneratorExit would otherwise end the render thread), comes out as a PluginError naming the plugin
        and the stage; the studio's own errors pass through, and so does the user's Ctrl-C."""
        for i in range(start, len(self.stages) if stop is None else stop):
            if cancel is not None and cancel():
                raise Cancelled()
            try:
                x = self.run_stage(i, x, ctx)
            except (Cancelled, StudioError):
                raise
            except BaseException as exc:
                if users_interrupt(exc):
                    raise
                raise PluginError(self.who(), self.stage_name(i), describe_failure(exc)) from exc
            yield i, x

    def who(self) -> str:
        """The plugin to name in errors: the one that loaded this generator, else its family."""
        return self.plugin_name or self.info.family

    def stage_name(self, i: int) -> str:
        return str(getattr(self.stages[i], "name", i)) if 0 <= i < len(self.stages) else str(i)

    def run(self, ctx: StageContext, start: int = 0, x: Tensor | None = None,
            cancel: Callable[[], bool] | None = None, stop: int | None = None) -> Tensor:
        """Run stages[start:stop] from x (see `steps`) and return the last output."""
        for _, x in self.steps(ctx, start, x, stop, cancel):
            pass
        assert x is not None
        return x

    def run_stage(self, i: int, x: Tensor | None, ctx: StageContext) -> Tensor:
        """Stage i's output, with the unit edits that name it applied (what the next stage reads).

        The input may be a cached activation (the renderer caches every stage's output), so a stage that
        writes into its input (an in-place activation first in a block) gets a copy: see `_stage_input`."""
        x, version = self._stage_input(i, x)
        with torch.inference_mode(), computing_in(ctx.precision, self.device):
            out = self.stages[i](x, ctx)  # NCHW: channels_last measured no faster (a copy per stage)
            if ctx.precision != "fp32" and i == len(self.stages) - 1 and isinstance(out, Tensor):
                out = out.float().contiguous()  # images leave the stage runner in fp32, NCHW
            if ctx.units:
                from studio.model.units import apply_to_stage

                out = apply_to_stage(self.stages[i], out, ctx.units)
        if version is not None:
            assert x is not None
            self._writes_input()[i] = x._version != version
        return out

    def _writes_input(self) -> dict[int, bool]:
        """Per stage index, whether it writes into its input tensor, once it has run with an input."""
        seen = self.__dict__.get("_stage_writes")
        if seen is None:  # set lazily: a subclass that skips Generator.__init__ is guarded too
            seen = self.__dict__.setdefault("_stage_writes", {})
        return seen

    def _stage_input(self, i: int, x: Tensor | None) -> tuple[Tensor | None, int | None]:
        """Stage i's input, and the version to compare after a first run.

        A stage's first run gets a copy made outside inference mode: such a tensor keeps a version counter
        (inference tensors have none) that any in-place write bumps, even inside inference mode. After that
        only stages seen writing are given a copy, so the guard costs the others nothing. (A stage that
        writes only for some inputs, or through a library that bypasses torch, is not seen.)"""
        if x is None:
            return x, None
        writes = self._writes_input().get(i)
        if writes is None:
            with torch.inference_mode(False), torch.no_grad():
                probe = x.clone()
            return probe, probe._version
        return (x.clone() if writes else x), None

    def generate(self, z: Tensor | np.ndarray, truncation: float = 1.0, c: Any = None) -> Tensor:
        """Images (N, C, H, W) float in [-1, 1] from latents z (N, z_dim): the scripting entry point.

        `c` as the official code takes it: class indices (N,) (a cGAN's LongTensor labels), one-hot or class
        vectors (N, c_dim), or a tuple of parts in their order (InfoGAN's (labels_onehot, code))."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(-1, self.info.z_dim)
        if truncation != 1.0:
            mean = torch.from_numpy(self.z_mean()).to(self.device)
            z = mean + truncation * (z - mean)
        return self.run(StageContext(z=z, c=self.condition_tensor(c, len(z))))

    def condition_tensor(self, c: Any, n: int) -> Tensor | None:
        """`c` in any form `generate` accepts as the (N, c_dim) float condition stages read (ctx.c)."""
        if c is None:
            return None
        if isinstance(c, (tuple, list)):
            c = torch.cat([torch.as_tensor(p, dtype=torch.float32, device=self.device).reshape(n, -1)
                           for p in c], 1)
        c = torch.as_tensor(c, device=self.device)
        if not c.is_floating_point() and c.ndim == 1:
            if not self.info.c_dim or int(c.min()) < 0 or int(c.max()) >= self.info.c_dim:
                raise RecipeError(f"class labels must be 0-{self.info.c_dim - 1} for this model")
            c = torch.nn.functional.one_hot(c.long(), self.info.c_dim)
        c = c.to(torch.float32)
        if c.shape != (n, self.info.c_dim):
            raise RecipeError(f"c has shape {tuple(c.shape)} but this model takes ({n}, {self.info.c_dim})")
        return c

    def to(self, device: torch.device | str) -> "Generator":
        self.device = torch.device(device)
        for m in self._modules:
            m.to(self.device)
        return self

    def __repr__(self) -> str:
        i = self.info
        return f"<{type(self).__name__} {i.family} {i.resolution}x{i.resolution} z={i.z_dim} on {self.device}>"


@runtime_checkable
class GeneratorPlugin(Protocol):
    """A generator family. Keep the module cheap to import: heavy work belongs in load()."""

    name: str
    formats: str  # human description of the file formats read, named in "nothing could read this" errors

    def sniff(self, probe: "Probe") -> float:
        """Confidence in [0, 1] that this plugin reads the file; 0 when it does not."""

    def load(self, probe: "Probe", device: torch.device) -> Generator: ...


def describe_failure(exc: BaseException) -> str:
    """`Type: first line of the message` (300 characters at most): one line for a user-facing error."""
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the plugin tried to end the program"
    text = clipped(str(exc), 300)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

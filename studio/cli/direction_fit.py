"""`latent-studio directions labellers|sample|fit`: labellers, sampled latents for outside scoring (the
InterFaceGAN workflow), and fitting with its evaluation (held-out accuracy against chance, every attribute
along the walk) and conditional manipulation (--keep-fixed).

    directions labellers CKPT                      which labellers know the model's images (and which failed)
    directions sample CKPT --n 2000 --out DIR      latents (+ images) to score with your own classifier
    directions fit CKPT --attribute Eyeglasses [--keep-fixed Male] [--labeller NAME | --scores F --samples DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli.common import DEVICES, UsageError, bounded, existing_file, load_model



def add_verbs(verbs: Any) -> None:
    """`labellers`, `sample` and `fit` under `latent-studio directions` (studio/cli/directions.py)."""
    from studio.core.labelled import CLASSIFIERS

    s = verbs

    lab = s.add_parser("labellers", help="the labellers that know a model's images, and those that failed")
    lab.add_argument("checkpoint", metavar="CKPT", help="checkpoint file (or demo:NAME)")
    lab.add_argument("--json", action="store_true", help="machine-readable output")
    lab.set_defaults(func=cmd_labellers)

    smp = s.add_parser("sample", help="export N sampled latents (and images) to score with your own classifier",
                       epilog="then score images/*.png in order and run: directions fit CKPT --samples DIR "
                              "--scores scores.csv --attribute NAME")
    smp.add_argument("checkpoint", metavar="CKPT", help="checkpoint file (or demo:NAME)")
    smp.add_argument("--n", type=bounded(int, 1, 1_000_000), default=2000, help="samples (default 2000)")
    smp.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new folder")
    smp.add_argument("--space", choices=("z", "w"), default="z", help="the latents written (default z)")
    smp.add_argument("--no-images", dest="images", action="store_false", help="latents only")
    smp.add_argument("--first-seed", type=int, default=None, metavar="SEED",
                     help="seed of the first sample (default: the fit seeds, far from browsed ones)")
    smp.add_argument("--device", choices=DEVICES, default="cpu")
    from studio.cli.cluster import add_ray_option

    add_ray_option(smp, "sample images")
    smp.set_defaults(func=cmd_sample)

    fit = s.add_parser("fit", help="fit a direction from a labeller or a scores file, and evaluate it",
                       epilog="examples: directions fit demo:dcgan --attribute Eyeglasses --keep-fixed Male "
                              "--out glasses.lsdir;  directions fit G.pt --samples DIR --scores scores.csv "
                              "--attribute smile --json")
    fit.add_argument("checkpoint", metavar="CKPT", help="checkpoint file (or demo:NAME)")
    fit.add_argument("--attribute", default=None, help="the attribute (a labeller's name for it, or a column)")
    fit.add_argument("--keep-fixed", default="", metavar="A,B",
                     help="attributes to keep fixed: the direction is projected orthogonal to their boundaries")
    fit.add_argument("--labeller", default=None, help="the labeller's name (default: the first scoring it)")
    fit.add_argument("--samples", type=Path, default=None, metavar="DIR", help="a folder from `directions sample`")
    fit.add_argument("--scores", type=Path, default=None, metavar="FILE",
                     help=".npy or .csv scores aligned with --samples (one row per sample, in order)")
    fit.add_argument("--threshold", type=float, default=None,
                     help="scores above it are positive (default 0.5 for probabilities, else the median)")
    fit.add_argument("--extremes", type=bounded(float, 0.0, 0.5, above=True), default=None, metavar="R",
                     help="InterFaceGAN's ratio: fit on the top and bottom fraction R of the scores only")
    fit.add_argument("--n", type=bounded(int, 20, 200_000), default=2000,
                     help="samples the labeller labels (default 2000)")
    fit.add_argument("--classifier", choices=CLASSIFIERS, default="logistic")
    fit.add_argument("--space", choices=("z", "w"), default=None, help="z, or w for StyleGAN (default: w if any)")
    fit.add_argument("--evaluate-seeds", type=bounded(int, 0, 10_000), default=None, metavar="N",
                     help="fresh seeds walked to measure the attribute and the others along the direction "
                          "(default 24; 0: no walk)")
    fit.add_argument("--name", default=None, help="the direction's name (default: the attribute)")
    fit.add_argument("--out", type=Path, default=None, metavar="FILE.lsdir", help="save the direction")
    fit.add_argument("--force", action="store_true", help="overwrite --out")
    fit.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    fit.add_argument("--device", choices=DEVICES, default="cpu")
    from studio.cli.cluster import add_ray_option

    add_ray_option(fit, "labelled samples")
    fit.set_defaults(func=cmd_fit)


def cmd_labellers(ns: argparse.Namespace) -> int:
    from studio.model.labellers import available_labellers, default_labellers

    g = load_model(existing_file(ns.checkpoint, "checkpoint"), "cpu")
    found = default_labellers()
    offered = available_labellers(g.info)
    others = [x for x in found.labellers if x not in offered]
    report = {"model": g.info.name or g.info.family,
              "labellers": [_describe(x) for x in offered],
              "not_for_this_model": [_describe(x) for x in others], "problems": found.problems}
    if ns.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"labellers for {report['model']}:" if offered else f"no labeller knows {report['model']}'s images")
    for x in report["labellers"]:
        print(f"  {x['name']}: {', '.join(x['attributes'])}  [{x['origin']}]")
    if others:
        print("other labellers (other domains):")
        for x in report["not_for_this_model"]:
            print(f"  {x['name']} ({x['domain'] or 'domain not stated'})")
    for line in found.problems:
        print(f"problem: {line}")
    return 0


def _describe(x: Any) -> dict:
    return {"name": x.name, "attributes": list(x.attributes), "domain": x.domain, "input_size": x.input_size,
            "origin": x.origin}


def cmd_sample(ns: argparse.Namespace) -> int:
    from studio.core.labelled import FIT_SEED0
    from studio.render.analysis import run_job
    from studio.render.engine import Renderer
    from studio.render.samples_export import export_samples_job

    from studio.cli.cluster import check_ray, cluster_frames

    check_ray(ns)
    path = existing_file(ns.checkpoint, "checkpoint")
    g = load_model(path, ns.device)
    _check_space(g, ns.space)
    seed0 = FIT_SEED0 if ns.first_seed is None else ns.first_seed
    with cluster_frames(ns if ns.images else argparse.Namespace(ray=None), g, path) as frames:
        out = run_job(export_samples_job(g, Renderer(), ns.out.expanduser(), ns.n, ns.space, seed0, ns.images,
                                         path.name, frames=frames))
    print(f"wrote {ns.n} latents ({ns.space}){' and images' if ns.images else ''} to {out}")
    return 0


def _check_space(g: Any, space: str | None) -> str:
    if space is None:
        return "w" if g.has_w else "z"
    if space == "w" and not g.has_w:
        raise UsageError(f"{g.info.family} models have no W space; use --space z")
    return space


def cmd_fit(ns: argparse.Namespace) -> int:
    from studio.core.labelled import LabelError
    from studio.core.conditional import ProjectionError
    from studio.core.direction_library import save_direction
    from studio.model.labellers import find_labeller
    from studio.render.analysis import EVAL_SEEDS, evaluate_fit_job, fit_attribute_job, run_job
    from studio.render.engine import Renderer

    if (ns.scores is None) != (ns.samples is None):
        raise UsageError("--scores and --samples go together (the scores are aligned with the exported samples)")
    from studio.cli.cluster import check_ray

    check_ray(ns)
    if ns.ray is not None and ns.scores is not None:
        raise UsageError("--ray labels samples with a labeller; a scores file needs no rendering")
    if ns.out is not None and ns.out.expanduser().exists() and not ns.force:
        raise UsageError(f"{ns.out} already exists (use --force to overwrite)")
    keep = tuple(a.strip() for a in ns.keep_fixed.split(",") if a.strip())
    path = existing_file(ns.checkpoint, "checkpoint")
    g = load_model(path, ns.device)
    renderer = Renderer()
    try:
        if ns.scores is not None:
            from studio.core.scores_file import fit_scores

            fitted = fit_scores(ns.samples.expanduser(), ns.scores.expanduser(), ns.attribute, g.model_id,
                                path.name, ns.classifier, keep, ns.threshold, ns.extremes, ns.name)
            attribute = fitted.direction.source[7:]
        else:
            if ns.attribute is None:
                raise UsageError("name the --attribute to fit (`directions labellers CKPT` lists them)")
            attribute = ns.attribute
            lab = find_labeller(g.info, ns.labeller, attribute)
            space = _check_space(g, ns.space)
            from studio.cli.cluster import labelled_on_cluster

            with labelled_on_cluster(ns, g, path) as scorer:
                fitted = run_job(fit_attribute_job(g, renderer, lab, attribute, ns.n, ns.classifier, space,
                                                   model_name=path.name, keep_fixed=keep, scorer=scorer))
            if ns.name:
                fitted = _renamed(fitted, ns.name)
    except (LabelError, ProjectionError) as exc:
        raise UsageError(f"cannot fit {ns.attribute or 'the direction'}: {exc}") from None
    n_seeds = EVAL_SEEDS if ns.evaluate_seeds is None else ns.evaluate_seeds
    lab = _walk_labeller(g, ns.labeller, attribute, keep)
    if lab is not None and n_seeds > 0:
        from studio.render.analysis import EVAL_SEED0

        ev = run_job(evaluate_fit_job(g, renderer, lab, fitted, range(EVAL_SEED0, EVAL_SEED0 + n_seeds)))
    else:
        from studio.core.fit_evaluation import accuracy_only

        ev = accuracy_only(fitted)
        if lab is None and n_seeds > 0:
            print(f"note: no labeller for this model scores {attribute!r}, so the walk is not measured",
                  file=sys.stderr)
    if ns.out is not None:
        saved = save_direction(fitted.direction, ns.out.expanduser())
        print(f"saved {fitted.direction.name} to {saved}", file=sys.stderr if ns.json else sys.stdout)
    if ns.json:
        print(json.dumps(ev.to_dict(), indent=2))
    else:
        print("\n".join(ev.lines()))
    return 0


def _renamed(fitted: Any, name: str) -> Any:
    from dataclasses import replace

    return replace(fitted, direction=fitted.direction.renamed(name))


def _walk_labeller(g: Any, name: str | None, attribute: str, keep: tuple[str, ...]) -> Any:
    """The labeller that scores the walk (also for a scores-file fit, when one knows the attribute)."""
    from studio.model.labellers import LabellerError, find_labeller

    try:
        return find_labeller(g.info, name, attribute)
    except LabellerError:
        return None

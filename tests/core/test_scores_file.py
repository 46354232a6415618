"""The InterFaceGAN workflow for outside scores: export latents and images, score the PNGs elsewhere, import
the scores file (validated), fit; the round trip gives the direction the labeller itself fits."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import studio
from studio.bundled import attribute_model_path, demo_checkpoints
from studio.core.scores_file import ScoresError, fit_scores, labels_from_scores, read_samples, read_scores
from studio.render.analysis import fit_attribute_job, run_job
from studio.render.engine import Renderer
from studio.render.samples_export import export_samples_job
from tests.conftest import run_cli

N = 240


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[object, Path]:
    demo = next(p for p in demo_checkpoints() if p.name.startswith("dcgan"))
    g = studio.load(demo, device="cpu")
    folder = tmp_path_factory.mktemp("s") / "samples"
    run_job(export_samples_job(g, Renderer(), folder, N, "z", 1_000_000_000, True, demo.name))
    return g, folder


def outside_scores(folder: Path) -> dict[str, np.ndarray]:
    """What a researcher's own script does: read the PNGs in order and score them."""
    from studio.demo import attributes

    net = attributes.load(attribute_model_path())
    images = np.stack([np.asarray(Image.open(p)) for p in sorted((folder / "images").glob("*.png"))])
    p = attributes.predict(net, images)
    return {"Smiling": p["Smiling"], "Male": p["Male"]}


def write_csv(path: Path, seeds, cols: dict[str, np.ndarray]) -> Path:
    lines = ["seed," + ",".join(cols)] + [f"{s}," + ",".join(f"{cols[c][i]:.6f}" for c in cols)
                                          for i, s in enumerate(seeds)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_export_writes_aligned_latents_images_and_manifest(exported):
    g, folder = exported
    samples, latents = read_samples(folder)
    assert latents.shape == (N, g.info.z_dim) and samples.seeds[0] == 1_000_000_000 and samples.space == "z"
    assert np.allclose(latents, g.latents(list(samples.seeds)).numpy())
    assert len(list((folder / "images").glob("*.png"))) == N
    assert json.loads((folder / "samples.json").read_text())["model_sha256"] == g.model_id
    assert not folder.with_name("samples.partial").exists()
    with pytest.raises(ScoresError, match="already exists"):
        run_job(export_samples_job(g, Renderer(), folder, 5))


def test_scores_file_round_trip_gives_the_labellers_own_direction(exported, tmp_path, capsys):
    g, folder = exported
    samples, _ = read_samples(folder)
    csv = write_csv(tmp_path / "scores.csv", samples.seeds, outside_scores(folder))
    from_file = fit_scores(folder, csv, "Smiling", g.model_id, keep_fixed=("Male",))
    from studio.model.labellers import find_labeller

    lab = find_labeller(g.info, attribute="Smiling")
    direct = run_job(fit_attribute_job(g, Renderer(), lab, "Smiling", N, keep_fixed=("Male",)))
    cos = float(from_file.direction.vectors[0] @ direct.direction.vectors[0])
    assert cos > 0.99, cos  # the same labels up to PNG rounding: the same boundary
    assert from_file.direction.info["kept_fixed"] == ["Male"]
    # the CLI path: fit, evaluate along the walk with the labeller that knows the attribute, save
    out = tmp_path / "smile.lsdir"
    code, stdout, err = run_cli(capsys, "directions", "fit", "demo:dcgan", "--samples", folder, "--scores", csv,
                                "--attribute", "Smiling", "--keep-fixed", "Male", "--evaluate-seeds", "6",
                                "--json", "--out", out)
    assert code == 0, err
    report = json.loads(stdout)
    assert report["kept_fixed"] == ["Male"] and report["walk"]["change"]["Smiling"] > 0.2
    assert set(report["walk"]["change"]) >= {"Male", "Eyeglasses"} and report["walk_before_projection"]
    assert out.is_file()
    npy = tmp_path / "smile.npy"
    np.save(npy, outside_scores(folder)["Smiling"])
    assert float(fit_scores(folder, npy, None, g.model_id).direction.vectors[0] @ direct.fit.direction) > 0.9


@pytest.mark.parametrize("content, message", [
    ("seed,Smiling\n1000000000,0.5\n", "has 1 scores in 'Smiling' but the samples number 240"),
    ("Smiling,Smiling\n" + "0.1,0.2\n" * N, "appear more than once"),
    ("0.1\n" + "0.2\n" * N, "must be a header"),
    ("Smiling\n" + "0.2\n" * (N - 1) + "nan\n", "1 missing or non-finite value"),
    ("Smiling\n" + "0.2\n" * (N - 1) + "yes\n", "'Smiling' is 'yes', not a number"),
    ("seed,Smiling\n" + "".join(f"{1_000_000_000 + N - 1 - i},0.3\n" for i in range(N)), "not in the samples' order"),
])
def test_a_bad_scores_file_is_one_clear_sentence(exported, tmp_path, capsys, content, message):
    g, folder = exported
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ScoresError, match=message):
        fit_scores(folder, path, "Smiling", g.model_id)
    code, out, err = run_cli(capsys, "directions", "fit", "demo:dcgan", "--samples", folder, "--scores", path,
                             "--attribute", "Smiling")
    assert code == 2 and message.split("'")[0].strip() in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_columns_wrong_shapes_and_other_models_are_refused(exported, tmp_path):
    g, folder = exported
    samples, _ = read_samples(folder)
    csv = write_csv(tmp_path / "s.csv", samples.seeds, {"Smiling": np.linspace(0, 1, N)})
    with pytest.raises(ScoresError, match=r"no column 'Male' \(its columns: Smiling\)"):
        fit_scores(folder, csv, "Smiling", g.model_id, keep_fixed=("Male",))
    with pytest.raises(ScoresError, match="not the model open now"):
        fit_scores(folder, csv, "Smiling", "another-sha")
    np.save(tmp_path / "cube.npy", np.zeros((N, 2, 2)))
    with pytest.raises(ScoresError, match=r"expected \(N,\) or \(N, k\)"):
        read_scores(tmp_path / "cube.npy", N)
    with pytest.raises(ScoresError, match="no Latent Studio samples|has no samples.json"):
        read_samples(tmp_path)


def test_labels_from_scores_thresholds_and_extremes():
    s = np.linspace(-3, 3, 100)
    use, y = labels_from_scores(s)  # not probabilities: the median splits
    assert use.all() and y.sum() == 50
    use, y = labels_from_scores(s, extremes=0.1)  # InterFaceGAN: top and bottom 10 %
    assert use.sum() == 20 and y.sum() == 10 and (s[use][y] > 2).all()
    use, y = labels_from_scores(np.array([0.0, 1.0, 1.0, 0.0]))
    assert list(y) == [False, True, True, False]

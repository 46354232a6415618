"""The worker survives any plugin: a stage raising SystemExit, KeyboardInterrupt or GeneratorExit, or
returning NaN, Inf or the wrong shape, dtype or channel count, is a frame error naming the plugin and the
stage, and the same worker renders the next request; a render thread that dies anyway is restarted; the CLI
reports a plugin's SystemExit in one line with a non-zero exit.

The faulty plugin is a real drop-in found by the registry; which fault a render hits is chosen by the
recipe's first latent value, so loading (a seed-0 sample) is clean and each fault comes from one recipe."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.errors import CheckpointError, PluginError
from studio.model.registry import Registry, reset_default_registry
from studio.render.engine import Frame, Renderer
from studio.render.worker import RenderWorker

Z = 48  # z reshaped to a 3 x 4 x 4 image

FAULTY = '''
import torch

from studio.model.api import Generator, ModelInfo

FAULTS = {1001: "exit", 1002: "interrupt", 1003: "generator_exit", 1004: "nan", 1005: "inf",
          1006: "channels", 1007: "dtype", 1008: "shape", 1009: "ok_but_context_exits"}


class Shape:
    name = "b0"

    def inputs(self, ctx):
        return b""

    def __call__(self, x, ctx):
        return ctx.z.reshape(-1, 3, 4, 4)


class Faulty:
    name = "b1"

    def inputs(self, ctx):
        return b""

    def __call__(self, x, ctx):
        fault = FAULTS.get(int(ctx.z[0, 0]))
        if fault == "exit":
            raise SystemExit(3)
        if fault == "interrupt":
            raise KeyboardInterrupt
        if fault == "generator_exit":
            raise GeneratorExit
        if fault == "nan":
            return x * float("nan")
        if fault == "inf":
            return x * float("inf")
        if fault == "channels":
            return torch.cat([x, x[:, :1]], 1)
        if fault == "dtype":
            return (x * 127).to(torch.uint8)
        if fault == "shape":
            return x[:, :, :2]
        return torch.tanh(x)


class FaultyGenerator(Generator):
    def context(self, recipes):
        ctx = super().context(recipes)
        if FAULTS.get(int(ctx.z[0, 0])) == "ok_but_context_exits":
            raise SystemExit(9)
        return ctx


class Plugin:
    name = "faulty"
    formats = "*.faulty test models"

    def sniff(self, probe):
        return 1.0 if probe.path.suffix == ".faulty" else 0.0

    def load(self, probe, device):
        info = ModelInfo(family="faultyfamily", format="test", resolution=4, channels=3, z_dim={z})
        return FaultyGenerator(info, [Shape(), Faulty()], device=device)


plugin = Plugin()
'''.replace("{z}", str(Z))

CODES = {"exit": 1001, "interrupt": 1002, "generator_exit": 1003, "nan": 1004, "inf": 1005,
         "channels": 1006, "dtype": 1007, "shape": 1008, "context_exits": 1009}


@pytest.fixture
def faulty(tmp_path: Path):
    """(registry, generator) for the faulty drop-in, loaded through the registry like any plugin."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "faulty.py").write_text(FAULTY)
    model = tmp_path / "model.faulty"
    model.write_text("a test model\n")
    reg = Registry.discover(search_paths=[folder])
    return reg, reg.open(model), model


@pytest.fixture
def worker():
    w = RenderWorker()
    yield w
    w.stop()


def fault(model: Path, name: str) -> Recipe:
    return Recipe(ModelRef(str(model)), VectorLatent((float(CODES[name]),) + (0.1,) * (Z - 1)))


def render(worker: RenderWorker, g, recipe: Recipe) -> Frame:
    got: list[Frame] = []
    done = threading.Event()

    def collect(f: Frame) -> None:
        got.append(f)
        done.set()

    worker.submit("main", g, recipe, collect)
    assert done.wait(15), "the worker sent no frame"
    return got[0]


@pytest.mark.parametrize("name, detail", [
    ("exit", "SystemExit(3): the plugin tried to end the program"),
    ("interrupt", "KeyboardInterrupt"),
    ("generator_exit", "GeneratorExit"),
    ("nan", "returned NaN or infinite values"),
    ("inf", "returned NaN or infinite values"),
    ("channels", "returned 1x4x4x4 but the model says 3x4x4"),
    ("dtype", "returned uint8 values, not floating-point ones"),
    ("shape", "returned 1x3x2x4 but the model says 3x4x4"),
])
def test_a_faulty_stage_is_a_frame_error_naming_plugin_and_stage_and_the_worker_keeps_serving(
        faulty, worker, name, detail):
    _, g, model = faulty
    frame = render(worker, g, fault(model, name))
    assert frame.image is None
    assert frame.error is not None and frame.error.startswith("rendering failed in plugin 'faulty', stage 'b1': ")
    assert detail in frame.error
    assert worker.alive()
    after = render(worker, g, Recipe(ModelRef(str(model)), SeedLatent(4)))
    assert after.ok and after.image.shape == (4, 4, 3)
    assert worker.restarts == 0  # contained, not survived by a restart


def test_systemexit_outside_the_stages_is_contained_too(faulty, worker):
    _, g, model = faulty
    frame = render(worker, g, fault(model, "context_exits"))
    assert frame.error == "rendering failed in plugin 'faulty': SystemExit(9): the plugin tried to end the program"
    assert render(worker, g, Recipe(ModelRef(str(model)), SeedLatent(5))).ok


def test_an_export_batch_refuses_a_nan_output_by_name(faulty):
    _, g, model = faulty
    with pytest.raises(PluginError, match="plugin 'faulty', stage 'b1': returned NaN"):
        Renderer().render_batch(g, [fault(model, "nan")])


def test_a_job_raising_systemexit_is_that_jobs_error(faulty, worker):
    _, g, model = faulty
    errors: list[str] = []
    done = threading.Event()

    def job():
        yield 0
        raise SystemExit(4)

    worker.submit_job(job(), on_error=lambda m: (errors.append(m), done.set()))
    assert done.wait(10) and errors == ["SystemExit(4): the plugin tried to end the program"]
    assert render(worker, g, Recipe(ModelRef(str(model)), SeedLatent(6))).ok


class _Sabotage(logging.Handler):
    """A plugin's logging handler that raises SystemExit on error records: it turns the worker's own error
    reporting into an exception past every handler, so the render thread really dies."""

    def __init__(self, times: int):
        super().__init__(logging.ERROR)
        self.left = times

    def emit(self, record: logging.LogRecord) -> None:
        if self.left > 0:
            self.left -= 1
            raise SystemExit(5)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the point
def test_a_render_thread_that_dies_is_restarted_on_the_next_request(faulty, worker):
    _, g, model = faulty
    log = logging.getLogger("studio.render.worker")
    sabotage = _Sabotage(times=10)
    log.addHandler(sabotage)
    try:
        died = threading.Event()

        def callback(frame: Frame) -> None:
            died.set()
            raise SystemExit(6)  # logged by the worker, whose logging then raises past its handlers

        worker.submit("main", g, Recipe(ModelRef(str(model)), SeedLatent(1)), callback)
        assert died.wait(10)
        worker._thread.join(10)
        assert not worker.alive()
    finally:
        log.removeHandler(sabotage)
    frame = render(worker, g, Recipe(ModelRef(str(model)), SeedLatent(2)))
    assert frame.ok and worker.restarts == 1 and worker.alive()


def test_a_plugin_whose_load_exits_is_a_failed_candidate(tmp_path, faulty):
    reg, _, _ = faulty
    (tmp_path / "plugins" / "exits_on_load.py").write_text(
        "class P:\n    name = 'exitsonload'\n    formats = 'x'\n"
        "    def sniff(self, probe):\n        return 2.0 if probe.path.suffix == '.faulty' else 0.0\n"
        "    def load(self, probe, device):\n        raise SystemExit(7)\n"
        "plugin = P()\n")
    reg = Registry.discover(search_paths=[tmp_path / "plugins"])
    # tried first (more confident), fails by name, and the faulty plugin still loads the file
    assert reg.open(tmp_path / "model.faulty").plugin_name == "faulty"
    (tmp_path / "plugins" / "faulty.py").unlink()
    with pytest.raises(CheckpointError, match=r"exitsonload plugin failed: SystemExit\(7\)"):
        Registry.discover(search_paths=[tmp_path / "plugins"]).open(tmp_path / "model.faulty")


# -- the command line --------------------------------------------------------------------------------------
@pytest.fixture
def cli_faulty(faulty, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_STUDIO_PLUGIN_PATH", str(tmp_path / "plugins"))
    reset_default_registry()
    yield faulty[2]
    reset_default_registry()


@pytest.mark.parametrize("name, rc_want, says", [
    ("exit", 2, "rendering failed in plugin 'faulty', stage 'b1': SystemExit(3)"),
    ("nan", 2, "rendering failed in plugin 'faulty', stage 'b1': returned NaN"),
    # on the main thread a KeyboardInterrupt cannot be told from the user's Ctrl-C: it stops the command
    ("interrupt", 130, "interrupted"),
])
def test_the_cli_reports_a_faulty_stage_in_one_line(cli_faulty, tmp_path, capsys, name, rc_want, says):
    from studio.cli import main

    recipe = tmp_path / "r.json"
    recipe.write_text(fault(cli_faulty, name).to_json())
    rc = main(["render", "--recipe", str(recipe), "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == rc_want and len(err) == 1 and says in err[0], err
    assert not (tmp_path / "x.png").exists()
    ok = tmp_path / "ok.json"
    ok.write_text(Recipe(ModelRef(str(cli_faulty)), SeedLatent(1)).to_json())
    assert main(["render", "--recipe", str(ok), "--out", str(tmp_path / "ok.png")]) == 0


def test_the_cli_reports_systemexit_outside_a_stage_in_one_line(cli_faulty, tmp_path, capsys):
    from studio.cli import main

    recipe = tmp_path / "r.json"
    recipe.write_text(fault(cli_faulty, "context_exits").to_json())
    rc = main(["render", "--recipe", str(recipe), "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "SystemExit(9)" in err[0], err

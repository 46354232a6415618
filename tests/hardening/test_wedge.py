"""Nothing can wedge the studio: FIFOs and devices are refused before any open, a sniff that hangs is
abandoned after its time limit, and an ONNX graph that never ends is terminated. Each test also checks that
the studio keeps serving afterwards: the next open loads, the next frame renders."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from studio.bundled import resolve_demo
from studio.cli import main
from studio.core.recipe import ModelRef, Recipe, SeedLatent, VectorLatent
from studio.errors import CheckpointError, PhotoError, RecipeError
from studio.model.registry import Registry
from studio.render.engine import Frame, Renderer
from studio.render.worker import RenderWorker

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def finishes(fn: Callable[[], Any], within_s: float = 20.0) -> Any:
    """fn()'s result or exception, failing the test (instead of hanging the suite) if it does not return."""
    out: list = []

    def run() -> None:
        try:
            out.append(("ok", fn()))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out.append(("raised", exc))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(within_s)
    assert not t.is_alive(), f"still blocked after {within_s} s"
    kind, value = out[0]
    if kind == "raised":
        raise value
    return value


def fifo(folder: Path, name: str) -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


def demo() -> Path:
    return resolve_demo("demo:dcgan")


def renders(g, seed: int = 3) -> np.ndarray:
    frame = Renderer().render(g, Recipe(ModelRef(str(demo())), SeedLatent(seed)))
    assert frame.ok, frame.error
    return frame.image


# -- only regular files ---------------------------------------------------------------------------------
def test_a_fifo_named_like_a_checkpoint_is_refused_and_the_next_open_works(tmp_path):
    reg = Registry.discover(search_paths=[])
    pipe = fifo(tmp_path, "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors is a named pipe \(FIFO\), not a checkpoint"):
        finishes(lambda: reg.open(pipe))
    assert renders(reg.open(demo())).shape == (64, 64, 3)


def test_a_device_is_refused_as_a_checkpoint():
    with pytest.raises(CheckpointError, match="/dev/zero is a character device, not a checkpoint file"):
        finishes(lambda: Registry.discover(search_paths=[]).open("/dev/zero"))


def test_a_fifo_named_lsproj_is_refused_by_load_project(tmp_path):
    from studio.core.project import load_project

    with pytest.raises(RecipeError, match=r"p\.lsproj is a named pipe \(FIFO\), not a project file"):
        finishes(lambda: load_project(fifo(tmp_path, "p.lsproj")))


def test_a_fifo_photo_is_refused(tmp_path):
    from studio.core.photo import open_photo

    with pytest.raises(PhotoError, match="named pipe"):
        finishes(lambda: open_photo(fifo(tmp_path, "face.png")))


@pytest.mark.parametrize("argv", [
    ["export", "{dir}/p.lsproj", "--out", "{dir}/out.gif"],
    ["render", "--recipe", "{dir}/r.json", "--out", "{dir}/out.png"],
    ["info", "{dir}/m.safetensors"],
])
def test_the_cli_refuses_a_fifo_in_one_line(tmp_path, capsys, argv):
    for name in ("p.lsproj", "r.json", "m.safetensors"):
        fifo(tmp_path, name)
    args = [a.format(dir=tmp_path) for a in argv]
    rc = finishes(lambda: main(args))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "is a named pipe (FIFO)" in err[0], err
    assert not (tmp_path / "out.gif").exists() and not (tmp_path / "out.png").exists()
    # the next command on a real file still runs
    assert main(["info", str(demo())]) == 0


# -- a sniff that hangs -----------------------------------------------------------------------------------
HANGING_SNIFF = '''
import time
from pathlib import Path

RELEASE = Path({release!r})


class Hangs:
    name = "hangs"
    formats = "nothing, slowly"

    def sniff(self, probe):
        end = time.monotonic() + 60  # "forever" for a test, released by the test at its end
        while not RELEASE.exists() and time.monotonic() < end:
            time.sleep(0.01)
        return 0.0

    def load(self, probe, device):
        raise AssertionError("never chosen")


plugin = Hangs()
'''


@pytest.fixture
def hanging_dropin(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    release = tmp_path / "release"
    (folder / "hangs.py").write_text(HANGING_SNIFF.format(release=str(release)))
    yield folder
    release.touch()  # the abandoned sniff thread ends


def test_a_hanging_sniff_is_abandoned_reported_and_the_demo_still_opens(hanging_dropin):
    reg = Registry.discover(search_paths=[hanging_dropin])
    reg.sniff_limit_s = 0.5
    assert "hangs" in [p.name for p in reg.plugins]
    t0 = time.monotonic()
    g = finishes(lambda: reg.open(demo()))
    first = time.monotonic() - t0
    assert g.info.family == "dcgan" and 0.5 <= first < 10
    assert len(reg.problems) == 1
    assert "plugin hangs: sniffing dcgan_toyfaces.safetensors took longer than 0.5 s" in reg.problems[0]
    assert "skipped until the studio restarts" in reg.problems[0]
    # skipped from now on: the next open does not wait for it again, and renders
    t0 = time.monotonic()
    g2 = finishes(lambda: reg.open(demo()))
    assert time.monotonic() - t0 < 0.5 and len(reg.problems) == 1
    assert np.array_equal(renders(g), renders(g2))


def test_the_sniff_limit_is_a_setting(monkeypatch, hanging_dropin):
    from studio.model.registry import SNIFF_LIMIT_S, sniff_limit_s

    assert sniff_limit_s() == SNIFF_LIMIT_S
    monkeypatch.setenv("LATENT_STUDIO_SNIFF_LIMIT_S", "0.3")
    reg = Registry.discover(search_paths=[hanging_dropin])
    t0 = time.monotonic()
    reg.open(demo())
    assert 0.3 <= time.monotonic() - t0 < SNIFF_LIMIT_S and "0.3 s" in reg.problems[0]


def test_a_sniff_raising_systemexit_is_a_note_not_an_exit(tmp_path):
    (tmp_path / "exits.py").write_text(
        "class Exits:\n    name = 'exits'\n    formats = 'x'\n"
        "    def sniff(self, probe):\n        raise SystemExit(3)\n"
        "    def load(self, probe, device):\n        raise AssertionError\n"
        "plugin = Exits()\n")
    reg = Registry.discover(search_paths=[tmp_path])
    assert finishes(lambda: reg.open(demo())).info.family == "dcgan"
    with pytest.raises(CheckpointError, match=r"the exits plugin failed while reading it \(SystemExit\(3\)"):
        reg.open(Path(__file__))


# -- an ONNX graph that never ends ------------------------------------------------------------------------
Z = 12


def loop_graph(path: Path, endless_when_above: float | None = None) -> Path:
    """A latent-in, image-out graph that passes z through a Loop whose condition never turns false.

    With `endless_when_above` the Loop runs (forever) only when some latent value exceeds it, so the model
    loads (its sample latents are small) and hangs only on such a recipe; without it, it always hangs."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto as T
    from onnx import helper as h

    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]), h.make_node("Identity", ["v_in"], ["v_out"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("v_in", T.FLOAT, None)],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("v_out", T.FLOAT, None)])
    if endless_when_above is None:
        cond = [h.make_node("Constant", [], ["cond"], value=h.make_tensor("t", T.BOOL, [], [True]))]
    else:
        cond = [h.make_node("ReduceMax", ["z"], ["zmax"], keepdims=0),
                h.make_node("Constant", [], ["limit"],
                            value=h.make_tensor("l", T.FLOAT, [], [endless_when_above])),
                h.make_node("Greater", ["zmax", "limit"], ["cond"])]
    nodes = cond + [
        h.make_node("Loop", ["", "cond", "z"], ["v"], body=body),
        h.make_node("Constant", [], ["shape"], value=h.make_tensor("s", T.INT64, [4], [-1, 3, 2, 2])),
        h.make_node("Reshape", ["v", "shape"], ["img"]),
    ]
    graph = h.make_graph(nodes, "loop", [h.make_tensor_value_info("z", T.FLOAT, ["N", Z])],
                         [h.make_tensor_value_info("img", T.FLOAT, ["N", 3, 2, 2])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_an_endless_loop_graph_is_stopped_at_load(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_ONNX_RUN_LIMIT_S", "0.5")
    path = loop_graph(tmp_path / "endless.onnx")
    reg = Registry.discover(search_paths=[])
    t0 = time.monotonic()
    with pytest.raises(CheckpointError) as err:
        finishes(lambda: reg.open(path))
    assert time.monotonic() - t0 < 10
    assert "onnxruntime stopped endless.onnx after" in str(err.value)
    assert "0.5 s limit" in str(err.value) and "LATENT_STUDIO_ONNX_RUN_LIMIT_S" in str(err.value)
    assert renders(reg.open(demo())).shape == (64, 64, 3)


def test_info_on_an_endless_loop_graph_ends_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENT_STUDIO_ONNX_RUN_LIMIT_S", "0.5")
    path = loop_graph(tmp_path / "endless.onnx")
    rc = finishes(lambda: main(["info", str(path)]))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "onnxruntime stopped endless.onnx" in err[0], err


def test_a_render_that_never_ends_is_a_frame_error_and_the_worker_keeps_serving(tmp_path, monkeypatch):
    """The model loads (its sample latents are small) but one recipe makes its Loop endless: that frame
    becomes an error after the limit, and the same worker renders the next recipe and the next model."""
    monkeypatch.setenv("LATENT_STUDIO_ONNX_RUN_LIMIT_S", "0.5")
    path = loop_graph(tmp_path / "trap.onnx", endless_when_above=100.0)
    reg = Registry.discover(search_paths=[])
    g = reg.open(path)
    dcgan = reg.open(demo())
    worker = RenderWorker()
    frames: list[Frame] = []
    got = threading.Event()

    def collect(f: Frame) -> None:
        frames.append(f)
        got.set()

    def render(gen, recipe) -> Frame:
        got.clear()
        worker.submit("main", gen, recipe, collect)
        assert got.wait(15), "no frame came back"
        return frames[-1]

    try:
        ref = ModelRef(str(path))
        assert render(g, Recipe(ref, SeedLatent(1))).ok
        t0 = time.monotonic()
        stuck = render(g, Recipe(ref, VectorLatent((1000.0,) + (0.0,) * (Z - 1))))
        assert 0.5 <= time.monotonic() - t0 < 10
        assert not stuck.ok and "onnxruntime stopped trap.onnx after" in (stuck.error or "")
        after = render(g, Recipe(ref, SeedLatent(2)))
        assert after.ok and after.image.shape == (2, 2, 3)
        assert render(dcgan, Recipe(ModelRef(str(demo())), SeedLatent(3))).ok
    finally:
        worker.stop()

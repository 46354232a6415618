"""GUI messages speak GUI: no command-line flag reaches a banner or the status bar."""
from __future__ import annotations

import pytest

from studio.bundled import resolve_demo
from studio.errors import StudioError
from studio.ui.gui_text import cli_flags, gui_text

from .helpers import drop_files


def test_an_export_onto_an_existing_name_says_what_to_do_in_the_window(qtbot, window, tmp_path):
    s, panel = window.session, window.timeline_panel
    with qtbot.waitSignal(s.frameReady, timeout=20000):
        drop_files(window, [resolve_demo("demo:dcgan")])
    for seed in (1, 2):
        s.edit(s.recipe.with_seed(seed), f"seed {seed}")
        panel.add_button.click()
    out = tmp_path / "walk.gif"
    out.write_bytes(b"the user's own file")
    assert not panel.export_to(out)
    text = window.banner.text()
    assert "already exists" in text and cli_flags(text) == [] and "save dialog" in text
    assert out.read_bytes() == b"the user's own file"


def test_the_cli_worded_errors_of_the_lower_layers_read_as_gui(tmp_path):
    from studio.export.writers import ExportOptions, Mp4Writer
    from studio.model.choices import parse_picks

    messages = []
    with pytest.raises(StudioError) as exc:
        Mp4Writer(tmp_path / "x.mp4", ExportOptions())._open(63, 64)
    messages.append(str(exc.value))
    with pytest.raises(ValueError) as bad:
        parse_picks(["scale"])
    messages.append(str(bad.value))
    assert all(cli_flags(m) for m in messages)  # worded for the CLI, as the CLI shows them
    for m in messages:
        assert cli_flags(gui_text(m)) == [], gui_text(m)
    assert "export size" in gui_text(messages[0])


def test_the_plugin_advice_for_a_whole_module_pickle_names_no_flags():
    step = "run 'latent-studio plugin new netG.pth --out my_gan.py' to write a drop-in plugin for it"
    text = gui_text(f"netG.pth is a whole pickled Net whose forward is not in the file; {step}")
    assert cli_flags(text) == [] and "the terminal command 'latent-studio plugin new netG.pth' writes" in text


def test_an_unknown_architecture_is_explained_without_cli_flags(qtbot, window, tmp_path):
    import torch

    path = tmp_path / "mystery.pth"
    torch.save({"body.0.weight": torch.zeros(4, 3, 3, 3), "body.0.bias": torch.zeros(4)}, path)
    drop_files(window, [path])
    qtbot.waitUntil(lambda: "mystery.pth" in window.banner.text(), timeout=20000)
    assert cli_flags(window.banner.text()) == [] and "plugin new mystery.pth" in window.banner.text()

"""`latent-studio doctor` and the GUI's pre-start check: what is missing, and what to install."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio import doctor
from studio.cli import main


def fake_qt_with_missing(tmp_path: Path, sonames: list[str]) -> Path:
    """A Qt folder whose xcb platform plugin is a real shared object linked against libraries that are gone."""
    if shutil.which("gcc") is None or shutil.which("ldd") is None or sys.platform != "linux":
        pytest.skip("needs gcc and ldd")
    build = tmp_path / "build"
    build.mkdir()
    (build / "empty.c").write_text("int placeholder(void) { return 0; }\n")
    libs = []
    for name in sonames:
        subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", str(build / name),
                        str(build / "empty.c")], check=True)
        libs.append(str(build / name))
    qt = tmp_path / "Qt"
    (qt / "plugins" / "platforms").mkdir(parents=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(qt / "plugins/platforms/libqxcb.so"),
                    str(build / "empty.c"), "-Wl,--no-as-needed", *libs], check=True)
    shutil.rmtree(build)  # the libraries it was linked against are now missing, as on a bare machine
    return qt


# Names no system has, so ldd reports them missing whatever this machine has installed; the table maps two.
ABSENT = {"libxcb-nowhere-a.so.4": "libxcb-nowhere-a4", "libxcb-nowhere-b.so.1": "libxcb-nowhere-b1"}


def test_missing_xcb_libraries_are_named_with_their_packages(tmp_path, monkeypatch):
    for lib, package in ABSENT.items():
        monkeypatch.setitem(doctor.DEBIAN_PACKAGES, lib, package)
    qt = fake_qt_with_missing(tmp_path, [*ABSENT, "libweird.so.3"])
    missing = doctor.missing_libraries("xcb", qt)
    assert missing == ["libweird.so.3", "libxcb-nowhere-a.so.4", "libxcb-nowhere-b.so.1"]
    assert doctor.install_hint(missing) == ("sudo apt-get install libxcb-nowhere-a4 libxcb-nowhere-b1; "
                                            "no known package for libweird.so.3")

    monkeypatch.setattr(doctor, "qt_dir", lambda: qt)
    problem = doctor.qt_start_problem({"DISPLAY": ":0"})
    assert problem is not None and "libxcb-nowhere-a.so.4" in problem and "libxcb-nowhere-b1" in problem


def test_the_libraries_qt_names_wrongly_map_to_their_packages():
    """The issue's case: Qt blames libxcb-cursor0 while icccm and keysyms are what is missing."""
    assert doctor.packages_for(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]) == (
        ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"], [])


def test_the_gui_points_to_doctor_instead_of_letting_qt_abort(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(doctor.DEBIAN_PACKAGES, "libxcb-nowhere-a.so.4", "libxcb-nowhere-a4")
    qt = fake_qt_with_missing(tmp_path, ["libxcb-nowhere-a.so.4"])
    monkeypatch.setattr(doctor, "qt_dir", lambda: qt)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert doctor.qt_start_problem() is not None  # else main() would start Qt for real, and Qt would abort
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "libxcb-nowhere-a4" in err and "'latent-studio doctor'" in err


def test_no_display_is_said_before_qt_starts(monkeypatch, capsys):
    if sys.platform != "linux":
        pytest.skip("X11 platforms")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert doctor.qt_start_problem() is not None
    assert main([]) == 2
    assert "no display" in capsys.readouterr().err and "QT_QPA_PLATFORM=offscreen" in doctor.qt_start_problem({})


def test_doctor_reports_every_part_on_one_screen(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    for part in ("python", "torch", "device", "onnxruntime", "Qt", "plugins", "settings", "autosave",
                 "drop-in plugins"):
        assert any(line[4:].startswith(part) for line in lines), part
    assert "DCGAN" in out and "StyleGAN" in out
    assert len(lines) <= 40
    checks = doctor.report()
    assert code == (0 if all(c.ok for c in checks) else 1)


def test_doctor_json_is_the_same_checks(capsys):
    main(["doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert {"name", "ok", "found", "fix"} <= set(data[0])
    assert any(d["name"] == "torch" and d["ok"] for d in data)


def test_doctor_without_onnxruntime_says_what_to_install():
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from studio.cli import main\nsys.exit(main(['doctor']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "onnxruntime" in ln and "NO" in ln)
    assert "not installed" in line
    assert "pip install 'latent-studio[onnx]'" in proc.stdout


def test_ci_asks_doctor_for_its_packages():
    """.ci/run and doctor share one library table: the offscreen platform's packages come from here."""
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "studio.doctor --apt offscreen" in ci
    proc = subprocess.run([sys.executable, "-m", "studio.doctor", "--apt", "offscreen"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # this machine runs the offscreen tests, so nothing is missing
    assert proc.stdout.strip() == ""

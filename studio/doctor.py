"""What `latent-studio doctor` checks: the pieces a desktop start needs, each with the fix when it is missing.

Nothing here imports Qt: the point is to explain why Qt cannot start. Qt's platform plugin is loaded with
dlopen, so a missing system library only shows as Qt's own abort message, which names the first library
it tried (libxcb-cursor0) rather than the ones absent; `ldd` on the plugin names them all. `.ci/run` asks
this module which Debian packages to install (`python -m studio.doctor --apt offscreen`), so CI and users
share one table.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

# shared library -> Debian/Ubuntu package (Qt bundles its own ICU; these come from the system)
DEBIAN_PACKAGES = {
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0", "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libdbus-1.so.3": "libdbus-1-3", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libz.so.1": "zlib1g", "libzstd.so.1": "libzstd1",
    "libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1", "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0", "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-glx.so.0": "libxcb-glx0",
    "libSM.so.6": "libsm6", "libICE.so.6": "libice6", "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0", "libwayland-egl.so.1": "libwayland-egl1",
}
# what each platform plugin needs beyond Qt Gui and Widgets (its plugin file, and Qt's own helper library)
PLATFORM_FILES = {
    "xcb": ("plugins/platforms/libqxcb.so", "lib/libQt6XcbQpa.so.6"),
    "offscreen": ("plugins/platforms/libqoffscreen.so",),
    "wayland": ("plugins/platforms/libqwayland.so",),
}
QT_LIBS = ("lib/libQt6Gui.so.6", "lib/libQt6Widgets.so.6", "lib/libQt6OpenGL.so.6")


@dataclass(frozen=True)
class Check:
    """One line of the report: what was looked at, what was found, and the fix when it is not fine."""

    name: str
    ok: bool
    found: str
    fix: str = ""


# -- Qt ------------------------------------------------------------------------------------------------------
def qt_dir() -> Path | None:
    """PySide6's Qt folder, found without importing PySide6 (whose import may itself fail)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "Qt"


def qt_platform(env: dict[str, str] | None = None) -> str:
    """The platform plugin Qt will pick: $QT_QPA_PLATFORM, else wayland/xcb as the session says, else xcb."""
    env = dict(os.environ) if env is None else env
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if sys.platform != "linux":
        return "native"
    return "wayland" if env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY") else "xcb"


def missing_libraries(platform_name: str, qt: Path | None = None) -> list[str]:
    """Shared libraries the platform plugin and Qt's GUI libraries need and the system lacks (from ldd)."""
    qt = qt_dir() if qt is None else qt
    if qt is None or sys.platform != "linux" or shutil.which("ldd") is None:
        return []
    files = [qt / f for f in (*PLATFORM_FILES.get(platform_name, ()), *QT_LIBS) if (qt / f).exists()]
    if not files:
        return []
    out = subprocess.run(["ldd", *map(str, files)], capture_output=True, text=True, timeout=30).stdout
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def packages_for(libraries: list[str]) -> tuple[list[str], list[str]]:
    """(Debian packages that provide `libraries`, libraries no package is known for)."""
    packages = sorted({DEBIAN_PACKAGES[lib] for lib in libraries if lib in DEBIAN_PACKAGES})
    return packages, [lib for lib in libraries if lib not in DEBIAN_PACKAGES]


def install_hint(libraries: list[str]) -> str:
    packages, unknown = packages_for(libraries)
    hint = f"sudo apt-get install {' '.join(packages)}" if packages else ""
    if unknown:
        hint += ("; " if hint else "") + f"no known package for {', '.join(unknown)}"
    return hint


def qt_start_problem(env: dict[str, str] | None = None) -> str | None:
    """Why the desktop app cannot start here, in one sentence, or None when nothing is known to stop it.

    Checked before Qt is imported: Qt aborts the whole process when its platform plugin cannot load.
    """
    env = dict(os.environ) if env is None else env
    if qt_dir() is None:
        return "PySide6 (Qt) is not installed: pip install PySide6-Essentials"
    name = qt_platform(env)
    if sys.platform == "linux" and name == "xcb" and not env.get("DISPLAY"):
        return ("there is no display (DISPLAY is not set): run it inside a desktop session, or set "
                "QT_QPA_PLATFORM=offscreen for a headless run")
    missing = missing_libraries(name)
    if missing:
        return f"Qt's {name} platform lacks system libraries {', '.join(missing)} ({install_hint(missing)})"
    return None


# -- the report -----------------------------------------------------------------------------------------------
def _torch_checks() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", False, f"cannot be imported ({exc})", "pip install torch")]
    checks = [Check("torch", True, f"{torch.__version__}")]
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        bf16 = torch.cuda.is_bf16_supported()
        checks.append(Check("device", True, f"CUDA: {name}, bf16 {'yes' if bf16 else 'no'}"))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        checks.append(Check("device", True, "Apple GPU (mps)"))
    else:
        from studio.model.numerics import cpu_flags

        flags = cpu_flags()
        bf16 = "yes (AMX)" if "amx_bf16" in flags else "yes (AVX-512 BF16)" if "avx512_bf16" in flags else "no"
        capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
        checks.append(Check("device", True, f"CPU only ({capability}, {os.cpu_count()} cores), "
                                           f"native bf16 {bf16}"))
    override = os.environ.get("LATENT_STUDIO_DEVICE")
    if override:
        from studio.render.device import select_device

        try:
            checks.append(Check("$LATENT_STUDIO_DEVICE", True, f"{override} -> {select_device()}"))
        except Exception as exc:
            checks.append(Check("$LATENT_STUDIO_DEVICE", False, str(exc), "unset it or name a device here"))
    return checks


def _onnx_check() -> Check:
    try:
        import onnxruntime as ort
    except ImportError:
        return Check("onnxruntime", False, "not installed (the ONNX plugin and --backend onnx are off)",
                     "pip install 'latent-studio[onnx]' (or [gpu] for onnxruntime-gpu; not both)")
    except Exception as exc:  # two runtimes over each other fail in many ways
        return Check("onnxruntime", False, f"broken ({type(exc).__name__}: {exc})",
                     "pip uninstall -y onnxruntime onnxruntime-gpu, then install one of them")
    providers = ", ".join(p.replace("ExecutionProvider", "") for p in ort.get_available_providers())
    return Check("onnxruntime", True, f"{ort.__version__} ({providers})")


def _qt_checks() -> list[Check]:
    qt = qt_dir()
    if qt is None:
        return [Check("Qt", False, "PySide6 is not installed", "pip install PySide6-Essentials")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        pyside = version("PySide6-Essentials")
    except PackageNotFoundError:
        pyside = "?"
    name = qt_platform()
    checks = [Check("Qt", True, f"PySide6 {pyside}, platform {name}"
                                f"{'' if os.environ.get('QT_QPA_PLATFORM') else ' (the default here)'}")]
    for plat in dict.fromkeys((name, "xcb", "offscreen")) if sys.platform == "linux" else ():
        missing = missing_libraries(plat, qt)
        checks.append(Check(f"Qt {plat} libraries", not missing,
                            "all present" if not missing else "missing " + ", ".join(missing),
                            install_hint(missing)))
    if sys.platform == "linux" and name == "xcb" and not os.environ.get("DISPLAY"):
        checks.append(Check("display", False, "DISPLAY is not set",
                            "start it in a desktop session, or QT_QPA_PLATFORM=offscreen headless"))
    return checks


def _folder_checks() -> list[Check]:
    from studio.core.direction_library import default_library_dir
    from studio.core.project import default_autosave_dir
    from studio.model.registry import plugin_search_paths

    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    settings = config / "latent-studio" / "Latent Studio.conf" if sys.platform == "linux" else "Qt's native store"
    rows = [("settings", settings), ("autosave", default_autosave_dir()), ("directions", default_library_dir())]
    rows += [("drop-in plugins", p) for p in plugin_search_paths()]
    return [Check(name, True, str(path)) for name, path in rows]


def _plugin_checks() -> list[Check]:
    from studio.model.registry import Registry

    reg = Registry.discover()
    names = ", ".join(p.name for p in reg.plugins) or "none"
    checks = [Check("plugins", bool(reg.plugins), names,
                    "" if reg.plugins else "reinstall latent-studio: no generator family is registered")]
    checks += [Check("plugin failed", False, line, "fix or remove that plugin") for line in reg.problems]
    return checks


def report() -> list[Check]:
    """Every check, in the order a user reads them."""
    checks = [Check("python", True, f"{platform.python_version()} ({sys.executable})"),
              Check("system", True, f"{platform.system()} {platform.release()} {platform.machine()}")]
    from studio import __version__

    checks.append(Check("latent-studio", True, f"{__version__} ({Path(__file__).resolve().parent})"))
    for part in (_torch_checks, lambda: [_onnx_check()], _qt_checks, _plugin_checks, _folder_checks):
        try:
            checks += part()
        except Exception as exc:  # a doctor that crashes tells nothing: say which part failed
            checks.append(Check(getattr(part, "__name__", "check").strip("_"), False,
                                f"{type(exc).__name__}: {exc}"))
    return checks


def format_report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{'ok ' if c.ok else 'NO '} {c.name:<{width}}  {c.found}")
        if c.fix:
            lines.append(f"    {'':<{width}}  -> {c.fix}")
    bad = [c for c in checks if not c.ok]
    lines.append("" if not bad else f"\n{len(bad)} problem{'s' if len(bad) > 1 else ''} found; the fixes are "
                                    f"on the lines marked ->")
    return "\n".join(lines).rstrip()


def as_dicts(checks: list[Check]) -> list[dict[str, object]]:
    return [asdict(c) for c in checks]


def _main(argv: list[str]) -> int:
    """`python -m studio.doctor --apt PLATFORM`: the Debian packages Qt's PLATFORM lacks, one per line
    (what .ci/run installs); unknown libraries go to stderr with status 1."""
    if len(argv) == 2 and argv[0] == "--apt":
        packages, unknown = packages_for(missing_libraries(argv[1]))
        print("\n".join(packages))
        for lib in unknown:
            print(f"no known package for {lib}", file=sys.stderr)
        return 1 if unknown else 0
    print(format_report(report()))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

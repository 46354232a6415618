"""Fuzzing every file format the studio writes: seeded mutants of its own sample files, each opened the way
the studio opens it, reporting what escaped (by exception type), hangs, crashes and peak memory per file.

Samples (made fresh, small, in a temporary folder): the bundled demo safetensors (DCGAN, StyleGAN2,
StarGAN), DCGAN and StyleGAN2 safetensors saves, torch .pt files of the families (pytorch/examples DCGAN,
rosinality StyleGAN2, yunjey StarGAN), an NVlabs-style network pickle (plugins/stylegan/testing.py), a
StarGAN attributes.json, GANSpace .npz, InterFaceGAN .npy, a SeFa .pt, an .lsdir, a recipe, a project, an
export sidecar, and an ONNX export (--no-onnx skips it). Mutations are seeded (mutant i of seed s is always
the same bytes): bit flips, interesting bytes, truncation, splices, pickle integers set to extremes (sizes,
strides, counts), JSON nodes replaced by deep nesting, 400-digit integers, Infinity/NaN, wrong types or
huge lists, safetensors headers edited the same way, and zip members (torch .pt, .npz) mutated inside a
valid archive.

Each mutant is opened in a worker process (restarted after a hang or a crash) under a memory cap; the
peak resident memory of each open is measured from the kernel's high-water mark (reset per mutant). Only
the studio's own errors (studio.errors.StudioError and subclasses) may escape; anything else, a hang past
--timeout, a crash, or a peak over --max-mb is a finding.

Run: `nice .venv/bin/python bench/fuzz.py --mutants 10000 [--seed 0] [--timeout 20] [--max-mb 1024]
[--keep findings/]`. tests/hardening/test_fuzz.py runs a few hundred through `run()`.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import pickletools
import random
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x30, 0x39, 0x5B, 0x7B)
INTERESTING_INTS = (0, 1, -1, 2, 255, 65535, 2 ** 31 - 1, -2 ** 31, 2 ** 32 - 1, 2 ** 40, 2 ** 62, 10 ** 18)


@dataclass(frozen=True)
class Sample:
    """One file the studio writes: `path` is what gets mutated, `opener` how the studio reads it; the other
    files in its folder (a checkpoint beside attributes.json) travel with each mutant."""

    name: str
    path: Path
    opener: str
    kind: str  # "pickle", "zip", "safetensors", "json", "npy", "bytes": which structured mutations apply


# -- samples -------------------------------------------------------------------------------------------

def make_samples(folder: Path, onnx: bool = True) -> list[Sample]:
    """Write every sample format into `folder` (one sub-folder each) and describe them."""
    import numpy as np
    import torch

    from latent_studio_plugins.dcgan.network import DCGANConfig, build
    from latent_studio_plugins.dcgan.save import save_dcgan
    from latent_studio_plugins.stargan.network import StarGANConfig, StarGANv1
    from latent_studio_plugins.stylegan.save import save_stylegan
    from latent_studio_plugins.stylegan.testing import tiny_stylegan, to_rosinality, write_nvlabs_pickle
    from studio.bundled import checkpoints_dir
    from studio.core.direction_library import SavedDirection, save_direction
    from studio.core.project import Project, save_project
    from studio.core.recipe import ModelRef, Recipe, SeedLatent
    from studio.core.timeline import Segment, Timeline
    from studio.core.workspace import Workspace
    from studio.export.sidecar import sidecar_text
    from studio.export.writers import ExportOptions

    out: list[Sample] = []

    def place(name: str, filename: str, opener: str, kind: str) -> Path:
        (folder / name).mkdir(parents=True, exist_ok=True)
        out.append(Sample(name, folder / name / filename, opener, kind))
        return folder / name / filename

    for demo in ("dcgan_toyfaces", "stylegan2_toyfaces", "stargan_toyfaces"):
        src = checkpoints_dir() / f"{demo}.safetensors"
        if src.is_file():
            shutil.copyfile(src, place(f"demo_{demo}", src.name, "checkpoint", "safetensors"))
    torch.manual_seed(0)
    dcgan = build(DCGANConfig("main.", ((16, 16, 4, False), (16, 8, 4, False), (8, 3, 4, False)), (True, True)))
    save_dcgan(place("dcgan_safetensors", "tiny.safetensors", "checkpoint", "safetensors"), dcgan, name="tiny")
    torch.save({f"main.{k}": v for k, v in dcgan.state_dict().items()},
               place("dcgan_pth", "netG_epoch_3.pth", "checkpoint", "zip"))
    sg = tiny_stylegan()
    save_stylegan(place("stylegan2_safetensors", "sg2.safetensors", "checkpoint", "safetensors"), sg, name="sg2")
    torch.save({"g_ema": to_rosinality(sg), "latent_avg": torch.zeros(16)},
               place("rosinality_pt", "550000.pt", "checkpoint", "zip"))
    write_nvlabs_pickle(place("nvlabs_pkl", "network-snapshot-000100.pkl", "checkpoint", "pickle"), sg)
    star = StarGANv1(StarGANConfig(8, 5, 2))
    torch.save(star.state_dict(), place("stargan_ckpt", "10-G.ckpt", "checkpoint", "zip"))
    attrs = place("stargan_attributes", "attributes.json", "stargan_attributes", "json")
    attrs.write_text(json.dumps({"attributes": ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"],
                                 "image_size": 64, "exclusive": [["Black_Hair", "Blond_Hair", "Brown_Hair"]]}))
    torch.save(star.state_dict(), attrs.parent / "10-G.ckpt")
    rng = np.random.default_rng(0)
    np.save(place("interfacegan_npy", "boundary.npy", "interfacegan", "npy"),
            rng.standard_normal((1, 16)).astype(np.float32))
    np.savez(place("ganspace_npz", "components_z.npz", "ganspace", "zip"),
             lat_comp=rng.standard_normal((8, 1, 16)).astype(np.float32), lat_mean=np.zeros((1, 16), np.float32),
             lat_stdev=np.ones(8, np.float32), var_ratio=np.linspace(0.3, 0.01, 8).astype(np.float32))
    torch.save({"ckpt": "550000.pt", "eigvec": torch.randn(16, 6)}, place("sefa_pt", "factor.pt", "sefa", "zip"))
    d = SavedDirection("smile", rng.standard_normal((3, 16)).astype(np.float32), "z", "pca", created="2026-01-01")
    save_direction(d, place("lsdir", "smile.lsdir", "lsdir", "safetensors"))
    ref = ModelRef("netG_epoch_3.pth", "ab" * 32)
    r0 = Recipe(ref, SeedLatent(1))
    r1 = r0.with_walk("pca:0", tuple(float(v) for v in d.vectors[0]), 1.5).with_truncation(0.7)
    place("recipe", "r.json", "recipe", "json").write_text(r1.to_json())
    tl = Timeline((r0, r1), (Segment(12, "slerp", "cubic"), Segment(12)), loop=True, fps=30)
    w0 = Workspace(r0, tl)
    save_project(Project.of(w0.with_(recipe=r1), (w0, w0.with_(recipe=r1)), 1),
                 place("project", "p.lsproj", "project", "json"))
    side = place("sidecar", "walk.mp4.json", "sidecar", "json")
    side.write_text(sidecar_text([r0, r1], ExportOptions(), side.with_suffix("")))
    if onnx:
        try:
            from studio.model.registry import Registry, family

            reg = Registry.discover(search_paths=[])
            g = reg.open(folder / "dcgan_safetensors" / "tiny.safetensors")
            tmp = folder / "_onnx"
            family("ONNX").export(g, tmp)
            shutil.copyfile(tmp / "model.onnx", place("onnx", "model.onnx", "checkpoint", "bytes"))
        except Exception as exc:  # onnx extras missing: the other formats still run
            print(f"fuzz: no ONNX sample ({type(exc).__name__}: {exc})", file=sys.stderr)
    return out


# -- mutations -----------------------------------------------------------------------------------------

def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """One seeded mutant of `data`; structured strategies for its kind, raw byte strategies for all."""
    structured: list[Callable[[bytes, random.Random], bytes | None]] = {
        "pickle": [_pickle_ints], "zip": [_zip_member], "safetensors": [_safetensors_header],
        "json": [_json_node, _json_node], "npy": [_npy_header], "bytes": [],
    }[kind]
    raw = [_flip, _interesting_bytes, _truncate, _splice]
    for _ in range(4):
        strategy = rng.choice(structured * 2 + raw) if structured else rng.choice(raw)
        out = strategy(data, rng)
        if out is not None and out != data:
            return out
    return _flip(data, rng)


def _flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def _interesting_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(len(b))] = rng.choice(INTERESTING_BYTES)
    return bytes(b)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def _splice(data: bytes, rng: random.Random) -> bytes:
    i, j = sorted(rng.randrange(len(data) + 1) for _ in range(2))
    choice = rng.randrange(3)
    if choice == 0:  # delete a chunk
        return data[:i] + data[j:]
    if choice == 1:  # duplicate a chunk
        return data[:j] + data[i:j] + data[j:]
    return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[i:]


def _pickle_ints(data: bytes, rng: random.Random) -> bytes | None:
    """Set integers in a pickle stream (tensor sizes, strides, offsets, storage sizes, config values) to
    extremes, keeping each opcode's width so the stream stays parseable."""
    try:
        ops = [(op.name, pos) for op, _, pos in pickletools.genops(data)
               if op.name in ("BININT", "BININT1", "BININT2")]
    except Exception:
        return None
    if not ops:
        return None
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        name, pos = rng.choice(ops)
        width, signed = {"BININT": (4, True), "BININT1": (1, False), "BININT2": (2, False)}[name]
        lo, hi = (-(1 << 31), (1 << 31) - 1) if signed else (0, (1 << (8 * width)) - 1)
        v = min(max(rng.choice(INTERESTING_INTS + (rng.randrange(lo, hi + 1),)), lo), hi)
        b[pos + 1:pos + 1 + width] = v.to_bytes(width, "little", signed=signed)
    return bytes(b)


def _zip_member(data: bytes, rng: random.Random) -> bytes | None:
    """Mutate one member of a zip (torch .pt, .npz) and write a valid archive around it."""
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [(i, z.read(i)) for i in z.infolist()]
    except Exception:
        return None
    if not members:
        return None
    k = rng.randrange(len(members))
    info, body = members[k]
    if body.startswith(b"\x80") and rng.random() < 0.7:
        new = _pickle_ints(body, rng)
    elif body.startswith(b"\x93NUMPY") and rng.random() < 0.7:
        new = _npy_header(body, rng)
    else:
        new = (rng.choice([_flip, _interesting_bytes, _truncate, _splice]))(body, rng) if body else body
    members[k] = (info, new if new is not None else body)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, b in members:
            z.writestr(i, b, compress_type=i.compress_type)
    return buf.getvalue()


def _npy_header(data: bytes, rng: random.Random) -> bytes | None:
    """Rewrite an .npy header's shape or dtype (an impossible shape, a huge one, objects)."""
    end = data.find(b"\n")
    if not data.startswith(b"\x93NUMPY") or end < 0:
        return None
    header = data[10:end].decode("latin1")
    choice = rng.randrange(4)
    if choice == 0:
        header = header.replace("'shape': (", f"'shape': ({rng.choice([10 ** 6, 10 ** 9, 2 ** 40, 0])}, ", 1)
    elif choice == 1:
        header = header.replace("<f4", rng.choice(["|O", "<c16", "<U8", "V0", "<f8", "|b1"]))
    elif choice == 2:
        header = header.replace("False", "True")
    else:
        header = header.replace("(", "(" * rng.randint(2, 40), 1)
    head = header.encode("latin1")
    return data[:8] + len(head).to_bytes(2, "little") + head + data[end:]


def _safetensors_header(data: bytes, rng: random.Random) -> bytes | None:
    """Mutate the JSON header of a safetensors file (shapes, offsets, dtypes, the studio config in it)."""
    if len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + n])
    except Exception:
        return None
    meta = header.get("__metadata__") or {}
    if meta and rng.random() < 0.5:  # the studio's config (or .lsdir meta) inside the metadata
        key = rng.choice(sorted(meta))
        meta[key] = _json_node(meta[key].encode(), rng, text_only=True) or meta[key]
        text = json.dumps(header)
    else:
        text = _mutate_json_value(header, rng)
    head = text.encode()
    if rng.random() < 0.7:  # keep the data section where the header says; else let offsets disagree
        head = head + b" " * ((8 - len(head) % 8) % 8)
    return len(head).to_bytes(8, "little") + head + data[8 + n:]


def _json_node(data: bytes, rng: random.Random, text_only: bool = False) -> Any:
    """Replace one node of a JSON document with something hostile; bytes (or text with `text_only`)."""
    try:
        doc = json.loads(data)
    except Exception:
        return None
    text = _mutate_json_value(doc, rng)
    return text if text_only else text.encode()


_HOSTILE = ("DEEP", "BIGINT", "INF", "NAN", "HUGEFLOAT", "NEG", "ZERO", "STR", "NULL", "LIST", "DICT", "BOOL",
            "MANY", "EMPTY", "BIG")


def _mutate_json_value(doc: Any, rng: random.Random) -> str:
    """`doc` as JSON text with one node (chosen at random) replaced by a hostile value."""
    nodes: list[tuple[Any, Any]] = []  # (container, key)
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            nodes.append((node, k))
            stack.append(v)
    if not nodes:
        return json.dumps(doc)
    container, key = rng.choice(nodes)
    what = rng.choice(_HOSTILE)
    marker = "@@HOSTILE@@"
    depth = rng.choice([100, 1000, 100_000])
    literal = {
        "DEEP": "[" * depth + "]" * depth, "BIGINT": "9" * rng.choice([21, 400, 5000]),
        "INF": rng.choice(["Infinity", "-Infinity"]), "NAN": "NaN", "HUGEFLOAT": "1e999",
    }.get(what)
    if literal is None:
        old = container[key]
        container[key] = {
            "NEG": -rng.choice([1, 10 ** 9]), "ZERO": 0, "STR": "x" * rng.choice([1, 10_000]), "NULL": None,
            "LIST": [old], "DICT": {"v": old}, "BOOL": True, "MANY": [old] * rng.choice([1000, 100_000]),
            "EMPTY": [] if isinstance(old, list) else {} if isinstance(old, dict) else "",
            "BIG": rng.choice([2 ** 31, 10 ** 7, 4_000_000, 2 ** 63]),
        }[what]
        return json.dumps(doc)
    container[key] = marker
    return json.dumps(doc).replace(json.dumps(marker), literal, 1)


# -- the worker: opening each mutant as the studio does ---------------------------------------------------

def _openers() -> dict[str, Callable[[Path], Any]]:
    from studio.cli.render import read_recipes
    from studio.core.direction_library import import_ganspace, import_interfacegan, import_sefa, load_direction
    from studio.core.project import load_project
    from studio.export.sidecar import read_sidecar
    from studio.model.registry import Registry

    reg = Registry.discover(search_paths=[])
    return {
        "checkpoint": lambda p: reg.open(p),
        "stargan_attributes": lambda p: reg.open(p.parent / "10-G.ckpt"),
        "interfacegan": import_interfacegan, "ganspace": import_ganspace, "sefa": import_sefa,
        "lsdir": load_direction, "recipe": read_recipes, "project": load_project, "sidecar": read_sidecar,
    }


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the kernel's peak-RSS mark, for this process
        return True
    except OSError:
        return False


def _worker(conn: Any, cap_mb: int, warm: list[tuple[str, str]]) -> None:
    """Open each (path, opener) the parent sends; reply (outcome, type, message, peak MB, seconds, warnings).

    `warm` (the unmutated samples) is opened first, so a family's first-use imports are not timed as part
    of some mutant's open (on a loaded machine they took 20 s and read as hangs)."""
    import resource
    import warnings

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from studio.errors import StudioError

    openers = _openers()
    for path, opener in warm:
        try:
            openers[opener](Path(path))
        except Exception:  # noqa: BLE001 - only warming up
            pass
    # what libraries print while a file opens (stderr and stdout) goes to a file, counted per open: the
    # CLI's promise is one error line, with nothing printed ahead of it
    noise = tempfile.TemporaryFile()
    os.dup2(noise.fileno(), 1)
    os.dup2(noise.fileno(), 2)
    if cap_mb:  # a mutant that really allocates gigabytes fails here instead of taking the machine
        vm = _status_kb("VmSize") * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + cap_mb * (1 << 20), resource.RLIM_INFINITY))
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        path, opener = job
        _reset_peak()
        base = _status_kb("VmRSS")
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = openers[opener](Path(path))
                outcome, etype, msg = "ok", "", ""
            except StudioError as exc:
                outcome, etype, msg = "refused", type(exc).__name__, str(exc)
            except BaseException as exc:  # noqa: BLE001 - the finding we are looking for
                outcome, etype, msg = "escaped", type(exc).__name__, str(exc)
        seconds = time.perf_counter() - t0
        sys.stdout.flush()
        sys.stderr.flush()
        printed = os.lseek(noise.fileno(), 0, os.SEEK_END) > 0
        said = os.pread(noise.fileno(), 200, 0).decode("utf-8", "replace").strip().splitlines()[:1]
        said = said or [f"{w.category.__name__}: {w.message}"[:200] for w in caught[:1]]
        noise.truncate(0)
        os.lseek(noise.fileno(), 0, os.SEEK_SET)
        peak_mb = max(_status_kb("VmHWM") - base, 0) / 1024
        result = None  # noqa: F841 - drop the model before the next mutant
        first = (msg.strip().splitlines() or [""])[0][:300]
        conn.send((outcome, etype, first, peak_mb, seconds, len(caught) + printed, msg.count("\n"),
                   said[0] if said else ""))


# -- the run --------------------------------------------------------------------------------------------

@dataclass
class Report:
    mutants: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)  # ok / refused / escaped ...
    types: collections.Counter = field(default_factory=collections.Counter)  # "escaped:IndexError", ...
    per_sample: dict[str, collections.Counter] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)  # the largest peak per sample
    seconds: dict[str, float] = field(default_factory=dict)  # the longest open per sample
    findings: list[dict[str, Any]] = field(default_factory=list)  # escapes, hangs, crashes, over-limit files
    warned: int = 0  # mutants during whose open a Python warning was issued or something was printed
    noise: dict[str, str] = field(default_factory=dict)  # the first such line per sample
    multiline: int = 0  # refusals whose message has more than one line
    wall_s: float = 0.0

    @property
    def bad(self) -> list[dict[str, Any]]:
        return self.findings

    def summary(self) -> str:
        lines = [f"{self.mutants} mutants in {self.wall_s:.0f} s: " +
                 ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
                 f"findings: {len(self.findings)}; warnings or printed lines during {self.warned} opens; "
                 f"multi-line refusals: {self.multiline}",
                 "exception types: " + ", ".join(f"{k} {v}" for k, v in self.types.most_common())]
        lines.append(f"{'sample':<26} {'mutants':>7} {'ok':>5} {'refused':>7} {'bad':>4} {'noisy':>5} "
                     f"{'peak MB':>8} {'max s':>6}")
        for name, c in sorted(self.per_sample.items()):
            bad = c["escaped"] + c["hang"] + c["crash"] + c["over"]
            n = c["ok"] + c["refused"] + c["escaped"] + c["hang"] + c["crash"]
            lines.append(f"{name:<26} {n:>7} {c['ok']:>5} {c['refused']:>7} {bad:>4} {c['noisy']:>5} "
                         f"{self.peak_mb.get(name, 0):>8.1f} {self.seconds.get(name, 0):>6.2f}")
        for name, said in sorted(self.noise.items()):
            lines.append(f"  NOISE {name}: {said}")
        for f in self.findings[:20]:
            lines.append(f"  FINDING {f['sample']} #{f['index']}: {f['what']} {f.get('type', '')} "
                         f"{f.get('message', '')[:160]}")
        return "\n".join(lines)


class _Pool:
    """One worker process, restarted after a hang or a crash."""

    def __init__(self, cap_mb: int, warm: list[tuple[str, str]]):
        self.cap_mb = cap_mb
        self.warm = warm
        self.ctx = mp.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None

    def start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.cap_mb, self.warm), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        if not self.conn.poll(300) or self.conn.recv() != "ready":
            raise RuntimeError("fuzz worker did not start")

    def run(self, path: Path, opener: str, timeout: float) -> tuple | str:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        self.conn.send((str(path), opener))
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except EOFError:
            pass
        alive = self.proc.is_alive()
        self.stop(kill=True)
        return "hang" if alive else f"crash (exit {self.proc.exitcode})"

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)
        self.proc = None


def run(mutants: int = 300, seed: int = 0, timeout: float = 20.0, max_mb: float = 1024.0,
        cap_mb: int = 3072, keep: Path | None = None, onnx: bool = True, progress: bool = False,
        samples_dir: Path | None = None) -> Report:
    """Fuzz `mutants` mutants round-robin over the samples; the Report lists every finding."""
    report = Report()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ls-fuzz-") as tmp:
        work = Path(tmp)
        samples = make_samples(samples_dir or work / "samples", onnx=onnx)
        originals = {s.name: s.path.read_bytes() for s in samples}
        slots: dict[str, Path] = {}
        for s in samples:  # each mutant replaces the file in a copy of its folder
            slot = work / "mutants" / s.name
            shutil.copytree(s.path.parent, slot)
            slots[s.name] = slot / s.path.name
        pool = _Pool(cap_mb, [(str(s.path), s.opener) for s in samples])
        pool.start()
        try:
            for i in range(mutants):
                s = samples[i % len(samples)]
                rng = random.Random(f"{seed}:{i}")
                data = mutate(originals[s.name], s.kind, rng)
                target = slots[s.name]
                target.write_bytes(data)
                got = pool.run(target, s.opener, timeout)
                c = report.per_sample.setdefault(s.name, collections.Counter())
                report.mutants += 1
                if isinstance(got, str):  # hang or crash
                    what = "hang" if got == "hang" else "crash"
                    c[what] += 1
                    report.outcomes[what] += 1
                    report.findings.append({"sample": s.name, "index": i, "what": got})
                    _keep(keep, s, i, data)
                    continue
                outcome, etype, msg, peak, secs, warned, extra_lines, said = got
                if said:
                    report.noise.setdefault(s.name, said)
                c[outcome] += 1
                report.outcomes[outcome] += 1
                report.types[f"{outcome}:{etype}" if etype else outcome] += 1
                report.peak_mb[s.name] = max(report.peak_mb.get(s.name, 0.0), peak)
                report.seconds[s.name] = max(report.seconds.get(s.name, 0.0), secs)
                report.warned += bool(warned)
                c["noisy"] += bool(warned)
                report.multiline += bool(extra_lines) and outcome == "refused"
                if outcome == "escaped":
                    report.findings.append({"sample": s.name, "index": i, "what": "escaped", "type": etype,
                                            "message": msg})
                    _keep(keep, s, i, data)
                elif peak > max_mb:
                    c["over"] += 1
                    report.findings.append({"sample": s.name, "index": i, "what": f"peak {peak:.0f} MB",
                                            "type": etype, "message": msg})
                    _keep(keep, s, i, data)
                if progress and (i + 1) % 500 == 0:
                    print(f"fuzz: {i + 1}/{mutants} ({time.perf_counter() - t_start:.0f} s, "
                          f"{len(report.findings)} findings)", file=sys.stderr, flush=True)
        finally:
            pool.stop()
    report.wall_s = time.perf_counter() - t_start
    return report


def _keep(folder: Path | None, s: Sample, i: int, data: bytes) -> None:
    """Save a finding's mutant (named by sample and index, so `mutate` reproduces it too)."""
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{s.name}-{i}-{s.path.name}").write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before an open counts as a hang")
    ap.add_argument("--max-mb", type=float, default=1024.0, help="peak memory of one open counted as a finding")
    ap.add_argument("--cap-mb", type=int, default=3072, help="the worker's address-space headroom (0: none)")
    ap.add_argument("--keep", type=Path, help="folder to save findings' mutants in")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX sample")
    ap.add_argument("--json", type=Path, help="also write the report as JSON here")
    ns = ap.parse_args(argv)
    report = run(ns.mutants, ns.seed, ns.timeout, ns.max_mb, ns.cap_mb, ns.keep, not ns.no_onnx, progress=True)
    print(report.summary())
    if ns.json:
        ns.json.write_text(json.dumps({
            "mutants": report.mutants, "outcomes": report.outcomes, "types": report.types,
            "peak_mb": report.peak_mb, "seconds": report.seconds, "findings": report.findings,
            "warned": report.warned, "noise": report.noise, "multiline": report.multiline, "wall_s": report.wall_s}, indent=1))
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())

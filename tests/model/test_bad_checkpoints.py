"""Bad input: every unreadable file gets a specific message, and nothing in a file ever runs."""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from conftest import make_dcgan
from studio.errors import CheckpointError
from studio.model.registry import Registry
from studio.model.safeload import RestrictedUnpickler


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


@pytest.mark.parametrize("name", ["weights.bin", "notes.txt", "no_extension"])
def test_sniffing_is_by_content_not_name(registry, tiny_dcgan_path, tmp_path, name):
    renamed = tmp_path / name
    shutil.copy(tiny_dcgan_path, renamed)
    g = registry.open(renamed)
    ref = registry.open(tiny_dcgan_path)
    z = ref.latents([0, 1])
    assert torch.allclose(g.generate(z), ref.generate(z), atol=1e-6, rtol=0)


def _open_error(registry: Registry, path: Path) -> str:
    with pytest.raises(CheckpointError) as err:
        registry.open(path)
    return str(err.value)


def test_text_file_named_pth_says_not_a_checkpoint_and_names_formats(registry, tmp_path):
    p = tmp_path / "netG_epoch_9.pth"
    p.write_text("this is a README, not weights\n" * 10)
    msg = _open_error(registry, p)
    assert msg.startswith("netG_epoch_9.pth is not a generator checkpoint")
    assert "(tried: " in msg and "DCGAN (pytorch/examples netG_*.pth" in msg


@pytest.mark.parametrize("zip_format", [True, False])
def test_truncated_checkpoint_is_reported_as_corrupt(registry, tmp_path, zip_format):
    full = tmp_path / "full.pth"
    torch.save({f"main.{k}": v for k, v in make_dcgan().state_dict().items()}, full,
               _use_new_zipfile_serialization=zip_format)
    data = full.read_bytes()
    cut = tmp_path / "netG_cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    assert _open_error(registry, cut).startswith("netG_cut.pth is truncated or corrupt")


def test_truncated_safetensors_is_reported_as_corrupt(registry, tiny_dcgan_safetensors, tmp_path):
    data = tiny_dcgan_safetensors.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 1000])
    msg = _open_error(registry, cut)
    assert "cut.safetensors" in msg and "truncated or corrupt" in msg


def test_unknown_architecture_names_its_keys(registry, tmp_path):
    p = tmp_path / "vae.pth"
    torch.save({"encoder.conv1.weight": torch.zeros(8, 3, 3, 3), "decoder.fc.bias": torch.zeros(8)}, p)
    msg = _open_error(registry, p)
    assert "vae.pth holds PyTorch weights of an architecture no plugin recognises" in msg
    assert "encoder.conv1.weight" in msg and "drop-in plugin" in msg
    assert "latent-studio plugin new vae.pth --out my_gan.py" in msg and ". " not in msg  # one sentence


def test_folder_missing_and_empty(registry, tmp_path):
    assert "is a folder" in _open_error(registry, tmp_path)
    assert _open_error(registry, tmp_path / "gone.pth").startswith("no such file")
    empty = tmp_path / "empty.pth"
    empty.touch()
    assert _open_error(registry, empty) == "empty.pth is empty"


class _Payload:
    """Unpickling this calls os.mkdir(marker): what a malicious checkpoint would do with os.system."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_payload_is_live_under_an_unsafe_loader(tmp_path):
    """Guards the test below: the payload really does run when a loader trusts the file."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("container", ["legacy-pickle", "torch-zip"])
def test_pickled_code_is_refused_and_never_runs(registry, tmp_path, container):
    marker = tmp_path / "pwned"
    p = tmp_path / "netG_epoch_1.pth"
    obj = {"main.0.weight": _Payload(marker), "main.1.weight": torch.zeros(2)}
    if container == "legacy-pickle":
        p.write_bytes(pickle.dumps(obj, protocol=2))
    else:
        torch.save(obj, p)
    msg = _open_error(registry, p)
    assert not marker.exists()
    assert "refusing to execute" in msg and "mkdir" in msg
    assert "weights_only` set to `False`" not in msg  # never advise the user to run the file's code


def test_restricted_unpickler_resolves_only_allow_listed_names(tmp_path):
    import io

    marker = tmp_path / "pwned"
    data = pickle.dumps({"x": _Payload(marker)})
    refused = r"refers to (posix|nt|os)\.mkdir, which is not on the allow-list"
    with pytest.raises(CheckpointError, match=refused):
        RestrictedUnpickler(io.BytesIO(data), allowed={}).load()
    assert not marker.exists()
    # An allow-listed name resolves to the stand-in the family supplies, not to the pickled original.
    stand_in = lambda *a: ("inert", a)  # noqa: E731
    out = RestrictedUnpickler(io.BytesIO(data), allowed={(os.mkdir.__module__, "mkdir"): stand_in}).load()
    assert out == {"x": ("inert", (str(marker),))} and not marker.exists()

"""Budgets before allocation: small files claiming gigabytes are refused with the claim and the limit, before
the memory is spent (issue 26 item 1), and every torch failure is one CheckpointError sentence (item 6)."""
from __future__ import annotations

import io
import json
import pickle
import resource
import zipfile

import pytest
import torch
from safetensors.torch import load_file, save_file

from latent_studio_plugins.stylegan.save import save_stylegan
from latent_studio_plugins.stylegan.testing import (fake_nvlabs_modules, persistent, tiny_stylegan,
                                                    to_rosinality, write_nvlabs_pickle)
from studio.errors import CheckpointError
from studio.model.registry import Registry

ADVICE = ("weights_only", "safe_globals", "allowlist", "allow-list", "trust the source")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(search_paths=[])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _one_sentence(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and not any(a in msg for a in ADVICE), msg
    return msg


def test_stride_0_tensor_in_a_rosinality_pt_is_refused_before_it_costs_memory(registry, tmp_path):
    sd = to_rosinality(tiny_stylegan())
    sd["input.input"] = torch.zeros(1).expand(300_000_000)  # 4 stored bytes claiming 1.2 GB
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": sd, "latent_avg": torch.zeros(16)}, path)
    assert path.stat().st_size < 300_000
    before = _peak_mb()
    with pytest.raises(CheckpointError) as exc:
        registry.open(path)
    msg = _one_sentence(exc)
    assert "550000.pt" in msg and "1.2 GB" in msg and "strides (0,)" in msg and "4 bytes" in msg
    assert _peak_mb() - before < 200  # the 1.2 GB were never allocated


def test_stride_0_tensor_in_an_nvlabs_pickle_is_refused_at_rebuild(registry, tmp_path):
    path = tmp_path / "network-snapshot-000001.pkl"
    with fake_nvlabs_modules():
        g = persistent("Generator", {"_buffers": {"w": torch.zeros(1).expand(2, 300_000_000)}})
        with open(path, "wb") as f:
            pickle.dump({"G_ema": g}, f, protocol=4)
    with pytest.raises(CheckpointError) as exc:
        registry.open(path)
    msg = _one_sentence(exc)
    assert "2.4 GB" in msg and "(2, 300000000)" in msg and "repeats its data" in msg


def test_nvlabs_pickle_still_opens(registry, tmp_path):
    """The checked rebuild passes ordinary tensors (the refusals above are not a blanket one)."""
    write_nvlabs_pickle(tmp_path / "ok.pkl", tiny_stylegan())
    assert registry.open(tmp_path / "ok.pkl").info.resolution == 32


def test_zip_bomb_pt_is_refused_unopened(registry, tmp_path):
    """A torch zip whose (deflated) members unpack far beyond the weights budget for its size."""
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(4)}, good)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        member = zipfile.ZipInfo(f"{src.infolist()[0].filename.split('/')[0]}/data/9")
        member.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(member, "w", force_zip64=True) as f:  # 200 MiB of zeros in a few hundred kB
            for _ in range(20):
                f.write(bytes(10 << 20))
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(CheckpointError) as exc:
        registry.open(bomb)
    msg = _one_sentence(exc)
    assert "209.7 MB once unpacked" in msg and "LATENT_STUDIO_WEIGHTS_PER_FILE_BYTE" in msg


def test_huge_config_dimension_in_safetensors_is_refused_before_building(registry, tmp_path):
    src = tmp_path / "sg2.safetensors"
    save_stylegan(src, tiny_stylegan(), name="sg2")
    with open(src, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    cfg = json.loads(meta["latent_studio"])
    cfg["config"].update(mapping_features=40000, mapping_layers=8)
    big = tmp_path / "big.safetensors"
    save_file(load_file(src), big, metadata={"latent_studio": json.dumps(cfg)})
    before = _peak_mb()
    with pytest.raises(CheckpointError) as exc:
        registry.open(big)
    msg = _one_sentence(exc)
    assert "big.safetensors's config claims a network of 38.4 GB" in msg and "67.4 MB" in msg
    assert _peak_mb() - before < 200


def test_weights_budget_is_a_setting(registry, tmp_path, monkeypatch):
    """The same tiny, honest StyleGAN opens by default and is refused once the budget is set below it."""
    path = tmp_path / "sg2.safetensors"
    save_stylegan(path, tiny_stylegan(), name="sg2")
    assert registry.open(path).info.family == "stylegan2"
    monkeypatch.setenv("LATENT_STUDIO_WEIGHTS_ALLOWANCE", "1")
    monkeypatch.setenv("LATENT_STUDIO_WEIGHTS_PER_FILE_BYTE", "0.1")
    with pytest.raises(CheckpointError, match="over the limit of .* for a file of its size"):
        registry.open(path)


@pytest.mark.parametrize("data_pkl, raw", [
    (b"\x80\x02)Q.", IndexError),  # an empty persistent id
    (b"\x80\x02K\x05Q.", AssertionError),  # a persistent id that is no tuple
    (b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
     b"X\x01\x00\x00\x00xtQ.", TypeError),  # a storage size that is a string
    (b"\x80\x020.", pickle.UnpicklingError),  # pop from an empty stack: torch adds its weights_only advice
    (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02(X\x03\x00\x00\x00bad"
     b"q\x03K\x00K\x01\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rtq\x04Rq\x05s.", AttributeError),
])
def test_corrupt_torch_zip_is_one_checkpoint_error(registry, tmp_path, data_pkl, raw):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(4)}, good)
    bad = tmp_path / "netG_epoch_1.pth"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, data_pkl if info.filename.endswith("/data.pkl") else src.read(info))
    with pytest.raises(raw):  # what torch itself raises for these bytes
        torch.load(bad, weights_only=True)
    with pytest.raises(CheckpointError) as exc:
        registry.open(bad)
    msg = _one_sentence(exc)
    assert "netG_epoch_1.pth is truncated or corrupt" in msg


def test_a_pickled_class_is_named_without_torchs_allow_list_advice(registry, tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2), "opt": io.StringIO("x")}, path)
    with pytest.raises(CheckpointError) as exc:
        registry.open(path)
    msg = _one_sentence(exc)
    assert "_io.StringIO" in msg and "refusing to execute" in msg


def test_a_config_of_ten_million_layers_is_refused_before_any_build(registry, tmp_path):
    """Even on the meta device a network is built layer by layer: a claimed layer count is checked first."""
    src = tmp_path / "sg2.safetensors"
    save_stylegan(src, tiny_stylegan(), name="sg2")
    with open(src, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        cfg = json.loads(json.loads(f.read(n))["__metadata__"]["latent_studio"])
    cfg["config"]["mapping_layers"] = 10_000_000
    many = tmp_path / "many.safetensors"
    save_file(load_file(src), many, metadata={"latent_studio": json.dumps(cfg)})
    with pytest.raises(CheckpointError) as exc:
        registry.open(many)
    assert ("many.safetensors's config claims 10000000 mapping layers, over the limit of 512 "
            "(set LATENT_STUDIO_MAX_LAYERS to raise it)") in _one_sentence(exc)

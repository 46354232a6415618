"""Direction imports and photos check what a file claims before numpy or Pillow allocate it (issue 26
item 1): a zip-bomb .npz, an .npy with an impossible or huge shape, an image over the pixel budget."""
from __future__ import annotations

import resource
import zipfile

import numpy as np
import pytest
from PIL import Image

from studio.core.direction_library import DirectionFileError, import_ganspace, import_interfacegan
from studio.core.photo import open_photo
from studio.errors import PhotoError


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_npz_zip_bomb_is_refused_unopened(tmp_path):
    """1.6 GB of float zeros deflate to about 1.5 MB; numpy would inflate all of it."""
    path = tmp_path / "components_z.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("lat_comp.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": (400, 1, 1_000_000)})
            for _ in range(100):
                f.write(bytes(16_000_000))
    assert path.stat().st_size < 3_000_000
    before = _peak_mb()
    with pytest.raises(DirectionFileError) as exc:
        import_ganspace(path)
    assert str(exc.value) == ("components_z.npz claims 1.6 GB once unpacked, over the limit of 268.4 MB "
                              "(set LATENT_STUDIO_MAX_DECOMPRESSED_BYTES to raise it)")
    assert _peak_mb() - before < 100


def test_npz_member_claiming_more_than_it_holds(tmp_path):
    path = tmp_path / "components_z.npz"
    np.savez(path, lat_comp=np.ones((4, 1, 8), np.float32), lat_stdev=np.ones(4, np.float32))
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    members["lat_comp.npy"] = members["lat_comp.npy"].replace(b"(4, 1, 8)", b"(4000, 1, 8)")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(DirectionFileError, match=r"components_z.npz/lat_comp.npy is damaged: its header "
                                                 r"claims an array of shape \[4000, 1, 8\] \(128.0 kB\)"):
        import_ganspace(path)


@pytest.mark.parametrize("shape, message", [
    ("(100000, 100000)", r"claims an array of shape \[100000, 100000\] \(40.0 GB\), over the limit"),
    ("(1, 513)", r"is damaged: its header claims an array of shape \[1, 513\] \(2.1 kB\) but the file holds"),
])
def test_npy_with_an_impossible_shape(tmp_path, shape, message):
    path = tmp_path / "boundary.npy"
    np.save(path, np.ones((1, 512), np.float32))
    assert import_interfacegan(path).vectors.shape == (1, 512)
    path.write_bytes(path.read_bytes().replace(b"(1, 512)", shape.encode()))
    with pytest.raises(DirectionFileError, match=message):
        import_interfacegan(path)


def test_npy_of_objects_is_refused_from_its_header(tmp_path):
    path = tmp_path / "boundary.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DirectionFileError, match="holds Python objects"):
        import_interfacegan(path)


def test_photo_over_the_pixel_budget(tmp_path, monkeypatch):
    path = tmp_path / "face.png"
    Image.new("RGB", (400, 300), (200, 150, 120)).save(path)
    assert open_photo(path).size == (400, 300)
    monkeypatch.setenv("LATENT_STUDIO_MAX_IMAGE_PIXELS", "100000")
    with pytest.raises(PhotoError) as exc:
        open_photo(path)
    assert str(exc.value) == ("face.png claims 400x300 pixels, over the limit of 100,000 pixels "
                              "(set LATENT_STUDIO_MAX_IMAGE_PIXELS to raise it)")


def test_lsdir_with_bfloat16_vectors_is_one_direction_file_error(tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from studio.core.direction_library import SavedDirection, load_direction, save_direction

    path = save_direction(SavedDirection("smile", np.ones((1, 8), np.float32), "z", "pca", created="2026"),
                          tmp_path / "smile.lsdir")
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    save_file({"vectors": torch.ones(1, 8, dtype=torch.bfloat16)}, str(path), metadata=meta)
    # NumPy reads bfloat16 only once ml_dtypes (which onnx imports) has registered it: either way the file
    # is refused in one sentence naming it
    with pytest.raises(DirectionFileError, match=r"^smile\.lsdir(: direction 'smile': vectors must be finite "
                                                 r"floats| is damaged: it stores vectors in a type NumPy "
                                                 r"cannot read)"):
        load_direction(path)

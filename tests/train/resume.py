"""The resume check every demo trainer shares: 4 steps in one go equal 2 steps, a stop, and 2 more."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch


def assert_resume_matches(train: Callable[..., tuple[torch.nn.Module, Any]], tmp_path: Path, **kw: Any):
    """Returns the uninterrupted run's generator for trainer-specific checks."""
    g_full, s_full = train(tmp_path / "full", 4, **kw)
    train(tmp_path / "cut", 2, **kw)
    g_cut, s_cut = train(tmp_path / "cut", 4, **kw)
    assert s_full.step == s_cut.step == 4
    for (k, a), b in zip(g_full.state_dict().items(), g_cut.state_dict().values()):
        assert torch.equal(a, b), k
    assert (tmp_path / "cut" / "samples_000004.png").is_file()
    return g_full

"""What made a projected latent, kept in the workspace beside it (and so in the project file): which photo
(name and sha256 of its bytes), the space, steps, loss, whether the noise maps were fitted, what alignment
did, and how well the answer matched. The recipe holds the latent; this record says where it came from, so
the loss and options chosen stay visible after the fact."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from studio.core.drag import latent_key
from studio.errors import RecipeError

PANEL_KEY = "projection"


@dataclass(frozen=True)
class ProjectionRecord:
    photo: str
    photo_sha256: str
    space: str
    steps: int
    loss: str
    noise: bool
    alignment: str  # what alignment did ("" when none was tried)
    psnr: float
    seconds: float
    made: str = ""  # latent_key of the answer: the record describes that latent only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "ProjectionRecord":
        if not isinstance(d, dict):
            raise RecipeError("a projection record must be a JSON object")
        try:
            return cls(str(d["photo"]), str(d["photo_sha256"]), str(d["space"]), int(d["steps"]), str(d["loss"]),
                       bool(d["noise"]), str(d.get("alignment", "")), float(d["psnr"]), float(d["seconds"]),
                       str(d.get("made", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecipeError(f"malformed projection record: {exc}") from None


def record_for(panels_value: Any, latent: Any) -> ProjectionRecord | None:
    """The stored record when it describes `latent` (None once another edit replaced the latent, or when the
    stored value cannot be read: a damaged record never stops a workspace from opening)."""
    if panels_value is None:
        return None
    try:
        record = ProjectionRecord.from_dict(panels_value)
    except RecipeError:
        return None
    return record if record.made == latent_key(latent) else None

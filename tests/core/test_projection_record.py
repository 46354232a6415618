"""The projection record beside a projected latent: JSON round trip, and it describes only its own latent."""
from __future__ import annotations

import pytest

from studio.core.drag import latent_key
from studio.core.projection_record import ProjectionRecord, record_for
from studio.core.recipe import SeedLatent, VectorLatent
from studio.errors import RecipeError


def test_a_record_round_trips_and_describes_only_its_latent():
    latent = VectorLatent((0.5, -1.0))
    r = ProjectionRecord("me.png", "ab" * 32, "z", 200, "pixel", False, "aligned: turned 3°", 27.5, 4.2,
                         latent_key(latent))
    assert ProjectionRecord.from_dict(r.to_dict()) == r
    assert record_for(r.to_dict(), latent) == r
    assert record_for(r.to_dict(), SeedLatent(3)) is None  # another edit replaced the latent
    assert record_for({"photo": "x"}, latent) is None  # a damaged record never stops a workspace opening
    with pytest.raises(RecipeError, match="malformed projection record"):
        ProjectionRecord.from_dict({"photo": "x"})

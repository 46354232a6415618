"""Errors whose message is meant for the user: the UI shows it, the CLI prints it as one line."""
from __future__ import annotations


class StudioError(Exception):
    """Base for every failure the user can act on (bad file, bad recipe, missing plugin)."""


class CheckpointError(StudioError):
    """A checkpoint could not be opened: missing, unreadable, corrupt, or of no known format."""


class RecipeError(StudioError):
    """A recipe or project file is malformed, from a newer version, or does not fit the model."""


class PhotoError(StudioError):
    """An input photo could not be used: unreadable, truncated, not an image, too small or too large."""


class Cancelled(Exception):
    """Raised inside a render when a newer request superseded it; never shown to the user."""

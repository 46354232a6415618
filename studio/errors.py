"""Errors whose message is meant for the user: the UI shows it, the CLI prints it as one line."""
from __future__ import annotations

import threading


class StudioError(Exception):
    """Base for every failure the user can act on (bad file, bad recipe, missing plugin)."""


class CheckpointError(StudioError):
    """A checkpoint could not be opened: missing, unreadable, corrupt, or of no known format."""


class RecipeError(StudioError):
    """A recipe or project file is malformed, from a newer version, or does not fit the model."""


class PhotoError(StudioError):
    """An input photo could not be used: unreadable, truncated, not an image, too small or too large."""


class PluginError(StudioError):
    """A plugin's stage raised (anything, SystemExit included) or returned an unusable image: the message
    names the plugin and the stage, so the user knows whose code to blame; the studio keeps running."""

    def __init__(self, plugin: str, stage: str, detail: str):
        super().__init__(f"rendering failed in plugin {plugin!r}, stage {stage!r}: {detail}")
        self.plugin, self.stage, self.detail = plugin, stage, detail


class Cancelled(Exception):
    """Raised inside a render when a newer request superseded it; never shown to the user."""


def users_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is the user's Ctrl-C (a KeyboardInterrupt on the main thread), which must propagate.

    Python delivers signals to the main thread only, so a KeyboardInterrupt on any other thread was raised
    by code (a plugin) and is contained like any other failure of that code."""
    return isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread()


def clipped(text: str, limit: int = 160) -> str:
    """The first line of `text`, at most `limit` characters, shortened at a word boundary (with "...") so a
    quoted message is never cut mid-word."""
    line = (str(text).strip().splitlines() or [""])[0].strip()
    if len(line) <= limit:
        return line
    cut = line[: limit - 3].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return cut + "..."

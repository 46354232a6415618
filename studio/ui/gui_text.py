"""Messages in the GUI speak GUI: advice written for the command line ("use --force", "--scale 2") is said
as what to do in the window instead. The core and export layers word their errors for the CLI, which shows
them as they are; the window passes every banner and status message through `gui_text`."""
from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\s*\(use --force to (?:overwrite|replace)[^)]*\)"),
     " (choose another name, or pick it again in the save dialog and confirm replacing it)"),
    (re.compile(r"\buse --force to (\w+)"), r"confirm replacing it in the save dialog to \1"),
    (re.compile(r"\b(?:with|without) --force\b"), ""),
    (re.compile(r"\buse --scale (\d+)"), r"set the export size to ×\1 or another even size"),
    (re.compile(r"\bbad --pick\b"), "bad choice"),
    (re.compile(r"run '(latent-studio plugin new [^']*?) --out [^']*' to write"), r"the terminal command '\1' writes"),
    (re.compile(r"'(latent-studio plugin new [^']*?) --out [^']*' writes"), r"the terminal command '\1' writes"),
)
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def gui_text(message: str) -> str:
    """`message` with command-line advice replaced by what to do in the window."""
    for pattern, repl in _RULES:
        message = pattern.sub(repl, message)
    return re.sub(r"\s{2,}", " ", message).strip()


def cli_flags(message: str) -> list[str]:
    """The command-line flags a message still names (tests use it; empty for a GUI-worded message)."""
    return _FLAG.findall(message)

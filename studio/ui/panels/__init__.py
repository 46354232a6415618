"""One widget per tool, each shown in a dock of the main window."""

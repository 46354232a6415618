"""Qt-free rendering: staged execution with an activation cache, and the worker thread."""

"""Work that is independent per item (export frames, contact-sheet seeds, photos to translate or project,
labelled samples for a direction) sharded over a Ray cluster (the optional `ray` extra).

Qt-free, and importable without Ray: `ray` is imported only when a cluster is asked for, so everything
else (and the test that every module imports headless) works on an install without the extra.
"""

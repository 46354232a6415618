"""Training the bundled demo models on ToyFaces: deterministic, resumable, CPU-friendly."""

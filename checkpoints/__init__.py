"""The bundled demo models and their model cards, installed as the package data of `studio.checkpoints`."""

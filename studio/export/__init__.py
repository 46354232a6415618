"""Exporting sequences of recipes: image sequences, animations and videos, written safely."""

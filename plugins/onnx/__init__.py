"""ONNX family: generators exported to ONNX (by us, per stage, or by any other tool as one graph).

Registered through the `latent_studio.generators` entry point like any other family. Importing it needs
neither onnx nor onnxruntime (the studio works without them); loading a file does, and says so.
"""
from __future__ import annotations

from latent_studio_plugins.onnx.plugin import ONNXPlugin

plugin = ONNXPlugin()

__all__ = ["ONNXPlugin", "plugin"]

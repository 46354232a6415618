"""The plugin API every generator family implements, and what the families share."""

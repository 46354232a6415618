"""The Qt desktop GUI: the only package that imports Qt. Start it with `studio.ui.app.run_app`."""

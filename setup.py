"""Package layout for setuptools: everything else is in pyproject.toml.

The repository keeps `plugins/`, `resources/` and `checkpoints/` at the top level; installed, they become
`latent_studio_plugins` (a generic top-level `plugins` would be shadowed by any folder of that name on
sys.path), `studio.resources` and `studio.checkpoints`. pyproject.toml cannot rename a discovered package,
hence these lines.
"""
from setuptools import find_packages, setup

PLUGINS = "latent_studio_plugins"
packages = find_packages(include=["studio", "studio.*"])
packages += [PLUGINS] + [f"{PLUGINS}.{p}" for p in find_packages("plugins")]
packages += ["studio.resources", "studio.checkpoints"]

setup(
    packages=packages,
    package_dir={PLUGINS: "plugins", "studio.resources": "resources", "studio.checkpoints": "checkpoints"},
)

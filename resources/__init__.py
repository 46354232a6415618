"""Icons and themes, installed as the package data of `studio.resources`."""

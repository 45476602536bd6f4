"""The build mapping behind pyproject.toml: drsynth's code lives in five top-level folders (storage/, synth/,
filters/, training/, flows/) and installs under one import namespace, `drsynth.storage`, `drsynth.synth`, …,
so it never claims a top-level name that other projects on the package index own. setuptools cannot say
"this folder is that package" for a folder's whole tree in pyproject.toml alone: the list of packages is
found here, so a new subpackage needs no edit. `drsynth` itself is a namespace package (PEP 420)."""

from setuptools import find_packages, setup

FOLDERS = ("storage", "synth", "filters", "training", "flows")

setup(
    packages=[f"drsynth.{name}" for name in find_packages(include=[f"{top}*" for top in FOLDERS])],
    package_dir={f"drsynth.{top}": top for top in FOLDERS},
)

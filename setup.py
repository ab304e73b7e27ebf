"""The package list, which pyproject.toml cannot express (everything else is there).

Every package under agent/ and training/ is found, so a new subpackage ships without
editing a list; plus ``agent.default_model``: the default bundle as package data, mapped
from models/default/ (its one copy, written by ``anomaly-train fit``) so that a plain
``pip install .`` has a model.  Builds from a source copy without models/ (the .deb and
the container, which ship the bundle in /usr/share) leave it out.
"""

from pathlib import Path

from setuptools import find_packages, setup

DEFAULT_MODEL = "models/default"

packages = find_packages(include=["agent", "agent.*", "training", "training.*"])
package_dir = {}
if (Path(DEFAULT_MODEL) / "bundle.json").is_file():  # the build runs in the source directory
    packages.append("agent.default_model")
    package_dir["agent.default_model"] = DEFAULT_MODEL

setup(packages=packages, package_dir=package_dir)

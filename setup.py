"""Package layout: the repository keeps one top-level folder per stage, installed under the product's name.

`collector/`, `detectors/` and `alerts/` install as `watchkeeper.collector`, `watchkeeper.detectors` and
`watchkeeper.alerts` (never as generic top-level names in site-packages). pyproject.toml holds everything
else; this file only maps the folders, because `[tool.setuptools.packages.find]` cannot add a prefix.
Folders without `__init__.py` (artifacts, templates, static files) are namespace packages so their data
files ship too.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {
    "watchkeeper": "watchkeeper",
    "watchkeeper.collector": "collector",
    "watchkeeper.detectors": "detectors",
    "watchkeeper.alerts": "alerts",
}


def packages() -> list[str]:
    found: list[str] = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]
    return found


setup(package_dir=ROOTS, packages=packages())

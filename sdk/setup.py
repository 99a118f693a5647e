"""Which source files the SDK distribution ships: the collector's SDK and the few core modules it imports.

The files live with the daemon's (one copy of every module); this list is the SDK's boundary, and
`tests/test_sdk_distribution.py` checks that nothing outside it is imported by an instrumented app.
"""

from setuptools import setup
from setuptools.command.build_py import build_py

PACKAGES = {
    "watchkeeper": "../watchkeeper",
    "watchkeeper.core": "../watchkeeper/core",
    "watchkeeper.collector": "../collector",
    "watchkeeper.collector.sdk": "../collector/sdk",
    "watchkeeper.collector.sdk.exporters": "../collector/sdk/exporters",
}
# Of the shared packages, these modules only (the rest of `watchkeeper` and `watchkeeper.core` is the daemon).
MODULES = {
    "watchkeeper": {"__init__"},
    "watchkeeper.core": {"__init__", "identifiers", "kafka_security", "plugins", "records", "semconv"},
}


class SdkOnly(build_py):
    """Builds the listed packages, keeping only the SDK's modules of the shared ones."""

    def find_package_modules(self, package, package_dir):  # type: ignore[no-untyped-def]
        found = super().find_package_modules(package, package_dir)
        keep = MODULES.get(package)
        return [m for m in found if keep is None or m[1] in keep]


setup(package_dir=PACKAGES, packages=list(PACKAGES), cmdclass={"build_py": SdkOnly})

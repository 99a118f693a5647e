"""The package boundaries, checked: data flows collector -> detectors -> alerts over a leaf core.

Every `import` in the product's source (at module level, inside functions and under TYPE_CHECKING alike) is
an arrow; a wrong arrow fails here with the file, the line and the rule it breaks:

- `watchkeeper.core` imports nothing else of the project;
- `watchkeeper.collector`, `.detectors` and `.alerts` import only the core and themselves (alerts reads
  detector metadata through the core's plug-in registry, never by importing a detector);
- a detector's folder imports no other detector's folder (shared code lives beside them or in the core);
- nothing imports the composition root (`watchkeeper.app`, `.cli`, `.config`, `.web`, `.demo`, ...);
- the SDK (`watchkeeper.collector.sdk`), which apps import, imports only itself and the stdlib-only parts of
  the core, and none of the daemon's heavy libraries;
- nobody imports the folders by their generic top-level names (`import collector`).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: source folder -> the package it installs as (see setup.py)
PACKAGES = {
    "watchkeeper": "watchkeeper",
    "collector": "watchkeeper.collector",
    "detectors": "watchkeeper.detectors",
    "alerts": "watchkeeper.alerts",
}
CORE = "watchkeeper.core"
STAGES = ("watchkeeper.collector", "watchkeeper.detectors", "watchkeeper.alerts")
SDK = "watchkeeper.collector.sdk"
#: what the SDK may use of the core: modules that import nothing but the standard library
SDK_CORE_ALLOWED = (
    "watchkeeper.core.semconv",
    "watchkeeper.core.records",
    "watchkeeper.core.plugins",
    "watchkeeper.core.identifiers",
    "watchkeeper.core.kafka_security",  # the Kafka exporter's TLS/SASL settings, shared with the bus
)
SDK_FORBIDDEN_LIBRARIES = ("sklearn", "scipy", "aiohttp", "grpc")
GENERIC_NAMES = ("collector", "detectors", "alerts")


@dataclass(frozen=True)
class Arrow:
    source: str  # importing module
    target: str  # imported module (or package)
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.source} imports {self.target}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement of a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, path).split(".")
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.append((candidate if candidate in MODULES else base, node.lineno))
    return out


def _arrows() -> list[Arrow]:
    return [
        Arrow(module, target, path, line)
        for module, path in MODULES.items()
        for target, line in _imports(module, path)
    ]


ARROWS = _arrows()


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _is_project(module: str) -> bool:
    return _within(module, "watchkeeper")


def _is_root(module: str) -> bool:
    """The composition root: everything in watchkeeper/ that is not the core."""
    return _is_project(module) and not _within(module, CORE) and not any(_within(module, s) for s in STAGES)


def _layer(module: str) -> str:
    if _within(module, CORE):
        return CORE
    for stage in STAGES:
        if _within(module, stage):
            return stage
    return "root"


def _detector_folder(module: str) -> str | None:
    """`watchkeeper.detectors.<name>` when the module lives in a detector's folder (a subpackage)."""
    parts = module.split(".")
    if len(parts) < 3 or parts[:2] != ["watchkeeper", "detectors"]:
        return None
    folder = ".".join(parts[:3])
    path = MODULES.get(folder)
    return folder if path is not None and path.name == "__init__.py" else None


def test_the_scan_sees_the_whole_product() -> None:
    assert len(MODULES) > 100 and len(ARROWS) > 300
    assert "watchkeeper.detectors.content_safety.detector" in MODULES
    assert "watchkeeper.collector.sdk.instrument" in MODULES


def test_core_imports_nothing_else_of_the_project() -> None:
    wrong = [a for a in ARROWS if _within(a.source, CORE) and _is_project(a.target)]
    wrong = [a for a in wrong if not _within(a.target, CORE)]
    assert not wrong, "the core must stay a leaf:\n" + "\n".join(map(str, wrong))


def test_stages_import_only_the_core_and_themselves() -> None:
    wrong = []
    for a in ARROWS:
        layer = _layer(a.source)
        if layer not in STAGES or not _is_project(a.target):
            continue
        if not (_within(a.target, CORE) or _within(a.target, layer)):
            wrong.append(a)
    assert not wrong, "a stage imports another stage or the composition root:\n" + "\n".join(map(str, wrong))


def test_a_detector_folder_imports_no_other_detector_folder() -> None:
    wrong = []
    for a in ARROWS:
        own, other = _detector_folder(a.source), _detector_folder(a.target)
        if own is not None and other is not None and own != other:
            wrong.append(a)
    assert not wrong, "move what detectors share beside them or into the core:\n" + "\n".join(map(str, wrong))


def test_nothing_imports_the_composition_root() -> None:
    wrong = [a for a in ARROWS if _is_root(a.target) and not _is_root(a.source)]
    # `from watchkeeper import collector` names the package watchkeeper, whose __init__ stays import-light
    wrong = [a for a in wrong if a.target != "watchkeeper"]
    assert not wrong, "only the composition root may import itself:\n" + "\n".join(map(str, wrong))
    package_init = [a for a in ARROWS if a.source == "watchkeeper" and _is_project(a.target)]
    assert not package_init, "watchkeeper/__init__.py must import nothing of the project"


def test_the_sdk_imports_only_itself_and_light_core_modules() -> None:
    wrong = []
    for a in ARROWS:
        if not _within(a.source, SDK):
            continue
        root = a.target.split(".")[0]
        outside = _is_project(a.target) and not (_within(a.target, SDK) or a.target in SDK_CORE_ALLOWED)
        if root in SDK_FORBIDDEN_LIBRARIES or outside:
            wrong.append(a)
    assert not wrong, "the SDK runs inside users' apps; keep the daemon out:\n" + "\n".join(map(str, wrong))
    light = [a for a in ARROWS if a.source in SDK_CORE_ALLOWED and a.target.split(".")[0] != "__future__"]
    stdlib = sys.stdlib_module_names
    heavy = [a for a in light if a.target.split(".")[0] not in stdlib]
    assert not heavy, "core modules the SDK uses must need only the stdlib:\n" + "\n".join(map(str, heavy))


def test_no_generic_top_level_names() -> None:
    wrong = []
    for folder in ("watchkeeper", "collector", "detectors", "alerts", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in GENERIC_NAMES:
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not wrong, "import through the namespace (watchkeeper.collector, ...):\n" + "\n".join(wrong)


def _loaded_after(code: str) -> list[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True, cwd="/"
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_core_loads_no_stage_and_no_composition_root() -> None:
    core_modules = [m for m in MODULES if _within(m, CORE) and not m.endswith(".kafka")]
    loaded = _loaded_after("\n".join(f"import {m}" for m in core_modules))
    project = [m for m in loaded if _is_project(m)]
    assert project and all(_within(m, CORE) or m == "watchkeeper" for m in project), project


def test_the_sdk_loads_none_of_the_daemon() -> None:
    loaded = _loaded_after(
        "from watchkeeper import collector\n"
        "collector.instrument, collector.trace_call, collector.Redactor\n"
        "import watchkeeper.collector.sdk.openai_client, watchkeeper.collector.sdk.xai\n"
    )
    assert "watchkeeper.collector.sdk.instrument" in loaded
    daemon = [m for m in loaded if m.split(".")[0] in SDK_FORBIDDEN_LIBRARIES]
    daemon += [m for m in loaded if _is_project(m) and _layer(m) != "watchkeeper.collector"]
    daemon += [m for m in loaded if _within(m, "watchkeeper.collector") and not _within(m, SDK)]
    allowed = {"watchkeeper", "watchkeeper.collector", "watchkeeper.core", *SDK_CORE_ALLOWED}
    assert [m for m in daemon if m not in allowed] == []

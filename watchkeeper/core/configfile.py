"""Reading a configuration file and explaining what is wrong with it: shared by every loader.

The composition root assembles the whole schema (`watchkeeper.config`); a stage's own commands may validate
their section alone. Both read the file and word their errors here, so a message names the key, the problem,
the fix and the environment variable that overrides the key, whoever raised it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class ConfigError(ValueError):
    """The configuration is invalid; str() is a user-facing message naming the key and the fix."""


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level mapping of a YAML config file (empty for an empty file). Raises ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror}; pass an existing file with -c"
        ) from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections at the top level")
    return loaded


_SECRET_WORDS = re.compile(r"password|secret|token|key|url", re.IGNORECASE)


def format_validation_error(err: ValidationError, source: str, prefix: tuple[str, ...] = ()) -> str:
    """One line per error: key, hint, env override; `prefix` is the path of a section validated alone."""
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        loc = (*prefix, *e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        kind = e["type"]
        if kind == "extra_forbidden":
            hint = "unknown key: remove it or check its spelling (see watchkeeper.example.yaml)"
        elif kind == "missing":
            hint = "required key is missing: add it"
        else:
            got = e.get("input")
            secret = any(_SECRET_WORDS.search(str(p)) for p in loc)
            hint = e["msg"] if secret or isinstance(got, dict | list) else f"{e['msg']} (got {got!r})"
        env = "WATCHKEEPER_" + "__".join(str(p).upper() for p in loc)
        lines.append(f"  - {key}: {hint}  [env override: {env}]")
    return "\n".join(lines)

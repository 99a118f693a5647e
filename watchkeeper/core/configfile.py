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


class _Loader(yaml.SafeLoader):
    """YAML without 1.1's base-60 numbers: `17:00` and `1:5` stay strings, as Alertmanager (Go) reads them.

    PyYAML's safe loader turns `end_time: 17:00` into 1020 and `days_of_month: [1:5]` into 65; Alertmanager's
    docs write times unquoted, so a pasted time interval must read as written."""


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _NUMBER_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# PyYAML's own number patterns, minus their base-60 alternatives.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level mapping of a YAML config file (empty for an empty file). Raises ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror}; pass an existing file with -c"
        ) from exc
    try:
        loaded = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
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
        first, newline, rest = str(hint).partition("\n")  # a list of problems: the override goes first
        lines.append(f"  - {key}: {first}  [env override: {env}]{newline}{rest}")
    return "\n".join(lines)

"""Evidence schemas: what a detector puts in `Finding.evidence`, and how a person should be shown it.

A detector declares its evidence once, in its metadata: the fields (a JSON Schema, so API clients can read
and validate them) and a layout of display blocks (`x-layout`) that the dashboard renders generically. No
detector needs code in the dashboard: a plug-in's findings render like the built-ins'.

Every block names evidence fields; a block whose fields are absent is not shown. Values are always rendered
as text (model output is untrusted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

JsonType = Literal["string", "number", "integer", "boolean", "array", "object"]
#: How a value is written in key/value rows and table cells.
Format = Literal["text", "code", "number", "duration", "template", "clamp", "code-small"]


@dataclass(frozen=True, slots=True)
class Field:
    """One evidence key: its JSON type and what it means."""

    name: str
    type: JsonType | tuple[JsonType, ...]
    description: str = ""

    def to_json_schema(self) -> dict[str, Any]:
        kind: Any = list(self.type) if isinstance(self.type, tuple) else self.type
        out: dict[str, Any] = {"type": kind}
        if self.description:
            out["description"] = self.description
        return out


#: The keys every finding's evidence has (`make_finding` sets them).
COMMON_FIELDS: tuple[Field, ...] = (
    Field("trace_id", "string", "trace of the judged model call (32 hex characters)"),
    Field("span_id", "string", "span of the judged model call (16 hex characters)"),
    Field("excerpt", "string", "the part of the call the finding is about (at most 2,000 characters)"),
)


# -- display blocks ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Text:
    """A titled block of text (an excerpt, a prompt), with some values highlighted in it.

    `fallback` is read when `field` is empty; `highlight` lists evidence fields whose first non-empty value is
    highlighted; `highlight_items` = (array field, key) highlights that key of every item of an array field.
    `unless`: not shown when that field is present.
    """

    field: str
    title: str
    fallback: str | None = None
    highlight: tuple[str, ...] = ()
    highlight_items: tuple[str, str] | None = None
    unless: str | None = None
    widget: str = "text"


@dataclass(frozen=True, slots=True)
class Diff:
    """A unified diff, coloured line by line."""

    field: str
    title: str
    widget: str = "diff"


@dataclass(frozen=True, slots=True)
class Note:
    """A sentence shown when `when` equals `equals` (e.g. content was not captured)."""

    text: str
    when: str
    equals: Any = True
    widget: str = "note"


@dataclass(frozen=True, slots=True)
class Row:
    """One key/value row; `template` (for objects) names the object's keys in braces: '{title}: {text}'."""

    label: str
    field: str
    format: Format = "text"
    template: str | None = None


@dataclass(frozen=True, slots=True)
class KeyValues:
    rows: tuple[Row, ...]
    widget: str = "kv"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column over the items of an array field; `highlight` as in `Text` (evidence-level fields)."""

    label: str
    field: str
    format: Format = "text"
    highlight: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """The items of an array field as rows; `{count}` in the title is the number of items."""

    field: str
    title: str
    columns: tuple[Column, ...]
    widget: str = "table"


@dataclass(frozen=True, slots=True)
class Chips:
    """The items of an array field as chips: `label: value` (objects) or the item itself (strings)."""

    field: str
    title: str | None = None
    label: str | None = None
    value: str | None = None
    style: Literal["hot", "id"] = "hot"
    widget: str = "chips"


@dataclass(frozen=True, slots=True)
class BandChart:
    """The observed value against the normal band and the baseline (a latency spike, a token surge).

    `{name}` in the title reads that evidence field (`defaults` when absent); `units` maps the value of
    `unit_field` to the suffix written after numbers.
    """

    title: str
    band: str
    baseline: str
    observed: str
    unit_field: str | None = None
    units: tuple[tuple[str, str], ...] = ()
    defaults: tuple[tuple[str, str], ...] = ()
    widget: str = "band"


@dataclass(frozen=True, slots=True)
class Compare:
    """Two values side by side (baseline vs observed): rates as percentages, or amounts with a unit."""

    title: str
    baseline: str
    observed: str
    percent: bool = False
    unit: str = ""
    labels: tuple[str, str] | None = None
    defaults: tuple[tuple[str, str], ...] = ()
    widget: str = "compare"


@dataclass(frozen=True, slots=True)
class Rest:
    """Every evidence key not in `skip`, as key/value rows (numbers rounded; objects as JSON)."""

    skip: tuple[str, ...] = ("trace_id", "span_id", "excerpt")
    style: Literal["values", "json"] = "values"
    widget: str = "rest"


Block = Text | Diff | Note | KeyValues | Table | Chips | BandChart | Compare | Rest


def _block_json(block: Block) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in block.__dataclass_fields__:  # type: ignore[union-attr]
        value = getattr(block, name)
        if value is None or value == () or (name == "format" and value == "text"):
            continue
        if name in ("rows", "columns"):
            value = [{k: v for k, v in _plain(item).items() if v is not None and v != ()} for item in value]
        elif name in ("units", "defaults"):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _plain(item: Row | Column) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class EvidenceSchema:
    """The fields a detector's evidence may hold (beyond the common ones) and the order they are shown in."""

    fields: tuple[Field, ...] = ()
    layout: tuple[Block, ...] = (Text("excerpt", "Excerpt", highlight=("highlight",)), Rest(style="json"))

    def to_json(self) -> dict[str, Any]:
        """A JSON Schema object (`properties`) with the display layout under `x-layout`."""
        return {
            "type": "object",
            "properties": {f.name: f.to_json_schema() for f in (*COMMON_FIELDS, *self.fields)},
            "required": [f.name for f in COMMON_FIELDS],
            "additionalProperties": True,
            "x-layout": [_block_json(block) for block in self.layout],
        }

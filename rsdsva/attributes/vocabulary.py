"""Attribute vocabularies: names, groups, and the words that describe each attribute.

A vocabulary file (YAML) lists attributes in order, each with a group and one or
more phrases, and the prompt templates CLIP text embeddings are made from::

    name: my-vocabulary
    scale: 100
    templates: ["an aerial photograph of {}.", "a satellite image showing {}."]
    groups: {materials: what the ground is covered with}
    attributes:
      - {name: has_water, group: materials, phrases: [water, open water]}
      - has_trees                     # phrase from the name: "trees"

Every phrase goes into every template; an attribute's text embedding is the
mean of those prompts' embeddings (:mod:`rsdsva.attributes.clip`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rsdsva.errors import ClassSpaceError, MissingFileError

DEFAULT_TEMPLATES = (
    "an aerial photograph of {}.",
    "a satellite image showing {}.",
    "a remote sensing image with {}.",
)


@dataclass(frozen=True)
class Attribute:
    name: str
    group: str | None = None
    phrases: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)  # set -> the name that set's csv uses


@dataclass(frozen=True)
class Vocabulary:
    """Ordered attributes with groups and phrases, and the prompt templates."""

    name: str
    attributes: tuple[Attribute, ...]
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    groups: Mapping[str, str] = field(default_factory=dict)
    scale: float = 100.0
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    def group_of(self) -> dict[str, str]:
        """attribute -> group, for the attributes that have one (ClassSpace.groups)."""
        return {a.name: a.group for a in self.attributes if a.group}

    def prompts(self, attribute: Attribute) -> list[str]:
        """Every phrase of ``attribute`` in every template."""
        return [t.format(p) for p in attribute.phrases for t in self.templates]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.source:
            out["source"] = self.source
        out.update(scale=self.scale, templates=list(self.templates))
        if self.groups:
            out["groups"] = dict(self.groups)
        rows = []
        for a in self.attributes:
            row: dict[str, Any] = {"name": a.name}
            if a.group:
                row["group"] = a.group
            row["phrases"] = list(a.phrases)
            if a.aliases:
                row["aliases"] = dict(a.aliases)
            rows.append(row)
        out["attributes"] = rows
        return out

    def save(self, path: str | Path) -> Path:
        import yaml

        from rsdsva._io import atomic_write_text

        return atomic_write_text(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False, width=100))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        import yaml

        from rsdsva._io import yaml_loader

        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"vocabulary file not found: {path}; give a vocabulary YAML or a library name")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml_loader())
        except yaml.YAMLError as err:
            raise ClassSpaceError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        try:
            return cls.from_dict(data, default_name=path.stem)
        except ClassSpaceError as err:
            raise ClassSpaceError(f"{path}: {err}") from None

    @classmethod
    def from_dict(cls, data: Any, default_name: str = "vocabulary") -> Vocabulary:
        if not isinstance(data, Mapping) or not data.get("attributes"):
            raise ClassSpaceError("expected a mapping with an 'attributes' list")
        templates = tuple(data.get("templates") or DEFAULT_TEMPLATES)
        for t in templates:
            if not isinstance(t, str) or t.count("{}") != 1:
                raise ClassSpaceError(f"template {t!r} must contain '{{}}' once, where the phrase goes")
        groups = dict(data.get("groups") or {})
        attributes = tuple(_attribute(item, groups) for item in data["attributes"])
        names = [a.name for a in attributes]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ClassSpaceError(f"duplicate attribute {dup!r}; each attribute must appear once")
        return cls(
            name=str(data.get("name", default_name)),
            attributes=attributes,
            templates=templates,
            groups=groups,
            scale=float(data.get("scale", 100.0)),
            source=str(data.get("source", "")),
        )


def phrase_of(name: str) -> str:
    """'has_narrow_water_flow' -> 'narrow water flow'; 'is_residential' -> 'residential'."""
    for prefix in ("has_", "is_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.replace("_", " ")


def _attribute(item: Any, groups: Mapping[str, str]) -> Attribute:
    if isinstance(item, str):
        return Attribute(item, None, (phrase_of(item),))
    if not isinstance(item, Mapping) or not item.get("name"):
        raise ClassSpaceError(f"attribute entry {item!r} needs a 'name'")
    name = str(item["name"])
    group = item.get("group")
    if group is not None and groups and group not in groups:
        raise ClassSpaceError(f"attribute {name!r} is in unknown group {group!r}; groups are {sorted(groups)}")
    phrases = item.get("phrases") or [phrase_of(name)]
    if isinstance(phrases, str):
        phrases = [phrases]
    return Attribute(name, group, tuple(str(p) for p in phrases), dict(item.get("aliases") or {}))

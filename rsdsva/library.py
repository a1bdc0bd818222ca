"""The class library shipped with rsdsva: known classes to pick by name.

``rsdsva/resources/library/`` holds, for each human-annotated set (UC Merced,
AID, NWPU-RESISC45, WHU-RS19), its class-attribute matrix as a ClassSpace file
(``<set>.yaml``, plain class names, the csv's values) and its vocabulary with
groups and phrases (``<set>_vocabulary.yaml``); and the unified library
(``unified.yaml``, ``unified_vocabulary.yaml``), where attributes and classes that
mean the same thing in several sets are one. ``scripts/jobs/build_class_library.py``
writes every file but ``unified_vocabulary.yaml`` (hand-written) from the csvs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from rsdsva.attributes.vocabulary import Vocabulary
from rsdsva.class_files import classes_from_dict, load_classes
from rsdsva.classes import ClassSpace, did_you_mean
from rsdsva.errors import ClassSpaceError

LIBRARY_DIR = Path(__file__).resolve().parent / "resources" / "library"


@dataclass(frozen=True)
class LibrarySet:
    key: str  # file stem, and the csv prefix in lower case
    title: str
    citation: str


SETS = {
    s.key: s
    for s in (
        LibrarySet("ucm", "UC Merced Land Use", "Yang & Newsam, Bag-of-visual-words and spatial extensions for land-use classification, ACM SIGSPATIAL 2010"),
        LibrarySet("aid", "AID, Aerial Image Dataset", "Xia et al., AID: a benchmark data set for performance evaluation of aerial scene classification, IEEE TGRS 2017"),
        LibrarySet("nwpu", "NWPU-RESISC45", "Cheng, Han & Lu, Remote sensing image scene classification: benchmark and state of the art, Proc. IEEE 2017"),
        LibrarySet("rsd", "WHU-RS19", "Xia et al., Structural high-resolution satellite image indexing, ISPRS TC VII Symposium 2010"),
    )
}
ATTRIBUTES_CITATION = "class attributes: ZS-ViDAT, Ghosh et al., zero-shot remote-sensing scene classification"
LIBRARIES = ("unified", *SETS)
DEFINING_FLOOR = 50.0  # of 100: a unified class's defining attribute is at least this


def defining_attributes() -> dict[str, list[str]]:
    """Unified class -> the attributes its name says it has (``unified_defining.yaml``)."""
    import yaml

    return yaml.safe_load((LIBRARY_DIR / "unified_defining.yaml").read_text())


def _library_file(name: str, suffix: str) -> Path:
    if name not in LIBRARIES:
        raise ClassSpaceError(f"unknown class library {name!r}{did_you_mean(name, LIBRARIES)}; libraries: {', '.join(LIBRARIES)}")
    return LIBRARY_DIR / f"{name}{suffix}"


def load_library(name: str = "unified") -> ClassSpace:
    """The library's classes (all flagged seen), e.g. ``load_library('aid')``."""
    return load_classes(_library_file(name, ".yaml"))


def classes_or_library(spec: str | Path) -> ClassSpace:
    """A classes file, or a class library by name (``unified``, ``ucm``, ...)."""
    return load_library(str(spec)) if str(spec) in LIBRARIES else load_classes(spec)


def load_vocabulary(spec: str | Path) -> Vocabulary:
    """A library vocabulary by name (``unified``, ``ucm``, ...) or a vocabulary YAML file."""
    if str(spec) in LIBRARIES:
        return Vocabulary.load(_library_file(str(spec), "_vocabulary.yaml"))
    return Vocabulary.load(spec)


def library_sources(name: str = "unified") -> dict[str, dict[str, str]]:
    """class -> {set: the class's name in that set's csv}."""
    import yaml

    data = yaml.safe_load(_library_file(name, ".yaml").read_text(encoding="utf-8"))
    return {c: dict(s) for c, s in (data.get("sources") or {}).items()}


def pick(names: Iterable[str], library: str = "unified", seen: bool = False) -> ClassSpace:
    """Known classes by name, flagged unseen by default (to add to a model's classes)."""
    names = list(names)
    if not names:
        raise ClassSpaceError("no class names given; see `rsdsva classes list` for the library's classes")
    return load_library(library).subset(names).with_seen(seen)


def pick_and_define(names: Iterable[str], definitions: Iterable[str] = (), library: str = "unified",
                    seen: bool = False) -> ClassSpace:
    """Library classes by name (:func:`pick`) and new ones from ``'NAME: ATTR, ATTR'`` strings
    over the library's vocabulary, in one class space (``rsdsva classes pick NAMES --define ...``)."""
    names, definitions = list(names), list(definitions)
    if not names and not definitions:
        raise ClassSpaceError("name library classes (rsdsva classes list shows them) or define new ones")
    defined = _defined(definitions, load_library(library), seen) if definitions else None
    if not names:
        return defined
    picked = pick(names, library, seen=seen)
    return picked.concat(defined) if defined is not None else picked


def without_seen(classes: ClassSpace, info) -> tuple[ClassSpace, list[str]]:
    """``classes`` less the seen classes of the model ``info`` describes (``rsdsva map`` names
    those anyway, and refuses a file that adds them again), and the names left out."""
    known = set(info.classes.names)
    dropped = [n for n in classes.names if n in known]
    if dropped and len(dropped) == len(classes.names):
        raise ClassSpaceError(f"{', '.join(dropped)}: all are seen classes of the model already, which "
                              "`rsdsva map` names without a classes file; nothing to write")
    return (classes.subset([n for n in classes.names if n not in known]) if dropped else classes), dropped


def _defined(definitions, library: ClassSpace, seen: bool) -> ClassSpace:
    """Classes from 'NAME: ATTR, ATTR' strings over the library's vocabulary."""
    classes = {}
    for text in definitions:
        name, sep, attrs = text.partition(":")
        listed = [a.strip() for a in attrs.split(",") if a.strip()]
        if not sep or not name.strip() or not listed:
            raise ClassSpaceError(f"`definitions` {text!r}: write it as 'NAME: ATTRIBUTE, ATTRIBUTE'")
        classes[name.strip()] = listed
    return classes_from_dict({"seen": seen, "classes": classes}, vocabulary=library.attributes, source="`definitions`")

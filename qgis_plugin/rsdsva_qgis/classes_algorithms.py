"""Processing algorithms for writing classes inside QGIS: "List attributes and classes" (an HTML
report of the model's attribute vocabulary and classes and of the class library) and "Write
classes file" (library picks and classes described by attributes)."""

import html
import json
import os
import tempfile

from qgis.core import (
    QgsProcessingOutputString,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterString,
)

from .base import RsdsvaAlgorithm
from .runner import run_rsdsva


def write_replacing(path, text):
    """Write ``text`` beside ``path`` and rename it into place: a full disk or a cancel leaves the
    earlier file as it was, and no partial one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ListClassesAlgorithm(RsdsvaAlgorithm):
    NAME = "listclasses"
    DISPLAY_NAME = "List attributes and classes"
    HELP = (
        "An HTML report of what a class can be described with: the model's attributes (by group, with what "
        "each means), the classes it names by itself (seen in training, and held out), and the class library "
        "(known classes of four annotated data sets, with their strongest attributes).\n"
        "Use 'Write classes file' to pick library classes or describe new ones by these attributes."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_model()
        self.add(QgsProcessingParameterFileDestination("OUTPUT", "Report", "HTML files (*.html)"),
                 "Opens in the Processing results viewer.")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.model_args(parameters, context, flag=None)
        info = json.loads("\n".join(run_rsdsva(["info", *model, "--json"], feedback, progress_json=False, quiet=True)))
        library = run_rsdsva(["classes", "list"], feedback, progress_json=False, quiet=True)
        phrases = _phrases(run_rsdsva(["attributes", "vocabulary", "unified"], feedback, progress_json=False,
                                      quiet=True))
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        write_replacing(out, report_html(info, library, phrases))
        return {"OUTPUT": out}


class WriteClassesAlgorithm(RsdsvaAlgorithm):
    NAME = "writeclasses"
    DISPLAY_NAME = "Write classes file"
    HELP = (
        "Writes a classes file for 'Map scene classes' from known classes of the class library and from new "
        "classes described by their present attributes ('List attributes and classes' lists both). Classes the "
        "model already names are left out.\n"
        "New classes: one per line, as name: attribute, attribute; for example\n"
        "marsh: has_water, has_grass, has_vegetation\n"
        "The file is then checked: each class's nearest classes are reported, and a class the model could not "
        "tell from another is warned about."
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterString("LIBRARY", "Library classes (comma-separated; empty: none)",
                                              optional=True), "e.g. wetland, island, lake")
        self.add(QgsProcessingParameterString("DEFINE", "New classes, one per line as name: attribute, attribute",
                                              multiLine=True, optional=True),
                 "e.g. marsh: has_water, has_grass")
        self.add_model()
        self.add(QgsProcessingParameterFileDestination("OUTPUT", "Classes file", "Classes files (*.yaml)"),
                 "A YAML file for 'Map scene classes'.")
        self.addOutput(QgsProcessingOutputString("REPORT", "Check report"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        names = [n.strip() for n in self.parameterAsString(parameters, "LIBRARY", context).split(",") if n.strip()]
        defines = [d.strip() for d in self.parameterAsString(parameters, "DEFINE", context).splitlines() if d.strip()]
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        self.check_replaceable(out, "classes")
        model_args = self.model_args(parameters, context)
        args = ["classes", "pick", *names, "--out", out, "--overwrite", *model_args]
        for d in defines:
            args += ["--define", d]
        run_rsdsva(args, feedback, progress_json=False)
        report = run_rsdsva(["classes", "check", out, *model_args], feedback, progress_json=False)
        return {"OUTPUT": out, "REPORT": "\n".join(report or [])}


def _phrases(lines):
    """attribute -> what it means, from ``rsdsva attributes vocabulary``'s listing."""
    out = {}
    for line in lines or []:
        if line.startswith("  "):
            name, _, meaning = line.strip().partition(" ")
            out[name] = meaning.strip()
    return out


def report_html(info, library, phrases):
    """The report: attributes by group, the model's classes, the class library."""
    classes = info["classes"]
    groups = classes.get("groups", {})
    seen = list(classes["classes"])
    held = list((info.get("provenance", {}).get("unseen_classes") or {}).get("classes", {}))
    esc = html.escape
    rows = "".join(f"<tr><td><code>{esc(a)}</code></td><td>{esc(groups.get(a, ''))}</td>"
                   f"<td>{esc(phrases.get(a, ''))}</td></tr>" for a in classes["attributes"])
    lib_rows = []
    for line in library or []:
        parts = line.split(None, 2)
        if len(parts) < 2:
            continue
        name, sets, strongest = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
        note = "the model's own" if name in seen else "held out (named by default)" if name in held else "new"
        lib_rows.append(f"<tr><td>{esc(name)}</td><td>{esc(note)}</td><td>{esc(sets)}</td><td>{esc(strongest)}</td></tr>")
    return (
        "<html><head><meta charset='utf-8'><title>rsdsva attributes and classes</title></head><body>"
        f"<h2>Attributes ({len(classes['attributes'])})</h2>"
        "<table border='1' cellpadding='3'><tr><th>attribute</th><th>group</th><th>means</th></tr>"
        f"{rows}</table>"
        f"<h2>The model's classes</h2><p>Seen in training ({len(seen)}): {esc(', '.join(seen))}</p>"
        f"<p>Held out, named by default ({len(held)}): {esc(', '.join(held)) or 'none'}</p>"
        f"<h2>Class library ({len(lib_rows)})</h2>"
        "<table border='1' cellpadding='3'><tr><th>class</th><th>for this model</th><th>data sets</th>"
        f"<th>strongest attributes</th></tr>{''.join(lib_rows)}</table></body></html>"
    )

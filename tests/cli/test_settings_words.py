"""Library errors name the setting; the CLI says the flag (#40 item 5)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rsdsva.cli.main import cli
from rsdsva.errors import ConfigError
from rsdsva.mapping.settings import MapSettings
from tests.conftest import ROOT

SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"


def test_python_callers_read_the_settings_name():
    with pytest.raises(ConfigError, match=r"^`tile_size` 0: give a whole number of pixels"):
        MapSettings(tile_size=0)
    with pytest.raises(ConfigError, match=r"^`max_nodata` 2: give a share of a tile from 0 to 1, e.g. `max_nodata` 0.5"):
        MapSettings(max_nodata=2)


@pytest.mark.parametrize("args, said", [
    (["--scale", "5,1"], "Error: --scale 5,1: give MIN,MAX with MIN below MAX, e.g. 0,3000"),
    (["--context", "0.5"], "Error: --context 0.5: each window must be 1 (the tile alone) to 8 times the tile; e.g. "
                           "--context 2,3"),
    (["--precision", "bf16", "--engine", "onnx"], "Error: --precision bf16 runs on torch, not the onnx engine; drop "
                                                  "--precision bf16, or use --engine torch"),
])
def test_the_cli_says_the_flag(args, said, tmp_path):
    result = CliRunner().invoke(cli, ["map", str(SCENE), "--out", str(tmp_path / "x.gpkg"), *args])
    assert result.exit_code == 1 and result.output.strip() == said and "`" not in result.output
    assert not (tmp_path / "x.gpkg").exists()

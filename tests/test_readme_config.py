"""The README's config-file example is valid TOML and a valid run configuration, and its
stochastic `external` codec runs as written (relative script path, from the project root)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from gvcbench.bench.config import config_from_mapping
from gvcbench.datasets.y4m import write_y4m

from .conftest import ROOT, real_clip


def _readme_config() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Config file") :]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


def test_readme_config_example_is_a_valid_configuration():
    cfg = config_from_mapping(tomllib.loads(_readme_config()))
    labels = [c.display for c in cfg.codecs]
    assert labels == ["vvenc-ldb", "vtm-ldb", "mycodec", "noisy"]
    assert cfg.codecs[3].params["stochastic"] is True and cfg.output == "runs/paper"


@pytest.mark.slow
def test_readme_noisy_codec_runs_from_the_project_root(tmp_path):
    data = tmp_path / "clips"
    data.mkdir()
    write_y4m(real_clip(frames=2, size="64x64"), data / "c1.y4m")
    noisy = tomllib.loads(_readme_config())["codec"][3] | {"qps": [30], "seeds": [0, 1]}
    encode = ", ".join(f'"{a}"' for a in noisy["params"]["encode"])
    decode = ", ".join(f'"{a}"' for a in noisy["params"]["decode"])
    config = tmp_path / "noisy.toml"
    config.write_text(
        f'output = "{tmp_path / "out"}"\njobs = 1\nmetrics = ["psnr-y"]\n'
        f'[dataset]\nsource = "{data}"\n[[codec]]\nname = "external"\nlabel = "noisy"\n'
        f"qps = [30]\nseeds = [0, 1]\n[codec.params]\nencode = [{encode}]\ndecode = [{decode}]\n"
        f'version = "noisy 1"\nstochastic = true\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gvcbench", "run", "-c", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"GVCBENCH_OFFLINE": "1"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 run now" in proc.stdout.replace("\n", " ") or "2 jobs" in proc.stdout
    assert (Path(tmp_path / "out") / "results.sqlite").is_file()

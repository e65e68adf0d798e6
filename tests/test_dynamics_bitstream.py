"""Dynamics-Codec entropy coder and bitstream: exact round trips, and parsers that reject
any truncated, oversized or corrupt input with a clear error (hypothesis-generated)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gvcbench.codecs.dynamics import bitstream as B
from gvcbench.codecs.dynamics import waves as W
from gvcbench.codecs.dynamics.entropy import BitstreamError, decode_residuals, encode_residuals

HEADER = B.Header(384, 384, 50, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn-v1-abcdef")


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda positions: st.tuples(
            st.just(positions),
            st.lists(
                st.lists(st.integers(-(1 << 20), 1 << 20) | st.integers(-3, 3), min_size=positions, max_size=positions),
                max_size=10,
            ),
        )
    )
)
def test_entropy_coder_round_trips_any_symbols(case):
    positions, rows = case
    data = encode_residuals(rows, positions)
    assert decode_residuals(data, len(rows), positions) == rows


def test_entropy_coder_adapts_to_skewed_statistics():
    rng = np.random.default_rng(0)
    small = np.rint(rng.laplace(0, 0.3, (49, 40))).astype(int).tolist()
    wide = np.rint(rng.laplace(0, 30, (49, 40))).astype(int).tolist()
    assert len(encode_residuals(small, 40)) * 4 < len(encode_residuals(wide, 40))
    zeros = [[0] * 40 for _ in range(49)]
    assert len(encode_residuals(zeros, 40)) < 1960 / 8 / 4  # well under a quarter bit per zero symbol


def test_bitstream_round_trip_and_header():
    tokens = encode_residuals([[1, -2, 0] * 13 + [5]] * 3, 40)
    data = B.build(HEADER, b"\x00\x01key", tokens)
    parsed = B.parse(data)
    assert parsed.header == HEADER and parsed.keyframe == b"\x00\x01key" and parsed.tokens == tokens


def _wave(inter_frames: int = 49) -> W.Wave:
    coefficients = np.arange(2 * inter_frames).reshape(inter_frames, 2) % 255 - 127
    return W.Wave(0.52, 0.47, 17.25, 0.35, 0.03125, coefficients.astype(np.int8))


def _valid(skip: bool = False, wave: bool = False):
    """A valid stream: version 2, version 3 with a skip map of HEADER's 12 x 12 cells, or
    version 4 with a wave (and a map or none)."""
    still = np.arange(144).reshape(12, 12) % 5 == 0
    return B.build(
        HEADER,
        bytes(range(50)),
        encode_residuals([[3, -1] * 20] * 4, 40),
        B.pack_skip(still) if skip else b"",
        W.pack_wave(_wave()) if wave else b"",
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_parser_rejects_truncated_oversized_and_corrupt_input(data):
    valid = _valid(skip=data.draw(st.booleans()), wave=data.draw(st.booleans()))
    kind = data.draw(st.sampled_from(["truncate", "extend", "flip", "random"]))
    if kind == "truncate":
        blob = valid[: data.draw(st.integers(0, len(valid) - 1))]
    elif kind == "extend":
        blob = valid + data.draw(st.binary(min_size=1, max_size=64))
    elif kind == "flip":
        i = data.draw(st.integers(0, len(valid) - 1))
        blob = valid[:i] + bytes([valid[i] ^ data.draw(st.integers(1, 255))]) + valid[i + 1 :]
    else:
        blob = data.draw(st.binary(max_size=300))
        if data.draw(st.booleans()):
            blob = B.MAGIC + bytes([1]) + blob
    with pytest.raises(BitstreamError):
        parsed = B.parse(blob)
        decode_residuals(parsed.tokens, parsed.header.frames - 1, parsed.header.tokens)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 60), st.integers(1, 64))
def test_token_decoder_never_hangs_or_crashes_on_garbage(blob, count, positions):
    try:
        decode_residuals(blob, count, positions)
    except BitstreamError:
        pass


def _with_valid_crc(header: B.Header, keyframe: bytes, tokens: bytes, interval: int | None = None) -> bytes:
    """A crafted stream sealed with a valid CRC: a version 1 header (no token interval) or,
    with ``interval``, a version 2 header carrying any interval, valid or not."""
    import struct
    import zlib

    head = struct.pack(
        ">HHHIIBBBBbHf16s" + ("B" if interval is not None else ""),
        header.width,
        header.height,
        header.frames,
        header.fps_num,
        header.fps_den,
        header.bit_depth,
        1,
        0,
        0,
        header.keyframe_qp,
        header.tokens,
        header.step,
        header.model_id.encode(),
        *([] if interval is None else [interval]),
    )
    body = (
        B.MAGIC
        + bytes([1 if interval is None else 2])
        + struct.pack(">H", len(head))
        + head
        + struct.pack(">I", len(keyframe))
        + keyframe
        + struct.pack(">I", len(tokens))
        + tokens
    )
    return body + struct.pack(">I", zlib.crc32(body))


def test_parser_refuses_token_counts_the_header_does_not_justify():
    tokens = encode_residuals([[0] * 40] * 3, 40)
    # 65534 inter frames x 4096 tokens from a few bytes of payload: refused before decoding
    huge = B.Header(16384, 16384, 65535, 25, 1, 8, "bt709", "limited", "vvenc", 37, 4096, 0.05, "dyn3-abcdef")
    with pytest.raises(BitstreamError, match="claims 65534 sent inter frames x 4096 tokens"):
        B.parse(_with_valid_crc(huge, b"key", tokens))
    # more tokens per frame than a 16x16 frame's quarter-size flow has values (2 x 4 x 4)
    small = B.Header(16, 16, 4, 25, 1, 8, "bt709", "limited", "vvenc", 37, 33, 0.05, "dyn3-abcdef")
    with pytest.raises(BitstreamError, match="token count 33 per frame for 16x16"):
        B.parse(_with_valid_crc(small, b"key", tokens))
    # the same streams with counts the header justifies parse and decode
    ok = B.Header(16384, 16384, 4, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn3-abcdef")
    parsed = B.parse(_with_valid_crc(ok, b"key", tokens))
    assert decode_residuals(parsed.tokens, 3, 40) == [[0] * 40] * 3
    with pytest.raises(BitstreamError, match="cannot be coded in"):
        decode_residuals(tokens, 10**6, 40)


def test_token_interval_sent_frames_and_header():
    # every k-th inter frame and the last: the decoder interpolates, never extrapolates
    assert B.sent_frames(49, 1) == list(range(1, 50))
    assert B.sent_frames(49, 4) == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 49]
    assert B.sent_frames(48, 4)[-2:] == [44, 48]
    assert B.sent_frames(3, 8) == [3] and B.sent_frames(1, 2) == [1] and B.sent_frames(0, 3) == []
    # version 2 round trip carries the interval; version 1 streams still parse, as interval 1
    tokens = encode_residuals([[1] * 40] * 13, 40)
    header = B.Header(384, 384, 50, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn4-abcdef", 4)
    parsed = B.parse(B.build(header, b"key", tokens))
    assert parsed.header == header and parsed.header.interval == 4
    old = B.parse(_with_valid_crc(header, b"key", encode_residuals([[1] * 40] * 49, 40)))
    assert old.header.interval == 1 and old.header.frames == 50
    for bad in (0, 9, 255):
        with pytest.raises(BitstreamError, match=f"implausible token interval {bad} \\(1 to 8\\)"):
            B.parse(_with_valid_crc(header, b"key", tokens, interval=bad))
    # the count of values the header claims follows the interval: 13 rows here, not 49
    many = B.Header(16384, 16384, 60001, 25, 1, 8, "bt709", "limited", "vvenc", 37, 4096, 0.05, "dyn4-abcdef", 8)
    with pytest.raises(BitstreamError, match="claims 7500 sent inter frames x 4096 tokens"):
        B.parse(B.build(many, b"key", tokens))


def test_a_skip_map_round_trips_in_version_3_and_none_writes_version_2():
    tokens = encode_residuals([[1, -2, 0] * 13 + [5]] * 3, 40)
    plain = B.build(HEADER, b"key", tokens)
    assert plain[4] == 2 and B.parse(plain).skip == b""  # byte for byte what the codec wrote before skip maps
    assert not B.unpack_skip(b"", 384, 384).any() and B.unpack_skip(b"", 384, 384).shape == (12, 12)
    assert B.build(HEADER, b"key", tokens, B.pack_skip(np.zeros((12, 12), bool))) == plain  # nothing still
    still = np.zeros((12, 12), bool)
    still[3:7, 8:] = True
    data = B.build(HEADER, b"key", tokens, B.pack_skip(still))
    parsed = B.parse(data)
    assert data[4] == 3 and len(parsed.skip) == 18 and (parsed.header, parsed.tokens) == (HEADER, tokens)
    assert np.array_equal(B.unpack_skip(parsed.skip, 384, 384), still)
    # frames that are not whole cells: the last row and column are cut cells, still counted
    assert B.skip_grid(400, 48) == (2, 13) and B.skip_grid(32, 32) == (1, 1)


def test_a_skip_map_of_the_wrong_size_or_with_padding_bits_is_refused():
    small = B.Header(80, 48, 4, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn5-abcdef")  # 2 x 3 cells
    tokens = encode_residuals([[0] * 40] * 3, 40)
    ok = B.parse(B.build(small, b"key", tokens, bytes([0b10010000])))
    assert B.unpack_skip(ok.skip, 80, 48).tolist() == [[True, False, False], [True, False, False]]
    with pytest.raises(BitstreamError, match="padding bits are not zero"):
        B.parse(B.build(small, b"key", tokens, bytes([0b10010010])))
    with pytest.raises(BitstreamError, match="a skip map of 2 bytes; a 80x48 frame has 6 cells of 32 px, which take 1"):
        B.parse(B.build(small, b"key", tokens, bytes(2)))


def test_a_wave_round_trips_in_version_4_with_or_without_a_skip_map():
    tokens = encode_residuals([[1, -2, 0] * 13 + [5]] * 3, 40)
    wave = _wave()
    for still in (np.zeros((12, 12), bool), np.eye(12, dtype=bool)):
        data = B.build(HEADER, b"key", tokens, B.pack_skip(still), W.pack_wave(wave))
        parsed = B.parse(data)
        assert data[4] == 4 and (parsed.header, parsed.keyframe, parsed.tokens) == (HEADER, b"key", tokens)
        assert np.array_equal(B.unpack_skip(parsed.skip, 384, 384), still)
        back = W.unpack_wave(parsed.wave, 49)
        assert (back.cx, back.cy, back.k, back.decay, back.scale) == (wave.cx, wave.cy, wave.k, wave.decay, wave.scale)
        assert np.array_equal(back.coefficients, wave.coefficients)
        assert len(parsed.wave) == 20 + 2 * 49  # 0.47 kbps over 50 frames at 25 fps
    # without a wave the stream is what it was: version 3 with a map, version 2 without
    assert B.build(HEADER, b"key", tokens, B.pack_skip(np.eye(12, dtype=bool)))[4] == 3
    assert B.build(HEADER, b"key", tokens)[4] == 2 and W.pack_wave(None) == b"" and W.unpack_wave(b"", 49) is None


@pytest.mark.parametrize(
    "payload, message",
    [
        (W.pack_wave(_wave(48)), "a wave of 116 bytes; with 49 inter frames it takes 118"),
        (W.pack_wave(_wave())[:-1], "a wave of 117 bytes"),
        (W.pack_wave(W.Wave(0.5, 0.5, float("nan"), 0.35, 1.0, np.zeros((49, 2), np.int8))), "implausible wave"),
        (W.pack_wave(W.Wave(0.5, 0.5, 17.0, -1.0, 1.0, np.zeros((49, 2), np.int8))), "decay -1"),
        (W.pack_wave(W.Wave(0.5, 0.5, 17.0, 0.35, 0.0, np.zeros((49, 2), np.int8))), "scale 0"),
        (W.pack_wave(W.Wave(1e9, 0.5, 17.0, 0.35, 1.0, np.zeros((49, 2), np.int8))), "centre 1e\\+09"),
        (W.pack_wave(W.Wave(0.5, 0.5, 17.0, 0.35, 1.0, np.full((49, 2), -128, np.int8))), "coefficient of -128"),
    ],
)
def test_a_wave_of_the_wrong_length_or_with_impossible_parameters_is_refused(payload, message):
    tokens = encode_residuals([[0] * 40] * 49, 40)
    with pytest.raises(BitstreamError, match=message):
        B.parse(B.build(HEADER, b"key", tokens, b"", payload))


def test_a_version_4_stream_without_a_wave_and_a_wave_without_inter_frames_are_refused():
    import struct
    import zlib

    tokens = encode_residuals([[0] * 40] * 49, 40)
    plain = B.build(HEADER, b"key", tokens, B.pack_skip(np.eye(12, dtype=bool)))  # version 3
    body = plain[:4] + bytes([4]) + plain[5:-4] + struct.pack(">I", 0)  # an empty wave section
    with pytest.raises(BitstreamError, match="version 4 bitstream without a wave"):
        B.parse(body + struct.pack(">I", zlib.crc32(body)))
    single = B.Header(384, 384, 1, 25, 1, 8, "bt709", "limited", "vvenc", 37, 40, 0.05, "dyn5-abcdef")
    with pytest.raises(BitstreamError, match="a wave in a clip of one frame"):
        B.parse(B.build(single, b"key", encode_residuals([], 40), b"", W.pack_wave(_wave(0))))

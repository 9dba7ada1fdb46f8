"""Untrusted inputs: broken files at decode time, refused URIs, hostile file names."""
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from media_helpers import read_barcode

from beam_pipelines.media import errors, ffmpeg_bin, keyframes, probe, storage


def test_file_cut_mid_stream_is_a_decode_error(bad_files):
    info = probe.probe(bad_files["cut"])  # the index (moov) is intact and promises 4 s
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    with pytest.raises(errors.DecodeError) as e:
        keyframes.decode_keyframes(bad_files["cut"], 8)
    assert e.value.stage == "decode" and "truncated" in str(e.value)


def test_corrupted_payload_still_decodes_or_fails_typed(media_dir, idx_clip):
    data = bytearray(Path(idx_clip).read_bytes())
    rng = np.random.default_rng(1)
    for pos in rng.integers(len(data) // 3, len(data) - 100, 20):
        data[pos:pos + 8] = rng.integers(0, 256, 8, np.uint8).tobytes()
    path = media_dir / "corrupt.mp4"
    path.write_bytes(bytes(data))
    try:
        kf = keyframes.decode_keyframes(str(path), 8)
    except errors.MediaError as e:
        assert e.stage in ("probe", "decode")
    else:
        assert kf.frames.shape == (8, 48, 64, 3)


@pytest.mark.parametrize("name,error", [
    ("zero", errors.EmptyFile), ("random", errors.NotAVideo), ("audio", errors.NoVideoStream),
    ("image", errors.NotAVideo), ("no_moov", errors.NotAVideo),
    ("missing", errors.VideoNotFound)])
def test_decode_raises_typed_errors(bad_files, name, error):
    with pytest.raises(error):
        keyframes.decode_keyframes(bad_files[name], 4)


@pytest.mark.parametrize("uri", [
    "concat:/etc/hosts|/etc/hosts", "http://127.0.0.1:9/a.mp4", "https://example.com/a.mp4",
    "subfile,,start,0,end,100,,:/etc/hosts", "data:video/mp4;base64,AAAA",
    "pipe:0", "tcp://127.0.0.1:9", "s3://bucket/a.mp4", "crypto:/tmp/a.mp4"])
def test_other_schemes_are_refused_before_ffmpeg_runs(monkeypatch, uri):
    def no_ffmpeg(*args, **kwargs):
        raise AssertionError("ffmpeg must not run for a refused URI")
    monkeypatch.setattr(ffmpeg_bin, "run", no_ffmpeg)
    for fn in (probe.probe, keyframes.decode_keyframes):
        with pytest.raises(errors.UnsupportedUri) as e:
            fn(uri)
        assert e.value.stage == "read"


def test_ffmpeg_protocol_whitelist_blocks_playlists_that_fetch(media_dir):
    # A local HLS playlist that points at a listening local port: ffmpeg must not connect.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        port = server.getsockname()[1]
        m3u8 = media_dir / "evil.m3u8"
        m3u8.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
                        f"http://127.0.0.1:{port}/seg.ts\n#EXT-X-ENDLIST\n")
        with pytest.raises(errors.NotAVideo):
            keyframes.decode_keyframes(str(m3u8), 2)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def test_file_url_is_a_local_path(idx_clip):
    kf = keyframes.decode_keyframes("file://" + idx_clip, 2)
    assert [read_barcode(f) for f in kf.frames] == [10, 30]


@pytest.mark.parametrize("name", [
    "with space.mp4", "quote's \"double\".mp4", "$(touch pwned).mp4", "semi;colon|pipe.mp4",
    "new\nline.mp4", "-starts-with-dash.mp4", "colon:inside.mp4", "ünïcødé 视频.mp4",
    b"latin1-\xe9\xff.mp4", "percent%d%s.mp4", "back\\slash.mp4"])
def test_weird_file_names(idx_clip, copy_as, monkeypatch, name):
    path = copy_as(idx_clip, name)
    want = [10, 30]
    assert [read_barcode(f) for f in keyframes.decode_keyframes(path, 2).frames] == want
    # Relative names too (the dash one must not be read as an option).
    monkeypatch.chdir(os.path.dirname(path))
    rel = os.path.basename(path)
    if storage.scheme(rel):
        rel = "./" + rel  # "colon:inside.mp4" reads as a URI scheme, documented
    assert [read_barcode(f) for f in keyframes.decode_keyframes(rel, 2).frames] == want
    assert not os.path.exists(os.path.join(os.path.dirname(path), "pwned"))


def test_colon_name_without_dot_slash_is_refused(idx_clip, copy_as, monkeypatch):
    path = copy_as(idx_clip, "colon:inside.mp4")
    monkeypatch.chdir(os.path.dirname(path))
    with pytest.raises(errors.UnsupportedUri):
        keyframes.decode_keyframes("colon:inside.mp4", 2)


def test_timeout_raises_decode_timeout(idx_clip):
    with pytest.raises(errors.DecodeTimeout) as e:
        ffmpeg_bin.run(["-f", "lavfi", "-i", "testsrc2=duration=600", "-f", "null", "-"],
                       timeout_s=0.3)
    assert e.value.stage == "decode"


def test_run_refuses_a_shell_string():
    with pytest.raises(TypeError):
        ffmpeg_bin.run("-version", timeout_s=5)


def test_ffmpeg_exe_is_runnable():
    out = ffmpeg_bin.run(["-version"], timeout_s=10, check=True)
    assert out.stdout.startswith(b"ffmpeg version")

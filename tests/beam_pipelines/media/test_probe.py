"""probe(): fields parsed from ffmpeg's stderr of real files, and typed errors."""
import os
from pathlib import Path

import pytest
from media_helpers import ffmpeg

from beam_pipelines.media import errors, keyframes, probe


def test_basic_fields(idx_clip):
    info = probe.probe(idx_clip)
    assert (info.width, info.height) == (64, 48)
    assert info.duration_s == pytest.approx(4.0, abs=0.05)
    assert info.fps == pytest.approx(10.0)
    assert (info.codec, info.pix_fmt, info.bit_depth, info.rotation) == ("h264", "yuv444p", 8, 0)
    assert not info.is_hdr and not info.interlaced


def test_ntsc_rate_webm_vp9(media_dir):
    clip = media_dir / "ntsc.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=80x60:rate=30000/1001:duration=1", "-c:v",
           "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", f"file:{clip}")
    info = probe.probe(str(clip))
    assert info.codec == "vp9" and info.fps == pytest.approx(29.97, abs=0.01)
    assert (info.width, info.height) == (80, 60)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)


def test_hdr_tags(hdr_pq):
    info = probe.probe(hdr_pq)
    assert (info.color_transfer, info.color_primaries, info.color_space) == (
        "smpte2084", "bt2020", "bt2020nc")
    assert info.is_hdr and info.bit_depth == 10 and info.pix_fmt == "yuv420p10le"


def test_attached_picture_is_not_a_video_stream(media_dir):
    mp3 = media_dir / "cover.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-f", "lavfi", "-i",
           "testsrc2=size=32x32", "-frames:v", "1", "-map", "0:a", "-map", "1:v", "-c:v",
           "mjpeg", "-disposition:v", "attached_pic", f"file:{mp3}")
    with pytest.raises(errors.NoVideoStream):
        probe.probe(str(mp3))


def test_duration_not_stated_by_container(media_dir):
    raw = media_dir / "raw.h264"  # Annex B elementary stream: no container duration
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=3", "-c:v", "libx264",
           "-preset", "ultrafast", f"file:{raw}")
    info = probe.probe(str(raw))
    # No timestamps at all: ffmpeg times the 30 frames at its nominal rate.
    assert info.fps > 0 and info.duration_s == pytest.approx(30 / info.fps, rel=0.01)
    kf = keyframes.decode_keyframes(str(raw), 3)
    assert kf.frames.shape == (3, 48, 64, 3) and len({f.tobytes() for f in kf.frames}) == 3


def test_metadata_cannot_inject_fields(media_dir, idx_clip):
    evil = media_dir / "evil.mp4"
    ffmpeg("-i", idx_clip, "-c", "copy", "-metadata",
           "title=x\n  Duration: 09:00:00.00, start: 0\n  Stream #0:5: Video: h265, "
           "yuv420p, 9999x9999, 1 fps", f"file:{evil}")
    info = probe.probe(str(evil))
    assert (info.width, info.height, info.codec) == (64, 48, "h264")
    assert info.duration_s == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize("name,error", [
    ("zero", errors.EmptyFile), ("random", errors.NotAVideo), ("text", errors.NotAVideo),
    ("audio", errors.NoVideoStream), ("image", errors.NotAVideo),
    ("no_moov", errors.NotAVideo), ("missing", errors.VideoNotFound),
    ("directory", errors.Unreadable)])
def test_typed_errors(bad_files, name, error):
    with pytest.raises(error) as e:
        probe.probe(bad_files[name])
    assert e.value.stage == {"zero": "read", "missing": "read", "directory": "read"}.get(
        name, "probe")
    assert str(e.value)


def test_unreadable_file(media_dir, idx_clip):
    path = media_dir / "locked.mp4"
    path.write_bytes(Path(idx_clip).read_bytes())
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):
            # Root (as in this CI container) reads anything: chmod 000 cannot make a file
            # unreadable, so the Unreadable path is only checked for ordinary users.
            assert probe.probe(str(path)).width == 64
            pytest.skip("running as root: permission bits do not stop reads")
        with pytest.raises(errors.Unreadable):
            probe.probe(str(path))
    finally:
        os.chmod(path, 0o644)


def test_parse_header_of_older_ffmpeg_layout():
    # ffmpeg <= 6 printed "displaymatrix" in lower case and "tbr"/"tbn" only.
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '<input>':
  Duration: 00:01:02.50, start: 0.100000, bitrate: 999 kb/s
  Stream #0:0[0x1](eng): Audio: aac (LC), 48000 Hz, stereo, fltp, 128 kb/s (default)
  Stream #0:1[0x2](und): Video: h264 (High 10) (avc1 / 0x31637661), yuv420p10le(tv, bt709), 1920x1080 [SAR 1:1 DAR 16:9], 5000 kb/s, 59.94 tbr, 60k tbn (default)
    Side data:
      displaymatrix: rotation of -90.00 degrees
"""
    info = probe.parse_ffmpeg_header(text)
    assert (info.width, info.height, info.rotation) == (1080, 1920, 90)
    assert info.fps == pytest.approx(59.94) and info.bit_depth == 10
    assert info.duration_s == pytest.approx(62.5) and info.start_s == pytest.approx(0.1)
    assert info.stream_index == 1 and info.color_transfer == "bt709" and not info.is_hdr

"""Session-scoped media for the media tests, all made here with the project's ffmpeg.

The "index clip" shows its own frame number as a barcode (media_helpers). Everything is
tiny (64x48 unless size is the point).
"""
import os
import shutil

import numpy as np
import pytest
from media_helpers import IDX_FRAMES, barcode_frames, encode_rgb, ffmpeg


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def idx_clip(media_dir):
    """4 s, 10 fps, 64x48 lossless H.264 (B-frames, GOP 12) whose frame n shows n."""
    return encode_rgb(media_dir / "idx.mp4", barcode_frames(range(IDX_FRAMES)))


@pytest.fixture(scope="session")
def colour_clip(media_dir):
    """48x32 lossless 4:4:4, 5 frames: red top-left quadrant, blue bottom-right."""
    f = np.full((5, 32, 48, 3), 128, np.uint8)
    f[:, :16, :24] = (255, 0, 0)
    f[:, 16:, 24:] = (0, 0, 255)
    return encode_rgb(media_dir / "colour.mp4", f)


@pytest.fixture(scope="session")
def testsrc_8bit(media_dir):
    path = media_dir / "testsrc_8bit.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=12:duration=1", "-c:v", "libx264",
           "-qp", "0", "-pix_fmt", "yuv444p", f"file:{path}")
    return str(path)


def _x265(path, pix_fmt, params, src="testsrc2=size=96x64:rate=12:duration=1", extra=()):
    ffmpeg("-f", "lavfi", "-i", src, "-c:v", "libx265", "-pix_fmt", pix_fmt,
           "-x265-params", "log-level=error:pools=1:frame-threads=1" + params, *extra,
           f"file:{path}")
    return str(path)


@pytest.fixture(scope="session")
def hevc_10bit_sdr(media_dir):
    return _x265(media_dir / "hevc10.mp4", "yuv420p10le", ":lossless=1")


@pytest.fixture(scope="session")
def hdr_pq(media_dir):
    return _x265(media_dir / "pq.mp4", "yuv420p10le",
                 ":colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc"
                 ":hdr10=1:max-cll=1000,400:master-display="
                 "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)")


@pytest.fixture(scope="session")
def hdr_hlg(media_dir):
    return _x265(media_dir / "hlg.mp4", "yuv420p10le",
                 ":colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc")


@pytest.fixture(scope="session")
def bad_files(media_dir, idx_clip):
    """Name -> path of inputs that must fail with a typed error."""
    d = media_dir / "bad"
    d.mkdir()
    out = {}
    out["zero"] = d / "zero.mp4"
    out["zero"].write_bytes(b"")
    out["random"] = d / "random.mp4"
    out["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8)
                              .tobytes())
    out["text"] = d / "notes.txt"
    out["text"].write_text("this is not a video\n" * 50)
    out["audio"] = d / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac",
           f"file:{out['audio']}")
    out["image"] = d / "still.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1",
           f"file:{out['image']}")
    # moov atom at the end (no faststart), file cut in half: the index is gone.
    plain = d / "plain.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=4", "-c:v", "libx264",
           "-preset", "ultrafast", f"file:{plain}")
    data = plain.read_bytes()
    out["no_moov"] = d / "no_moov.mp4"
    out["no_moov"].write_bytes(data[:len(data) // 2])
    # moov first (faststart), media data cut at 40%: the index promises 4 s.
    fast = d / "fast.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=4", "-c:v", "libx264",
           "-preset", "ultrafast", "-movflags", "+faststart", f"file:{fast}")
    data = fast.read_bytes()
    out["cut"] = d / "cut.mp4"
    out["cut"].write_bytes(data[:int(len(data) * 0.4)])
    out["missing"] = d / "does_not_exist.mp4"
    out["directory"] = d
    return {k: str(v) for k, v in out.items()}


@pytest.fixture(scope="session")
def copy_as(media_dir):
    """copy_as(src, name) -> copy of ``src`` under a fresh directory with that name."""
    counter = iter(range(10 ** 6))

    def _copy(src, name):
        d = os.path.join(os.fsencode(str(media_dir)), b"named_%d" % next(counter))
        os.mkdir(d)
        dst = os.path.join(d, os.fsencode(name) if isinstance(name, str) else name)
        shutil.copyfile(src, dst)
        return os.fsdecode(dst)
    return _copy

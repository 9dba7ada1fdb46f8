"""Session-scoped media for the pipeline tests: a tiny ladder and a bad-input corpus.

All media is made here with ffmpeg (media.samples / media.ffmpeg_bin) and Python:
2 sources x 3 CRFs of 96x64, 1 s clips, and one file per bad input.
"""
import os

import pytest

LADDER_SOURCES = ("testsrc2", "astronaut")
LADDER_CRFS = (18, 34, 50)
CLIP_SIZE = (96, 64)


@pytest.fixture(scope="session")
def ladder_rows(tmp_path_factory):
    """Catalog rows of 2 sources x 3 CRFs (absolute uris)."""
    from beam_pipelines.media import samples

    root = tmp_path_factory.mktemp("ladder")
    rows = []
    for source in LADDER_SOURCES:
        master = samples.make_clip(str(root / f"{source}_master.mkv"), source,
                                   seconds=1.0, size=CLIP_SIZE, fps=12)
        rows += samples.make_ladder(master, str(root / source), list(LADDER_CRFS),
                                    source_id=source, preset="ultrafast")
    return rows


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory, ladder_rows):
    """{name: (catalog row dict, expected stage or None if it must score)}."""
    from beam_pipelines.media import ffmpeg_bin

    d = tmp_path_factory.mktemp("bad")
    good = ladder_rows[0]["uri"]

    zero = d / "zero.mp4"
    zero.write_bytes(b"")
    noise = d / "noise.mp4"
    noise.write_bytes(os.urandom(4096))
    audio = d / "audio_only.m4a"
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-c:a", "aac", "-y", str(audio)],
                   timeout_s=60, check=True)
    truncated = d / "truncated.mp4"  # moov atom at the end, cut off
    with open(good, "rb") as f:
        data = f.read()
    truncated.write_bytes(data[: len(data) // 3] if data.find(b"moov") > len(data) // 3
                          else data[len(data) // 2:])
    spaced = d / "it's a $(touch pwned) -clip.mp4"
    spaced.write_bytes(data)
    cases = {
        "ok_spaces": ({"video_id": "ok_spaces", "uri": str(spaced)}, None),
        "missing_file": ({"video_id": "missing", "uri": str(d / "nope.mp4")}, "read"),
        "zero_byte": ({"video_id": "zero", "uri": str(zero)}, "read"),
        "random_bytes": ({"video_id": "noise", "uri": str(noise)}, "probe"),
        "audio_only": ({"video_id": "audio", "uri": str(audio)}, "probe"),
        "truncated": ({"video_id": "truncated", "uri": str(truncated)}, "probe"),
        "http_uri": ({"video_id": "http", "uri": "http://127.0.0.1:9/x.mp4"}, "read"),
        "duplicate_id": ({"video_id": ladder_rows[0]["video_id"], "uri": good}, "catalog"),
        "empty_id": ({"video_id": "", "uri": good}, "catalog"),
        "missing_uri": ({"video_id": "no_uri", "uri": ""}, "catalog"),
        "bad_crf": ({"video_id": "bad_crf", "uri": good, "crf": "high"}, "catalog"),
    }
    return cases

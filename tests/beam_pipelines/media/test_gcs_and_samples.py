"""gs:// reads through the GCS emulator; transcode; sample clips, ladders and the CLI."""
import csv
import os
from pathlib import Path

import numpy as np
import pytest
from gcs_emulator import gcs_emulator
from media_helpers import read_barcode

from beam_pipelines.media import errors, keyframes, probe, samples, storage, transcode


@pytest.fixture(scope="module")
def gcs():
    with gcs_emulator(buckets=("videos",)) as emu:
        yield emu


def test_gs_uri_decodes_like_the_local_file(gcs, idx_clip):
    uri = gcs.upload("videos", "dir/a clip.mp4", idx_clip)
    kf = keyframes.decode_keyframes(uri, 4)
    local = keyframes.decode_keyframes(idx_clip, 4)
    np.testing.assert_array_equal(kf.frames, local.frames)
    assert [read_barcode(f) for f in kf.frames] == [5, 15, 25, 35]
    assert probe.probe(uri).width == 64


def test_gs_temp_copy_is_removed(gcs, idx_clip):
    uri = gcs.upload("videos", "tmpcheck.mp4", idx_clip)
    with storage.local_copy(uri) as path:
        assert os.path.getsize(path) == os.path.getsize(idx_clip)
        assert path.endswith(".mp4")
    assert not os.path.exists(path)


def test_gs_missing_and_empty_objects(gcs):
    with pytest.raises(errors.VideoNotFound) as e:
        keyframes.decode_keyframes("gs://videos/nope.mp4", 4)
    assert e.value.stage == "read"
    gcs.upload("videos", "empty.mp4", b"")
    with pytest.raises(errors.EmptyFile):
        probe.probe("gs://videos/empty.mp4")


@pytest.mark.parametrize("name", ["take [1].mp4", "dir[x]/a*b.mp4", "star*.mp4", "what?.mp4",
                                  "dir[x]/a*b?c.mp4"])
def test_gs_names_with_glob_characters_are_read_literally(gcs, idx_clip, name):
    # FileSystems.match reads [, * and ? as a pattern; the lookup must be by exact name.
    uri = gcs.upload("videos", name, idx_clip)
    if "?" not in name:
        # The emulator's mediaLink leaves "?" unescaped (real GCS escapes it), so its
        # download URL is cut at the "?": only the lookup is checked for such names.
        with storage.local_copy(uri) as path:
            assert os.path.getsize(path) == os.path.getsize(idx_clip)
        assert probe.probe(uri).width == 64
    assert storage._gcs_metadata(uri).size_in_bytes == os.path.getsize(idx_clip)
    with pytest.raises(errors.VideoNotFound):
        with storage.local_copy(uri.replace(".mp4", "-gone.mp4")):
            pass


def test_local_paths_pass_through(idx_clip):
    with storage.local_copy(idx_clip) as path:
        assert path == os.path.abspath(idx_clip)
    assert os.path.exists(idx_clip)


def test_transcode_crf_ladder_shrinks_and_is_deterministic(media_dir):
    master = samples.make_clip(str(media_dir / "m.mkv"), "coffee", seconds=1, size=(96, 64))
    sizes = []
    for crf in (18, 30, 42):
        dst = str(media_dir / f"coffee_{crf}.mp4")
        transcode.transcode(master, dst, crf, preset="veryfast")
        sizes.append(os.path.getsize(dst))
        info = probe.probe(dst)
        assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 96, 64)
    assert sizes[0] > sizes[1] > sizes[2]
    again = str(media_dir / "coffee_30_again.mp4")
    transcode.transcode(master, again, 30, preset="veryfast")
    assert Path(again).read_bytes() == (media_dir / "coffee_30.mp4").read_bytes()
    with pytest.raises(ValueError):
        transcode.transcode(master, again, 99)
    with pytest.raises(ValueError):
        transcode.transcode(master, again, 20, codec="nonsense")


def test_sources_exist_offline_and_clips_are_deterministic(media_dir):
    # Every generator: an ffmpeg option left at a "random" default (gradients' colours)
    # draws from the clock, not from the filter's seed.
    for name in ("astronaut", "camera", *samples.GENERATOR_SOURCES):
        a = samples.make_clip(str(media_dir / f"s_{name}_a.mkv"), name, seconds=0.5,
                              size=(64, 48), fps=12)
        b = samples.make_clip(str(media_dir / f"s_{name}_b.mkv"), name, seconds=0.5,
                              size=(64, 48), fps=12)
        assert Path(a).read_bytes() == Path(b).read_bytes(), name
        info = probe.probe(a)
        assert (info.width, info.height) == (64, 48) and info.duration_s == pytest.approx(0.5)
    assert set(samples.SOURCES) >= {"astronaut", "coffee", "chelsea", "rocket", "testsrc2"}
    with pytest.raises(ValueError):
        samples.make_clip(str(media_dir / "x.mkv"), "no-such-source")


def test_pan_zoom_moves_and_master_is_lossless(media_dir):
    frames = samples.pan_zoom_frames(samples.load_image("chelsea"), 6, (64, 48), seed=3)
    assert frames.shape == (6, 48, 64, 3)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 5  # it moves
    clip = samples.make_clip(str(media_dir / "chelsea.mkv"), "chelsea", seconds=0.5,
                             size=(64, 48), fps=12)
    decoded = keyframes.decode_keyframes(clip, 6).frames
    ref = samples.pan_zoom_frames(samples.load_image("chelsea"), 6, (64, 48),
                                  seed=samples.IMAGE_SOURCES.index("chelsea"))
    # Lossless 4:2:0: only the RGB<->YUV round trip and chroma subsampling differ.
    assert np.abs(decoded.astype(int) - ref).mean() < 6


def test_make_ladder_rows(media_dir):
    master = samples.make_clip(str(media_dir / "lad.mkv"), "testsrc2", seconds=0.5,
                               size=(64, 48))
    rows = samples.make_ladder(master, str(media_dir / "ladder"), [20, 40], source_id="ts")
    assert [r["video_id"] for r in rows] == ["ts_crf20", "ts_crf40"]
    assert [r["crf"] for r in rows] == [20, 40] and {r["source_id"] for r in rows} == {"ts"}
    for r in rows:
        assert os.path.isabs(r["uri"]) and probe.probe(r["uri"]).codec == "h264"


def test_cli_writes_clips_and_catalog(tmp_path):
    samples.main(["--out", str(tmp_path), "--sources", "rocket,smptehdbars", "--crfs",
                  "20,45", "--seconds", "0.5", "--width", "64", "--height", "48"])
    with open(tmp_path / "catalog.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["video_id"] for r in rows] == ["rocket_crf20", "rocket_crf45",
                                             "smptehdbars_crf20", "smptehdbars_crf45"]
    assert all(os.path.exists(r["uri"]) for r in rows)
    assert list(rows[0]) == ["video_id", "uri", "source_id", "crf"]

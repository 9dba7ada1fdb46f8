"""bitrate_kbps / bitrate_source / ladder_id of the scores table, on real encoded clips."""
import os

import pytest

from beam_pipelines import catalog, dofns, schemas
from beam_pipelines.media import ffmpeg_bin, probe, samples, transcode


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One H.264 master encoded as mp4 (stream bitrate stated), mkv (container only) and a
    raw .h264 elementary stream (no duration, no bitrate: file-size fallback)."""
    root = tmp_path_factory.mktemp("bitrate")
    master = samples.make_clip(str(root / "master.mkv"), "testsrc2", seconds=2.0,
                               size=(160, 120), fps=25)  # raw H.264 is timed at 25 fps
    out = {}
    for ext in ("mp4", "mkv"):
        out[ext] = str(root / f"r.{ext}")
        transcode.transcode(master, out[ext], 28, preset="ultrafast")
    out["h264"] = str(root / "r.h264")
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", "-i", out["mp4"], "-c:v",
                    "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", out["h264"]],
                   timeout_s=60, check=True)
    return out


def _file_kbps(path, duration_s):
    return os.path.getsize(path) * 8 / duration_s / 1000.0


def test_mp4_stream_bitrate_is_the_file_rate_within_10_percent(clips):
    info = probe.probe(clips["mp4"])
    kbps, source = info.bitrate()
    assert source == "stream" and info.stream_bitrate_kbps > 0
    assert info.file_size_bytes == os.path.getsize(clips["mp4"])
    assert kbps == pytest.approx(_file_kbps(clips["mp4"], info.duration_s), rel=0.10)


def test_mkv_falls_back_to_the_container_bitrate(clips):
    info = probe.probe(clips["mkv"])
    kbps, source = info.bitrate()
    assert info.stream_bitrate_kbps == 0 and source == "container"
    assert kbps == pytest.approx(_file_kbps(clips["mkv"], info.duration_s), rel=0.10)


def test_raw_stream_falls_back_to_file_size_over_duration(clips):
    info = probe.probe(clips["h264"])
    kbps, source = info.bitrate()
    assert source == "file_size" and info.duration_s == pytest.approx(2.0, abs=0.2)
    assert kbps == pytest.approx(_file_kbps(clips["h264"], info.duration_s))
    mp4_kbps, _ = probe.probe(clips["mp4"]).bitrate()
    assert kbps == pytest.approx(mp4_kbps, rel=0.10)  # same bits, other wrapping


def test_header_parsing_of_both_bitrates():
    text = ("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '<input>':\n"
            "  Duration: 00:00:10.00, start: 0.000000, bitrate: 27 kb/s\n"
            "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, "
            "progressive), 320x240 [SAR 1:1 DAR 4:3], 10 kb/s, 24 fps, 24 tbr, 12288 tbn\n")
    info = probe.parse_ffmpeg_header(text)
    assert (info.stream_bitrate_kbps, info.container_bitrate_kbps) == (10.0, 27.0)
    na = text.replace("bitrate: 27 kb/s", "bitrate: N/A").replace(", 10 kb/s", "")
    info = probe.parse_ffmpeg_header(na)
    assert (info.stream_bitrate_kbps, info.container_bitrate_kbps) == (0.0, 0.0)
    assert info.bitrate() == (None, None)  # no file size from a header alone


def _decode(entry):
    fn = dofns.DecodeKeyframes(lambda frames: {"n": len(frames)}, 2)
    fn.setup()
    (video_id, value), = list(fn.process(entry))
    return value["meta"]


def test_decoded_meta_carries_bitrate_and_catalog_overrides(clips, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("video_id,uri,source_id,crf,bitrate_kbps,ladder_id\n"
                    f"a,{clips['mp4']},s,28,,\n"
                    f"b,{clips['mkv']},s,28,123.5,x264_slow\n"
                    f"c,{clips['h264']},,,,\n")
    entries = [catalog.normalize_row(raw, str(path))
               for _, raw in catalog.iter_raw_rows(str(path))]
    assert [e["ladder_id"] for e in entries] == ["s", "x264_slow", None]
    metas = [_decode(e) for e in entries]
    assert [m["bitrate_source"] for m in metas] == ["stream", "catalog", "file_size"]
    assert metas[1]["bitrate_kbps"] == 123.5
    assert metas[0]["bitrate_kbps"] == pytest.approx(
        _file_kbps(clips["mp4"], metas[0]["duration_s"]), rel=0.10)
    assert all(m["bitrate_source"] in schemas.BITRATE_SOURCES for m in metas)


@pytest.mark.parametrize("bad", ["0", "-3", "fast", "inf"])
def test_bad_catalog_bitrate_is_a_row_error(bad):
    with pytest.raises(catalog.RowError, match="bitrate_kbps"):
        catalog.normalize_row({"video_id": "v", "uri": "/x.mp4", "bitrate_kbps": bad}, "c.csv")


def test_scores_columns():
    # The one column list both sinks derive from (Parquet and BigQuery).
    names = [f.name for f in schemas.SCORES_SCHEMA]
    assert names == ["video_id", "uri", "source_id", "crf", "ladder_id", "bitrate_kbps",
                     "bitrate_source", "on_hull", "score", "score_alone", "fine_detail",
                     "frame_scores", "frame_times_s",
                     "segment_seconds", "segment_starts_s", "segment_scores",
                     "worst_segment_start_s", "worst_segment_score", "description", "width",
                     "height", "display_height", "duration_s", "fps", "codec",
                     "model_id", "scored_at", "run_id"]
    assert [f["name"] for f in schemas.SCORES_BQ_SCHEMA["fields"]] == names
    bq = {f["name"]: (f["type"], f["mode"]) for f in schemas.SCORES_BQ_SCHEMA["fields"]}
    assert bq["bitrate_kbps"] == ("FLOAT64", "NULLABLE")
    assert bq["bitrate_source"] == bq["ladder_id"] == ("STRING", "NULLABLE")
    assert bq["on_hull"] == ("BOOL", "NULLABLE")
    assert bq["display_height"] == ("INT64", "NULLABLE")
    # Columns added to existing BigQuery tables must be NULLABLE.
    assert bq["score_alone"] == bq["fine_detail"] == ("FLOAT64", "NULLABLE")

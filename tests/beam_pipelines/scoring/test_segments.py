"""Long videos by segment: `score --segment_seconds N` (issue 12 section 4).

Real ffmpeg (a 125 s testsrc2 clip, 96x64 at 4 fps, and a 10 s one), one real
DirectRunner run of the bundled pack's primary path (`plumbing_preset`), Parquet read
back with pyarrow; the join and the DoFn's failure accounting on their own (no ffmpeg).
"""
import glob
import math
import os

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest

from beam_pipelines import dead_letter, dofns, schemas, score, segments
from beam_pipelines.media import errors, ffmpeg_bin, keyframes

K = 8  # cpllm_tiny's num_keyframes
N = 30.0
LONG_S = 125.0  # segments 0, 30, 60, 90 and a 5 s one at 120
SHORT_S = 10.0


def _clip(path, seconds):
    ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=96x64:rate=4", "-t", f"{seconds:g}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "8", "-pix_fmt", "yuv420p", "-y",
                    str(path)], timeout_s=300, check=True)
    return str(path)


def _read(out, name):
    files = sorted(glob.glob(os.path.join(out, f"{name}-*.parquet")))
    return pq.read_table(files).to_pylist() if files else []


@pytest.fixture(scope="module")
def segmented_run(tmp_path_factory, plumbing_preset):
    d = tmp_path_factory.mktemp("segments")
    long_uri, short_uri = _clip(d / "long.mp4", LONG_S), _clip(d / "short.mp4", SHORT_S)
    catalog = d / "catalog.csv"
    catalog.write_text(f"video_id,uri\nlong,{long_uri}\nshort,{short_uri}\n")
    out = str(d / "out")
    summary = score.run(["--catalog", str(catalog), "--output_dir", out,
                         "--segment_seconds", f"{N:g}", "--model", plumbing_preset])
    scores = {r["video_id"]: r for r in _read(out, "scores")}
    return {"summary": summary, "scores": scores, "failures": _read(out, "failures"),
            "catalog": str(catalog), "out": out}


def test_long_video_is_scored_by_segment(segmented_run):
    assert segmented_run["failures"] == []
    assert segmented_run["summary"]["scored"] == 2
    row = segmented_run["scores"]["long"]
    starts = [0.0, 30.0, 60.0, 90.0, 120.0]
    assert row["segment_seconds"] == N
    assert row["segment_starts_s"] == starts
    assert len(row["segment_scores"]) == len(starts)
    # The video's score is the mean of its segment scores; the worst segment is the min.
    assert row["score"] == pytest.approx(math.fsum(row["segment_scores"]) / len(starts),
                                         abs=1e-9)
    worst = int(np.argmin(row["segment_scores"]))
    assert row["worst_segment_score"] == min(row["segment_scores"])
    assert row["worst_segment_start_s"] == starts[worst]
    # K frames per segment, each segment's targets spread over its own span, and each
    # segment score the mean of its K frame scores.
    assert len(row["frame_scores"]) == len(row["frame_times_s"]) == K * len(starts)
    ends = starts[1:] + [LONG_S]
    for j, (a, b) in enumerate(zip(starts, ends)):
        times = row["frame_times_s"][j * K:(j + 1) * K]
        np.testing.assert_allclose(times, a + (np.arange(K) + 0.5) * (b - a) / K,
                                   atol=1e-6)
        frame_scores = row["frame_scores"][j * K:(j + 1) * K]
        assert row["segment_scores"][j] == pytest.approx(np.mean(frame_scores), abs=1e-3)
    assert row["score"] == pytest.approx(np.mean(row["frame_scores"]), abs=1e-3)
    assert row["duration_s"] == pytest.approx(LONG_S, abs=0.5)
    # testsrc2 changes over time: the segments do not all score the same.
    assert len(set(row["segment_scores"])) > 1


def test_short_video_keeps_todays_row(segmented_run):
    row = segmented_run["scores"]["short"]
    for column in ("segment_seconds", "segment_starts_s", "segment_scores",
                   "worst_segment_start_s", "worst_segment_score"):
        assert row[column] is None, column
    assert len(row["frame_scores"]) == K
    assert row["score"] == pytest.approx(np.mean(row["frame_scores"]), rel=1e-6)
    np.testing.assert_allclose(row["frame_times_s"],
                               (np.arange(K) + 0.5) * row["duration_s"] / K, atol=1e-6)


def test_analyst_sql_in_the_docs_runs_on_the_run(segmented_run):
    duckdb = pytest.importorskip("duckdb")
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "PIPELINE.md"),
               encoding="utf-8").read()
    sql = doc.split("DuckDB on the local Parquet")[1].split("```sql")[1].split("```")[0]
    queries = [q for q in sql.split(";") if "segment_scores" in q]
    assert len(queries) == 2
    out = segmented_run["out"] + "/"
    mean_vs_worst = duckdb.sql(queries[0].replace("out/", out)).fetchall()
    row = segmented_run["scores"]["long"]
    assert len(mean_vs_worst) == 1
    assert mean_vs_worst[0][:3] == ("long", 125.0, 5)
    assert mean_vs_worst[0][3:] == pytest.approx(
        (row["score"], row["worst_segment_start_s"], row["worst_segment_score"],
         row["score"] - row["worst_segment_score"]), abs=0.006)
    timeline = duckdb.sql(queries[1].replace("out/", out)).fetchall()
    assert [(v, t) for v, t, _ in timeline] == [("long", t) for t in row["segment_starts_s"]]


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "0.5"])
def test_bad_segment_seconds_refused_at_launch(segmented_run, tmp_path, capsys, value):
    out = tmp_path / "o"
    out.mkdir()
    (out / "scores-00000-of-00001.parquet").write_bytes(b"earlier run")
    argv = ["--catalog", segmented_run["catalog"], "--output_dir", str(out),
            f"--segment_seconds={value}"]
    assert score.main(argv) == 2
    err = capsys.readouterr().err
    assert "--segment_seconds must be a finite number of seconds >= 1" in err, err
    assert sorted(os.listdir(out)) == ["scores-00000-of-00001.parquet"]  # nothing deleted


def test_non_numeric_segment_seconds_and_describe_refused(segmented_run, tmp_path, capsys):
    argv = ["--catalog", segmented_run["catalog"], "--output_dir", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exc:
        score.main(argv + ["--segment_seconds", "a minute"])
    assert exc.value.code == 2
    assert "--segment_seconds" in capsys.readouterr().err
    assert score.main(argv + ["--segment_seconds", "30", "--describe"]) == 2
    assert "use one or the other" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_segment_bounds():
    assert keyframes.segment_bounds(125.0, 30) == [(0, 30), (30, 60), (60, 90), (90, 120),
                                                   (120, 125.0)]
    # A remainder under min(1 s, N / 2) is folded into the last segment.
    assert keyframes.segment_bounds(120.04, 30) == [(0, 30), (30, 60), (60, 90),
                                                    (90, 120.04)]
    assert keyframes.segment_bounds(30.5, 30) == [(0, 30.5)]  # not longer than N
    assert keyframes.segment_bounds(30.0, 30) == [(0, 30.0)]
    assert len(keyframes.segment_bounds(600.0, 60)) == 10
    with pytest.raises(ValueError):
        keyframes.segment_bounds(10.0, 0)


# ------------------------------------------------------------------ join and accounting


def _result(j, score_, start=None, error=None):
    meta = {"uri": "/v.mp4", "frame_times_s": [j * 10.0 + 5.0], "width": 96, "height": 64,
            "duration_s": 30.0, "fps": 4.0, "codec": "h264", "segment_seconds": 10.0,
            "segment": {"index": j, "start_s": j * 10.0 if start is None else start,
                        "end_s": j * 10.0 + 10.0}}
    out = ({"error_type": "ValueError", "message": error} if error
           else {"score": score_, "frame_scores": [score_]})
    return segments.result(meta, out, "cpllm_tiny")


def test_join_row_mean_worst_and_failures():
    plan = {"segments": 3, "starts_s": [0.0, 10.0, 20.0]}
    table, row = segments.join_row("v", plan, [_result(2, 50.0), _result(0, 70.0),
                                               _result(1, 40.0)])
    assert table == "scores"
    assert row["segment_scores"] == [70.0, 40.0, 50.0]  # time order, not arrival order
    assert row["score"] == pytest.approx(160.0 / 3)
    assert (row["worst_segment_start_s"], row["worst_segment_score"]) == (10.0, 40.0)
    assert row["frame_times_s"] == [5.0, 15.0, 25.0]
    table, row = segments.join_row("v", plan, [_result(0, 1.0), _result(1, 2.0, error="bad")])
    assert table == "failures"
    assert (row["stage"], row["error_type"]) == ("inference", "MissingSegments")
    table, row = segments.join_row("v", plan, [_result(0, 1.0), _result(1, 2.0, error="bad"),
                                               _result(2, 3.0)])
    assert (table, row["stage"], row["error_type"]) == ("failures", "inference", "ValueError")
    assert "segment 1 of 3 (start 10 s): bad" in row["message"]
    table, row = segments.join_row("v", plan, [_result(0, 1.0), _result(1, float("nan")),
                                               _result(2, 3.0)])
    assert (table, row["error_type"]) == ("failures", "NonFiniteScore")


class _FakeVideo:
    """SegmentedVideo stand-in: 4 segments of 10 s; decode(fail_at) raises."""

    def __init__(self, fail_at=None):
        self.fail_at = fail_at
        self.bounds = [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def decode(self, j, k):
        if j >= len(self.bounds):
            return None
        if j == self.fail_at:
            raise errors.DecodeError("corrupt segment")
        a, b = self.bounds[j]
        info = type("Info", (), {"width": 4, "height": 4, "duration_s": 40.0, "fps": 4.0,
                                 "codec": "h264", "bitrate": lambda self: (100.0, "stream")})()
        return keyframes.Keyframes(frames=np.zeros((k, 4, 4, 3), np.uint8),
                                   times_s=a + (np.arange(k) + 0.5) * (b - a) / k, info=info)


def _decode_outputs(video):
    fn = dofns.DecodeKeyframes(lambda frames: {"x": frames}, 2, segment_seconds=10.0,
                               segment_opener=lambda *a, **kw: video)
    outs = list(fn.process({"video_id": "v", "uri": "/v.mp4"}))
    tagged = [o for o in outs if isinstance(o, beam.pvalue.TaggedOutput)]
    return [o for o in outs if not isinstance(o, beam.pvalue.TaggedOutput)], tagged


def test_decode_emits_one_element_per_segment_then_the_plan():
    elements, tagged = _decode_outputs(_FakeVideo())
    assert [e[1]["meta"]["segment"]["index"] for e in elements] == [0, 1, 2, 3]
    assert all(e[1]["meta"]["segment_seconds"] == 10.0 for e in elements)
    assert [(t.tag, t.value) for t in tagged] == [
        (segments.PLANS, ("v", {"plan": {"segments": 4, "starts_s": [0.0, 10.0, 20.0, 30.0]}}))]


def test_a_segment_that_fails_to_decode_is_one_failure_row_and_no_scores_row():
    elements, tagged = _decode_outputs(_FakeVideo(fail_at=2))
    assert len(elements) == 2  # segments 0 and 1 were already on their way
    assert [t.tag for t in tagged] == [dead_letter.FAILURES]  # no plan
    assert (tagged[0].value["stage"], tagged[0].value["error_type"]) == ("decode",
                                                                         "DecodeError")
    # Without a plan the join drops the segments already scored: the video is only in
    # the failures table.
    items = [_result(0, 1.0), _result(1, 2.0)]
    assert list(segments._Join().process(("v", items))) == []


def test_bigquery_rows_have_empty_arrays_for_null_segment_columns():
    row = schemas.to_bigquery_row({"video_id": "v", "segment_scores": None,
                                   "segment_starts_s": None, "segment_seconds": None})
    assert row == {"video_id": "v", "segment_scores": [], "segment_starts_s": [],
                   "segment_seconds": None}


def test_report_draws_a_timeline_for_videos_scored_by_segment(tmp_path):
    import datetime

    import pyarrow as pa

    from beam_pipelines import report

    now = datetime.datetime.now(datetime.UTC)
    base = {"uri": "/nowhere.mp4", "width": 96, "height": 64, "fps": 4.0, "codec": "h264",
            "model_id": "cpllm_tiny", "scored_at": now}
    seg = [61.0, 55.5, 63.0, 60.0]
    rows = [
        dict(base, video_id="long", score=float(np.mean(seg)), duration_s=100.0,
             frame_scores=[s for s in seg for _ in range(K)],
             frame_times_s=[j * 30.0 + i for j in range(4) for i in range(K)],
             segment_seconds=30.0, segment_starts_s=[0.0, 30.0, 60.0, 90.0],
             segment_scores=seg, worst_segment_start_s=30.0, worst_segment_score=55.5),
        dict(base, video_id="short", score=70.0, duration_s=10.0, frame_scores=[70.0] * K,
             frame_times_s=[float(i) for i in range(K)]),
    ]
    out = tmp_path / "tables"
    out.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SCORES_SCHEMA),
                   out / "scores-00000-of-00001.parquet")
    page = open(report.build_report(str(out), thumbnails=True), encoding="utf-8").read()
    section = page.split("<h2>Score timeline (long videos)</h2>")[1].split("<h2>")[0]
    assert "report_files/score_timeline.png" in section
    assert (out / "report_files" / "score_timeline.png").stat().st_size > 1000
    assert "<td>long</td>" in section and "<td>short</td>" not in section
    assert "<td class='num'>30.0</td>" in section and "<td class='num'>55.50</td>" in section
    # 32 key frames: no strip is decoded for it (it would be 32 thumbnails wide).
    assert "32 key frames (4 segments): no strip" in page

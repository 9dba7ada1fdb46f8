"""BigQuery re-runs (issue 14 item 13), against the bqemulator (tests/beam_pipelines/scoring/bq_emulator.py).

- FILE_LOADS is the default and each run replaces its tables, also a table the re-run
  leaves empty (Beam starts no load job for an empty PCollection: before the fix the
  earlier run's rows stayed) and a table that was empty from the start (before: never
  created).
- STREAMING_INSERTS appends; the `<table>_latest` views show the newest *completed* run
  (the `runs` table) once per run_id + key: no duplicates after a re-run or a retried
  bundle, nothing of a job that failed.

The rows are written by the pipeline's own sink (`score._write_bigquery`) on the real
(in_memory) runner, without the model.
"""
import datetime

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from bq_emulator import PROJECT, bigquery_emulator, query_rows

from beam_pipelines import bigquery_sink, dead_letter, runner, schemas, score

_DEFAULTS = {"STRING": "x", "INT64": 0, "FLOAT64": 1.0, "BOOL": False}


def _row(name, run_id, **values):
    row = {}
    for f in schemas.TABLES[name][1]["fields"]:
        if f["mode"] == "REPEATED":
            row[f["name"]] = []
        elif f["mode"] == "REQUIRED":
            row[f["name"]] = (datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
                              if f["type"] == "TIMESTAMP" else _DEFAULTS[f["type"]])
        else:
            row[f["name"]] = None
    row.update(values, run_id=run_id)
    return row


def _score(video_id, run_id, score_value=50.0):
    return _row("scores", run_id, video_id=video_id, uri=f"/v/{video_id}.mp4",
                score=score_value, frame_scores=[score_value])


def _failure(video_id, run_id, stage="read"):
    return dict(dead_letter.failure_row(video_id, f"/v/{video_id}.mp4", stage, "VideoNotFound",
                                    "gone"), run_id=run_id)


def _flip(run_id, source_id="s"):
    return _row("flip_rate", run_id, source_id=source_id, level="pair", crf_low=20,
                crf_high=30, rung_diff=1, pairs=1, flips=0, ties=0, flip_rate=0.0)


def _write(tables, argv):
    opts = PipelineOptions(argv)
    with beam.Pipeline(runner=runner.offline_runner(opts), options=opts) as p:
        for name in score.TABLE_NAMES:
            pcoll = p | f"Create_{name}" >> beam.Create(tables.get(name, []))
            score._write_bigquery(pcoll, opts.view_as(score.ScoreOptions), name)


@pytest.fixture(scope="module")
def bq():
    with pytest.MonkeyPatch.context() as mp, bigquery_emulator(mp) as (_, client):
        yield client


def _select(client, dataset, table, order="video_id"):
    return query_rows(client, f"SELECT * FROM `{PROJECT}.{dataset}.{table}` ORDER BY {order}")


def test_file_loads_is_the_default_method():
    opts = PipelineOptions(["--bigquery_dataset", f"{PROJECT}:d"]).view_as(score.ScoreOptions)
    assert opts.bigquery_method == "FILE_LOADS"


def test_file_loads_without_a_temp_location_is_refused_up_front():
    with pytest.raises(score.ConfigError, match="temp_location"):
        _write({}, ["--bigquery_dataset", f"{PROJECT}:d"])


def test_file_loads_rerun_replaces_every_table_even_an_empty_one(bq, tmp_path):
    bq.create_dataset("loads")
    argv = ["--bigquery_dataset", f"{PROJECT}:loads", "--temp_location", str(tmp_path)]
    _write({"scores": [_score("a", "r1"), _score("b", "r1")],
            "failures": [_failure("c", "r1"), _failure("d", "r1")],
            "flip_rate": [_flip("r1")]}, argv)  # no --bigquery_method: the default
    assert [r["video_id"] for r in _select(bq, "loads", "failures")] == ["c", "d"]
    # ladder_summary had no rows: the table exists anyway, empty, with its schema.
    assert _select(bq, "loads", "ladder_summary", order="source_id") == []
    seen = [f.name for f in bq.get_table(f"{PROJECT}.loads.ladder_summary").schema]
    assert seen == [f["name"] for f in schemas.TABLES["ladder_summary"][1]["fields"]]

    # Re-run: every video scores now; failures and flip_rate have no rows.
    _write({"scores": [_score("a", "r2", 60.0), _score("c", "r2")]}, argv)
    assert [(r["video_id"], r["run_id"], r["score"]) for r in _select(bq, "loads", "scores")
            ] == [("a", "r2", 60.0), ("c", "r2", 50.0)]
    assert _select(bq, "loads", "failures") == []  # before the fix: c, d of run r1
    assert _select(bq, "loads", "flip_rate", order="source_id") == []
    seen = [f.name for f in bq.get_table(f"{PROJECT}.loads.failures").schema]
    assert seen == [f["name"] for f in schemas.TABLES["failures"][1]["fields"]]
    # The empty loads' temp files are removed.
    assert not list(tmp_path.glob("cpllm-empty-*"))


def test_streaming_reruns_read_through_latest_views_never_duplicate(bq, tmp_path):
    bq.create_dataset("stream")
    dataset = f"{PROJECT}:stream"
    argv = ["--bigquery_dataset", dataset, "--bigquery_method", "STREAMING_INSERTS"]
    _write({"scores": [_score("a", "r1"), _score("b", "r1")], "failures": [_failure("c", "r1")],
            "flip_rate": [_flip("r1")]}, argv)
    bigquery_sink.record_run(dataset, "r1", "STREAMING_INSERTS", client=bq)
    # Run r2: "a" scored twice (a bundle the runner retried inserts its rows again),
    # "b" fails now, "c" scores; no flip_rate rows at all.
    _write({"scores": [_score("a", "r2", 60.0), _score("a", "r2", 60.0), _score("c", "r2")],
            "failures": [_failure("b", "r2"), _failure("b", "r2")]}, argv)
    bigquery_sink.record_run(dataset, "r2", "STREAMING_INSERTS", client=bq)
    # Run r3 streamed some rows and then failed: never recorded in `runs`.
    _write({"scores": [_score("a", "r3", 1.0)]}, argv)
    bigquery_sink.create_latest_views(
        dataset, {n: schemas.TABLES[n][1] for n in score.TABLE_NAMES}, client=bq)

    # The tables themselves append (this is what the views are for) ...
    assert len(_select(bq, "stream", "scores")) == 6
    # ... the views show run r2, each row once.
    assert [(r["video_id"], r["run_id"], r["score"])
            for r in _select(bq, "stream", "scores_latest")] == [
        ("a", "r2", 60.0), ("c", "r2", 50.0)]
    assert [(r["video_id"], r["run_id"]) for r in _select(bq, "stream", "failures_latest")
            ] == [("b", "r2")]
    assert _select(bq, "stream", "flip_rate_latest", order="source_id") == []
    view_columns = [f.name for f in bq.get_table(f"{PROJECT}.stream.scores_latest").schema]
    assert view_columns == [f["name"] for f in schemas.TABLES["scores"][1]["fields"]]
    # The views read from `runs`, so they follow the next completed run by themselves.
    bigquery_sink.record_run(dataset, "r3", "STREAMING_INSERTS", client=bq)
    assert [(r["video_id"], r["run_id"]) for r in _select(bq, "stream", "scores_latest")
            ] == [("a", "r3")]
    assert [r["run_id"] for r in _select(bq, "stream", "runs", order="run_id")] == [
        "r1", "r2", "r3"]


def test_latest_sql_dedupes_on_run_id_and_each_tables_key():
    sql = bigquery_sink.latest_sql(f"{PROJECT}:d", "scores")
    assert "PARTITION BY t.run_id, t.video_id ORDER BY t.scored_at DESC" in sql
    assert f"(SELECT MAX(run_id) FROM `{PROJECT}.d.runs`)" in sql
    assert set(bigquery_sink.DEDUPE_KEYS) == set(score.TABLE_NAMES)
    for name in score.TABLE_NAMES:
        columns = {f["name"] for f in schemas.TABLES[name][1]["fields"]}
        for key in bigquery_sink.DEDUPE_KEYS[name]:
            assert key.replace("CAST(", "").split(" ")[0] in columns, (name, key)

"""gs:// in and out (gcp-storage-emulator) and the BigQuery write path (bqemulator).

One pipeline run reads a gs:// catalog of gs:// videos, writes the Parquet tables to
gs:// and streams the same rows into BigQuery; FILE_LOADS is then checked on the rows the
run wrote. Both emulators run in this process (see tests/gcs_emulator.py,
tests/beam_pipelines/scoring/bq_emulator.py and docs/PIPELINE.md for what they do
differently from the real services).
"""
import csv
import io
import math
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from bq_emulator import PROJECT, bigquery_emulator, query_rows
from gcs_emulator import gcs_emulator

from beam_pipelines import runner, schemas, score, tables

BUCKET = "cpllm-videos"


@pytest.fixture(scope="module")
def cloud_run(ladder_rows, tmp_path_factory, plumbing_preset):
    tmp = tmp_path_factory.mktemp("bq")
    with pytest.MonkeyPatch.context() as mp, gcs_emulator(buckets=(BUCKET,)) as gcs, \
            bigquery_emulator(mp) as (_, client):
        client.create_dataset("quality")
        rows = []
        for r in ladder_rows[:2]:
            uri = gcs.upload(BUCKET, f"videos/{os.path.basename(r['uri'])}", r["uri"])
            rows.append({"video_id": r["video_id"], "uri": uri, "source_id": r["source_id"],
                         "crf": r["crf"]})
        rows.append({"video_id": "gone", "uri": f"gs://{BUCKET}/videos/gone.mp4"})
        rows.append({"video_id": "relative", "uri": "videos/" + os.path.basename(
            ladder_rows[2]["uri"])})
        gcs.upload(BUCKET, rows[-1]["uri"], ladder_rows[2]["uri"])
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["video_id", "uri", "source_id", "crf"])
        writer.writeheader()
        writer.writerows(rows)
        catalog = gcs.upload(BUCKET, "catalog.csv", buf.getvalue().encode())
        out = f"gs://{BUCKET}/tables"
        summary = score.run([
            "--catalog", catalog, "--output_dir", out,
            "--bigquery_dataset", f"{PROJECT}:quality", "--bigquery_method",
            "STREAMING_INSERTS", "--temp_location", str(tmp), "--model", plumbing_preset])
        written = {name: tables.read_table(out, name) for name in score.TABLE_NAMES}
        objects = sorted(b.name for b in gcs.client().list_blobs(BUCKET, prefix="tables/"))
        bq_streamed = {name: query_rows(client, f"SELECT * FROM `{PROJECT}.quality.{name}`")
                       for name in score.TABLE_NAMES}

        # FILE_LOADS on the rows the run wrote, into a second dataset; twice, to show
        # that WRITE_TRUNCATE makes a re-run replace rather than append.
        client.create_dataset("quality_loads")
        loads_opts = PipelineOptions(["--temp_location", str(tmp), "--bigquery_dataset",
                                      f"{PROJECT}:quality_loads", "--bigquery_method",
                                      "FILE_LOADS", "--bigquery_temp_location", str(tmp)])
        for _ in range(2):
            with beam.Pipeline(runner=runner.offline_runner(loads_opts),
                               options=loads_opts) as p:
                for name, table_rows in written.items():
                    pcoll = p | f"Create_{name}" >> beam.Create(table_rows)
                    score._write_bigquery(pcoll, loads_opts.view_as(score.ScoreOptions), name)
        bq_loaded = {name: query_rows(client, f"SELECT * FROM `{PROJECT}.quality_loads.{name}`")
                     for name in score.TABLE_NAMES}
        schemas_seen = {name: [(f.name, f.field_type, f.mode) for f in
                               client.get_table(f"{PROJECT}.quality.{name}").schema]
                        for name in score.TABLE_NAMES}
    return {"summary": summary, "tables": written, "objects": objects,
            "bq_streamed": bq_streamed, "bq_loaded": bq_loaded, "schemas": schemas_seen,
            "ladder": ladder_rows}


def test_gs_catalog_and_videos_scored_and_tables_written_to_gs(cloud_run):
    tables = cloud_run["tables"]
    ladder = cloud_run["ladder"]
    assert sorted(r["video_id"] for r in tables["scores"]) == sorted(
        [ladder[0]["video_id"], ladder[1]["video_id"], "relative"])
    rel = next(r for r in tables["scores"] if r["video_id"] == "relative")
    assert rel["uri"] == f"gs://{BUCKET}/videos/" + os.path.basename(ladder[2]["uri"])
    assert all(math.isfinite(r["score"]) for r in tables["scores"])
    (gone,) = tables["failures"]
    assert (gone["video_id"], gone["stage"], gone["error_type"]) == (
        "gone", "read", "VideoNotFound")
    assert cloud_run["summary"]["scored"] == 3 and cloud_run["summary"]["failed"] == 1
    # Only finalized shards in the bucket: no temp objects left behind.
    assert cloud_run["objects"] and all(
        o.startswith(tuple(f"tables/{n}-" for n in score.TABLE_NAMES))
        and o.endswith(".parquet") for o in cloud_run["objects"])


def _comparable(rows, name):
    key = {"scores": "video_id", "failures": "video_id"}.get(name)
    out = []
    for r in rows:
        r = dict(r)
        if "scored_at" in r:  # BigQuery returns datetimes; compare to the microsecond
            r["scored_at"] = r["scored_at"].isoformat()
        for column in ("segment_starts_s", "segment_scores"):
            if column in r and r[column] is None:  # BigQuery has no null arrays: []
                r[column] = []
        out.append(r)
    return sorted(out, key=lambda r: str(r[key]) if key else str(sorted(r.items())))


@pytest.mark.parametrize("method", ["bq_streamed", "bq_loaded"])
def test_bigquery_tables_hold_the_same_rows_as_parquet(cloud_run, method):
    for name in score.TABLE_NAMES:
        assert _comparable(cloud_run[method][name], name) == _comparable(
            cloud_run["tables"][name], name), (method, name)


def test_bigquery_tables_have_the_explicit_schemas(cloud_run):
    for name, (_, bq_schema) in schemas.TABLES.items():
        expected = [(f["name"], f["type"], f["mode"]) for f in bq_schema["fields"]]
        seen = [(n, {"FLOAT": "FLOAT64", "INTEGER": "INT64", "BOOLEAN": "BOOL"}.get(t, t), m)
                for n, t, m in cloud_run["schemas"][name]]
        assert seen == expected, name

"""Issue 7: a worker process that dies mid-bundle (DirectRunner multi_processing).

Beam's local FnApiRunner does not retry a bundle whose worker died (Dataflow does), so
what it can show is that nothing is lost *silently*: the run fails at once with an
error, the table sink has not finalized (no shard appears, only Beam's temp dir), and a
re-run into the same directory - which the scoring launcher starts by clearing stale
shards and temp dirs - writes every row exactly once. Uses the scoring pipeline's own
Parquet sink (`score._write_parquet`) and launcher cleanup (`clear_previous_outputs`).
"""
import os
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from reliability_helpers import DieOnce

from beam_pipelines import dead_letter, runner, score, tables

HERE = os.path.dirname(os.path.abspath(__file__))
N = 8


def _run(out, flag):
    opts = PipelineOptions(["--direct_running_mode=multi_processing",
                            "--direct_num_workers=2"])
    with beam.Pipeline(runner=runner.offline_runner(opts), options=opts) as p:
        rows = (p | beam.Create(range(N)) | beam.Reshuffle()
                | "MayDie" >> beam.Map(DieOnce(flag, victim=3))
                | beam.Map(lambda i: dead_letter.failure_row(f"v{i}", f"/v{i}.mp4", "decode",
                                                         "DecodeError", "test row", 1)))
        score._write_parquet(rows, str(out), "failures")


# Beam's gRPC threads report the lost worker as unhandled thread exceptions.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dead_worker_fails_the_run_and_a_rerun_is_complete(tmp_path, monkeypatch):
    # Worker processes import DieOnce by name: put this directory on their path.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (HERE, os.environ.get("PYTHONPATH")) if p))
    out, flag = tmp_path / "out", tmp_path / "died"
    start = time.monotonic()
    with pytest.raises(Exception, match="(?i)closed|worker|died|terminated"):
        _run(out, flag)
    assert flag.exists()  # a worker really exited mid-bundle
    assert time.monotonic() - start < 120
    assert [f for f in os.listdir(out) if f.endswith(".parquet")] == []  # nothing half-done
    score.clear_previous_outputs(str(out))
    _run(out, flag)
    ids = sorted(r["video_id"] for r in tables.read_table(str(out), "failures"))
    assert ids == sorted(f"v{i}" for i in range(N))
    assert os.listdir(out) and all(f.startswith("failures-") for f in os.listdir(out))

"""Evaluation and report read a scoring run's tables from gs:// (local GCS emulator)."""
import glob
import os
from pathlib import Path

import pytest
from gcs_emulator import gcs_emulator

from beam_pipelines import report
from trainer import evaluate


def test_evaluate_and_report_read_tables_from_gcs(pipeline_output, tmp_path):
    local = evaluate.read_scores(pipeline_output)
    with gcs_emulator(buckets=("eval-runs",)) as gcs:
        for path in glob.glob(os.path.join(pipeline_output, "*.parquet")):
            gcs.upload("eval-runs", f"run1/{os.path.basename(path)}", path)
        remote = evaluate.read_scores("gs://eval-runs/run1")
        one = evaluate.read_scores("gs://eval-runs/run1/" + os.path.basename(
            glob.glob(os.path.join(pipeline_output, "scores-*.parquet"))[0]))
        path = report.build_report("gs://eval-runs/run1", str(tmp_path), max_videos=2)
        with pytest.raises(ValueError, match="--report_dir"):
            report.build_report("gs://eval-runs/run1")
    key = lambda rows: sorted((r["video_id"], r["score"]) for r in rows)
    assert key(remote) == key(one) == key(local) and len(local) == 6
    page = Path(path).read_text(encoding="utf-8")
    assert "videos scored</td><td>6<" in page and "gone.mp4" in page
    assert page.count("report_files/frames_") == 2

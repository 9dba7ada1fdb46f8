"""`make demo`'s job on a small catalog: media → scores/failures/flip-rate Parquet → report."""
import glob
import os

import pyarrow.parquet as pq

from beam_pipelines import demo


def test_demo_writes_tables_and_report(tmp_path):
    out = tmp_path / "demo"
    assert demo.main(["--output_dir", str(out), "--sources", "testsrc,coffee",
                      "--crfs", "23,43", "--seconds", "1", "--width", "96",
                      "--height", "64"]) == 0
    tables = out / "tables"
    scores = pq.read_table(glob.glob(str(tables / "scores-*.parquet"))).to_pylist()
    failures = pq.read_table(glob.glob(str(tables / "failures-*.parquet"))).to_pylist()
    flips = pq.read_table(glob.glob(str(tables / "flip_rate-*.parquet"))).to_pylist()
    assert len(scores) == 4 and failures == []
    assert {(r["source_id"], r["crf"]) for r in scores} == {
        ("testsrc", 23), ("testsrc", 43), ("coffee", 23), ("coffee", 43)}
    assert sum(r["pairs"] for r in flips if r["source_id"] == "*" and r["level"] == "pair") == 2
    assert os.path.getsize(tables / "report.html") > 0

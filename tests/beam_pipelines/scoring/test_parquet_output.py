"""The scoring tables on disk: snappy-compressed Parquet; every table but scores in one
shard, also with two worker processes (issue 14 item 17). Read back with pyarrow."""
import csv
import glob
import os
import re

import pyarrow.parquet as pq

from beam_pipelines import score, tables


def test_tables_are_snappy_and_small_tables_have_one_shard(tmp_path, ladder_rows):
    rows = list(ladder_rows[:3]) + [
        {"video_id": "gone", "uri": str(tmp_path / "gone.mp4")},
        {"video_id": "", "uri": "x.mp4"},
    ]
    cat = tmp_path / "c.csv"
    with open(cat, "w", newline="") as f:
        w = csv.DictWriter(f, ["video_id", "uri", "source_id", "crf"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    summary = score.run(["--catalog", str(cat), "--output_dir", str(out),
                         "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert summary["scored"] == 3 and summary["failed"] == 2

    files = sorted(glob.glob(str(out / "*.parquet")))
    shard_sets = {}
    for path in files:
        m = re.fullmatch(r"(\w+)-(\d{5})-of-(\d{5})\.parquet", os.path.basename(path))
        assert m, path
        shard_sets.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3))))
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                assert meta.row_group(g).column(c).compression == "SNAPPY", (path, c)
    assert set(score.TABLE_NAMES) <= set(shard_sets)
    for name, shards in shard_sets.items():
        if name != "scores":
            assert shards == [(0, 1)], (name, shards)
    assert len(tables.read_table(str(out), "failures")) == 2
    assert len(tables.read_table(str(out), "scores")) == 3
    assert len(tables.read_table(str(out), "flip_rate")) > 0  # 3 rungs of one source

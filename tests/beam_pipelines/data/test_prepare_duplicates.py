"""prepare with repeated video_ids: the kept row (the first valid one in file order, as in
score) brings its own extra columns; the other rows are catalog failure rows
(issue 14 item 5). Before the fix the extras came from whichever row CoGroupByKey listed
first, here a malformed row that ReadCatalog had refused."""
import csv
import glob
import json
import os

import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from beam_pipelines import records

FIELDS = ["video_id", "uri", "source_id", "crf", "mos", "vmaf", "blockiness"]


def test_duplicate_ids_take_the_extras_of_the_kept_row(masters, tmp_path):
    from beam_pipelines import prepare

    rows = [
        # Malformed (crf is not an integer): a MalformedRow, never the kept entry.
        {"video_id": "a", "uri": masters["mandelbrot"], "source_id": "a", "crf": "high",
         "mos": "10", "vmaf": "11", "blockiness": "1.5"},
        # The first valid row of "a": the one kept, with its own vmaf and blockiness.
        {"video_id": "a", "uri": masters["testsrc2"], "source_id": "a", "crf": "",
         "mos": "70", "vmaf": "22", "blockiness": "2.5"},
        # A later duplicate: DuplicateVideoId.
        {"video_id": "a", "uri": masters["mandelbrot"], "source_id": "a", "crf": "",
         "mos": "30", "vmaf": "33", "blockiness": "3.5"},
        {"video_id": "b", "uri": masters["mandelbrot"], "source_id": "b", "crf": "",
         "mos": "40", "vmaf": "44", "blockiness": "4.5"},
    ]
    cat = tmp_path / "c.csv"
    with open(cat, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    prepare.run([f"--catalog={cat}", f"--output_dir={out}", "--describer=none",
                 "--num_shards=1"])

    spec = records.RecordSpec.from_manifest(str(out / "manifest.json"))
    parse = records.make_parse_fn(spec)
    files = sorted(glob.glob(str(out / "train" / "*.tfrecord")))
    seen = {}
    for raw in tf.data.TFRecordDataset(files):
        _, t = parse(raw)
        seen[t["video_id"].numpy().decode()] = (float(t["vmaf"].numpy()),
                                                float(t["label"].numpy()))
    assert sorted(seen) == ["a", "b"]
    assert seen["a"] == (pytest.approx(22.0), pytest.approx(70.0))  # one row: uri, mos, vmaf
    assert seen["b"] == (pytest.approx(44.0), pytest.approx(40.0))

    # One snappy shard: the failures table is small (issue 14 item 17).
    assert sorted(os.listdir(out / "failures")) == ["failures-00000-of-00001.parquet"]
    path = str(out / "failures" / "failures-00000-of-00001.parquet")
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "SNAPPY"
    failures = pq.read_table(path).to_pylist()
    assert sorted((r["video_id"], r["stage"], r["error_type"]) for r in failures) == [
        ("a", "catalog", "DuplicateVideoId"), ("a", "catalog", "MalformedRow")]
    with open(out / "manifest.json") as f:
        m = json.load(f)
    assert m["examples"] == 2 and m["failures"] == 2


def test_merge_refuses_more_than_one_extras_row():
    from beam_pipelines import prepare

    entry = {"video_id": "a", "uri": "/x.mp4", "source_id": "a", "crf": None, "mos": None}
    (row,) = prepare._merge(("a", {"entries": [entry], "extras": [{"vmaf": "5"}]}))
    assert row["vmaf"] == 5.0
    with pytest.raises(ValueError, match="extras rows"):
        list(prepare._merge(("a", {"entries": [entry],
                                   "extras": [{"vmaf": "5"}, {"vmaf": "6"}]})))

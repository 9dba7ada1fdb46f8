"""prepare --num_shards N stages the records in files and groups only where they lie:
a grouped shard of large records was silently cut short on DirectRunner's
multi_threading workers (1353 of 1872 examples written, the manifest counting all).
The shard files come out as before, the staging directory goes, and the CLI checks
the files against the manifest (`verify`), which counts records from their headers."""
import csv
import io
import json
import os
import pickle
import random

import apache_beam as beam
import pytest
from apache_beam.io.tfrecordio import _TFRecordUtil
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from gcs_emulator import gcs_emulator

from beam_pipelines import prepare

THREADS = ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]


def _examples(n, size=100_000, seed=0):
    """`n` example dicts as EncodeExample yields them (data: `size` random bytes), in a
    shuffled video_id order, over n // 2 sources."""
    rng = random.Random(seed)
    exs = [{"split": "train", "source_id": f"s{i // 2}", "video_id": f"s{i // 2}__crf{i}",
            "is_original": False, "data": rng.randbytes(size + i)} for i in range(n)]
    rng.shuffle(exs)
    return exs


def _shard_bytes(exs, shard, num_shards):
    """What a shard file holds: the shard's records in video_id order, TFRecord-framed."""
    f = io.BytesIO()
    for ex in sorted(exs, key=lambda ex: ex["video_id"]):
        if prepare.shard_of(ex["source_id"], num_shards) == shard:
            _TFRecordUtil.write_record(f, ex["data"])
    return f.getvalue()


def _stage(stage, bundles):
    """Runs the StageRecords DoFn over `bundles` (lists of examples) as a runner would."""
    out = []
    for bundle in bundles:
        stage.start_bundle()
        out += [kv for ex in bundle for kv in stage.process(ex)]
        stage.finish_bundle()
    return out


def _write(tmp_path, split, records, name="data-00000-of-00001.tfrecord"):
    (tmp_path / split).mkdir(parents=True, exist_ok=True)
    with open(tmp_path / split / name, "wb") as f:
        for r in records:
            _TFRecordUtil.write_record(f, r)


def _manifest(tmp_path, train, holdout):
    (tmp_path / "manifest.json").write_text(json.dumps({"splits": {
        "train": {"examples": train}, "holdout": {"examples": holdout}}}))


def test_staged_records_make_the_shards_the_records_make(tmp_path):
    exs = _examples(9)
    staging = str(tmp_path / "_staging" / "run" / "train")
    staged = _stage(prepare.StageRecords(staging, 3), [exs[:5], exs[5:]])
    assert len(os.listdir(staging)) == 2  # one file a bundle
    for (shard, (video_id, path, offset)), ex in zip(staged, exs):
        assert shard == prepare.shard_of(ex["source_id"], 3) and video_id == ex["video_id"]
        assert path.startswith(staging) and isinstance(offset, int)
    by_shard = {s: [kv[1] for kv in staged if kv[0] == s] + [None] for s in range(3)}
    prefix = str(tmp_path / "train" / "data")
    write = prepare.WriteShard(prefix, 3)
    for shard, items in by_shard.items():
        (path,) = write.process((shard, items))
        assert path == f"{prefix}-{shard:05d}-of-00003.tfrecord"
        with open(path, "rb") as f:
            assert f.read() == _shard_bytes(exs, shard, 3), shard
    assert sorted(os.listdir(tmp_path / "train")) == [
        f"data-{i:05d}-of-00003.tfrecord" for i in range(3)]  # no temp file left


def test_the_grouping_by_shard_moves_small_tuples_not_records(tmp_path):
    """The prepare steps from StageRecords to WriteShard on Beam's multi_threading
    workers: every grouped value is a (video_id, file, offset) tuple under 1 kB, whatever
    the record's size, and the shards hold every record."""
    exs, n = _examples(24, size=200_000), 4
    staging, prefix = str(tmp_path / "_staging" / "run"), str(tmp_path / "train" / "data")
    with beam.Pipeline(options=PipelineOptions(THREADS)) as p:
        grouped = (
            (p | "Examples" >> beam.Create(exs)
               | "StageRecords" >> beam.ParDo(prepare.StageRecords(staging, n)),
             p | "EveryShard" >> beam.Create([(i, None) for i in range(n)]))
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
        )
        sizes = grouped | "LargestValue" >> beam.FlatMap(
            lambda kv: [len(pickle.dumps(v)) for v in kv[1]])
        assert_that(sizes | "Over1000Bytes" >> beam.Filter(lambda size: size > 1000),
                    equal_to([]), label="SmallValues")
        assert_that(sizes | "Count" >> beam.combiners.Count.Globally(),
                    equal_to([len(exs) + n]), label="EveryValue")
        _ = grouped | "Write" >> beam.ParDo(prepare.WriteShard(prefix, n))
    for shard in range(n):
        with open(f"{prefix}-{shard:05d}-of-{n:05d}.tfrecord", "rb") as f:
            assert f.read() == _shard_bytes(exs, shard, n), shard


def test_cli_run_removes_the_staging_directory_and_verifies(masters, tmp_path):
    cat = tmp_path / "c.csv"
    with open(cat, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "uri", "source_id", "mos"])
        for i in range(3):
            w.writerow([f"t{i}", masters["testsrc2"], f"t{i % 2}", 50 + i])
            w.writerow([f"m{i}", masters["mandelbrot"], "m", 40 + i])
    out = tmp_path / "out"
    (out / "_staging" / "failed-run").mkdir(parents=True)  # what a failed run leaves
    (out / "_staging" / "failed-run" / "x.tfrecord").write_bytes(b"partial")
    prepare.main([f"--catalog={cat}", f"--output_dir={out}", "--describer=none",
                  "--holdout_sources=m", "--num_shards=3", "--max_patches=4", *THREADS])
    assert sorted(os.listdir(out)) == ["failures", "holdout", "manifest.json", "train"]
    assert prepare.verify(str(out)) == {"train": 3, "holdout": 3}
    assert len(os.listdir(out / "train")) == len(os.listdir(out / "holdout")) == 3


def test_cli_fails_when_the_files_lack_counted_examples(monkeypatch, tmp_path):
    def lossy_run(argv):  # a run that counts 3 examples and writes 2
        _write(tmp_path, "train", [b"a", b"b"])
        _write(tmp_path, "holdout", [])
        _manifest(tmp_path, 3, 0)

    monkeypatch.setattr(prepare, "run", lossy_run)
    with pytest.raises(RuntimeError, match="train: 2 records in the files, 3 counted"):
        prepare.main(["--catalog=c.csv", f"--output_dir={tmp_path}", "--num_shards=1"])


def test_count_records_reads_the_headers(tmp_path):
    import tensorflow as tf

    _write(tmp_path, "train", [os.urandom(n) for n in (0, 1, 70_000, 12, 3)])
    _write(tmp_path, "train", [b"x" * 100] * 4, name="data-00001-of-00002.tfrecord")
    _write(tmp_path, "train", [b"not done"], name="data-00002-of-00003.tfrecord.tmp-1234")
    _write(tmp_path, "holdout", [])
    assert prepare.count_records(str(tmp_path)) == {"train": 9, "holdout": 0}
    files = [str(tmp_path / "train" / f"data-0000{i}-of-0000{i + 1}.tfrecord")
             for i in range(2)]
    assert sum(1 for _ in tf.data.TFRecordDataset(files)) == 9
    with open(files[1], "r+b") as f:
        f.truncate(os.path.getsize(files[1]) - 1)
    with pytest.raises(ValueError, match="cut short"):
        prepare.count_records(str(tmp_path))
    with open(files[1], "wb") as f:
        f.write(b"garbage, not a TFRecord file")
    with pytest.raises(ValueError, match="no valid TFRecord header at byte 0"):
        prepare.count_records(str(tmp_path))


def test_verify_says_what_is_missing_and_what_to_do(tmp_path):
    _write(tmp_path, "train", [b"a", b"b", b"c"])
    _write(tmp_path, "holdout", [b"d"])
    _manifest(tmp_path, 3, 1)
    assert prepare.verify(str(tmp_path)) == {"train": 3, "holdout": 1}
    _manifest(tmp_path, 3, 2)
    with pytest.raises(RuntimeError) as e:
        prepare.verify(str(tmp_path))
    message = str(e.value)
    assert "holdout: 1 records in the files, 2 counted" in message and "train:" not in message
    assert "Do not train on" in message and "run prepare again" in message
    with open(tmp_path / "holdout" / "data-00000-of-00001.tfrecord", "ab") as f:
        f.write(b"\0" * 5)
    with pytest.raises(RuntimeError, match="damaged TFRecord file.*run prepare again"):
        prepare.verify(str(tmp_path))


def test_staging_counting_and_cleanup_on_gcs(tmp_path):
    exs = _examples(5, size=20_000)
    with gcs_emulator(buckets=("data",)):
        out = "gs://data/out"
        staged = _stage(prepare.StageRecords(f"{out}/_staging/run/train", 2),
                        [exs[:3], exs[3:]])
        write = prepare.WriteShard(f"{out}/train/data", 2)
        from apache_beam.io.filesystems import FileSystems

        for shard in range(2):
            (path,) = write.process((shard, [kv[1] for kv in staged if kv[0] == shard]))
            with FileSystems.open(path) as f:
                assert f.read() == _shard_bytes(exs, shard, 2)
        with FileSystems.create(f"{out}/manifest.json") as f:
            f.write(json.dumps({"splits": {"train": {"examples": 5},
                                           "holdout": {"examples": 0}}}).encode())
        assert prepare.verify(out) == {"train": 5, "holdout": 0}
        prepare.remove_staging(out)
        assert not FileSystems.match([f"{out}/_staging/**"])[0].metadata_list
        assert len(FileSystems.match([f"{out}/train/*"])[0].metadata_list) == 2

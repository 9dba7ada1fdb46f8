"""The streaming reader on real TFRecords: the index, random-access reads (local and on a
GCS emulator), and batches bit for bit those of the in-memory reader."""
import glob
import os
import shutil

import numpy as np
import pytest

from beam_pipelines import records
from gcs_emulator import gcs_emulator
from trainer import input_pipeline, record_stream

SEQ = 96


@pytest.fixture(scope="module")
def spec(tiny_data):
    return records.RecordSpec.from_manifest(os.path.join(tiny_data, "manifest.json"))


def _text_fns(tiny_model):
    pre = tiny_model.preprocessor
    prompt_ids = pre.describe_prompt_ids()
    return (lambda d: pre.tokenize_description(d, SEQ),
            lambda ids: pre.training_text_from_ids(prompt_ids, ids, SEQ))


@pytest.fixture(scope="module")
def two_files(tiny_data, tmp_path_factory):
    """tiny_data's train split rewritten as two files, records of both sources in each."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("two_files")
    shutil.copy(os.path.join(tiny_data, "manifest.json"), root / "manifest.json")
    os.makedirs(root / "train")
    (src,) = glob.glob(os.path.join(tiny_data, "train", "*.tfrecord"))
    raws = list(tf.data.TFRecordDataset(src).as_numpy_iterator())
    for i in range(2):
        with tf.io.TFRecordWriter(str(root / "train" / f"data-{i:05d}-of-00002.tfrecord")) as w:
            for raw in raws[i::2]:
                w.write(raw)
    return str(root)


def test_decode_example_is_the_tf_parse(tiny_data, spec):
    import tensorflow as tf

    (path,) = glob.glob(os.path.join(tiny_data, "train", "*.tfrecord"))
    parse = records.make_parse_fn(spec)
    n = 0
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        want_in, want_t = (tf.nest.map_structure(lambda x: x.numpy(), p) for p in parse(raw))
        got_in, got_t = records.decode_example(raw, spec)
        for k, v in want_in.items():
            assert got_in[k].dtype == v.dtype, k
            np.testing.assert_array_equal(got_in[k], v, err_msg=k)
        ids = got_t.pop("description_token_ids_all")
        assert ids.size == want_in["description_padding_mask"].sum() > 0
        assert set(got_t) == set(want_t)
        for k, v in want_t.items():
            np.testing.assert_array_equal(got_t[k], v, err_msg=k)
        n += 1
    assert n == 6


def test_index_holds_where_each_record_lies(two_files, spec):
    index = record_stream.load_index(two_files, "train", spec)
    whole = input_pipeline.load_split(two_files, "train", spec)
    assert len(index) == 6 and len(index.files) == 2
    for name in ("video_id", "source_id", "crf", "label", "vmaf", "is_original"):
        np.testing.assert_array_equal(getattr(index, name), getattr(whole, name), name)
    # each file's offsets start at 0 and step by the framed record size
    for f in range(2):
        offsets = np.sort(index.offset[index.file_index == f])
        assert offsets[0] == 0 and (np.diff(offsets) > 0).all()
    # a shard group indexes only its files
    g1 = record_stream.load_index(two_files, "train", spec, group=1, groups=2)
    assert g1.files == [index.files[1]]
    assert set(g1.video_id) == set(index.video_id[index.file_index == 1])


def test_streaming_batches_are_the_in_memory_batches(two_files, spec, tiny_model):
    text_fn, from_ids = _text_fns(tiny_model)
    memory = input_pipeline.attach_text(input_pipeline.load_split(two_files, "train", spec),
                                        text_fn)
    stream = input_pipeline.attach_text(record_stream.StreamingSplit(
        record_stream.load_index(two_files, "train", spec), spec), text_fn, from_ids)

    def batches(split, start, parallel):
        schedule = input_pipeline.BatchSchedule(split, batch_size=6, mode="mix",
                                                pair_fraction=0.67, seed=5)
        ds = input_pipeline.train_dataset(split, schedule, start_step=start, num_steps=6,
                                          regression_targets="all", augment_frames=True,
                                          align_pairs=True, read_parallelism=parallel)
        return list(ds.as_numpy_iterator())

    want = batches(memory, 0, 1)
    got = batches(stream, 0, 3)
    resumed = batches(stream, 4, 1)
    assert len(want) == len(got) == 6 and len(resumed) == 2
    for a, b in zip(want, got):
        assert sorted(a) == sorted(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for a, b in zip(want[4:], resumed):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # batches differ between steps (the comparison above is not of constants)
    assert not np.array_equal(want[0]["low_patches"], want[1]["low_patches"])


def test_records_of_another_tokenizer_are_refused(two_files, spec, tiny_model):
    text_fn, from_ids = _text_fns(tiny_model)
    stream = record_stream.StreamingSplit(record_stream.load_index(two_files, "train", spec),
                                          spec)
    with pytest.raises(ValueError, match="do not tokenize like the model's tokenizer"):
        input_pipeline.attach_text(stream, lambda d: text_fn(d.upper()), from_ids)


def test_index_is_cached_and_rebuilt_when_the_files_change(two_files, spec, tmp_path,
                                                           monkeypatch):
    data = str(tmp_path / "data")
    shutil.copytree(two_files, data)
    cache = str(tmp_path / "cache")
    first = record_stream.load_index(data, "train", spec, cache_dir=cache)
    assert len(os.listdir(cache)) == 1

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned again")

    with monkeypatch.context() as m:
        m.setattr(record_stream, "build_index", no_scan)
        again = record_stream.load_index(data, "train", spec, cache_dir=cache)
    for name in ("file_index", "offset", "video_id", "source_id", "crf", "label"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert again.files == first.files

    # one file loses its last record: another file set, another index
    import tensorflow as tf

    path = first.files[0]
    raws = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    with tf.io.TFRecordWriter(path) as w:
        for raw in raws[:-1]:
            w.write(raw)
    smaller = record_stream.load_index(data, "train", spec, cache_dir=cache)
    assert len(smaller) == len(first) - 1
    assert len(os.listdir(cache)) == 2


def test_a_record_rewritten_in_place_is_detected(two_files, spec, tmp_path):
    data = str(tmp_path / "data")
    shutil.copytree(two_files, data)
    index = record_stream.load_index(data, "train", spec)
    stream = record_stream.StreamingSplit(index, spec)
    path = index.files[0]
    with open(path, "r+b") as f:  # flip a byte inside the first record's data
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    first = int(np.flatnonzero((index.file_index == 0) & (index.offset == 0))[0])
    with pytest.raises(ValueError, match="Mismatch of data mask"):
        stream.take([first])


def test_streams_records_from_gcs(two_files, spec, tiny_model):
    text_fn, from_ids = _text_fns(tiny_model)
    local = record_stream.StreamingSplit(record_stream.load_index(two_files, "train", spec),
                                         spec, from_ids)
    with gcs_emulator(buckets=("records",)) as gcs:
        for path in sorted(glob.glob(os.path.join(two_files, "train", "*.tfrecord"))):
            gcs.upload("records", "data/train/" + os.path.basename(path), path)
        index = record_stream.load_index("gs://records/data", "train", spec,
                                         cache_dir="gs://records/work/record_index")
        assert all(f.startswith("gs://records/data/train/") for f in index.files)
        remote = record_stream.StreamingSplit(index, spec, from_ids)
        idx = np.array([5, 0, 3, 3, 1])
        got, want = remote.take(idx), local.take(idx)
        cached = record_stream.load_index("gs://records/data", "train", spec,
                                          cache_dir="gs://records/work/record_index")
        listed = [b.name for b in gcs.client().list_blobs("records", prefix="work/")]
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    np.testing.assert_array_equal(cached.offset, index.offset)
    assert len(listed) == 1 and listed[0].endswith(".parquet")

"""beam_pipelines.records: encode_example -> make_parse_fn round trip, shapes and dtypes."""
import numpy as np
import pytest
import tensorflow as tf

from beam_pipelines import records

SPEC = records.RecordSpec(num_keyframes=2, image_size=8, max_patches=3, patch_size=4,
                          max_description_tokens=6)


def _example(**kw):
    rng = np.random.default_rng(0)
    args = {
        "video_id": "v1", "source_id": "s1", "crf": 28, "is_original": False, "label": 71.5, "vmaf": 71.5,
        "high_frames": rng.integers(0, 256, SPEC.high_shape, dtype=np.uint8),
        "low_patches": rng.integers(0, 256, SPEC.low_shape, dtype=np.uint8),
        "patch_mask": np.array([[1, 1, 0], [1, 0, 0]], np.float32),
        "description": "A cat. Natural. Clean.", "description_token_ids": [5, 6, 7]}
    args.update(kw)
    return args


def test_round_trip():
    args = _example()
    inputs, targets = records.make_parse_fn(SPEC)(tf.constant(records.encode_example(**args)))
    np.testing.assert_array_equal(inputs["high_frames"].numpy(), args["high_frames"])
    np.testing.assert_array_equal(inputs["low_patches"].numpy(), args["low_patches"])
    np.testing.assert_array_equal(inputs["patch_mask"].numpy(), args["patch_mask"])
    assert inputs["high_frames"].dtype == tf.uint8 and inputs["low_patches"].dtype == tf.uint8
    assert inputs["description_token_ids"].numpy().tolist() == [5, 6, 7, 0, 0, 0]
    assert inputs["description_padding_mask"].numpy().tolist() == [1, 1, 1, 0, 0, 0]
    assert targets["label"].numpy() == pytest.approx(71.5)
    assert targets["crf"].numpy() == 28 and not targets["is_original"].numpy()
    assert targets["source_id"].numpy() == b"s1"
    assert targets["description"].numpy().decode() == "A cat. Natural. Clean."


def test_original_without_label_and_long_description():
    args = _example(crf=None, is_original=True, label=None, vmaf=None,
                    description_token_ids=list(range(1, 11)))
    inputs, targets = records.make_parse_fn(SPEC)(tf.constant(records.encode_example(**args)))
    assert targets["crf"].numpy() == -1 and targets["is_original"].numpy()
    assert np.isnan(targets["label"].numpy()) and np.isnan(targets["vmaf"].numpy())
    assert inputs["description_token_ids"].numpy().tolist() == [1, 2, 3, 4, 5, 6]
    assert inputs["description_padding_mask"].numpy().all()


def test_batches_with_static_shapes(tmp_path):
    path = str(tmp_path / "x.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(3):
            w.write(records.encode_example(**_example(video_id=f"v{i}")))
    batch = next(iter(records.dataset(path, SPEC).batch(3)))
    assert batch[0]["low_patches"].shape == (3, *SPEC.low_shape)
    assert sorted(batch[1]["video_id"].numpy().tolist()) == [b"v0", b"v1", b"v2"]


def test_rejects_wrong_dtype_and_mask_shape():
    with pytest.raises(TypeError):
        records.encode_example(**_example(high_frames=np.zeros(SPEC.high_shape, np.float32)))
    with pytest.raises(ValueError):
        records.encode_example(**_example(patch_mask=np.ones((2, 2), np.float32)))


def test_the_same_example_is_the_same_bytes_in_every_process():
    """Feature maps are serialized with sorted keys: two processes with different hash
    seeds (prepare's workers) write the same bytes."""
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib, sys; sys.path.insert(0, 'tests/beam_pipelines/data'); "
            "from beam_pipelines import records; import test_records_format as t; "
            "print(hashlib.sha256(records.encode_example(**t._example())).hexdigest())")
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                              capture_output=True, text=True,
                              env=dict(os.environ, PYTHONHASHSEED=str(seed))
                              ).stdout.split()[-1] for seed in (1, 2)}
    here = hashlib.sha256(records.encode_example(**_example())).hexdigest()
    assert digests == {here}


def test_spec_round_trips_through_the_manifest_and_old_manifests_read_no_fill():
    filled = records.RecordSpec(**{**SPEC.to_dict(), "patch_fill": True})
    assert records.RecordSpec.from_dict(filled.to_dict()) == filled
    old = {k: v for k, v in filled.to_dict().items() if k != "patch_fill"}
    assert records.RecordSpec.from_dict(old) == SPEC and not SPEC.patch_fill
    clips = records.RecordSpec(**{**SPEC.to_dict(), "low_level_frames": 2})
    assert records.RecordSpec.from_dict(clips.to_dict()) == clips
    before_clips = {k: v for k, v in clips.to_dict().items() if k != "low_level_frames"}
    assert records.RecordSpec.from_dict(before_clips).low_level_frames == 1


def test_records_are_checked_against_the_preprocessor_that_reads_them():
    from cpllm_model import CPLLMPreprocessor, presets

    pre = CPLLMPreprocessor(presets.tiny_tokenizer(), num_keyframes=2, image_size=32,
                            patch_size=16, max_patches=4)
    spec = records.RecordSpec.from_preprocessor(pre)
    spec.check_read_by(pre)
    records.RecordSpec(**{**spec.to_dict(), "max_patches": 16}).check_read_by(pre)  # any M
    pairs = CPLLMPreprocessor.from_config({**pre.get_config(), "high_level_frames": 2})
    with pytest.raises(ValueError, match=r"records \(K, S, P, T, Hf\) = \(2, 32, 16, 1, 1\), "
                                          r"P reads \(2, 32, 16, 1, 2\)"):
        spec.check_read_by(pairs, "P")
    with pytest.raises(ValueError, match="reads"):
        records.RecordSpec(**{**spec.to_dict(), "num_keyframes": 8}).check_read_by(pre)

"""Session fixtures for the trainer tests: a real tiny training set and a tiny preset.

The data set is built the way `beam_pipelines.prepare` builds one, minus Beam: ffmpeg
generator clips (lossless masters) -> H.264 at three CRFs -> K key frames decoded with
`decode_keyframes` -> the model's `frame_inputs` -> `beam_pipelines.records.encode_example`.
Labels are a monotone pseudo-MOS of the CRF (the trainer tests need the order, not VMAF).
"""
import json
import os

import numpy as np
import pytest

CRFS = (20, 35, 50)
TRAIN_SOURCES = ("testsrc2", "mandelbrot")
HOLDOUT_SOURCES = ("rgbtestsrc",)


def _master(path, source):
    from beam_pipelines.media import ffmpeg_bin

    proc = ffmpeg_bin.run(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                           "-i", f"{source}=size=160x120:rate=12", "-t", "1",
                           "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", path],
                          timeout_s=60)
    assert proc.returncode == 0 and os.path.getsize(path) > 0, proc.stderr


@pytest.fixture(scope="session")
def tiny_model():
    """An untrained tiny CPLLM (seed 0), built once per session."""
    from cpllm_model.presets import build_tiny

    return build_tiny(seed=0)


@pytest.fixture(scope="session")
def tiny_preset(tiny_model, tmp_path_factory):
    """The tiny model saved with save_to_preset: what the trainer loads."""
    path = str(tmp_path_factory.mktemp("preset") / "cpllm_tiny_test")
    tiny_model.save_to_preset(path)
    return path


def _write_records(root, preprocessor, videos):
    """The data set of the module docstring under `root`, cut by `preprocessor`; the
    encoded clips are made once in `videos` and shared by every such data set."""
    import tensorflow as tf

    from beam_pipelines import records
    from beam_pipelines.media.keyframes import decode_keyframes
    from beam_pipelines.media.transcode import transcode

    spec = records.RecordSpec.from_preprocessor(preprocessor, 96)
    for split, sources in (("train", TRAIN_SOURCES), ("holdout", HOLDOUT_SOURCES)):
        os.makedirs(root / split)
        with tf.io.TFRecordWriter(str(root / split / "data-00000-of-00001.tfrecord")) as w:
            for source in sources:
                master = str(videos / f"{source}_master.mp4")
                if not os.path.exists(master):
                    _master(master, source)
                for crf in CRFS:
                    clip = str(videos / f"{source}_crf{crf}.mp4")
                    if not os.path.exists(clip):
                        transcode(master, clip, crf, preset="veryfast")
                    frames = decode_keyframes(
                        clip, spec.num_keyframes,
                        frames_per_key=preprocessor.frames_per_key,
                        frame_gap_s=preprocessor.frame_gap_s).frames
                    x = preprocessor.frame_inputs(frames)
                    label = 95.0 - crf
                    description = (f"A {source} test pattern. Synthetic pattern. "
                                   f"Encoded at CRF {crf}, quality {int(label)}.")
                    ids = np.asarray(preprocessor.tokenizer(description))
                    w.write(records.encode_example(  # as beam_pipelines.prepare writes
                        video_id=f"{source}_crf{crf}", source_id=source, crf=crf,
                        is_original=(crf == CRFS[0]), label=label, vmaf=label,
                        description=description, description_token_ids=ids.reshape(-1),
                        **x))
    with open(root / "manifest.json", "w") as f:
        json.dump({"spec": spec.to_dict()}, f)
    return str(root)


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory):
    """The masters and H.264 clips the tiny data sets are cut from."""
    return tmp_path_factory.mktemp("tiny_videos")


@pytest.fixture(scope="session")
def tiny_data(tiny_model, tiny_videos, tmp_path_factory):
    """DIR with manifest.json, train/ (2 sources x 3 CRFs), holdout/ (1 source x 3)."""
    return _write_records(tmp_path_factory.mktemp("tiny_data"), tiny_model.preprocessor,
                          tiny_videos)


@pytest.fixture(scope="session")
def tiny_clip_data(tiny_model, tiny_videos, tmp_path_factory):
    """`tiny_data` with patch clips of two frames (the same M slots, M / 2 cells a frame:
    `CPLLMPreprocessor.low_level_frames` = 2, as `prepare --low_level_frames 2`)."""
    import copy

    pre = copy.copy(tiny_model.preprocessor)
    pre.low_level_frames = 2
    return _write_records(tmp_path_factory.mktemp("tiny_clip_data"), pre, tiny_videos)


@pytest.fixture(scope="session")
def tiny_pair_data(tiny_model, tiny_videos, tmp_path_factory):
    """`tiny_data` whose high-level view holds each key frame and the frame after it
    (`CPLLMPreprocessor.high_level_frames` = 2, as `prepare --high_level_frames 2`)."""
    import copy

    pre = copy.copy(tiny_model.preprocessor)
    pre.high_level_frames = 2
    return _write_records(tmp_path_factory.mktemp("tiny_pair_data"), pre, tiny_videos)


@pytest.fixture(scope="session")
def tiny_config(tiny_data, tiny_preset, tiny_model):
    """The cpllm_tiny training config shrunk to a few fast steps on the tiny data (the
    untrained test preset scores with its own M, not the shipped preset's 64)."""
    from trainer import config_lib

    config = config_lib.load_config(
        os.path.join(os.path.dirname(__file__), "..", "..", "trainer", "configs",
                     "cpllm_tiny.py"))
    return config_lib.apply_overrides(config, [
        f"data.dir={tiny_data}", f"model.preset={tiny_preset}", "input.batch_size=4",
        "num_steps=4", "log_every=1", "checkpoint_every=2", "eval_every=0",
        "optimizer.warmup_steps=0", "eval_batch_size=4",
        f"model.score_max_patches={tiny_model.preprocessor.max_patches}"])

"""The shipped `cpllm_tiny` is the trained one: it orders held-out ladders by CRF.

Held-out contents (never in its training set, `make_tiny_dataset.HOLDOUT`) are rendered
fresh here: a 320x240 master, three H.264 rungs, key frames, `model.score`.
"""
import numpy as np
import pytest

HOLDOUT_CONTENTS = ("coffee", "page")
RUNGS = (18, 33, 48)


@pytest.fixture(scope="module")
def bundled():
    from cpllm_model import CPLLM

    return CPLLM.from_preset("cpllm_tiny")


@pytest.mark.parametrize("content", HOLDOUT_CONTENTS)
def test_bundled_model_orders_a_held_out_ladder(bundled, content, tmp_path):
    from beam_pipelines.media import samples
    from beam_pipelines.media.keyframes import decode_keyframes
    from beam_pipelines.media.transcode import transcode

    master = samples.make_clip(str(tmp_path / "master.mkv"), content, seconds=2.0,
                               size=(320, 240), fps=24)
    batch = []
    for crf in RUNGS:
        clip = str(tmp_path / f"crf{crf}.mp4")
        transcode(master, clip, crf, preset="veryfast")
        frames = decode_keyframes(clip, bundled.num_keyframes).frames
        batch.append(bundled.preprocessor.frame_inputs(frames))
    scores = bundled.score({k: np.stack([b[k] for b in batch]) for k in batch[0]})["score"]
    assert np.all(np.diff(scores) < 0), dict(zip(RUNGS, scores.tolist()))

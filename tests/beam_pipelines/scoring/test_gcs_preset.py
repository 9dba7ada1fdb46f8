"""A gs:// preset's preprocessor is read from its config and asset files only: the
weights are never downloaded, neither by `CPLLMPreprocessor.from_preset` (score's launcher
and DecodeKeyframes) nor by prepare's loader (issue 14 item 9). Local GCS emulator; the emulator's own request log
says which objects were fetched."""
import logging
import os

import numpy as np
import pytest
from gcs_emulator import gcs_emulator

from beam_pipelines import prepare
from cpllm_model import CPLLMPreprocessor, preset_io, preset_registry

TINY = os.path.join(preset_registry.PRESET_DIR, "cpllm_tiny")


def _upload_tiny(gcs, bucket, prefix):
    for root, _, files in os.walk(TINY):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, TINY).replace(os.sep, "/")
            gcs.upload(bucket, f"{prefix}/{rel}", path)


def _fetched(caplog):
    """Object downloads the emulator served (its request log lines)."""
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("gcp_storage_emulator") and "alt=media" in r.getMessage()]


@pytest.mark.parametrize("loader", [CPLLMPreprocessor.from_preset, prepare.load_preprocessor],
                         ids=["score", "prepare"])
def test_gs_preset_preprocessor_fetches_no_weights(caplog, loader):
    local = CPLLMPreprocessor.from_preset("cpllm_tiny")
    frames = np.random.default_rng(0).integers(
        0, 255, (local.num_keyframes * local.frames_per_key, 120, 160, 3), np.uint8)
    with gcs_emulator(buckets=("presets",)) as gcs:
        _upload_tiny(gcs, "presets", "models/tiny v1")
        assert any(n.endswith(".weights.h5") for n in os.listdir(TINY))
        with caplog.at_level(logging.INFO, logger="gcp_storage_emulator"):
            pre = loader("gs://presets/models/tiny v1")
    fetched = _fetched(caplog)
    assert any("preprocessor.json" in f for f in fetched), fetched  # the log sees fetches
    assert any("vocabulary.spm" in f for f in fetched), fetched
    assert not any("weights" in f for f in fetched), fetched
    assert pre.get_config() == local.get_config()
    a, b = local.frame_inputs(frames), pre.frame_inputs(frames)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))
    assert pre.tokenizer("a test card").tolist() == local.tokenizer("a test card").tolist()


def test_gs_prefix_without_a_preset_fails_clearly():
    with gcs_emulator(buckets=("presets",)) as gcs:
        gcs.upload("presets", "empty/readme.txt", b"no preset here")
        with pytest.raises(FileNotFoundError, match="preprocessor.json"):
            CPLLMPreprocessor.from_preset("gs://presets/empty")


def test_only_configs_and_assets_are_preprocessor_files():
    keep = ["config.json", "preprocessor.json", "tokenizer.json", "task.json",
            "metadata.json", "assets/tokenizer/vocabulary.spm"]
    drop = ["model.weights.h5", "task.weights.h5", "model.weights.json",
            "model_00000.weights.h5", "model.safetensors", "sub/config.json", "assets/"]
    assert [r for r in keep + drop if preset_io.is_preprocessor_file(r)] == keep

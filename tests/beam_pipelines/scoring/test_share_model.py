"""`score --share_model_across_processes` auto (issue 14 item 11): one model per machine
on an accelerator or for a preset whose weights reach 1 GiB, else one per process; the
size comes from file sizes (local) or object metadata (gs://, local GCS emulator), never
by reading the weights."""
import os
import shutil

from apache_beam.options.pipeline_options import PipelineOptions
from gcs_emulator import gcs_emulator

from beam_pipelines import score
from cpllm_model import preset_io, preset_registry

TINY = os.path.join(preset_registry.PRESET_DIR, "cpllm_tiny")


def _opts(*argv):
    return PipelineOptions(["--catalog", "c.csv", "--output_dir", "o", *argv]).view_as(
        score.ScoreOptions)


def _weights_on_disk(path):
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path)
               if n.endswith(".weights.h5"))


def test_small_preset_not_shared_large_or_accelerated_shared(tmp_path):
    assert preset_io.weights_bytes("cpllm_tiny") == _weights_on_disk(TINY) > 0
    assert score.share_model(_opts()) is False
    assert score.share_model(_opts("--inference_accelerator", "type:nvidia-l4;count:1"))
    assert score.share_model(_opts("--share_model_across_processes"))  # the flag alone
    big = tmp_path / "big"
    shutil.copytree(TINY, big)
    with open(big / "model.weights.h5", "r+b") as f:
        f.truncate(score.SHARE_MODEL_MIN_BYTES)  # sparse: sized, not written
    assert preset_io.weights_bytes(str(big)) >= score.SHARE_MODEL_MIN_BYTES
    assert score.share_model(_opts("--model", str(big)))
    assert not score.share_model(_opts("--model", str(big),
                                       "--share_model_across_processes", "false"))
    assert preset_io.weights_bytes("cpllm_paper") is None  # assembled, not a directory


def test_gs_preset_size_from_object_metadata():
    with gcs_emulator(buckets=("presets",)) as gcs:
        for name in os.listdir(TINY):
            if os.path.isfile(os.path.join(TINY, name)):
                gcs.upload("presets", f"tiny/{name}", os.path.join(TINY, name))
        gcs.upload("presets", "tiny/assets/tokenizer/vocabulary.spm",
                   os.path.join(TINY, "assets", "tokenizer", "vocabulary.spm"))
        assert preset_io.weights_bytes("gs://presets/tiny") == _weights_on_disk(TINY)

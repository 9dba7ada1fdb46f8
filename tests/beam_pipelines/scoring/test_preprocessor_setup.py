"""DecodeKeyframes loads the preset's preprocessor in setup(): a preset that cannot be
loaded fails the pipeline (the runner retries the bundle), it never becomes one
`preprocess` failure row per video (issue 14 item 8, first part)."""
import contextlib
import types

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines import dead_letter, dofns, runner


def _fake_decoder(path, k, *, max_side, timeout_s):
    info = types.SimpleNamespace(width=16, height=16, duration_s=1.0, fps=8.0, codec="h264")
    return types.SimpleNamespace(frames=np.zeros((k, 16, 16, 3), np.uint8),
                                 times_s=np.arange(k) / 8.0, info=info)


def _run(frame_inputs, n=3):
    entries = [{"video_id": f"v{i}", "uri": f"/videos/v{i}.mp4"} for i in range(n)]
    with beam.Pipeline(runner=runner.offline_runner(PipelineOptions([]))) as p:
        _ = (p | beam.Create(entries)
             | beam.ParDo(dofns.DecodeKeyframes(
                 frame_inputs, 8, reader=contextlib.nullcontext, decoder=_fake_decoder))
             .with_outputs(dead_letter.FAILURES, main="decoded"))


def test_preprocessor_load_failure_fails_the_pipeline_not_each_video(tmp_path):
    missing = str(tmp_path / "no_such_preset")
    with pytest.raises(Exception, match="no_such_preset"):
        _run(dofns.FrameInputs(missing))


def test_preprocessor_is_loaded_in_setup_before_any_element(tmp_path):
    fn = dofns.DecodeKeyframes(dofns.FrameInputs(str(tmp_path / "no_such_preset")), 8)
    with pytest.raises(Exception, match="no_such_preset"):
        fn.setup()
    frame_inputs = dofns.FrameInputs("cpllm_tiny")
    dofns.FrameInputs._CACHE.pop((frame_inputs.preset, None), None)
    dofns.DecodeKeyframes(frame_inputs, 8).setup()
    assert (frame_inputs.preset, None) in dofns.FrameInputs._CACHE
    # Any callable still works as frame_inputs (no preprocessor() to load).
    dofns.DecodeKeyframes(lambda frames: {}, 8).setup()

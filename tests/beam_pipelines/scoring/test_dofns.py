"""DecodeKeyframes and the Keras model handler on real clips (TestPipeline + assert_that)."""
import contextlib
import math
import time

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import dead_letter, dofns, inference, runner

PRESET = "cpllm_tiny"


class FlakyReader:
    """media.storage.local_copy that raises OSError on the first `failures` calls."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    def __call__(self, uri):
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(f"injected transient read error #{self.calls}")
        return dofns.default_reader(uri)


def _decode(entries, **kwargs):
    """Runs DecodeKeyframes; returns (main, failures) PCollections and the pipeline."""
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    kwargs.setdefault("backoff_s", 0.01)
    out = (p | beam.Create(entries)
           | beam.ParDo(dofns.DecodeKeyframes(dofns.FrameInputs(PRESET), 8, **kwargs))
           .with_outputs(dead_letter.FAILURES, main="decoded"))
    return p, out.decoded, out[dead_letter.FAILURES]


def _entry(row):
    return {"video_id": row["video_id"], "uri": row["uri"], "source_id": None, "crf": None,
            "mos": None, "description": None}


def _shapes(element):
    video_id, value = element
    x = value["inputs"]
    return (video_id, x["high_frames"].dtype.name, x["low_patches"].dtype.name,
            x["high_frames"].shape[0], len(value["meta"]["frame_times_s"]),
            value["meta"]["width"], value["meta"]["height"])


def test_transient_read_error_is_retried_then_scores(ladder_rows):
    entry = _entry(ladder_rows[0])
    p, decoded, failures = _decode([entry], reader=FlakyReader(failures=2), max_attempts=3)
    pre = dofns.FrameInputs(PRESET).preprocessor()  # K = 8 key frames (8 frame times)
    want = (entry["video_id"], "uint8", "uint8", 8 * pre.high_level_frames, 8, 96, 64)
    assert_that(decoded | beam.Map(_shapes), equal_to([want]))
    assert_that(failures, equal_to([]), label="NoFailures")
    p.run().wait_until_finish()


def test_persistent_transient_error_fails_the_bundle_after_max_attempts(ladder_rows):
    # The worker's error, not the video's (issue 14 item 8): after the last attempt it is
    # raised, so the runner retries the bundle; it never becomes a permanent failure row.
    entry = _entry(ladder_rows[0])
    p, decoded, failures = _decode([entry], reader=FlakyReader(failures=99), max_attempts=3)
    assert_that(failures, equal_to([]), label="NoFailureRow")
    with pytest.raises(Exception, match=r"read of video .* failed 3 times with OSError: "
                                        r"injected transient read error #3"):
        p.run().wait_until_finish()


def test_media_errors_are_not_retried_and_keep_their_stage(tmp_path, ladder_rows):
    reader = FlakyReader(failures=0)
    missing = {"video_id": "m", "uri": str(tmp_path / "missing.mp4")}
    text = tmp_path / "notes.mp4"
    text.write_text("hello, I am not a video\n" * 20)
    p, _, failures = _decode(
        [_entry(missing), _entry({"video_id": "t", "uri": str(text)})], reader=reader)
    assert_that(failures | beam.Map(lambda f: (f["video_id"], f["stage"], f["attempts"])),
                equal_to([("m", "read", 1), ("t", "probe", 1)]))
    p.run().wait_until_finish()


def test_hanging_decode_is_killed_by_its_timeout(ladder_rows):
    entry = _entry(ladder_rows[0])
    start = time.monotonic()
    p, _, failures = _decode([entry], timeout_s=0.001)
    assert_that(failures | beam.Map(lambda f: (f["stage"], f["error_type"])),
                equal_to([("decode", "DecodeTimeout")]))
    p.run().wait_until_finish()
    assert time.monotonic() - start < 60


def test_preprocess_failure_is_a_failure_row(ladder_rows):
    # K = 3 frames decoded, but the preset's preprocessor requires its own K = 8.
    entry = _entry(ladder_rows[0])
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    out = (p | beam.Create([entry])
           | beam.ParDo(dofns.DecodeKeyframes(dofns.FrameInputs(PRESET), 3))
           .with_outputs(dead_letter.FAILURES, main="decoded"))
    assert_that(out[dead_letter.FAILURES] | beam.Map(lambda f: f["stage"]),
                equal_to(["preprocess"]))
    p.run().wait_until_finish()


@pytest.fixture(scope="module")
def untrained_preset(tmp_path_factory):
    """An untrained tiny preset (seed 0, K = 8): the handler's batching, padding and
    isolation are the same for any preset, at a fraction of the bundled one's cost (the
    bundled preset goes through the handler in test_score, test_demo and the bf16 test
    below)."""
    from cpllm_model.presets import build_tiny

    path = str(tmp_path_factory.mktemp("untrained") / "cpllm_tiny_untrained")
    build_tiny(seed=0).save_to_preset(path)
    return path


@pytest.fixture(scope="module")
def handler_and_model(untrained_preset):
    handler = inference.KerasCPLLMHandler(untrained_preset, max_batch_size=4)
    return handler, handler.load_model()


def _examples(preset, rows):
    from beam_pipelines.media import keyframes

    frame_inputs = dofns.FrameInputs(preset)
    out = []
    for row in rows:
        kf = keyframes.decode_keyframes(row["uri"], 8,
                                        **frame_inputs.preprocessor().decode_options())
        out.append({"inputs": frame_inputs(kf.frames), "meta": {"uri": row["uri"]}})
    return out


@pytest.fixture(scope="module")
def examples(untrained_preset, ladder_rows):
    return _examples(untrained_preset, ladder_rows[:3])


def test_handler_pads_batches_so_scores_do_not_depend_on_batch_mates(
        handler_and_model, examples):
    handler, model = handler_and_model
    alone = [handler.run_inference([e], model)[0] for e in examples]
    together = handler.run_inference(examples, model)
    reversed_ = handler.run_inference(examples[::-1], model)[::-1]
    # distinct videos score apart, so a result handed to the wrong video would show
    assert len({a.inference["score"] for a in alone}) == len(examples)
    for a, b, c in zip(alone, together, reversed_):
        assert a.inference == b.inference == c.inference  # bit-identical, plain floats
        assert isinstance(a.inference["score"], float)
        assert len(a.inference["frame_scores"]) == 8
        assert a.model_id == handler.model_id and a.example == {"uri": a.example["uri"]}
    assert handler.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 4}
    assert handler.get_num_bytes(examples) == sum(
        v.nbytes for e in examples for v in e["inputs"].values())


def test_handler_isolates_a_video_that_breaks_its_batch(handler_and_model, examples):
    handler, model = handler_and_model
    broken = {"inputs": dict(examples[0]["inputs"]), "meta": {"uri": "broken"}}
    broken["inputs"]["low_patches"] = np.zeros((8, 1, 3, 3, 3), np.uint8)  # wrong shape
    results = handler.run_inference([examples[0], broken, examples[1]], model)
    assert "error_type" in results[1].inference and results[1].inference["message"]
    alone = handler.run_inference([examples[1]], model)[0]
    assert results[2].inference == alone.inference
    assert results[0].inference["score"] == handler.run_inference(
        [examples[0]], model)[0].inference["score"]


def test_default_reader_is_a_context_manager(ladder_rows):
    with contextlib.ExitStack() as stack:
        path = stack.enter_context(dofns.default_reader(ladder_rows[0]["uri"]))
        assert path == ladder_rows[0]["uri"]


def test_handler_loads_the_decoder_only_to_describe(handler_and_model, examples,
                                                    untrained_preset):
    scoring_handler, scorer = handler_and_model
    assert not scorer.backbone.include_decoder  # scoring alone: no decoder in memory
    handler = inference.KerasCPLLMHandler(untrained_preset, max_batch_size=2, describe=True,
                                          max_new_tokens=8)
    model = handler.load_model()
    assert model.backbone.include_decoder
    (result,) = handler.run_inference(examples[:1], model)
    assert isinstance(result.inference["description"], str)
    assert math.isfinite(result.inference["score"])
    (alone,) = scoring_handler.run_inference(examples[:1], scorer)
    assert isinstance(alone.inference["score"], float)


def test_handler_bfloat16_model_scores_close_to_float32(ladder_rows):
    examples = _examples(PRESET, ladder_rows[:3])
    handler = inference.KerasCPLLMHandler(PRESET, max_batch_size=4)
    model = handler.load_model()
    bf16 = inference.KerasCPLLMHandler(PRESET, max_batch_size=4, dtype="bfloat16")
    bf16_model = bf16.load_model()
    assert bf16_model.backbone.compute_dtype == "bfloat16"
    fp32 = handler.run_inference(examples, model)
    low = bf16.run_inference(examples, bf16_model)
    for a, b in zip(fp32, low):
        assert math.isfinite(b.inference["score"])
        # 0-100 scale; the bundled preset moved by up to 2.7 on these clips (2026-12-05).
        assert abs(a.inference["score"] - b.inference["score"]) < 4.0


def test_input_error_while_decoding_is_one_failure_row_not_retried(ladder_rows):
    # decode_keyframes(k=0) raises ValueError: deterministic, the video's (with these
    # settings), so one `decode` row at once, not max_attempts tries (issue 14 item 8).
    entry = _entry(ladder_rows[0])
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    out = (p | beam.Create([entry])
           | beam.ParDo(dofns.DecodeKeyframes(dofns.FrameInputs(PRESET), 0, max_attempts=3,
                                              backoff_s=0.01))
           .with_outputs(dead_letter.FAILURES, main="decoded"))
    assert_that(out[dead_letter.FAILURES] | beam.Map(lambda f: (f["stage"], f["error_type"],
                                                           f["attempts"])),
                equal_to([("decode", "ValueError", 1)]))
    p.run().wait_until_finish()


def _out_of_host_memory(frames):
    return np.empty((2**62,), np.uint8)  # a real MemoryError ("Unable to allocate ...")


def test_out_of_memory_while_preprocessing_fails_the_bundle(ladder_rows):
    p = test_pipeline.TestPipeline(runner=runner.offline_runner(PipelineOptions([])))
    out = (p | beam.Create([_entry(ladder_rows[0])])
           | beam.ParDo(dofns.DecodeKeyframes(_out_of_host_memory, 8))
           .with_outputs(dead_letter.FAILURES, main="decoded"))
    assert_that(out[dead_letter.FAILURES], equal_to([]), label="NoPreprocessRow")
    with pytest.raises(Exception, match=r"preprocessing video .* failed with "
                                        r"_?\w*MemoryError"):
        p.run().wait_until_finish()


class _CountingModel:
    """The real model; counts score() calls and can make them fail for real."""

    def __init__(self, model, fail=None):
        self.model, self.fail, self.calls = model, fail, 0

    def score(self, batch):
        self.calls += 1
        if self.fail:
            self.fail()
        return self.model.score(batch)


def _jax_out_of_memory():
    import jax.numpy as jnp

    jnp.zeros((2**40,), jnp.float32).block_until_ready()  # 4 TiB: RESOURCE_EXHAUSTED


def _connection_refused():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    socket.create_connection(("127.0.0.1", port), timeout=5)


@pytest.mark.parametrize("fail, cause", [(_jax_out_of_memory, "JaxRuntimeError"),
                                         (_connection_refused, "ConnectionRefusedError")])
def test_handler_raises_worker_errors_instead_of_isolating_videos(
        handler_and_model, examples, fail, cause):
    from beam_pipelines import faults

    handler, model = handler_and_model
    counting = _CountingModel(model, fail)
    with pytest.raises(faults.WorkerFault, match=cause) as info:
        handler.run_inference(examples, counting)
    assert type(info.value.__cause__).__name__ == cause
    assert counting.calls == 1  # not re-scored one by one into failure rows


def test_handler_bisects_a_bad_batch(handler_and_model, examples):
    # Issue 14 item 18: one bad video in a batch of 8 costs 1 + 2 * log2(8) = 7 padded
    # batches (halves, quarters, pairs), not 1 + 8 (one by one, each padded to 8).
    handler4, model = handler_and_model
    handler8 = inference.KerasCPLLMHandler(handler4.model_id, max_batch_size=8)
    calls = []

    class Counting(inference.KerasCPLLMHandler):
        def _predict(self, batch, model):
            calls.append(len(batch))
            return super()._predict(batch, model)

    counting = Counting(handler4.model_id, max_batch_size=8)
    good = [{"inputs": examples[i % 3]["inputs"], "meta": {"uri": f"v{i}"}} for i in range(8)]
    clean = handler8.run_inference(good, model)
    batch = list(good)
    broken = {"inputs": dict(good[5]["inputs"]), "meta": {"uri": "broken"}}
    broken["inputs"]["low_patches"] = np.zeros((8, 1, 3, 3, 3), np.uint8)  # wrong shape
    batch[5] = broken
    results = counting.run_inference(batch, model)
    # depth first: all 8, 0-3 (ok), 4-7, 4-5, 4 (ok), 5 (the bad one), 6-7 (ok)
    assert calls == [8, 4, 4, 2, 1, 1, 2], calls
    assert "error_type" in results[5].inference and results[5].inference["message"]
    for i in set(range(8)) - {5}:
        assert results[i].inference == clean[i].inference  # bit-identical: same padding
        assert results[i].example == {"uri": f"v{i}"}

"""Decoding and inference as separate stages (issue 14 item 16): a labelled Reshuffle
between them, resource hints on the inference step only when asked, and a per-process
bound on concurrent decodes and ffmpeg decoder threads."""
import threading
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor

from beam_pipelines import decode_limits, score
from beam_pipelines.media import ffmpeg_bin


class _Transforms(PipelineVisitor):
    def __init__(self):
        self.by_label = {}

    def enter_composite_transform(self, node):
        self.visit_transform(node)

    def visit_transform(self, node):
        self.by_label[node.full_label] = node


def _graph(tmp_path, *flags):
    argv = ["--catalog", str(tmp_path / "c.csv"), "--output_dir", str(tmp_path / "out"),
            *flags]
    opts = PipelineOptions(argv).view_as(score.ScoreOptions)
    p = beam.Pipeline(options=PipelineOptions(argv))
    score.build(p, opts)
    visitor = _Transforms()
    p.visit(visitor)
    return visitor.by_label


def test_reshuffle_sits_between_decoding_and_inference(tmp_path):
    nodes = _graph(tmp_path, "--reshuffle_decoded", "yes")
    reshuffle, inference = nodes["ReshuffleDecoded"], nodes["RunInference"]
    assert isinstance(reshuffle.transform, beam.Reshuffle)
    (decoded,) = reshuffle.main_inputs.values()
    assert decoded.producer.full_label == "DecodeKeyframes/ParDo(DecodeKeyframes)" or \
        decoded.producer.full_label.startswith("DecodeKeyframes")
    (spread,) = inference.main_inputs.values()
    assert spread.producer.full_label.startswith("ReshuffleDecoded")  # before: DecodeKeyframes
    assert not inference.resource_hints  # no hint unless asked


def test_local_runners_fuse_decoding_with_inference_by_default(tmp_path):
    # A local runner materialises a Reshuffle: every decoded video in memory at once
    # (RSS grew ~19 MB a video with the bundled preset; BENCHMARKS.md "Scoring pipeline").
    nodes = _graph(tmp_path)
    assert "ReshuffleDecoded" not in nodes
    (decoded,) = nodes["RunInference"].main_inputs.values()
    assert decoded.producer.full_label.startswith("DecodeKeyframes")
    assert "ReshuffleDecoded" not in _graph(tmp_path, "--reshuffle_decoded", "no")


@pytest.mark.parametrize("flags, expected", [
    ([], False), (["--runner", "DirectRunner"], False),
    (["--runner", "DataflowRunner"], True), (["--runner", "FlinkRunner"], True),
    (["--runner", "DataflowRunner", "--reshuffle_decoded", "no"], False),
    (["--reshuffle_decoded", "yes"], True)])
def test_reshuffle_auto_follows_where_the_workers_run(flags, expected):
    options = PipelineOptions(["--catalog", "c.csv", "--output_dir", "out", *flags])
    assert score.reshuffles_decoded(options.view_as(score.ScoreOptions), options) is expected


def test_inference_resource_hints_only_when_asked(tmp_path):
    nodes = _graph(tmp_path, "--inference_accelerator",
                   "type:nvidia-l4;count:1;install-nvidia-driver",
                   "--inference_min_ram", "16GB")
    hints = nodes["RunInference"].resource_hints
    assert hints["beam:resources:accelerator:v1"] == \
        b"type:nvidia-l4;count:1;install-nvidia-driver"
    assert hints["beam:resources:min_ram_bytes:v1"] == str(16 * 10**9).encode()
    # Decoding keeps the job's machines: no accelerator there.
    assert "beam:resources:accelerator:v1" not in nodes["DecodeKeyframes"].resource_hints


def test_bad_decode_bounds_are_refused(tmp_path):
    with pytest.raises(score.ConfigError, match="max_concurrent_decodes"):
        _graph(tmp_path, "--max_concurrent_decodes", "0")


def test_at_most_max_concurrent_decodes_per_process(monkeypatch):
    monkeypatch.setattr(ffmpeg_bin, "_MAX_INPUT_THREADS", None)
    active, peak, lock = [0], [0], threading.Lock()

    class SlowReader:
        def __init__(self, uri):
            self.uri = uri

        def __enter__(self):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            return self.uri

        def __exit__(self, *exc):
            with lock:
                active[0] -= 1

    reader = decode_limits.BoundedReader(SlowReader, max_concurrent=2, decoder_threads=3)

    def work(n):
        with reader(f"v{n}") as path:
            assert path == f"v{n}"

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2  # unbounded: 8
    assert ffmpeg_bin._MAX_INPUT_THREADS == 3
    assert decode_limits.BoundedReader(SlowReader, 4).threads() >= 1


def test_every_ffmpeg_input_gets_at_most_the_thread_cap():
    args = ["-hide_banner", "-threads", "8", "-ss", "1", "-i", "a", "-ss", "2", "-i", "b",
            "-threads", "0", "-i", "c", "-c:v", "libx264", "-threads", "1", "out.mp4"]
    assert ffmpeg_bin.cap_input_threads(args, 2) == [
        "-hide_banner", "-threads", "2", "-ss", "1", "-i", "a", "-ss", "2", "-threads", "2",
        "-i", "b", "-threads", "2", "-i", "c", "-c:v", "libx264", "-threads", "1", "out.mp4"]
    assert ffmpeg_bin.cap_input_threads(args, None) == args


def test_a_capped_ffmpeg_decode_runs(tmp_path, monkeypatch, ladder_rows):
    from beam_pipelines.media import keyframes

    monkeypatch.setattr(ffmpeg_bin, "_MAX_INPUT_THREADS", None)
    free = keyframes.decode_keyframes(ladder_rows[0]["uri"], 4, timeout_s=60)
    ffmpeg_bin.set_max_input_threads(1)
    capped = keyframes.decode_keyframes(ladder_rows[0]["uri"], 4, timeout_s=60)
    assert (capped.frames == free.frames).all()  # threads never change the pixels

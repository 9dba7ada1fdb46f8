"""The local runner never tries Prism or the network; options pass through."""
import socket

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import catalog, flip_rate, runner


@pytest.mark.parametrize("argv", [[], ["--runner=DirectRunner"], ["--runner", "direct"]])
def test_local_runner_is_the_python_fnapi_runner(argv):
    assert isinstance(runner.offline_runner(PipelineOptions(argv)), fn_runner.FnApiRunner)


def test_other_runners_pass_through():
    opts = PipelineOptions(["--runner=DataflowRunner"])
    assert runner.offline_runner(opts) == "DataflowRunner"
    assert not runner.is_local(opts)


def test_pipeline_runs_without_prism_or_network(tmp_path, monkeypatch):
    attempts = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            attempts.append(address)
            raise OSError(f"test: network access to {address} refused")
        return real_connect(sock, address)

    def no_prism(*args, **kwargs):
        raise AssertionError("PrismRunner must not be used")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", no_prism)
    path = tmp_path / "c.csv"
    path.write_text("video_id,uri,source_id,crf\na,a.mp4,s,20\nb,b.mp4,s,30\na,c.mp4,s,40\n")
    opts = PipelineOptions(["--runner=DirectRunner"])
    with beam.Pipeline(runner=runner.offline_runner(opts), options=opts) as p:
        cat = p | catalog.ReadCatalog(str(path))
        scores = cat.entries | beam.Map(lambda e: dict(e, score=float(e["crf"])))
        assert_that(scores | flip_rate.FlipRate() | beam.Map(lambda r: r["flips"]),
                    equal_to([1, 1, 1, 1]))  # s and "*", pair and rung_diff
    assert attempts == []

"""Flags that cannot work are refused up front, before a catalog is read or a job built
(issue 14 items 7 and 10): local paths with a runner whose workers are other machines,
and `--model cpllm_paper` (untrained head) for scoring."""
import shutil
import socket

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines import catalog, ladder, prepare, runner, score

GS = "gs://bucket"
_PIPELINE = beam.Pipeline  # the real one (the autouse fixture replaces beam.Pipeline)


@pytest.fixture(autouse=True)
def nothing_built_and_no_network(monkeypatch):
    """Any network connection, catalog read or pipeline construction fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("must be refused before this point")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(catalog, "check_catalog", refuse)
    monkeypatch.setattr(beam, "Pipeline", refuse)
    monkeypatch.setattr(score, "build", refuse)
    monkeypatch.setattr(prepare, "load_preprocessor", refuse)


def _score_argv(**over):
    flags = {"catalog": f"{GS}/c.csv", "output_dir": f"{GS}/out", "model": "cpllm_tiny",
             "temp_location": f"{GS}/tmp"}
    flags.update(over)
    return [f"--{k}={v}" for k, v in flags.items() if v is not None]


@pytest.mark.parametrize("flag", ["catalog", "output_dir", "temp_location", "staging_location",
                                  "model", "bigquery_temp_location"])
def test_score_refuses_a_local_path_on_dataflow(tmp_path, flag):
    local = tmp_path / "here"
    local.mkdir()
    argv = _score_argv(**{flag: str(local)}) + ["--runner=DataflowRunner"]
    with pytest.raises(score.ConfigError, match=f"--{flag} {local}"):
        score.run(argv)


def test_score_cli_reports_local_paths_on_dataflow(tmp_path, capsys):
    argv = ["--catalog", str(tmp_path / "c.csv"), "--output_dir", str(tmp_path / "o"),
            "--runner", "DataflowRunner"]
    assert score.main(argv) == 2
    err = capsys.readouterr().err
    assert "--catalog" in err and "--output_dir" in err and "DataflowRunner" in err
    assert not (tmp_path / "o").exists()


def test_score_accepts_gs_paths_and_bundled_preset_on_dataflow():
    score.check_config(PipelineOptions(_score_argv() + ["--runner=DataflowRunner"]))
    score.check_config(PipelineOptions(
        _score_argv(model=f"{GS}/presets/trained") + ["--runner=DataflowRunner"]))


@pytest.mark.parametrize("runner_flag", [[], ["--runner=DirectRunner"], ["--runner=direct"],
                                         ["--runner=FnApiRunner"], ["--runner=PrismRunner"]])
def test_local_runners_accept_local_paths(tmp_path, runner_flag):
    argv = _score_argv(catalog=str(tmp_path / "c.csv"), output_dir=str(tmp_path / "o"),
                       temp_location=str(tmp_path), model=str(tmp_path),
                       bigquery_temp_location=str(tmp_path))
    options = PipelineOptions(argv + runner_flag)
    assert runner.runs_on_this_machine(options)
    score.check_config(options)


@pytest.mark.parametrize("name", ["DataflowRunner", "FlinkRunner", "SparkRunner",
                                  "apache_beam.runners.dataflow.dataflow_runner.DataflowRunner"])
def test_remote_runners_are_not_local(name):
    assert not runner.runs_on_this_machine(PipelineOptions([f"--runner={name}"]))


def test_bigquery_validation_is_off_only_on_local_runners(monkeypatch):
    seen = []

    class FakeWrite(beam.PTransform):
        def __init__(self, **kwargs):
            super().__init__()
            seen.append(kwargs["validate"])

        def expand(self, pcoll):
            return pcoll

    monkeypatch.setattr(beam.io, "WriteToBigQuery", FakeWrite)
    base = ["--bigquery_dataset=p:d", "--bigquery_method=FILE_LOADS",
            "--bigquery_temp_location=/tmp/bq"]
    for extra in ([], ["--runner=DataflowRunner"]):
        opts = PipelineOptions(base + extra).view_as(score.ScoreOptions)
        p = _PIPELINE(runner=runner.offline_runner(PipelineOptions([])))
        score._write_bigquery(p | beam.Create([]), opts, "scores")
    assert seen == [False, True]


def test_ladder_refuses_local_paths_on_dataflow(tmp_path):
    with pytest.raises(runner.ConfigError, match="--catalog .*--output_dir"):
        ladder.run([f"--catalog={tmp_path / 'c.csv'}", f"--output_dir={tmp_path / 'o'}",
                    "--runner=DataflowRunner", f"--temp_location={GS}/tmp"])
    with pytest.raises(runner.ConfigError, match="--temp_location"):
        ladder.run([f"--catalog={GS}/c.csv", f"--output_dir={GS}/o",
                    "--runner=DataflowRunner", f"--temp_location={tmp_path}"])


def test_prepare_refuses_local_paths_and_preset_dirs_on_dataflow(tmp_path):
    with pytest.raises(runner.ConfigError, match="--output_dir"):
        prepare.run([f"--catalog={GS}/c.csv", f"--output_dir={tmp_path / 'o'}",
                     "--runner=DataflowRunner", f"--temp_location={GS}/tmp"])
    with pytest.raises(runner.ConfigError, match="--model"):
        prepare.run([f"--catalog={GS}/c.csv", f"--output_dir={GS}/o", f"--model={tmp_path}",
                     "--runner=DataflowRunner", f"--temp_location={GS}/tmp"])


def test_score_refuses_the_untrained_paper_preset(tmp_path, capsys):
    argv = ["--catalog", str(tmp_path / "c.csv"), "--output_dir", str(tmp_path / "o"),
            "--model", "cpllm_paper"]
    with pytest.raises(score.ConfigError, match="untrained.*trained preset directory"):
        score.run(argv)
    assert score.main(argv) == 2
    assert "--model PRESET_DIR" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_score_accepts_a_trained_preset_directory(tmp_path):
    from cpllm_model import preset_registry

    trained = tmp_path / "cpllm_paper_trained"
    shutil.copytree(f"{preset_registry.PRESET_DIR}/cpllm_tiny", trained)
    score.check_config(PipelineOptions(["--catalog=c.csv", "--output_dir=o",
                                        f"--model={trained}"]))
    _, k, _ = score.model_preprocessing(str(trained))  # its preprocessor loads
    assert k == 8


def test_help_does_not_call_cpllm_paper_bundled():
    import argparse

    parser = argparse.ArgumentParser()
    score.ScoreOptions._add_argparse_args(parser)
    text = " ".join(parser.format_help().split())
    assert "bundled name (cpllm_tiny, cpllm_paper)" not in text
    assert "cpllm_paper is refused" in text

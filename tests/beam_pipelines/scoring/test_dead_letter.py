"""RunInference's dead letter end to end: a batch whose inference raises becomes one
failure row per video, with the exception's own class and message (issue 14, item 1).

No model weights are loaded: the handler is a KerasCPLLMHandler whose load_model returns
a stand-in and whose run_inference raises for every batch.
"""
import csv

import pytest

from beam_pipelines import dead_letter, inference, score, tables


class _NoModel:
    """Stands in for the model (Beam keeps a weak reference to it)."""


class BatchBreakingHandler(inference.KerasCPLLMHandler):
    def load_model(self):
        return _NoModel()

    def run_inference(self, batch, model, inference_args=None):
        raise ValueError(f"injected failure for a batch of {len(batch)}")


def _catalog(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["video_id", "uri", "source_id", "crf"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_failed_batch_becomes_failure_rows_with_the_real_error(
        tmp_path, monkeypatch, ladder_rows):
    monkeypatch.setattr(inference, "KerasCPLLMHandler", BatchBreakingHandler)
    rows = ladder_rows[:2]
    out = str(tmp_path / "out")
    summary = score.run(["--catalog", _catalog(tmp_path / "c.csv", rows),
                         "--output_dir", out, "--max_batch_size", "2"])
    assert summary["scored"] == 0
    failures = tables.read_table(out, "failures")
    assert sorted(r["video_id"] for r in failures) == sorted(r["video_id"] for r in rows)
    for r in failures:
        assert r["stage"] == "inference"
        assert r["error_type"] == "ValueError"  # not "tuple"
        assert "injected failure for a batch of" in r["message"]
        assert r["uri"] in {row["uri"] for row in rows}


@pytest.mark.parametrize("error", [
    (KeyError, "KeyError('x')", ["Traceback ...\n", "KeyError: 'x'\n"]),  # Beam 2.77
    KeyError("x"),
])
def test_dead_letter_error_shapes(error):
    assert dead_letter.beam_error(error)[0] == "KeyError"
    assert "x" in dead_letter.beam_error(error)[1]


class OutOfMemoryHandler(inference.KerasCPLLMHandler):
    """The real run_inference; its batch runs into a real JAX out-of-memory error."""

    def load_model(self):
        return _NoModel()

    def _predict(self, examples, model):
        import jax.numpy as jnp

        return jnp.zeros((2**40,), jnp.float32).block_until_ready()  # 4 TiB: RESOURCE_EXHAUSTED


def test_out_of_memory_fails_the_run_instead_of_writing_failure_rows(
        tmp_path, monkeypatch, ladder_rows):
    # Issue 14 item 8: a sick worker is not a bad video. Before, the handler scored the
    # batch one by one and every video became an `inference` failure row (and the dead
    # letter caught whatever escaped); now the bundle fails, which Dataflow retries.
    monkeypatch.setattr(inference, "KerasCPLLMHandler", OutOfMemoryHandler)
    out = tmp_path / "out"
    with pytest.raises(Exception, match="RESOURCE_EXHAUSTED"):
        score.run(["--catalog", _catalog(tmp_path / "c.csv", ladder_rows[:2]),
                   "--output_dir", str(out), "--max_batch_size", "2"])
    assert not list(out.glob("failures-*.parquet"))  # no permanent failure rows


def test_failure_rows_from_exceptions():
    from beam_pipelines.media import errors

    row = dead_letter.failure_from_exception("v", "/v.mp4", ValueError("x" * 5000), "decode",
                                             attempts=3)
    assert (row["stage"], row["error_type"], row["attempts"]) == ("decode", "ValueError", 3)
    assert len(row["message"]) == dead_letter.MAX_MESSAGE and row["run_id"] is None
    assert dead_letter.failure_from_exception("v", None, KeyError(), "read")["message"] == \
        "KeyError()"  # an empty message reads as the exception's repr
    assert dead_letter.stage_of(errors.NotAVideo("p"), "decode") == "probe"
    assert dead_letter.stage_of(ValueError("p"), "preprocess") == "preprocess"
    with pytest.raises(ValueError, match="unknown stage"):
        dead_letter.failure_row("v", None, "nowhere", "E", "m")
    tagged = dead_letter.tagged(row)
    assert tagged.tag == dead_letter.FAILURES == "failures" and tagged.value is row

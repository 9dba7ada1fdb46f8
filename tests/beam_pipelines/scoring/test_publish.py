"""Re-runs and failed runs (issue 14 item 12): a run writes into its own staging
directory and replaces the earlier tables only after it succeeded, so a job that fails
leaves the previous tables complete; every row carries its run's run_id."""
import csv
import os

import pytest

from beam_pipelines import dead_letter, inference, schemas, score, tables


class _NoModel:
    """Stands in for the model (Beam keeps a weak reference to it)."""


class OutOfMemoryHandler(inference.KerasCPLLMHandler):
    def load_model(self):
        return _NoModel()

    def _predict(self, examples, model):
        import jax.numpy as jnp

        return jnp.zeros((2**40,), jnp.float32).block_until_ready()  # RESOURCE_EXHAUSTED


def _catalog(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["video_id", "uri", "source_id", "crf"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def _tables(out):
    return {name: tables.read_table(out, name) for name in score.TABLE_NAMES}


def _shards(out):
    return sorted(f for f in os.listdir(out) if f.endswith(".parquet"))


def test_a_failed_run_leaves_the_previous_tables_and_run_ids_tell_runs_apart(
        tmp_path, monkeypatch, ladder_rows, plumbing_preset):
    out = str(tmp_path / "out")
    rows = list(ladder_rows[:3]) + [{"video_id": "gone", "uri": str(tmp_path / "gone.mp4")}]
    argv = ["--catalog", _catalog(tmp_path / "c.csv", rows), "--output_dir", out,
            "--model", plumbing_preset]

    first = score.run(argv)
    run1 = first["run_id"]
    tables1, shards1 = _tables(out), _shards(out)
    assert first["scored"] == 3 and first["failed"] == 1
    for name, table in tables1.items():
        assert all(r["run_id"] == run1 for r in table), name
    assert len(tables1["scores"]) == 3 and len(tables1["flip_rate"]) > 0
    assert sorted(os.listdir(out)) == shards1  # no staging directory left

    # The second run dies (out of memory on every batch: the bundle fails).
    with monkeypatch.context() as mp:
        mp.setattr(inference, "KerasCPLLMHandler", OutOfMemoryHandler)
        with pytest.raises(Exception, match="RESOURCE_EXHAUSTED"):
            score.run(argv)
    assert _shards(out) == shards1  # before the fix: tables deleted at launch
    assert _tables(out) == tables1  # the previous run's rows, complete
    assert os.listdir(os.path.join(out, "_staging"))  # the failed run's leftovers only

    # A successful re-run replaces the tables and removes every staging directory.
    third = score.run(argv)
    assert third["run_id"] != run1
    tables3 = _tables(out)
    assert sorted(os.listdir(out)) == _shards(out)
    for name, table in tables3.items():
        assert len(table) == len(tables1[name]), name
        assert all(r["run_id"] == third["run_id"] for r in table), name
    key = lambda t: sorted((r["video_id"], r["score"]) for r in t)
    assert key(tables3["scores"]) == key(tables1["scores"])


def test_every_scoring_table_ends_with_run_id():
    for name, (arrow, bq) in schemas.TABLES.items():
        assert arrow.names[-1] == "run_id" and bq["fields"][-1]["name"] == "run_id", name
    assert dead_letter.failure_row("v", "/v.mp4", "read", "X", "m")["run_id"] is None

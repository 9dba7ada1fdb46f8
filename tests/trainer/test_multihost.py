"""Multi-host training for real: two JAX processes on this machine (CPU, gloo collectives)
under keras.distribution.DataParallel, each reading its own shard group, against one
process reading both groups (`trainer.multihost`)."""
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from trainer import checkpoint, config_lib, train

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="module")
def two_shard_data(tiny_data, tmp_path_factory):
    """tiny_data with its train split written as two shard files, one source in each."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("two_shards")
    shutil.copytree(os.path.join(tiny_data, "holdout"), root / "holdout")
    shutil.copy(os.path.join(tiny_data, "manifest.json"), root / "manifest.json")
    os.makedirs(root / "train")
    (src,) = tf.io.gfile.glob(os.path.join(tiny_data, "train", "*.tfrecord"))
    by_source = {}
    for raw in tf.data.TFRecordDataset(src).as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        source = example.features.feature["source_id"].bytes_list.value[0].decode()
        by_source.setdefault(source, []).append(raw)
    assert len(by_source) == 2
    for i, source in enumerate(sorted(by_source)):
        with tf.io.TFRecordWriter(str(root / "train" / f"data-{i:05d}-of-00002.tfrecord")) as w:
            for raw in by_source[source]:
                w.write(raw)
    return str(root)


def _overrides(tiny_config, data_dir):
    return [f"{k}={v}" for k, v in (
        ("data.dir", data_dir), ("model.preset", tiny_config.model.preset),
        ("input.batch_size", 4), ("input.shard_groups", 2), ("num_steps", 4),
        ("log_every", 1), ("checkpoint_every", 2), ("eval_every", 0),
        ("optimizer.warmup_steps", 0), ("eval_batch_size", 4),
        ("model.score_max_patches", tiny_config.model.score_max_patches),
        # the pairwise answer trains too: one pair of each block, each process feeding
        # the answers of its own block
        ("loss.compare_weight", 1.0), ("loss.compare_pairs", 2))]


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_and_write_once(tiny_config, two_shard_data,
                                                        tmp_path):
    cfg_path = os.path.join(REPO, "trainer", "configs", "cpllm_tiny.py")
    overrides = _overrides(tiny_config, two_shard_data)
    one_dir = str(tmp_path / "one")
    config = config_lib.apply_overrides(config_lib.load_config(cfg_path), overrides)
    one = train.train_and_evaluate(config, one_dir)

    two_dir = str(tmp_path / "two")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    address = f"localhost:{_free_port()}"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "trainer.train", f"--config={cfg_path}",
         f"--workdir={two_dir}", *(f"--override={o}" for o in overrides),
         f"--coordinator_address={address}", "--num_processes=2", f"--process_id={i}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=600)[0])
    finally:
        for p in procs:
            p.kill()
    for i, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"process {i}:\n{log[-4000:]}"
        assert f"process {i} of 2 reads shard groups [{i}] of 2" in log
        assert "2 devices" in log

    # Written once, by process 0: two checkpoints, four logged steps, one final eval.
    assert checkpoint.all_steps(two_dir) == [2, 4]
    with open(os.path.join(two_dir, "metrics.jsonl")) as f:
        two_logged = [json.loads(line)["train"] for line in f if "train" in json.loads(line)]
    assert len(two_logged) == 4
    with open(os.path.join(one_dir, "metrics.jsonl")) as f:
        one_logged = [json.loads(line)["train"] for line in f if "train" in json.loads(line)]
    for a, b in zip(one_logged, two_logged):
        assert np.isfinite(a["compare_text_loss"]) and a["compare_text_loss"] > 0
        assert b["compare_text_loss"] == pytest.approx(a["compare_text_loss"], rel=1e-3)
    with open(os.path.join(two_dir, "eval_final.json")) as f:
        final = json.load(f)
    assert final["step"] == 4

    # Same global batches, the gradient all-reduced over two processes: the same weights
    # up to float reduction order.
    multi, _ = checkpoint.restore(two_dir, 4)
    single, _ = checkpoint.restore(one_dir, 4)
    for group in ("trainable", "non_trainable", "optimizer"):
        assert len(multi[group]) == len(single[group])
    for a, b in zip(multi["trainable"], single["trainable"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert final["srcc"] == pytest.approx(one["srcc"], abs=1e-6)
    assert final["score_mean"] == pytest.approx(one["score_mean"], abs=1e-2)


def test_shard_groups_must_fit_the_files_and_the_batch(tiny_config, tiny_data, tmp_path):
    cfg_path = os.path.join(REPO, "trainer", "configs", "cpllm_tiny.py")
    config = config_lib.apply_overrides(config_lib.load_config(cfg_path),
                                        _overrides(tiny_config, tiny_data))
    with pytest.raises(ValueError, match="too few for 2 shard groups"):
        train.train_and_evaluate(config, str(tmp_path / "one_file"))  # one train file
    config = config_lib.apply_overrides(config, ["input.shard_groups=3"])
    with pytest.raises(ValueError, match="not divisible by input.shard_groups=3"):
        train.train_and_evaluate(config, str(tmp_path / "odd"))


def test_pairwise_answers_come_from_every_block():
    from trainer import input_pipeline, train_step

    rows = input_pipeline.blocks_pair_rows(8, 2, 2)  # 2 blocks of 4 videos, 2 pairs each
    first, second = train_step.compare_row_indices(4, rows, 2, groups=2)
    np.testing.assert_array_equal(first, [0, 4])
    np.testing.assert_array_equal(second, [1, 5])
    first, _ = train_step.compare_row_indices(4, None, 3)  # one block: the first C pairs
    np.testing.assert_array_equal(first, [0, 2, 4])
    with pytest.raises(ValueError, match="must be a multiple of input.shard_groups=2"):
        train_step.compare_row_indices(4, rows, 3, groups=2)

"""Real training on the tiny data: loss goes down, trainable sets, exact resume, 2 devices."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from trainer import checkpoint, config_lib, input_pipeline, train, train_step

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _paths(variables):
    return {v.path for v in variables}


def test_trainable_sets_match_the_config(tiny_config):
    tiny = train.build_model(tiny_config)
    # the config's backbone_overrides shape the model, whatever the preset saved
    assert tiny.backbone.get_config()["low_level_contrast_norm"] is True
    assert tiny.backbone.low_level_contrast_norm
    assert (tiny_config.train_modes.high_level, tiny_config.train_modes.decoder) == (
        "frozen", "full")
    names = _paths(tiny.backbone.trainable_variables)
    decoder_all = _paths(v for layer in tiny.backbone.decoder_layers()
                         for v in layer.variables)
    # tiny: SigLIP tower frozen, the whole decoder (no LoRA) and the rest trained.
    assert not names & _paths(tiny.backbone.high_level_encoder.variables)
    assert decoder_all <= names
    assert not any("lora" in n for n in names)
    assert _paths(tiny.backbone.low_level_encoder.spatial_encoder.variables) <= names
    for layer in (tiny.backbone.high_level_projection, tiny.backbone.score_head.output_dense):
        assert _paths(layer.variables) <= names

    paper_modes = config_lib.apply_overrides(tiny_config, [
        "train_modes.high_level=frozen", "train_modes.decoder=lora",
        "train_modes.lora_rank=4"])
    paper = train.build_model(paper_modes)
    bb = paper.backbone
    trainable = _paths(bb.trainable_variables)
    siglip = _paths(bb.high_level_encoder.variables)
    prism_spatial = _paths(bb.low_level_encoder.spatial_encoder.variables)
    decoder = _paths(v for layer in bb.decoder_layers() for v in layer.variables)
    assert not trainable & siglip                      # high-level encoder frozen
    assert prism_spatial <= trainable                  # low-level encoder trained
    for layer in (bb.high_level_projection, bb.low_level_projection, bb.score_head.hidden,
                  bb.score_head.output_dense):
        assert _paths(layer.variables) <= trainable    # projections and head trained
    decoder_trainable = trainable & decoder
    assert decoder_trainable and all("lora" in n for n in decoder_trainable)
    per_block = {n.rsplit("/", 2)[-2] for n in decoder_trainable}
    assert per_block == {"query", "key", "value"}      # LoRA on q/k/v only
    assert len(decoder_trainable) == 2 * 3 * bb.num_layers  # A and B per projection
    shapes = {tuple(v.shape) for v in bb.trainable_variables if "lora" in v.path}
    assert all(4 in s for s in shapes)                 # the configured rank


def test_a_config_that_disagrees_with_the_preset_is_refused(tiny_config, tiny_model):
    wrong = config_lib.apply_overrides(tiny_config, ["model.num_keyframes=4"])
    with pytest.raises(ValueError, match="model.num_keyframes=4 but the preset has 8"):
        train.build_model(wrong)
    wrong = config_lib.apply_overrides(tiny_config, ["model.patch_size=8"])
    with pytest.raises(ValueError, match="model.patch_size=8 but the preset has"):
        train.build_model(wrong)


def test_scoring_choices_are_the_exports_not_the_starting_presets(tiny_config, tiny_model):
    # e.g. the 64-patch experiments trained from the bundled 256-patch preset
    p = tiny_model.preprocessor
    other = config_lib.apply_overrides(tiny_config, [
        f"model.score_max_patches={p.max_patches + 1}",
        f"model.score_patch_fill={not p.patch_fill}"])
    model = train.build_model(other)
    assert (model.preprocessor.max_patches, model.preprocessor.patch_fill) == (
        p.max_patches, p.patch_fill)  # applied when saved (test_export)


def test_records_must_have_the_configs_patch_count(tiny_config, tiny_data):
    from beam_pipelines import records

    model = train.build_model(tiny_config)
    spec = records.RecordSpec.from_manifest(os.path.join(tiny_data, "manifest.json"))
    assert spec.max_patches == tiny_config.model.max_patches
    train.check_spec(model, spec, tiny_config)  # the records' M is the config's
    other = config_lib.apply_overrides(tiny_config, [f"model.max_patches={spec.max_patches * 2}"])
    with pytest.raises(ValueError, match="--max_patches"):
        train.check_spec(model, spec, other)
    # Records of one-frame patches do not train a model that reads clips, nor back.
    clips = records.RecordSpec(**{**spec.to_dict(), "low_level_frames": 2})
    with pytest.raises(ValueError, match="--low_level_frames"):
        train.check_spec(model, clips, tiny_config)


def test_paper_config_matches_the_paper_assembly():
    import inspect

    from cpllm_model import paper

    config = config_lib.load_config(os.path.join(REPO, "trainer", "configs",
                                                 "cpllm_paper.py"))
    defaults = inspect.signature(paper.assemble).parameters
    for key in ("num_keyframes", "low_level_max_side", "max_patches"):
        assert config.model[key] == defaults[key].default, key
    assert config.model.patch_size == 288 and config.model.image_size == 224


def test_backbone_overrides_are_checked(tiny_config):
    unknown = config_lib.apply_overrides(tiny_config, [])
    unknown.model.backbone_overrides["low_level_no_such_option"] = 1
    with pytest.raises(ValueError, match="low_level_no_such_option"):
        train.build_model(unknown)
    kept = config_lib.apply_overrides(tiny_config, ["model.reinitialize=False"])
    with pytest.raises(ValueError, match="reinitialize"):
        train.build_model(kept)


def test_a_few_real_steps_lower_the_loss(tiny_config, tiny_data, tiny_model):
    config = config_lib.apply_overrides(tiny_config, ["optimizer.learning_rate=0.002",
                                                      "num_steps=8"])
    model = tiny_model.configure_training(high_level="all", decoder="full")
    split = input_pipeline.attach_text(
        input_pipeline.load_split(tiny_data, "train"),
        lambda d: model.preprocessor.tokenize_description(d, 96))
    sched = input_pipeline.BatchSchedule(split, batch_size=4, mode="mix", seed=0)
    batch = next(input_pipeline.train_dataset(
        split, sched, start_step=0, num_steps=1,
        regression_targets="all").as_numpy_iterator())
    optimizer = train.make_optimizer(config)
    state = train_step.initial_state(model.backbone, optimizer)
    step = train_step.make_train_step(model, optimizer, config.loss, sched.num_pairs)
    history = []
    for _ in range(8):
        state, parts = step(state, batch)
        history.append({k: float(v) for k, v in parts.items()})
    first, last = history[0], history[-1]
    assert all(np.isfinite(h["loss"]) for h in history)
    assert last["loss"] < 0.8 * first["loss"], history
    assert last["text_loss"] < first["text_loss"]
    assert last["regression_loss"] < first["regression_loss"]


@pytest.fixture(scope="module")
def uninterrupted(tiny_config, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("uninterrupted"))
    result = train.train_and_evaluate(tiny_config, workdir)
    return workdir, result


def _final_state(workdir):
    state, info = checkpoint.restore(workdir, checkpoint.latest_step(workdir))
    return state, info


def test_run_writes_checkpoints_logs_and_eval(uninterrupted):
    workdir, result = uninterrupted
    assert checkpoint.all_steps(workdir) == [2, 4]
    assert os.path.exists(os.path.join(workdir, "checkpoints", "step_00000004",
                                       "model.weights.h5"))
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [json.loads(x) for x in f]
    train_lines = [x["train"] for x in lines if "train" in x]
    assert len(train_lines) == 4
    for key in ("loss", "ranking_loss", "regression_loss", "text_loss", "lr"):
        assert all(np.isfinite(x[key]) for x in train_lines)
    import tensorflow as tf

    events = tf.io.gfile.glob(os.path.join(workdir, "tensorboard", "train", "events*"))
    tags = {v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(e)
            for v in ev.summary.value}
    assert {"loss", "ranking_loss", "regression_loss", "text_loss", "lr"} <= tags
    for key in ("srcc", "plcc", "flip_rate", "flip_rate_rung1", "srcc_vmaf"):
        assert key in result and np.isfinite(result[key])
    with open(os.path.join(workdir, "eval_final.json")) as f:
        assert json.load(f)["step"] == 4


def test_resume_after_a_crash_gives_identical_weights(uninterrupted, tiny_config, tmp_path):
    workdir = str(tmp_path / "crashed")
    # Crash after step 3 (no save at 3): the last checkpoint is step 2.
    assert train.train_and_evaluate(tiny_config, workdir, stop_after_steps=3) == {}
    assert checkpoint.latest_step(workdir) == 2
    result = train.train_and_evaluate(tiny_config, workdir)  # resumes from 2
    assert checkpoint.latest_step(workdir) == 4
    resumed, _ = _final_state(workdir)
    reference, _ = _final_state(uninterrupted[0])
    for group in ("trainable", "non_trainable", "optimizer"):
        assert len(resumed[group]) == len(reference[group])
        for a, b in zip(resumed[group], reference[group]):
            np.testing.assert_array_equal(a, b)  # bit for bit
    assert result["srcc"] == uninterrupted[1]["srcc"]


def test_streaming_run_is_the_in_memory_run(uninterrupted, tiny_config, tmp_path):
    workdir = str(tmp_path / "streaming")
    config = config_lib.apply_overrides(tiny_config, ["data.streaming=True",
                                                      "data.read_parallelism=2"])
    result = train.train_and_evaluate(config, workdir)
    streamed, _ = _final_state(workdir)
    reference, _ = _final_state(uninterrupted[0])
    for group in ("trainable", "non_trainable", "optimizer"):
        for a, b in zip(streamed[group], reference[group]):
            np.testing.assert_array_equal(a, b)  # the same batches, bit for bit
    assert result["srcc"] == uninterrupted[1]["srcc"]
    assert len(os.listdir(os.path.join(workdir, "record_index"))) == 1


def test_data_parallel_on_two_fake_devices(uninterrupted, tiny_config, tmp_path):
    workdir = str(tmp_path / "dp")
    cfg_path = os.path.join(REPO, "trainer", "configs", "cpllm_tiny.py")
    overrides = [f"--override={k}={v}" for k, v in (
        ("data.dir", tiny_config.data.dir), ("model.preset", tiny_config.model.preset),
        ("input.batch_size", 4), ("num_steps", 4), ("log_every", 1),
        ("checkpoint_every", 2), ("eval_every", 0), ("optimizer.warmup_steps", 0),
        ("eval_batch_size", 4),
        ("model.score_max_patches", tiny_config.model.score_max_patches))]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.train", f"--config={cfg_path}",
         f"--workdir={workdir}", *overrides],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 devices" in proc.stderr
    dp, _ = _final_state(workdir)
    single, _ = _final_state(uninterrupted[0])
    # Same math split over two devices: equal up to float reduction order.
    for a, b in zip(dp["trainable"], single["trainable"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def _get(config, dotted):
    for key in dotted.split("."):
        config = config[key]
    return config


def test_statistics_are_standardised_on_the_training_patches(tiny_config, tiny_data,
                                                             tmp_path):
    """cpllm_tiny_stats: before step 0 the compression statistics are standardised on the
    training split's real patches; the exported preset keeps those values (they are
    non-trainable: training does not move them)."""
    from cpllm_model import CPLLM
    from cpllm_model import compression_statistics as cs

    config = config_lib.load_config(os.path.join(REPO, "trainer", "configs",
                                                  "cpllm_tiny_stats.py"))
    keep = ("data.dir", "model.preset", "input.batch_size", "eval_batch_size",
            "model.score_max_patches")
    config = config_lib.apply_overrides(config, [
        *(f"{k}={_get(tiny_config, k)}" for k in keep),
        "num_steps=2", "log_every=1", "checkpoint_every=2", "eval_every=0",
        "optimizer.warmup_steps=0"])
    preset = str(tmp_path / "preset")
    train.train_and_evaluate(config, str(tmp_path / "work"), export_preset=preset)
    model = CPLLM.from_preset(preset)
    layer = model.backbone.compression_statistics
    assert model.backbone.low_level_statistics and layer is not None
    split = input_pipeline.load_split(tiny_data, "train")
    mean, scale = cs.standardization_from_moments(cs.patch_moments(
        cs.CompressionStatistics(), split.frames["low_patches"],
        split.frames["patch_mask"]))
    np.testing.assert_allclose(np.asarray(layer.feature_mean), mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.feature_scale), scale, rtol=1e-5)
    assert np.abs(mean).max() > 1.0  # not the identity it starts as
    scores = model.score(split.frames)["score"]
    assert np.all((scores >= 0) & (scores <= 100))


def test_patch_scores_train_with_patch_ranking(tiny_config, tiny_data, tmp_path):
    """cpllm_tiny_patch: the patch ranking term is computed on the pairs' aligned patches
    and trains; the exported preset scores per patch. Without patch_scores the term is
    refused with a clear error instead of silently not training."""
    from cpllm_model import CPLLM

    config = config_lib.load_config(os.path.join(REPO, "trainer", "configs",
                                                  "cpllm_tiny_patch.py"))
    keep = ("data.dir", "model.preset", "input.batch_size", "eval_batch_size",
            "model.score_max_patches")
    overrides = [*(f"{k}={_get(tiny_config, k)}" for k in keep),
                 "num_steps=2", "log_every=1", "checkpoint_every=2", "eval_every=0",
                 "optimizer.warmup_steps=0"]
    config = config_lib.apply_overrides(config, overrides)
    preset, workdir = str(tmp_path / "preset"), str(tmp_path / "work")
    train.train_and_evaluate(config, workdir, export_preset=preset)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        logged = [json.loads(line)["train"] for line in f if '"train"' in line]
    assert len(logged) == 2
    # Fresh weights order patches at random: about half the patch pairs are inverted.
    assert all(np.isfinite(m["patch_ranking_loss"]) and m["patch_ranking_loss"] > 0
               for m in logged)
    model = CPLLM.from_preset(preset)
    assert model.backbone.patch_scores
    scores = model.score(input_pipeline.load_split(tiny_data, "holdout").frames)["score"]
    assert np.all((scores >= 0) & (scores <= 100))

    refused = config_lib.apply_overrides(config, ["model.backbone_overrides.patch_scores=False"])
    with pytest.raises(ValueError, match="patch_scores=True"):
        train.train_and_evaluate(refused, str(tmp_path / "work2"))


@pytest.mark.parametrize("compare_keyframes", [None, 2])
def test_pairs_train_the_pairwise_answer(tiny_config, tmp_path, compare_keyframes):
    """loss.compare_weight > 0: the first C pairs of each batch are fed as video A + video
    B with the pairwise answer as the target; its text loss is logged and trains
    (also with fewer key frames per video than the model's K)."""
    overrides = ["num_steps=3", "log_every=1", "checkpoint_every=3", "eval_every=0",
                 "optimizer.warmup_steps=0", "loss.compare_weight=1.0",
                 "loss.compare_pairs=2", f"loss.compare_keyframes={compare_keyframes}"]
    config = config_lib.apply_overrides(tiny_config, overrides)
    workdir = str(tmp_path / "work")
    train.train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        logged = [json.loads(line)["train"] for line in f if '"train"' in line]
    assert len(logged) == 3
    losses_ = [m["compare_text_loss"] for m in logged]
    # An untrained decoder over a 1024-piece vocabulary: about log(1024) ~ 6.9 nats.
    assert all(np.isfinite(v) and v > 1.0 for v in losses_), losses_
    assert train_step.keyframe_subset(8, 2).tolist() == [2, 6]


def test_frozen_score_path_trains_the_decoder_only(tiny_config, tiny_preset, tiny_data,
                                                   tmp_path):
    """train_modes.score_path=frozen (cpllm_tiny_compare's stage 2): the decoder learns
    the pairwise answer while every score stays bit-identical to the starting preset."""
    from cpllm_model import CPLLM

    config = config_lib.apply_overrides(tiny_config, [
        "model.reinitialize=False", "model.init_score_bias_to_label_mean=False",
        "model.backbone_overrides=None", "train_modes.score_path=frozen",
        "loss.compare_weight=1.0", "loss.compare_pairs=2", "num_steps=2",
        "checkpoint_every=2", "optimizer.learning_rate=0.01"])
    preset = str(tmp_path / "preset")
    train.train_and_evaluate(config, str(tmp_path / "work"), export_preset=preset)
    before, after = CPLLM.from_preset(tiny_preset), CPLLM.from_preset(preset)
    frames = input_pipeline.load_split(tiny_data, "holdout").frames
    for m in (before, after):
        m.set_low_level_views(1)
    assert (after.score(frames)["score"].tobytes() == before.score(frames)["score"].tobytes())
    changed = [np.abs(np.asarray(a) - np.asarray(b)).max() > 0
               for a, b in zip(after.backbone.token_embedding.get_weights(),
                               before.backbone.token_embedding.get_weights())]
    assert all(changed)
    with pytest.raises(ValueError, match="score_path"):
        train.build_model(config_lib.apply_overrides(config, ["train_modes.high_level=all"]))


def test_verdict_weight_changes_the_pairwise_text_loss(tiny_config):
    """loss.compare_verdict_weight reaches the loss: on the same batch and weights the
    training loss (`train_step.make_loss_fn`, as `make_train_step` builds it from
    config.loss) gives another pairwise text loss when the verdict letter weighs 10
    instead of 1 (the CPU forward is deterministic: without the weight reaching
    the loss both calls would give the same number)."""
    config = config_lib.apply_overrides(tiny_config, [
        "loss.compare_weight=1.0", "loss.compare_pairs=1", "loss.compare_keyframes=1",
        "loss.text_videos=1"])
    model = train.build_model(config)
    seq_len = int(config.model.max_sequence_length)
    split = input_pipeline.attach_text(
        input_pipeline.load_split(config.data.dir, "train"),
        lambda d: model.preprocessor.tokenize_description(d, seq_len))
    sched = input_pipeline.BatchSchedule(split, batch_size=2, mode="mix", seed=0)
    batch = next(input_pipeline.train_dataset(
        split, sched, start_step=0, num_steps=1,
        regression_targets="all").as_numpy_iterator())
    compare_pairs, _ = train_step.comparison_pairs(config.loss, sched.num_pairs)
    first, second = train_step.compare_row_indices(sched.num_pairs, None, compare_pairs)
    batch.update(input_pipeline.ComparisonText(
        lambda a, b: model.preprocessor.tokenize_comparison(a, b, seq_len))(
            batch, first, second))
    trainable, non_trainable, _ = train_step.initial_state(
        model.backbone, train.make_optimizer(config))
    logged = []
    for weight in (1.0, 10.0):
        loss_config = config_lib.apply_overrides(
            config, [f"loss.compare_verdict_weight={weight}"]).loss
        loss_fn = jax.jit(train_step.make_loss_fn(model, loss_config, sched.num_pairs))
        _, (parts, _) = loss_fn(trainable, non_trainable, batch)
        logged.append(float(parts["compare_text_loss"]))
    assert np.isfinite(logged).all() and logged[0] != logged[1], logged


def test_a_score_only_member_trains_its_score_path(tiny_config, tiny_preset, tiny_data,
                                                   tmp_path):
    """A member unpacked score-only (include_decoder=False, `trainer.ensemble
    --unpack_to`) trains on: no text loss, its score path moves, the export stays
    score-only; a pairwise-answer loss is refused with a clear error. It takes on a
    motion input (an added layer, the trained weights kept), started from a given
    (w, c), which trains with the rest."""
    from cpllm_model import CPLLM

    start = str(tmp_path / "member")
    CPLLM.from_preset(tiny_preset, score_only=True).save_to_preset(start)
    config = config_lib.apply_overrides(tiny_config, [
        f"model.preset={start}", "model.reinitialize=False",
        "model.init_score_bias_to_label_mean=False", "model.backbone_overrides=None",
        "num_steps=2", "checkpoint_every=2", "optimizer.learning_rate=0.01"])
    config.model.backbone_overrides = {"motion_input": True}
    config.model.init_motion_shift = (-0.3, 0.2)
    preset, workdir = str(tmp_path / "preset"), str(tmp_path / "work")
    train.train_and_evaluate(config, workdir, export_preset=preset)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        logged = [json.loads(line)["train"] for line in f if '"train"' in line]
    assert [m["text_loss"] for m in logged] == [0.0, 0.0]
    assert all(np.isfinite(m["regression_loss"]) and m["regression_loss"] > 0
               for m in logged)
    before, after = CPLLM.from_preset(start), CPLLM.from_preset(preset)
    assert not after.backbone.include_decoder
    assert after.backbone.motion_input and not before.backbone.motion_input
    w, c = (float(v.numpy()) for v in after.backbone.motion_shift.weights)
    # Two Adam steps at lr 0.01 move each scalar by at most ~0.02 from its start.
    assert w != np.float32(-0.3) and c != np.float32(0.2)
    assert abs(w + 0.3) < 0.03 and abs(c - 0.2) < 0.03
    frames = input_pipeline.load_split(tiny_data, "holdout").frames
    for m in (before, after):
        m.set_low_level_views(1)
    assert not np.array_equal(after.score(frames)["score"], before.score(frames)["score"])
    refused = config_lib.apply_overrides(config, ["loss.compare_weight=1.0",
                                                  "loss.compare_pairs=2"])
    with pytest.raises(ValueError, match="needs a language decoder"):
        train.train_and_evaluate(refused, str(tmp_path / "work2"))


def test_a_trained_path_takes_on_patch_clips_and_trains_them(tiny_config, tiny_preset,
                                                             tiny_clip_data, tmp_path):
    """model.backbone_overrides={"low_level_frames": 2} on a trained (here: untrained
    test) preset without reinitialize: the clip mixer is added with its gate at zero,
    the records must be clip records, the gate trains with the rest, and the export
    cuts and reads clips (docs/TRAINING.md "Patch clips")."""
    from beam_pipelines import records
    from cpllm_model import CPLLM

    config = config_lib.apply_overrides(tiny_config, [
        f"model.preset={tiny_preset}", "model.reinitialize=False",
        "model.init_score_bias_to_label_mean=False", "model.backbone_overrides=None",
        f"data.dir={tiny_clip_data}", "num_steps=2", "checkpoint_every=2",
        "optimizer.learning_rate=0.01"])
    config.model.backbone_overrides = {"low_level_frames": 2}
    config.model.init_clip_gate = 0.25
    model = train.build_model(config)
    assert model.backbone.low_level_frames == model.preprocessor.low_level_frames == 2
    spec = records.RecordSpec.from_manifest(os.path.join(tiny_clip_data, "manifest.json"))
    assert spec.low_level_frames == 2
    train.check_spec(model, spec, config)
    preset, workdir = str(tmp_path / "preset"), str(tmp_path / "work")
    train.train_and_evaluate(config, workdir, export_preset=preset)
    after = CPLLM.from_preset(preset)
    assert after.backbone.low_level_frames == after.preprocessor.low_level_frames == 2
    gate = np.asarray(after.backbone.clip_mixer.gate.numpy())
    # Started open at 0.25 (model.init_clip_gate); two Adam steps at lr 0.01 move each
    # channel by at most ~0.02.
    assert np.abs(gate - 0.25).max() > 1e-4 and np.abs(gate - 0.25).max() < 0.03
    frames = input_pipeline.load_split(tiny_clip_data, "holdout").frames
    after.set_low_level_views(1)
    scores = after.score(frames)["score"]
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 100))
    without = config_lib.apply_overrides(tiny_config, [  # one-frame data, no clips
        "model.reinitialize=False", "model.init_score_bias_to_label_mean=False",
        "model.backbone_overrides=None", "num_steps=1"])
    without.model.init_clip_gate = 0.25
    with pytest.raises(ValueError, match="init_clip_gate needs"):
        train.train_and_evaluate(without, str(tmp_path / "work2"))


def test_a_trained_path_takes_on_a_per_frame_motion_input(tiny_config, tiny_preset,
                                                          tiny_pair_data, tiny_data, tmp_path):
    """model.backbone_overrides={"motion_input": True, "high_level_frames": 2} on a
    trained (here: untrained test) preset: the shift reads each key frame against the
    frame after it, the records must hold those pairs (one-frame records are refused),
    the shift trains from its init, and the export keeps both (docs/TRAINING.md
    "A motion input read frame to frame")."""
    from beam_pipelines import records
    from cpllm_model import CPLLM

    config = config_lib.apply_overrides(tiny_config, [
        f"model.preset={tiny_preset}", "model.reinitialize=False",
        "model.init_score_bias_to_label_mean=False", "model.backbone_overrides=None",
        f"data.dir={tiny_pair_data}", "num_steps=2", "checkpoint_every=2",
        "optimizer.learning_rate=0.01"])
    config.model.backbone_overrides = {"motion_input": True, "high_level_frames": 2}
    config.model.init_motion_shift = (-0.3, 0.2)
    model = train.build_model(config)
    assert model.backbone.high_level_frames == model.preprocessor.high_level_frames == 2
    assert model.preprocessor.frames_per_key == 2
    pairs = records.RecordSpec.from_manifest(os.path.join(tiny_pair_data, "manifest.json"))
    assert pairs.high_level_frames == 2 and pairs.high_shape[0] == 2 * pairs.num_keyframes
    train.check_spec(model, pairs, config)
    single = records.RecordSpec.from_manifest(os.path.join(tiny_data, "manifest.json"))
    with pytest.raises(ValueError, match="--high_level_frames"):
        train.check_spec(model, single, config)
    preset = str(tmp_path / "preset")
    train.train_and_evaluate(config, str(tmp_path / "work"), export_preset=preset)
    after = CPLLM.from_preset(preset)
    assert after.backbone.high_level_frames == after.preprocessor.high_level_frames == 2
    shift = after.backbone.motion_shift
    assert shift.frames_per_key == 2
    w = float(shift.weight.numpy())
    assert w != -0.3 and abs(w + 0.3) < 0.03  # trained from its init, two small steps
    frames = input_pipeline.load_split(tiny_pair_data, "holdout").frames
    scores = after.score(frames)["score"]
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 100))

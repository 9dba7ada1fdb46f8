"""Trains CP-LLM with the multi-task loss: `python -m trainer.train --config C --workdir W`.

    python -m trainer.train --config trainer/configs/cpllm_tiny.py --workdir /tmp/run \
        --override data.dir=/tmp/tiny_data [--override num_steps=100 ...] \
        [--export_preset cpllm_model/assets/presets/cpllm_tiny]

Keras 3 on JAX, a stateless jitted step (`trainer.train_step`), Adam. Writes to WORKDIR:
  config.json                 the resolved config
  checkpoints/step_N/         every `checkpoint_every` steps and at the end (exact resume:
                              `trainer.checkpoint`); a rerun with the same WORKDIR resumes
  tensorboard/{train,eval}/   tf.summary scalars: each loss, grad norm, lr, eval metrics
  metrics.jsonl               the same scalars, one JSON object per logged step
  eval_final.json             held-out metrics of the final weights
SIGTERM (preemption) saves a checkpoint at the next step boundary and exits;
`--stop_after_steps N` exits after step N WITHOUT saving, like a crash (tests use it).
All devices are used through `keras.distribution.DataParallel`: the local ones, and with
`--num_processes N` those of N processes (multi-host; `trainer.multihost`: each process
reads its own shard groups, process 0 alone writes).
`model.dtype_policy` picks the Keras dtype policy: "float32" or "mixed_bfloat16" (bf16
compute, float32 master weights and Adam state; docs/TRAINING.md "Mixed precision").
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import time

from absl import app, flags, logging

from trainer import config_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Path of a config file defining get_config().")
flags.DEFINE_string("workdir", None, "Output/checkpoint directory (resumes if it has one).")
flags.DEFINE_multi_string("override", [], "Config override key=value (repeatable), "
                          "e.g. --override num_steps=100 --override data.dir=/data.")
flags.DEFINE_integer("stop_after_steps", 0, "Exit after this step without saving "
                     "(simulates a crash; 0 = off).")
flags.DEFINE_string("export_preset", None, "Save the final model here with save_to_preset.")
flags.DEFINE_string("coordinator_address", None, "Multi-host: HOST:PORT of process 0's "
                    "coordinator (jax.distributed.initialize); with --num_processes > 1.")
flags.DEFINE_integer("num_processes", 1, "Multi-host: number of training processes.")
flags.DEFINE_integer("process_id", 0, "Multi-host: this process's index in "
                     "[0, --num_processes); process 0 writes the outputs.")


def setup_distribution():
    """DataParallel over all devices (of every process) when there is more than one."""
    import jax
    import keras

    devices = jax.devices()
    if len(devices) > 1 or jax.process_count() > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


# Keras dtype policies the trainer accepts. "mixed_bfloat16": layers compute in bfloat16,
# every variable (the master weights the optimizer updates) and the Adam moments stay
# float32; the losses are computed in float32 (trainer.losses casts). "mixed_float16"
# would need loss scaling, which the stateless train step does not do; pure "bfloat16"
# would keep bf16 master weights (updates below bf16 resolution are lost).
DTYPE_POLICIES = ("float32", "mixed_bfloat16")


# Layers (by Keras path) that compute in float32 under a mixed policy: the low-level
# input rescaling, so that the detail layer computed from its output
# (`CPLLMBackbone.detail_layer` / `normalized_detail_layer`: differences of neighbouring
# pixels, divided by the local contrast) is float32. In bf16 (8 significant bits, steps
# of 1/256 on [0.5, 1)) one grey level is at the rounding step and the contrast-normalised
# detail of the tiny model's patches came out with a 26 % mean relative error.
FLOAT32_LAYERS = ("low_level_rescaling",)


def dtype_policy(config) -> str:
    """The config's `model.dtype_policy` (default "float32"), checked."""
    policy = config.model.get("dtype_policy") or "float32"
    if policy not in DTYPE_POLICIES:
        raise ValueError(f"model.dtype_policy={policy!r}: expected one of {DTYPE_POLICIES} "
                         "(mixed_float16 needs loss scaling, not implemented; bfloat16 "
                         "would lose the float32 master weights)")
    return policy


def keras_dtype(policy: str):
    """What `CPLLM.from_preset(dtype=...)` gets: "float32", or for "mixed_bfloat16" a
    `DTypePolicyMap` with that default and FLOAT32_LAYERS in float32 (saved with the
    preset's config, so an exported preset scores the way it was trained)."""
    import keras

    if policy == "float32":
        return policy
    float32 = keras.dtype_policies.DTypePolicy("float32")
    return keras.dtype_policies.DTypePolicyMap(
        default_policy=policy, policy_map={path: float32 for path in FLOAT32_LAYERS})


def _check_master_weights(model, policy):
    """Every float variable float32 (the optimizer's master copy), compute as `policy`."""
    import keras

    bb = model.backbone
    want = keras.dtype_policies.get(policy).compute_dtype
    if bb.compute_dtype != want or bb.score_head.output_dense.compute_dtype != want:
        raise ValueError(f"backbone computes in {bb.score_head.output_dense.compute_dtype}, config "
                         f"model.dtype_policy={policy!r} asks {want}")
    wrong = sorted(v.path for v in bb.variables
                   if keras.backend.is_float_dtype(v.dtype) and v.dtype != "float32")
    if wrong:
        raise ValueError(f"dtype policy {policy!r}: variables not float32: {wrong[:5]}")


def build_model(config):
    """The preset's model in the config's dtype policy, optionally re-initialised from
    `config.seed`, with the config's training switches applied."""
    import keras

    from cpllm_model import CPLLM

    policy = dtype_policy(config)
    keras.utils.set_random_seed(config.seed)
    # A from-scratch run trains one score path: a preset's `score_members` (other runs,
    # trainer.ensemble) are not part of its architecture.
    model = CPLLM.from_preset(config.model.preset, dtype=keras_dtype(policy),
                              own_run_only=bool(config.model.reinitialize))
    overrides = dict(config.model.get("backbone_overrides") or {})
    if overrides and not config.model.reinitialize:
        model = with_added_layers(model, overrides)
    elif overrides:
        backbone_config = model.backbone.get_config()
        unknown = sorted(set(overrides) - set(backbone_config))
        if unknown:
            raise ValueError(f"model.backbone_overrides: unknown backbone options {unknown}")
        backbone_config.update(overrides)
        model = CPLLM(backbone=type(model.backbone).from_config(backbone_config),
                      preprocessor=model.preprocessor)
    elif config.model.reinitialize:
        backbone = model.backbone
        fresh = type(backbone).from_config(backbone.get_config())
        backbone.set_weights(fresh.get_weights())
    for name in FOLLOWED_BY_PREPROCESSOR:  # reinitialized: what records and scoring bring
        if name in overrides:
            setattr(model.preprocessor, name, int(overrides[name]))
    if "low_level_views" in config.model:
        model.set_low_level_views(config.model.low_level_views)
    check_model_config(model, config)
    modes = config.train_modes
    model.configure_training(high_level=modes.high_level, decoder=modes.decoder,
                             lora_rank=modes.lora_rank or None,
                             score_path=modes.get("score_path", "train"))
    _check_master_weights(model, policy)  # after LoRA: its A/B kernels too
    return model


# Backbone options that only add layers (which start as a no-op) or read more of the same
# frames: a trained preset can take them on without `model.reinitialize`, its weights
# kept. The value that switches each on: motion_input and low_level_change True;
# low_level_frames T >= 2 and high_level_frames Hf >= 2 (the preprocessor follows both, so
# records and scoring bring the frames after each key frame). Hf adds no layer (None);
# T = 2 with low_level_change adds `patch_change` instead of `clip_mixer`.
ADDED_LAYERS = {"motion_input": "motion_shift", "low_level_frames": "clip_mixer",
                "high_level_frames": None, "low_level_change": "patch_change"}
FOLLOWED_BY_PREPROCESSOR = ("low_level_frames", "high_level_frames")


def _switches_on(name, value) -> bool:
    if name in FOLLOWED_BY_PREPROCESSOR:
        return not isinstance(value, bool) and isinstance(value, int) and value >= 2
    return value is True


def with_added_layers(model, overrides):
    """`model` rebuilt with `overrides` (each one of ADDED_LAYERS, switched on), every
    trained weight copied over; the added layers keep their initial (no-op) weights."""
    from cpllm_model import CPLLM

    if set(overrides) - set(ADDED_LAYERS) or not all(
            _switches_on(k, v) for k, v in overrides.items()):
        raise ValueError("model.backbone_overrides change the architecture: they need "
                         "model.reinitialize=True (trained weights would not fit), except "
                         "motion_input=True, low_level_change=True, low_level_frames=T >= 2 "
                         "and high_level_frames=Hf >= 2, which a trained preset can take "
                         f"on; got {overrides}")
    old = model.backbone
    backbone_config = old.get_config()
    overrides = {k: v for k, v in overrides.items() if backbone_config.get(k) != v}
    if not overrides:  # the preset has them already (a run trained with them)
        return model
    backbone_config.update(overrides)
    new = type(old).from_config(backbone_config)
    added_layers = [getattr(new, ADDED_LAYERS[name]) for name in overrides
                    if ADDED_LAYERS[name]]
    added = {id(v) for layer in added_layers if layer is not None for v in layer.weights}
    kept = [v for v in new.weights if id(v) not in added]
    if [tuple(v.shape) for v in kept] != [tuple(v.shape) for v in old.weights]:
        raise ValueError(f"backbone_overrides {overrides}: the rebuilt backbone's weights "
                         "do not line up with the preset's")
    for target, source in zip(kept, old.weights):
        target.assign(source)
    preprocessor = model.preprocessor
    followed = {k: int(v) for k, v in overrides.items() if k in FOLLOWED_BY_PREPROCESSOR}
    if followed:  # the decoders bring, and it cuts, clips of T / views of Hf frames
        preprocessor = copy.copy(preprocessor)
        for name, value in followed.items():
            setattr(preprocessor, name, value)
    return CPLLM(backbone=new, preprocessor=preprocessor)


def save_scoring_preset(model, config, path):
    """Saves `model` as the preset it scores as: the config's scoring choices
    (`model.score_max_patches` patches per frame, `model.score_patch_fill` filling a small
    frame's spare slots, `model.score_low_level_views` views per patch) replace the
    training ones. None changes a weight."""
    m = config.model.get("score_max_patches")
    if m is not None:
        model.preprocessor.max_patches = int(m)
    fill = config.model.get("score_patch_fill")
    if fill is not None:
        model.preprocessor.patch_fill = bool(fill)
    views = config.model.get("score_low_level_views")
    if views is not None:
        model.set_low_level_views(views)
    model.save_to_preset(path)


def make_optimizer(config):
    import keras

    o = config.optimizer
    warmup = min(int(o.warmup_steps), max(config.num_steps - 1, 0))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else o.learning_rate,
        decay_steps=max(config.num_steps - warmup, 1), alpha=0.1,
        warmup_target=o.learning_rate if warmup else None, warmup_steps=warmup)
    return keras.optimizers.Adam(learning_rate=schedule,
                                 global_clipnorm=o.clipnorm or None)


# Scoring choices (`model.score_max_patches`, `model.score_patch_fill`,
# `model.score_low_level_views`) are applied when the run is saved
# (`save_scoring_preset`), so the starting preset's values do not bind them; the records'
# M is `check_spec`'s.
_SCORING_GEOMETRY = ("max_patches", "patch_fill")


def _preset_shapes(config):
    """{preprocessor attribute: the config's value} that must equal the starting preset's:
    `CPLLMPreprocessor.GEOMETRY` less the scoring choices, i.e. K, S, L, P."""
    from cpllm_model.preprocessor import CPLLMPreprocessor

    return {k: config.model[k] for k in CPLLMPreprocessor.GEOMETRY
            if k not in _SCORING_GEOMETRY and k in config.model}


def check_model_config(model, config):
    """Refuses a config whose model shapes (K, S, L, P) disagree with the preset's."""
    wrong = {k: (v, getattr(model.preprocessor, k))
             for k, v in _preset_shapes(config).items()
             if v != getattr(model.preprocessor, k)}
    if wrong:
        detail = ", ".join(f"model.{k}={c!r} but the preset has {p!r}"
                           for k, (c, p) in wrong.items())
        raise ValueError(f"config disagrees with preset {config.model.preset!r}: {detail}. "
                         "Fix the config (or build a preset with these shapes).")


def check_spec(model, spec, config):
    """Refuses records the model does not read (`RecordSpec.check_read_by`: K, S, P, T,
    Hf) or whose M is not the config's `model.max_patches` (training reads the patches as
    prepared)."""
    spec.check_read_by(model.preprocessor, "the config's model")
    m = int(config.model.get("max_patches", model.preprocessor.max_patches))
    if int(spec.max_patches) != m:
        raise ValueError(f"records M = {spec.max_patches}, the config's model.max_patches = "
                         f"{m}: prepare the data with --max_patches {m} or set "
                         f"model.max_patches={spec.max_patches}")


def _shard(batch):
    """Places a host batch on the devices of the active distribution (batch dim split).
    With several processes the host batch is this process's rows of the global batch."""
    import jax
    import keras
    from keras.src.backend.jax import distribution_lib

    dist = keras.distribution.distribution()
    if dist is None:
        return batch
    out = {}
    for k, v in batch.items():
        if (k == "pair_order" or k.startswith("compare_")) and jax.process_count() == 1:
            out[k] = v  # [P] / [C, T], not per video: replicated; with several processes
            continue    # each feeds its blocks' pairs
        layout = dist.get_data_layout(v.shape)
        out[k] = distribution_lib.distribute_data_input(v, layout, dist.batch_dim_name)
    return out


def _scalars(writer, step: int, values: dict) -> None:
    """TensorBoard scalars with core TF only (`tf.summary.scalar` needs the tensorboard
    package; this writes the same event records: a float tensor tagged "scalars")."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    with writer.as_default(step=step):
        for k, v in values.items():
            tf.summary.write(k, tf.constant(float(v), tf.float32), metadata=metadata)
    writer.flush()


class _Preempted:
    def __init__(self):
        self.flag = False

    def __call__(self, signum, frame):
        logging.warning("signal %d: checkpointing at the next step boundary", signum)
        self.flag = True


def train_and_evaluate(config, workdir: str, *, stop_after_steps: int = 0,
                       export_preset: str | None = None) -> dict:
    """Runs (or resumes) training; returns the final held-out metrics (or {} if stopped)."""
    import numpy as np
    import jax
    import tensorflow as tf

    from beam_pipelines import records
    from trainer import (checkpoint, eval_callback, input_pipeline, multihost, record_stream,
                         train_step)

    tf.config.set_visible_devices([], "GPU")  # tf.data only; the model runs on JAX
    primary, multi = multihost.is_primary(), multihost.process_count() > 1
    if primary:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(config.to_dict(), f, indent=1)
    n_dev = setup_distribution()
    if config.input.batch_size % n_dev:
        raise ValueError(f"batch_size {config.input.batch_size} not divisible by {n_dev} devices")
    groups = int(config.input.get("shard_groups", 1))
    mine = multihost.local_groups(groups)
    if config.input.batch_size % groups:
        raise ValueError(f"batch_size {config.input.batch_size} not divisible by "
                         f"input.shard_groups={groups}")

    model = build_model(config)
    backbone = model.backbone
    spec = records.RecordSpec.from_manifest(os.path.join(config.data.dir, "manifest.json"))
    check_spec(model, spec, config)
    seq_len = int(config.model.max_sequence_length)

    def text_fn(description):
        return model.preprocessor.tokenize_description(description, seq_len)

    train_dirs = [config.data.dir, *config.data.get("extra_train_dirs", ())]
    for d in train_dirs[1:]:
        other = records.RecordSpec.from_manifest(os.path.join(d, "manifest.json"))
        if other != spec:
            raise ValueError(f"data.extra_train_dirs: {d} has records {other}, "
                             f"{config.data.dir} has {spec}")
    streaming = bool(config.data.get("streaming", False))
    prompt_ids = model.preprocessor.describe_prompt_ids() if streaming else None

    def text_from_ids(ids):
        return model.preprocessor.training_text_from_ids(prompt_ids, ids, seq_len)

    def train_split(g):
        if not streaming:
            return input_pipeline.concat(
                [input_pipeline.load_split(d, config.data.train_split, spec, g, groups)
                 for d in train_dirs])
        index = record_stream.RecordIndex.concat(
            [record_stream.load_index(d, config.data.train_split, spec, group=g,
                                      groups=groups,
                                      cache_dir=os.path.join(workdir, "record_index"))
             for d in train_dirs])
        return record_stream.StreamingSplit(index, spec)

    blocks = []
    for g in mine:
        split = input_pipeline.attach_text(train_split(g), text_fn, text_from_ids)
        blocks.append(input_pipeline.Block(split, input_pipeline.BatchSchedule(
            split, batch_size=config.input.batch_size // groups, mode=config.input.mode,
            pair_fraction=config.input.pair_fraction, rank_by=config.input.rank_by,
            seed=config.seed, stream=(g,) if groups > 1 else ()), g, groups))
    schedule = blocks[0].schedule
    num_pairs = schedule.num_pairs * groups
    pair_rows = (input_pipeline.blocks_pair_rows(config.input.batch_size, groups,
                                                 schedule.num_pairs)
                 if groups > 1 else None)
    held_out = None
    if config.data.eval_split and primary:
        held_out = input_pipeline.load_split(config.data.dir, config.data.eval_split, spec)
    logging.info("train: %d videos, %d rankable sources; held-out: %d; %d pairs/batch; "
                 "%d devices; dtype policy %s; process %d of %d reads shard groups %s of %d",
                 sum(len(b.split) for b in blocks), sum(len(b.schedule.groups) for b in blocks),
                 len(held_out) if held_out is not None else 0, num_pairs, n_dev,
                 dtype_policy(config), multihost.process_index(), multihost.process_count(),
                 mine, groups)

    if config.model.get("init_score_bias_to_label_mean"):
        # Start the score head at the labels' mean (a fresh head starts at the preset's
        # `score_bias`): Adam moves a bias by ~lr per step, so a 30-point offset would
        # otherwise cost hundreds of steps. The head is 100 * sigmoid(logit), so the bias
        # is the logit of the mean on the 0-1 scale (clipped off the saturated ends).
        labels = np.concatenate([b.split.label for b in blocks])
        labels = labels[np.isfinite(labels)]
        if multi:  # every process's labels: sum and count over the processes
            total, n = multihost.global_sum(np.array([labels.sum(), labels.size], np.float64))
            mean = total / max(n, 1.0)
        else:
            mean = labels.mean() if labels.size else 0.0
        if labels.size or multi:
            bias = backbone.score_head.output_dense.bias
            p = float(np.clip(mean / 100.0, 0.01, 0.99))
            bias.assign(np.full(bias.shape, np.log(p / (1.0 - p)), "float32"))
    init_shift = config.model.get("init_motion_shift")
    if init_shift is not None:
        # Start an added MotionShift from (w, c) fitted elsewhere: Adam moves each of its
        # two scalars by ~lr per step, so a short run alone reaches a fraction of it.
        if not backbone.motion_input:
            raise ValueError("model.init_motion_shift needs a backbone with motion_input")
        backbone.motion_shift.weight.assign(float(init_shift[0]))
        backbone.motion_shift.offset.assign(float(init_shift[1]))
    init_gate = config.model.get("init_clip_gate")
    if init_gate is not None:
        # Start an added ClipMixer's gate open at this value on every channel: from 0,
        # 1,000 steps at 5e-4 opened it to ~0.02 (docs/TRAINING.md "Patch clips").
        if backbone.clip_mixer is None:
            raise ValueError("model.init_clip_gate needs a backbone with low_level_frames "
                             ">= 2 (patch clips)")
        gate = backbone.clip_mixer.gate
        gate.assign(np.full(gate.shape, float(init_gate), "float32"))
    if config.model.get("init_statistics_from_data") and backbone.low_level_statistics:
        # Standardise the compression statistics on the training patches (every
        # process's: the sums add up), before any step, so that every feature enters
        # the projection at unit scale. A resumed run restores the same values.
        from cpllm_model import compression_statistics as cs

        layer = backbone.compression_statistics
        moments = sum(cs.patch_moments(layer, b.split.frames["low_patches"],
                                       b.split.frames["patch_mask"]) for b in blocks)
        if multi:
            moments = multihost.global_sum(moments)
        layer.set_standardization(*cs.standardization_from_moments(moments))
        logging.info("compression statistics standardised on %d patches", int(moments[0]))
    optimizer = make_optimizer(config)
    state = train_step.initial_state(backbone, optimizer)
    step = checkpoint.latest_step(workdir) or 0
    if step:
        saved, info = checkpoint.restore(workdir, step)
        if info.get("seed") != config.seed:
            raise ValueError(f"checkpoint seed {info.get('seed')} != config seed {config.seed}")
        saved_policy = (info.get("config") or {}).get("model", {}).get("dtype_policy",
                                                                        "float32")
        if saved_policy != dtype_policy(config):
            logging.warning("checkpoint trained with dtype policy %s, resuming with %s: "
                            "the weights fit (float32 either way) but the run is no "
                            "longer bit-identical to an uninterrupted one",
                            saved_policy, dtype_policy(config))
        state = (saved["trainable"], saved["non_trainable"], saved["optimizer"])
        if multi:
            state = tuple(multihost.replicate(group) for group in state)
        logging.info("resumed from step %d", step)
    step_fn = train_step.make_train_step(model, optimizer, config.loss, num_pairs, pair_rows,
                                         groups)
    compare_pairs, _ = train_step.comparison_pairs(config.loss, num_pairs)
    # (make_train_step has refused a C that is not a multiple of the G blocks.) The rows
    # of this host's batch (its blocks, in group order) whose pairs also train the
    # pairwise answer: with several processes each builds the answers of its own blocks,
    # and the [C, T] text arrays are sharded like the batch.
    local_compare = compare_pairs // groups * len(mine)
    if local_compare and multi and local_compare % jax.local_device_count():
        raise ValueError(f"loss.compare_pairs={compare_pairs}: each process's "
                         f"{local_compare} pairwise answers must split over its "
                         f"{jax.local_device_count()} devices")
    local_rows = (input_pipeline.blocks_pair_rows(config.input.batch_size // groups * len(mine),
                                                  len(mine), schedule.num_pairs)
                  if len(mine) > 1 else None)
    compare_rows = train_step.compare_row_indices(
        schedule.num_pairs * len(mine), local_rows, local_compare, len(mine))
    compare_text = input_pipeline.ComparisonText(
        lambda a, b: model.preprocessor.tokenize_comparison(a, b, seq_len))
    score_fn = train_step.make_score_fn(backbone)
    evaluator = (eval_callback.HeldOutEvaluator(held_out, config.eval_batch_size,
                                                dict(config.get("eval_ladders", {})))
                 if held_out is not None else None)
    host_model = multihost.HostModel(lambda: build_model(config)) if multi else None

    def writer(kind):
        if not primary:
            return tf.summary.create_noop_writer()
        return tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", kind))

    train_writer, eval_writer = writer("train"), writer("eval")
    metrics_log = (open(os.path.join(workdir, "metrics.jsonl"), "a")  # noqa: SIM115 (closed in finally)
                   if primary else open(os.devnull, "w"))  # noqa: SIM115

    def host_state():
        """`state` as this process can read it: its own replica, copied to the host, in
        a multi-host run (process 0 saves and scores from it on its own device)."""
        return tuple(multihost.host_copy(group) for group in state) if multi else state

    def saving_model(values):
        """The model holding `values` (a process-local copy in a multi-host run)."""
        if multi:
            return host_model.load(values[0], values[1])
        train_step.assign_state(backbone, optimizer, values)
        return model

    local = multihost.local_only if multi else contextlib.nullcontext

    def save(at_step):
        if not primary:
            return
        values = host_state()
        with local():
            checkpoint.save(workdir, at_step, saving_model(values),
                            {"trainable": values[0], "non_trainable": values[1],
                             "optimizer": values[2]},
                            {"seed": config.seed, "config": config.to_dict()})

    def evaluate(at_step, values=None):
        trainable, non_trainable = (values or host_state())[:2]
        with local():
            result = evaluator(lambda frames: score_fn(trainable, non_trainable, frames))
        _scalars(eval_writer, at_step, result)
        metrics_log.write(json.dumps({"step": at_step, "eval": result}) + "\n")
        metrics_log.flush()
        logging.info("eval step %d: %s", at_step, {k: round(v, 4) for k, v in result.items()
                                                    if "_crf" not in k and "pairs_" not in k})
        return result

    preempted = _Preempted()
    previous_handler = signal.signal(signal.SIGTERM, preempted)
    ds = input_pipeline.train_dataset(blocks, start_step=step,
                                      num_steps=config.num_steps,
                                      regression_targets=config.loss.regression_targets,
                                      augment_frames=bool(config.input.get("augment")),
                                      align_pairs=bool(config.input.get("align_pairs")),
                                      read_parallelism=int(config.data.get(
                                          "read_parallelism", 1)) if streaming else 1)
    sums, count, t0 = {}, 0, time.time()
    try:
        for batch in ds.as_numpy_iterator():
            if compare_pairs:
                batch.update(compare_text(batch, compare_rows[0], compare_rows[1]))
            state, parts = step_fn(state, _shard(batch))
            step += 1
            for k, v in zip(parts, multihost.host_copy(parts.values())):
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
            if step % config.log_every == 0 or step == config.num_steps:
                means = {k: v / count for k, v in sums.items()}
                means["lr"] = float(optimizer._learning_rate(step))  # the schedule
                means["steps_per_s"] = count / (time.time() - t0)
                _scalars(train_writer, step, means)
                metrics_log.write(json.dumps({"step": step, "train": means}) + "\n")
                metrics_log.flush()
                logging.info("step %d: %s", step, {k: round(v, 4) for k, v in means.items()})
                sums, count, t0 = {}, 0, time.time()
            if stop_after_steps and step >= stop_after_steps:
                logging.warning("--stop_after_steps %d: exiting without saving", step)
                return {}
            if preempted.flag:
                save(step)
                logging.warning("preempted: saved step %d", step)
                return {}
            if step % config.checkpoint_every == 0 and step < config.num_steps:
                save(step)
            if evaluator and config.eval_every and step % config.eval_every == 0 \
                    and step < config.num_steps:
                evaluate(step)
        if step and primary and checkpoint.latest_step(workdir) != step:
            save(step)
        if not primary:
            return {}
        values = host_state()
        with local():
            final = saving_model(values)
        result = evaluate(step, values) if evaluator else {}
        with open(os.path.join(workdir, "eval_final.json"), "w") as f:
            json.dump({"step": step, **result}, f, indent=1)
        if export_preset:
            with local():
                save_scoring_preset(final, config, export_preset)
            logging.info("saved preset to %s", export_preset)
        return result
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        metrics_log.close()
        train_writer.close()
        eval_writer.close()


def main(argv):
    del argv
    from trainer import multihost

    multihost.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    config = config_lib.apply_overrides(config_lib.load_config(FLAGS.config), FLAGS.override)
    train_and_evaluate(config, FLAGS.workdir, stop_after_steps=FLAGS.stop_after_steps,
                       export_preset=FLAGS.export_preset)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)

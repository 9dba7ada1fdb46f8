"""CPLLM: the CP-LLM task (scoring, description, pairwise comparison, training forward).

    model = CPLLM.from_preset("cpllm_tiny")            # or a local dir / gs:// preset
    x = model.preprocessor.frame_inputs(frames)         # frames uint8[K, H, W, 3]
    batch = {k: v[None] for k, v in x.items()}
    model.score(batch)     # {"score": float32[B], "frame_scores": float32[B, K]}
    model.describe(batch, max_new_tokens=64, sampler="greedy")   # list[str]
    model.compare(x_a, x_b)  # {"better": "A"|"B", "score_a", "score_b", "text", "source"}

`score` runs the two encoders and the MLP head only (never the decoder;
`CPLLM.from_preset(preset, score_only=True)` does not even build it). It is
jit-compiled once per input shape and cached on the instance; for a fixed batch shape a
video's score does not depend on its batch-mates (pad batches to a fixed size).

Training interface (used by `trainer/`):
    outputs = model(inputs, training=True)   # differentiable
      inputs: high_frames uint8[B, K, S, S, 3], low_patches uint8[B, K, M, P, P, 3],
              patch_mask float32[B, K, M]; optionally the pairwise second video as
              high_frames_b / low_patches_b / patch_mask_b (prefix = [video A; video B]);
              optionally token_ids / padding_mask / response_mask int32[B, T]
              (from `preprocessor.build_training_text`, `tokenize_description`,
              `tokenize_comparison`).
      outputs: frame_scores float32[B, K], score float32[B] (and frame_scores_b, score_b
              for pairs); with a `patch_scores` backbone also patch_logits and
              patch_logit_mask float32[B, K, M * V] (`CPLLMBackbone.vision_outputs`);
              logits float[B, T, V] of the text positions when token_ids are
              given (`logits[:, t]` predicts `token_ids[:, t + 1]`).
    model.configure_training(high_level="frozen", decoder="lora", lora_rank=8)
      which weights train: `cpllm_model.training_modes` (its docstring lists the modes).
"""
import tempfile

import keras
import numpy as np
from keras import ops
from keras_hub.models import CausalLM
from keras_hub.src.samplers.serialization import get as get_sampler
from keras_hub.src.utils.tensor_utils import any_equal

from cpllm_model import preset_io, prompts, training_modes
from cpllm_model.backbone import PACKAGE, VISION_KEYS, CPLLMBackbone
from cpllm_model.preprocessor import CPLLMPreprocessor

PAIR_SUFFIX = "_b"


def _unique_variables(layers):
    seen, out = set(), []
    for layer in layers:
        for v in layer.variables:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


def _stateless_jit(fn, variables):
    """Compiles fn(inputs) reading `variables`; returns a callable with a trace counter.

    JAX: `jax.jit` with the variables' values passed as arguments (the jit cache keys on
    input shapes, so each batch shape compiles once). TensorFlow: `tf.function` (graph
    mode; XLA off so that CPU matmuls use oneDNN).
    """
    backend = keras.config.backend()
    counter = {"traces": 0}

    def traced(inputs):
        counter["traces"] += 1
        return fn(inputs)

    if backend == "jax":
        import jax

        @jax.jit
        def compiled(inputs, values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return traced(inputs)

        def call(inputs):
            return compiled(inputs, [v.value for v in variables])

        call.jitted = compiled
    elif backend == "tensorflow":
        import tensorflow as tf

        # Graph mode without XLA: on CPU this keeps oneDNN's (AMX) kernels.
        call = tf.function(traced, jit_compile=False, reduce_retracing=False)
    else:
        call = traced
    call.counter = counter
    call.variables = variables
    return call


@keras.saving.register_keras_serializable(package=PACKAGE)
class CPLLM(CausalLM):
    """CP-LLM task: see the module docstring.

    Args:
        backbone: a `CPLLMBackbone`.
        preprocessor: a `CPLLMPreprocessor` (or None).
        ladder_detail_weight: beta of the ladder-consistency step
            (`beam_pipelines.ladder_consistency`): how strongly a rendition's
            `fine_detail`, relative to its ladder's mean, moves its score's logit; fitted
            on training ladders (`trainer.fit_ladder_consistency`), 0 (the step off) until
            then. The model's own scores never depend on it.
    """

    backbone_cls = CPLLMBackbone
    preprocessor_cls = CPLLMPreprocessor

    def __init__(self, backbone, preprocessor=None, ladder_detail_weight=0.0, **kwargs):
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.ladder_detail_weight = float(ladder_detail_weight)
        if not np.isfinite(self.ladder_detail_weight) or self.ladder_detail_weight < 0:
            raise ValueError("ladder_detail_weight must be a finite number >= 0, got "
                             f"{ladder_detail_weight!r}")
        super().__init__(**kwargs)
        self.built = True
        self._score_fn = None
        self._generate_fns = {}

    def get_config(self):
        return {**super().get_config(), "ladder_detail_weight": self.ladder_detail_weight}

    def compile(self, *args, sampler="greedy", **kwargs):
        super().compile(*args, sampler=sampler, **kwargs)

    @property
    def num_keyframes(self):
        return self.backbone.num_keyframes

    # ------------------------------------------------------------ forward pass
    def _encode(self, inputs, suffix=""):
        bb = self.backbone
        out = bb.vision_outputs(*(inputs[k + suffix] for k in VISION_KEYS))
        scores = {k: v for k, v in out.items() if k not in ("high", "low")}
        return bb.vision_sequence(out["high"], out["low"]), scores

    def call(self, inputs, training=False):
        vision, outputs = self._encode(inputs)
        if "high_frames" + PAIR_SUFFIX in inputs:
            vision_b, scores_b = self._encode(inputs, PAIR_SUFFIX)
            outputs.update({k + PAIR_SUFFIX: v for k, v in scores_b.items()})
            vision = ops.concatenate([vision, vision_b], axis=1)
        if "token_ids" in inputs:
            hidden = self.backbone.decode(
                vision,
                inputs["token_ids"],
                inputs["padding_mask"],
                inputs.get("response_mask"),
            )
            outputs["logits"] = self.backbone.logits(hidden[:, ops.shape(vision)[1]:, :])
        return outputs

    # ----------------------------------------------------------------- scoring
    def _score_function(self):
        if self._score_fn is None:
            bb = self.backbone

            def score_step(inputs):
                frame_scores, score = bb.score_videos(*(inputs[k] for k in VISION_KEYS))
                return {"score": score, "frame_scores": frame_scores}

            self._score_fn = _stateless_jit(
                score_step, _unique_variables(bb.scoring_layers())
            )
        return self._score_fn

    def score(self, batch):
        """Scores a batch of videos; never runs the decoder.

        Args:
            batch: {"high_frames": uint8[B, K, S, S, 3], "low_patches":
                uint8[B, K, M, P, P, 3], "patch_mask": float32[B, K, M]}.
        Returns:
            {"score": float32[B], "frame_scores": float32[B, K]} (numpy).
        """
        inputs = {
            "high_frames": ops.convert_to_tensor(np.asarray(batch["high_frames"], "uint8")),
            "low_patches": ops.convert_to_tensor(np.asarray(batch["low_patches"], "uint8")),
            "patch_mask": ops.convert_to_tensor(np.asarray(batch["patch_mask"], "float32")),
        }
        out = self._score_function()(inputs)
        return {k: np.asarray(ops.convert_to_numpy(v), "float32") for k, v in out.items()}

    # -------------------------------------------------------------- generation
    def _vision_prefix(self, inputs):
        vision = self._encode(inputs)[0]
        if "high_frames" + PAIR_SUFFIX in inputs:
            vision = ops.concatenate([vision, self._encode(inputs, PAIR_SUFFIX)[0]], axis=1)
        return vision

    def call_with_cache(self, token_ids, cache, cache_update_index, vision=None,
                        padding_mask=None):
        """One decoder pass with a KV cache (as keras-hub's PaliGemmaCausalLM).

        Returns (logits, hidden_states, cache) for the positions of `token_ids`.
        """
        bb = self.backbone
        x = bb.embed_tokens(token_ids)
        if vision is not None:
            x = ops.concatenate([ops.cast(vision, x.dtype), x], axis=1)
        caches = []
        for i, block in enumerate(bb.transformer_layers):
            x, next_cache = block(
                x,
                cache=cache[:, i, ...],
                cache_update_index=cache_update_index,
                padding_mask=padding_mask,
            )
            caches.append(next_cache)
        cache = ops.stack(caches, axis=1)
        hidden_states = bb.layer_norm(x)
        return bb.logits(hidden_states), hidden_states, cache

    def _build_cache(self, token_ids, vision, padding_mask):
        bb = self.backbone
        batch_size, length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        shape = [batch_size, bb.num_layers, 2, length + ops.shape(vision)[1],
                 bb.num_key_value_heads, bb.head_dim]
        cache = ops.zeros(shape, dtype=self.compute_dtype)
        _, hidden_states, cache = self.call_with_cache(
            token_ids, cache, 0, vision=vision, padding_mask=padding_mask
        )
        return hidden_states, cache

    def generate_step(self, inputs, stop_token_ids=None):
        """Compilable generation for one batch: encoders, prefix cache, sampler loop."""
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        vision = self._vision_prefix(inputs)
        num_vision = ops.shape(vision)[1]
        hidden_states, cache = self._build_cache(token_ids, vision, padding_mask)
        index = ops.min(ops.sum(ops.cast(padding_mask, "int32"), axis=-1))

        def next(prompt, cache, index):
            batch_size = ops.shape(prompt)[0]
            prompt = ops.slice(prompt, [0, index - 1], [batch_size, 1])
            logits, hidden, cache = self.call_with_cache(
                prompt, cache, index - 1 + num_vision
            )
            return ops.squeeze(logits, 1), ops.squeeze(hidden, 1), cache

        token_ids = self.sampler(
            next=next,
            prompt=token_ids,
            cache=cache,
            index=index,
            mask=padding_mask,
            stop_token_ids=stop_token_ids,
            hidden_states=hidden_states,
            model=self,
        )
        if stop_token_ids is not None:
            end = ops.cast(
                any_equal(token_ids, stop_token_ids, ops.logical_not(padding_mask)), "int32"
            )
            overflow = ops.cumsum(end, axis=-1) - end
            padding_mask = ops.logical_not(ops.cast(overflow, "bool"))
        else:
            padding_mask = ops.ones_like(token_ids, dtype="bool")
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    def _use_sampler(self, sampler, seed):
        key = (sampler, seed)
        if key not in self._generate_fns:
            if sampler == "greedy":
                obj = get_sampler("greedy")
            elif sampler in ("random", "top_k", "top_p"):
                obj = get_sampler({"class_name": sampler, "config": {"seed": seed}})
            else:
                raise ValueError(f"Unknown sampler {sampler!r}")
            self.sampler, self.generate_function = obj, None
            self._generate_fns[key] = (obj, self.make_generate_function())
        self.sampler, self.generate_function = self._generate_fns[key]
        if seed is not None:  # same seed -> same tokens on every call
            for sg in getattr(self.sampler, "_seed_generators", []):
                sg.state.assign(ops.convert_to_numpy(sg.state) * 0 + [seed, 0])
        return self.generate_function

    def _tensor_inputs(self, batch, pair=None):
        inputs = {k: np.asarray(batch[k]) for k in VISION_KEYS}
        if pair is not None:
            inputs.update({k + PAIR_SUFFIX: np.asarray(pair[k]) for k in VISION_KEYS})
        return inputs

    def generate_tokens(self, inputs, max_new_tokens=64, sampler="greedy", seed=None,
                        stop=True):
        """Runs cached generation on prepared inputs (vision + token buffers).

        Returns int32[B, T] token ids (prompt followed by the generated tokens).
        """
        self.backbone.require_decoder("Generating text (describe, compare)")
        fn = self._use_sampler(sampler, seed)
        stop_ids = (self.preprocessor.tokenizer.end_token_id,) if stop else None
        out = fn({k: ops.convert_to_tensor(v) for k, v in inputs.items()},
                 stop_token_ids=stop_ids)
        return np.asarray(ops.convert_to_numpy(out["token_ids"]))

    def describe(self, batch, max_new_tokens=64, sampler="greedy", seed=None):
        """Generates a description per video (greedy, or "random"/"top_k" with a seed).

        Args:
            batch: vision inputs with a leading batch dim (see `score`).
        Returns:
            list[str], one answer per video.
        """
        inputs = self._tensor_inputs(batch)
        b = inputs["high_frames"].shape[0]
        text = self.preprocessor.generation_inputs(prompts.describe_prompt(), b,
                                                   max_new_tokens)
        inputs.update(text)
        ids = self.generate_tokens(inputs, max_new_tokens, sampler, seed)
        ids = self._truncate(ids, text["padding_mask"], max_new_tokens)
        return self.preprocessor.detokenize_answers(ids, text["padding_mask"])

    @staticmethod
    def _truncate(ids, prompt_mask, max_new_tokens):
        ids = ids.copy()
        start = np.asarray(prompt_mask).sum(axis=1)
        for row, s in zip(ids, start):
            row[s + max_new_tokens:] = 0
        return ids

    def compare(self, video_a, video_b, max_new_tokens=24):
        """Pairwise comparison of two unbatched videos (dicts from `frame_inputs`).

        Returns {"better": "A"|"B", "score_a", "score_b", "text", "source",
        "text_verdict"}: the parsed generated answer (source "text"; "better" is the
        video with the higher of the answer's two scores, "text_verdict" the video the
        answer's own words name, which a small decoder may get wrong); if the answer does
        not parse (an untrained decoder), the score head's scores (source "score_head",
        text_verdict None).
        """
        a = {k: np.asarray(video_a[k])[None] for k in VISION_KEYS}
        b = {k: np.asarray(video_b[k])[None] for k in VISION_KEYS}
        inputs = self._tensor_inputs(a, b)
        text = self.preprocessor.generation_inputs(prompts.compare_prompt(), 1,
                                                   max_new_tokens)
        inputs.update(text)
        ids = self.generate_tokens(inputs, max_new_tokens)
        ids = self._truncate(ids, text["padding_mask"], max_new_tokens)
        answer = self.preprocessor.detokenize_answers(ids, text["padding_mask"])[0]
        verdict, score_a, score_b = prompts.parse_compare_answer(answer)
        source = "text"
        # The answer's two scores decide; a tiny decoder's verdict word can contradict
        # the scores it has just written (it is kept as "text_verdict").
        better = None if verdict is None else ("A" if score_a >= score_b else "B")
        if better is None:
            score_a = float(self.score(a)["score"][0])
            score_b = float(self.score(b)["score"][0])
            better, source = ("A" if score_a >= score_b else "B"), "score_head"
        return {"better": better, "score_a": score_a, "score_b": score_b,
                "text": answer, "source": source, "text_verdict": verdict}

    def set_low_level_views(self, views):
        """Scores with V = `views` rotations/mirrors of every low-level patch from now on
        (`CPLLMBackbone.set_low_level_views`; no weights change). Drops the compiled
        functions, which hold the V they were traced with. Returns self."""
        self.backbone.set_low_level_views(views)
        self._score_fn = None
        self._generate_fns = {}
        return self

    # ---------------------------------------------------------------- training
    def configure_training(self, high_level="frozen", decoder="lora", lora_rank=8,
                           score_path="train"):
        """Sets which weights train (`training_modes.configure`; see the module
        docstring). Returns self."""
        training_modes.configure(self.backbone, high_level, decoder, lora_rank, score_path)
        self._score_fn = None
        self._generate_fns = {}
        return self

    # ------------------------------------------------------------ save / load
    @classmethod
    def from_preset(cls, preset, load_weights=True, score_only=False, own_run_only=False,
                    **kwargs):
        """Loads "cpllm_tiny" (bundled), "cpllm_paper" (keras-hub Kaggle presets, see
        `cpllm_model.paper`), a local preset directory, or a `gs://` preset
        (`preset_io.load_task`).

        score_only=True builds the encoders and the score head without the language
        decoder (`CPLLMBackbone(include_decoder=False)`): `score` gives the same scores,
        bit for bit, in a fraction of the memory of a large preset; `describe` and
        `compare` then raise. Preset directories only (not the "cpllm_paper" assembly).

        own_run_only=True builds the backbone without its `score_members` (other runs'
        score paths, `trainer.ensemble`): the primary run alone, as it was trained.

        Never executes code from the preset: deserialization runs in Keras safe mode
        (a Lambda layer in a preset's config is refused).
        """
        return preset_io.load_task(cls, preset, load_weights, score_only=score_only,
                                   own_run_only=own_run_only, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """Saves config.json, weights, task/preprocessor configs and tokenizer assets to a
        local directory or a `gs://` path."""
        if not preset_io.is_gcs(preset_dir):
            return super().save_to_preset(preset_dir, max_shard_size=max_shard_size)
        with tempfile.TemporaryDirectory() as tmp:
            super().save_to_preset(tmp, max_shard_size=max_shard_size)
            preset_io.upload_preset(tmp, preset_dir)
        return None

"""RunInference model handler for the Keras (JAX) CP-LLM model.

Beam ships no Keras 3 handler. `KerasCPLLMHandler` takes examples
`{"inputs": {high_frames uint8[K, S, S, 3], low_patches uint8[K, M, P, P, 3],
patch_mask float32[K, M]}, "meta": {...}}` (the output of dofns.DecodeKeyframes), and
returns `PredictionResult(example=meta, inference={"score": float,
"frame_scores": [float] * K, "description": str | None}, model_id=preset)` with plain
Python values only, so results may cross process boundaries.

Every batch is padded to exactly `max_batch_size` (repeating its first example), so XLA
compiles `model.score` once per process and a video's score does not depend on its
batch-mates or on how Beam cut the batches. If a batch raises an error caused by its
inputs (`faults.is_input_error`), it is split in two halves and each half is retried
(bisection, every attempt still padded to the one compiled size), so one bad video in a
batch of B costs about 2 log2(B) extra batches, not B; a single video that still fails
comes back as `{"error_type", "message"}` and becomes a failure row at stage
`inference`. Any other error (out of memory, an XLA/JAX runtime error, a dropped
connection) is not isolated: `faults.WorkerFault` is raised, the bundle fails and the
runner retries it. Use it through `KeyedModelHandler` (keys are video_ids), with
`RunInference(...).with_exception_handling(exc_class=faults.INPUT_ERRORS)`.
"""

import logging
from collections.abc import Sequence

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from beam_pipelines import faults

_LOG = logging.getLogger("cpllm.pipeline")
# RunInference(...).with_exception_handling(exc_class=DEAD_LETTER_ERRORS): only errors
# caused by inputs reach the dead letter; WorkerFault (a RuntimeError) fails the bundle.
DEAD_LETTER_ERRORS = faults.INPUT_ERRORS


def load_cpllm(preset, dtype=None, score_only=False):
    """CPLLM.from_preset(preset); imported lazily so Beam launchers stay light.

    dtype: None (the preset's, float32) or "bfloat16" (faster on CPUs with AMX under
    KERAS_BACKEND=tensorflow; scores move: up to ~0.7 on the 0-100 scale for the paper-size
    score path on random weights, BENCHMARKS.md, and up to 2.7 for the bundled
    cpllm_tiny on the scoring tests' clips).
    score_only: load the encoders and the score head without the language decoder (same
    scores, far less memory for a large preset; `describe` unavailable).
    """
    from cpllm_model import CPLLM

    kwargs = {"dtype": dtype} if dtype else {}
    return CPLLM.from_preset(preset, score_only=score_only, **kwargs)


class KerasCPLLMHandler(ModelHandler):
    """Scores (and optionally describes) videos with a CP-LLM preset.

    Args:
      preset: preset name ("cpllm_tiny"), local directory or gs:// directory.
      max_batch_size: every batch is padded to this size.
      describe: also run `model.describe` (the decoder; slower). Without it the model
        is loaded score-only: no decoder weights in memory (issue 14 item 11).
      max_new_tokens: description length limit.
      share_across_processes: one model per machine instead of per process
        (Beam's multi_process_shared; results are plain values, so this is safe).
      model_copies: with share_across_processes, how many copies per machine.
      dtype: compute dtype to load the model in (None: the preset's).
    """

    def __init__(
        self,
        preset="cpllm_tiny",
        *,
        max_batch_size=4,
        describe=False,
        max_new_tokens=64,
        share_across_processes=False,
        model_copies=None,
        loader=load_cpllm,
        dtype=None,
    ):
        super().__init__()
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._preset = str(preset)
        self._max_batch_size = int(max_batch_size)
        self._describe = bool(describe)
        self._max_new_tokens = int(max_new_tokens)
        self._share = bool(share_across_processes)
        self._model_copies = model_copies
        self._loader = loader
        self._dtype = dtype

    @property
    def model_id(self):
        return self._preset

    def load_model(self):
        score_only = not self._describe
        _LOG.info("loading CP-LLM preset %s%s", self._preset,
                  " (score-only: no decoder)" if score_only else "")
        return self._loader(self._preset, dtype=self._dtype, score_only=score_only)

    def _stack(self, examples):
        """Stacks and pads to the fixed batch size: dict of arrays with leading dim B."""
        inputs = [e["inputs"] for e in examples]
        pad = self._max_batch_size - len(inputs)
        inputs = inputs + [inputs[0]] * pad
        return {k: np.stack([np.asarray(x[k]) for x in inputs]) for k in inputs[0]}

    def _predict(self, examples, model):
        from cpllm_model.fine_detail import fine_detail

        batch = self._stack(examples)
        out = model.score(batch)
        scores = np.asarray(out["score"], dtype=np.float32)
        frame_scores = np.asarray(out["frame_scores"], dtype=np.float32)
        # For the ladder-consistency step, measured on the very cells just scored (the
        # real examples only, not the batch's padding).
        n = len(examples)
        detail = fine_detail(batch["low_patches"][:n], batch["patch_mask"][:n],
                             model.backbone.low_level_frames)
        descriptions = [None] * len(examples)
        if self._describe:
            descriptions = list(model.describe(batch, max_new_tokens=self._max_new_tokens))
        return [
            {
                "score": float(scores[i]),
                "frame_scores": [float(s) for s in frame_scores[i]],
                "fine_detail": float(detail[i]),
                "description": None if descriptions[i] is None else str(descriptions[i]),
            }
            for i in range(len(examples))
        ]

    def run_inference(self, batch: Sequence[dict], model, inference_args=None):
        if len(batch) > self._max_batch_size:  # never expected: batch_elements_kwargs caps it
            return [
                r
                for i in range(0, len(batch), self._max_batch_size)
                for r in self.run_inference(batch[i : i + self._max_batch_size], model)
            ]
        Metrics.distribution("cpllm.pipeline", "batch_size").update(len(batch))
        try:
            outputs = self._predict(batch, model)
        except Exception as batch_error:  # noqa: BLE001 - classified: video's or worker's
            if not faults.is_input_error(batch_error):
                raise faults.WorkerFault(
                    f"scoring a batch of {len(batch)} videos failed with "
                    f"{faults.describe(batch_error)}; not a per-video error, so the bundle "
                    "fails and the runner retries it"
                ) from batch_error
            if len(batch) == 1:
                outputs = [
                    {
                        "error_type": type(batch_error).__name__,
                        "message": str(batch_error)[:2000] or repr(batch_error),
                    }
                ]
            else:
                # Bisection: the half without the bad video scores in one batch.
                _LOG.warning("batch of %d failed (%s); retrying its halves", len(batch),
                             faults.describe(batch_error))
                Metrics.counter("cpllm.pipeline", "split_batches").inc()
                half = (len(batch) + 1) // 2
                outputs = [
                    r.inference
                    for part in (batch[:half], batch[half:])
                    for r in self.run_inference(part, model)
                ]
        return [
            PredictionResult(example=e["meta"], inference=o, model_id=self.model_id)
            for e, o in zip(batch, outputs)
        ]

    def get_num_bytes(self, batch):
        return sum(int(np.asarray(v).nbytes) for e in batch for v in e["inputs"].values())

    def get_metrics_namespace(self):
        return "cpllm.inference"

    def batch_elements_kwargs(self):
        # Batches are padded to max_batch_size anyway: fill them (the last one of a
        # bundle may still be smaller).
        return {"min_batch_size": self._max_batch_size, "max_batch_size": self._max_batch_size}

    def share_model_across_processes(self):
        return self._share

    def model_copies(self):
        return self._model_copies or 1

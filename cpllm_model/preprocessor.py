"""CPLLMPreprocessor: decoded key frames -> model frame inputs; prompts -> token tensors.

Text layout (PaliGemma conventions, right-padded to `sequence_length`):
    token_ids      int32[T]  <bos> prompt  answer <eos> <pad>...
    padding_mask   int32[T]  1 on real tokens
    response_mask  int32[T]  1 on answer tokens and <eos> (causal, in the loss); the
                             vision tokens and the prompt form the bidirectional prefix.
`logits[:, t]` predicts `token_ids[:, t + 1]` (see `trainer.losses.text_loss`).
"""
import os

import keras
import numpy as np
import tensorflow as tf
from keras_hub.models import Preprocessor
from keras_hub.src.models.gemma.gemma_tokenizer import GemmaTokenizer
from keras_hub.src.tokenizers.sentence_piece_tokenizer import VOCAB_FILENAME

from cpllm_model import preset_io, prompts
from cpllm_model.backbone import PACKAGE, CPLLMBackbone
from cpllm_model.frames import (
    MOTION_FRAME_GAP_S,
    clip_length,
    high_level_frames_check,
    model_frame_inputs,
)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CPLLMTokenizer(GemmaTokenizer):
    """Gemma's SentencePiece tokenizer (<pad> 0, <eos> 1, <bos> 2), any vocabulary.

    Preset assets are read as bytes, so loading works inside Keras safe mode (which
    refuses proto *paths*; a SentencePiece proto is data, not code).
    """

    backbone_cls = None

    def load_assets(self, dir_path):
        with tf.io.gfile.GFile(os.path.join(dir_path, VOCAB_FILENAME), "rb") as f:
            self.set_proto(f.read())


@keras.saving.register_keras_serializable(package=PACKAGE)
class CPLLMPreprocessor(Preprocessor):
    """Frames and text to CP-LLM inputs.

    Args:
        tokenizer: a Gemma-style SentencePiece tokenizer.
        num_keyframes: K. image_size: S (high-level square size).
        low_level_max_side: the largest longer side the low-level path uses as is:
            P x P patches are cut from each frame at its native resolution; only a frame
            whose longer side exceeds this is downscaled to it (aspect kept). It is also
            the largest side decoders should hand over (`decode_max_side()`).
        patch_size: P. max_patches: M (always M patch slots per frame).
        patch_fill: a frame with fewer than M grid cells fills the spare slots with its
            cells in other orientations (`frames.low_level_patches(fill=True)`), so the
            fixed cost of M slots is spent on its own pixels rather than on padding.
        low_level_frames: T, frames per low-level patch clip: 1 (a patch is one key
            frame's) or more (a patch is also cut from the T - 1 frames after its key
            frame, `frames.low_level_clips`, for a backbone whose `low_level_frames` is
            T). M counts patch reads, so M / T cells per frame. Decoders hand
            `frame_inputs` K * T frames (`decode_keyframes(frames_per_key=T)`).
        high_level_frames: Hf, frames per key frame in the high-level view: 1 (the key
            frames) or more (each key frame and the Hf - 1 frames after it, at S x S,
            for a backbone whose `high_level_frames` is Hf: its `MotionShift` reads
            how much a frame differs from the next). Decoders hand `frame_inputs`
            K * F frames, F = `frames_per_key` = max(T, Hf), `frame_gap_s` apart.
        sequence_length: default padded text length for training text.
        prompt_bucket: generation buffers are padded up to a multiple of this, so that
            `describe` compiles once per bucket, not once per length.
    """

    backbone_cls = CPLLMBackbone  # so keras-hub's preset loader finds this class
    tokenizer_cls = CPLLMTokenizer

    def __init__(
        self,
        tokenizer,
        num_keyframes=8,
        image_size=64,
        low_level_max_side=3840,
        patch_size=64,
        max_patches=4,
        sequence_length=128,
        prompt_bucket=32,
        patch_fill=False,
        low_level_frames=1,
        high_level_frames=1,
        **kwargs,
    ):
        if "low_level_fit" in kwargs:
            raise ValueError(
                "`low_level_fit` is gone: low-level patches are now cut at native "
                "resolution (see `low_level_max_side`); this config predates that "
                "contract, so re-export the preset (or rebuild the preprocessor)."
            )
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.num_keyframes = num_keyframes
        self._image_size = image_size
        self.low_level_max_side = low_level_max_side
        self.patch_size = patch_size
        self.max_patches = max_patches
        self.sequence_length = sequence_length
        self.prompt_bucket = prompt_bucket
        self.patch_fill = bool(patch_fill)
        self.low_level_frames = clip_length(low_level_frames, max_patches)
        self.high_level_frames = high_level_frames_check(high_level_frames)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The preprocessor alone (no model weights): "cpllm_tiny", "cpllm_paper", a local
        directory or `gs://` (only the config and asset files are copied); its config is
        deserialized in Keras safe mode (`preset_io.load_preprocessor`)."""
        return preset_io.load_preprocessor(cls, preset, **kwargs)

    @property
    def image_size(self):
        return self._image_size

    @image_size.setter
    def image_size(self, value):
        self._image_size = value

    # ----------------------------------------------------------------- frames
    GEOMETRY = ("num_keyframes", "image_size", "low_level_max_side", "patch_size",
                "max_patches", "patch_fill", "low_level_frames", "high_level_frames")

    def input_geometry(self) -> dict:
        """{K, S, L, P, M by attribute name}: what `frame_inputs` makes of a video. Two
        presets with equal geometry read the same tensors from the same frames."""
        return {k: getattr(self, k) for k in self.GEOMETRY}

    def decode_max_side(self):
        """The largest longer side decoders should hand `frame_inputs`.

        Decoders decode at native size up to this cap (never pre-scaled to S);
        `frame_inputs` makes both views from those frames.
        """
        return self.low_level_max_side

    @property
    def frames_per_key(self) -> int:
        """F = max(T, Hf): the frames decoders bring for every key frame."""
        return max(self.low_level_frames, self.high_level_frames)

    @property
    def frame_gap_s(self):
        """Seconds between the frames decoders bring after each key frame, or None: the
        frames right after it. With Hf >= 2, `frames.MOTION_FRAME_GAP_S` (1/12 s: the
        next frame of a 12 fps video, the 5th of a 60 fps one), so the motion input
        reads one time scale at every frame rate (patch clips, if any, follow it)."""
        return MOTION_FRAME_GAP_S if self.high_level_frames > 1 else None

    def decode_options(self) -> dict:
        """{max_side, frames_per_key, frame_gap_s}: the keyword arguments of
        `beam_pipelines.media.keyframes.decode_keyframes` that bring the frames
        `frame_inputs` reads (`decode_keyframes(uri, K, **pre.decode_options())`)."""
        return {"max_side": self.decode_max_side(), "frames_per_key": self.frames_per_key,
                "frame_gap_s": self.frame_gap_s}

    def frame_inputs(self, frames, num_keyframes=None, display_height=None):
        """Decoded native-size uint8[K * F, H, W, 3] of one video -> unbatched inputs.

        `cpllm_model.frames.model_frame_inputs` with this preprocessor's geometry; K is
        `num_keyframes` (default: the preprocessor's own), F `frames_per_key` (the
        frames come key-major, as `decode_keyframes(frames_per_key=F)` returns them).
        `display_height`: the patches are cut from the frames as shown at that height (a
        smaller rung of a multi-size ladder enlarged first, `frames.display_frames`).
        Returns {"high_frames": uint8[K * Hf, S, S, 3], "low_patches":
        uint8[K, M, P, P, 3], "patch_mask": float32[K, M]}.
        """
        frames = np.asarray(frames)
        k = (num_keyframes or self.num_keyframes) * self.frames_per_key
        if frames.ndim != 4 or frames.shape[0] != k:
            raise ValueError(f"Expected uint8[{k}, H, W, 3] frames, got {frames.shape}")
        return model_frame_inputs(frames, self.image_size, self.low_level_max_side,
                                  self.patch_size, self.max_patches, self.patch_fill,
                                  self.low_level_frames, self.high_level_frames,
                                  display_height)

    # ------------------------------------------------------------------- text
    def _ids(self, text):
        if not text:
            return []
        return [int(t) for t in np.asarray(self.tokenizer(text)).reshape(-1)]

    def _pack(self, prompt_ids, answer_ids, sequence_length):
        ids = [self.tokenizer.start_token_id, *prompt_ids, *answer_ids]
        n_answer = len(answer_ids)
        if sequence_length is None:
            sequence_length = len(ids)
        if len(ids) > sequence_length:
            raise ValueError(
                f"Text of {len(ids)} tokens does not fit sequence_length={sequence_length}"
            )
        token_ids = np.full((sequence_length,), self.tokenizer.pad_token_id, "int32")
        token_ids[: len(ids)] = ids
        padding_mask = np.zeros((sequence_length,), "int32")
        padding_mask[: len(ids)] = 1
        response_mask = np.zeros((sequence_length,), "int32")
        response_mask[len(ids) - n_answer : len(ids)] = 1
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "response_mask": response_mask,
        }

    def build_training_text(self, prompt, answer, sequence_length=None):
        """Prompt + answer -> {"token_ids", "padding_mask", "response_mask"} int32[T].

        The answer is truncated (its <eos> kept) to fit `sequence_length`
        (default `self.sequence_length`); the loss belongs on `response_mask`. A missing
        answer (None, empty or blank: a video without a description) gives no answer
        tokens at all, not a lone <eos>: `response_mask` is all zero, so the video adds
        no text loss (and does not teach the decoder to answer with nothing).
        """
        blank = answer is None or not str(answer).strip()
        return self.training_text_from_ids(
            self._ids(prompt), None if blank else self._ids(answer), sequence_length)

    def training_text_from_ids(self, prompt_ids, answer_ids, sequence_length=None):
        """`build_training_text` of a prompt and an answer already tokenized by this
        tokenizer (`answer_ids` None: no answer). Pure numpy, no tokenizer call, so it
        may run inside `tf.data`'s Python functions (`trainer.record_stream`)."""
        sequence_length = sequence_length or self.sequence_length
        prompt_ids = [int(t) for t in prompt_ids]
        room = sequence_length - 1 - len(prompt_ids) - 1
        if room < 0:
            raise ValueError("Prompt does not fit sequence_length")
        if answer_ids is None:
            return self._pack(prompt_ids, [], sequence_length)
        answer_ids = [int(t) for t in answer_ids][:room] + [self.tokenizer.end_token_id]
        return self._pack(prompt_ids, answer_ids, sequence_length)

    def describe_prompt_ids(self):
        """Token ids of the describe prompt (for `training_text_from_ids`)."""
        return self._ids(prompts.describe_prompt())

    def tokenize_description(self, text, sequence_length=None):
        """A single-video description target with the describe prompt (see prompts)."""
        return self.build_training_text(prompts.describe_prompt(), text, sequence_length)

    def tokenize_comparison(self, score_a, score_b, sequence_length=None):
        """A pairwise target ('Score A: 71. Score B: 45. Video A is better.') with the
        compare prompt."""
        return self.build_training_text(
            prompts.compare_prompt(), prompts.compare_answer(score_a, score_b),
            sequence_length,
        )

    def generation_inputs(self, prompt, batch_size, max_new_tokens):
        """Prompt -> right-padded buffers for generation, length bucketed.

        Returns {"token_ids", "padding_mask"} int32[batch_size, T_bucket] with
        T_bucket >= len(prompt) + 1 + max_new_tokens.
        """
        packed = self._pack(self._ids(prompt), [], None)
        need = len(packed["token_ids"]) + max_new_tokens
        length = -(-need // self.prompt_bucket) * self.prompt_bucket
        packed = self._pack(self._ids(prompt), [], length)
        return {
            "token_ids": np.tile(packed["token_ids"][None], (batch_size, 1)),
            "padding_mask": np.tile(packed["padding_mask"][None], (batch_size, 1)),
        }

    def detokenize_answers(self, token_ids, prompt_mask):
        """Generated ids int[B, T] and the prompt's padding mask -> answers (list[str]).

        Tokens after the prompt are kept up to the first <eos> or <pad>.
        """
        token_ids = np.asarray(token_ids)
        prompt_mask = np.asarray(prompt_mask).astype(bool)
        stop = {self.tokenizer.end_token_id, self.tokenizer.pad_token_id}
        texts = []
        for ids, mask in zip(token_ids, prompt_mask):
            answer = []
            for t in ids[int(mask.sum()):]:
                if int(t) in stop:
                    break
                answer.append(int(t))
            texts.append(self.tokenizer.detokenize(answer) if answer else "")
        return [t.numpy().decode("utf-8") if hasattr(t, "numpy") else str(t) for t in texts]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_keyframes": self.num_keyframes,
                "image_size": self.image_size,
                "low_level_max_side": self.low_level_max_side,
                "patch_size": self.patch_size,
                "max_patches": self.max_patches,
                "sequence_length": self.sequence_length,
                "prompt_bucket": self.prompt_bucket,
                "patch_fill": self.patch_fill,
                "low_level_frames": self.low_level_frames,
                "high_level_frames": self.high_level_frames,
            }
        )
        return config

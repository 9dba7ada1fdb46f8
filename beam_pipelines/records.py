"""The TFRecord example format of CP-LLM training data (the contract prepare -> trainer).

One `tf.train.Example` per video (rendition or original). Written by
`beam_pipelines.prepare` with `encode_example`, read by the trainer with
`make_parse_fn(spec)` inside `tf.data`. The shapes of the frame tensors depend on the
model preset, so they are stored in every example (`*_shape`) and in the dataset's
`manifest.json` (key "spec"); `RecordSpec.from_manifest` rebuilds the static shapes.

Features of one example (K key frames, S high-level size, M patches of P×P, T tokens):
  video_id                bytes
  source_id               bytes        same value for all renditions of one source
  crf                     int64        ladder rung; -1 for an original (no CRF applied)
  is_original             int64        1 for an original (lossless master / catalog source)
  label                   float        pseudo-MOS, 0-100, higher is better; NaN if unknown
  vmaf                    float        VMAF vs. the lossless master; NaN if not measured
  high_frames             bytes        raw uint8[K * Hf, S, S, 3], C order (Hf: spec.high_level_frames)
  high_frames_shape       int64[4]     (K * Hf, S, S, 3)
  low_patches             bytes        raw uint8[K, M, P, P, 3], C order
  low_patches_shape       int64[5]     (K, M, P, P, 3)
  patch_mask              float[K*M]   1.0 for real patches, 0.0 for padding cells
  description             bytes        UTF-8, three sentences (content, style, quality)
  description_token_ids   int64[T]     the model tokenizer's ids of `description`
                                       (variable length, no padding)

Parsed (one example, unbatched), `parse(serialized) -> (inputs, targets)`:
  inputs = {
    "high_frames": uint8[K * Hf, S, S, 3],
    "low_patches": uint8[K, M, P, P, 3],
    "patch_mask": float32[K, M],
    "description_token_ids": int32[T_max]   (truncated / right-padded with 0),
    "description_padding_mask": bool[T_max] (True on real tokens),
  }
  targets = {
    "label": float32[], "vmaf": float32[], "is_original": bool[], "crf": int32[],
    "source_id": string[], "video_id": string[], "description": string[],
  }
Rows of one source form pairs for the ranking loss (group on `source_id`, order on `crf`
or `label`); `is_original` selects the regression targets.
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class RecordSpec:
    """Static shapes of the frame tensors and the padded token length. `patch_fill`: the
    patches were cut with `CPLLMPreprocessor.patch_fill` (a small frame's spare slots
    hold its cells in other orientations); manifests written before it existed read
    False. `low_level_frames`: T, the M slots hold M / T clips of T frames
    (`CPLLMPreprocessor.low_level_frames`); manifests written before it existed read 1.
    `high_level_frames`: Hf, each key frame's S x S view followed by the Hf - 1 frames
    after it (`CPLLMPreprocessor.high_level_frames`); 1 in older manifests."""

    num_keyframes: int
    image_size: int
    max_patches: int
    patch_size: int
    max_description_tokens: int = 128
    patch_fill: bool = False
    low_level_frames: int = 1
    high_level_frames: int = 1

    @property
    def high_shape(self) -> tuple:
        return (self.num_keyframes * self.high_level_frames, self.image_size,
                self.image_size, 3)

    @property
    def low_shape(self) -> tuple:
        return (self.num_keyframes, self.max_patches, self.patch_size, self.patch_size, 3)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RecordSpec:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    @classmethod
    def from_manifest(cls, path: str) -> RecordSpec:
        """Reads the "spec" entry of a `manifest.json` written by `beam_pipelines.prepare`."""
        import tensorflow as tf

        with tf.io.gfile.GFile(path) as f:
            return cls.from_dict(json.load(f)["spec"])

    def check_read_by(self, preprocessor, what: str = "the preset") -> None:
        """Raises ValueError unless `preprocessor` reads frame tensors of these records'
        geometry: (K, S, P, T, Hf) equal. M may differ (the model takes any M)."""
        names = ("num_keyframes", "image_size", "patch_size", "low_level_frames",
                 "high_level_frames")
        mine = tuple(int(getattr(self, n)) for n in names)
        theirs = tuple(int(getattr(preprocessor, n, 1)) for n in names)
        if mine != theirs:
            raise ValueError(f"records (K, S, P, T, Hf) = {mine}, {what} reads {theirs}: "
                             "prepare the records with it (beam_pipelines.prepare --model, "
                             "--low_level_frames, --high_level_frames)")

    @classmethod
    def from_preprocessor(cls, preprocessor, max_description_tokens: int = 128) -> RecordSpec:
        return cls(
            num_keyframes=int(preprocessor.num_keyframes),
            image_size=int(preprocessor.image_size),
            max_patches=int(preprocessor.max_patches),
            patch_size=int(preprocessor.patch_size),
            max_description_tokens=max_description_tokens,
            patch_fill=bool(preprocessor.patch_fill),
            low_level_frames=int(getattr(preprocessor, "low_level_frames", 1)),
            high_level_frames=int(getattr(preprocessor, "high_level_frames", 1)),
        )


def _nan_if_none(x) -> float:
    return float("nan") if x is None else float(x)


def encode_example(
    *,
    video_id: str,
    source_id: str,
    crf: int | None,
    is_original: bool,
    label: float | None,
    high_frames: np.ndarray,
    low_patches: np.ndarray,
    patch_mask: np.ndarray,
    description: str = "",
    description_token_ids=(),
    vmaf: float | None = None,
) -> bytes:
    """Serializes one video's inputs and labels to a `tf.train.Example` (bytes).

    Args:
      high_frames: uint8[K * Hf, S, S, 3]. low_patches: uint8[K, M, P, P, 3].
      patch_mask: float[K, M]. crf None (an original) is stored as -1; label/vmaf None as NaN.
    """
    import tensorflow as tf

    high_frames = np.ascontiguousarray(high_frames)
    low_patches = np.ascontiguousarray(low_patches)
    if high_frames.dtype != np.uint8 or low_patches.dtype != np.uint8:
        raise TypeError("high_frames and low_patches must be uint8")
    if high_frames.ndim != 4 or low_patches.ndim != 5:
        raise ValueError(
            f"bad shapes: high {high_frames.shape} (want K*Hf,S,S,3), "
            f"low {low_patches.shape} (want K,M,P,P,3)")
    patch_mask = np.asarray(patch_mask, np.float32)
    if patch_mask.shape != low_patches.shape[:2]:
        raise ValueError(f"patch_mask {patch_mask.shape} != {low_patches.shape[:2]}")

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(vs):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in vs]))

    def f(vs):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in vs]))

    feats = {
        "video_id": b(video_id.encode()),
        "source_id": b(source_id.encode()),
        "crf": i([-1 if crf is None or (isinstance(crf, float) and math.isnan(crf)) else crf]),
        "is_original": i([1 if is_original else 0]),
        "label": f([_nan_if_none(label)]),
        "vmaf": f([_nan_if_none(vmaf)]),
        "high_frames": b(high_frames.tobytes()),
        "high_frames_shape": i(high_frames.shape),
        "low_patches": b(low_patches.tobytes()),
        "low_patches_shape": i(low_patches.shape),
        "patch_mask": f(patch_mask.reshape(-1)),
        "description": b((description or "").encode("utf-8")),
        "description_token_ids": i(np.asarray(description_token_ids, np.int64).reshape(-1)),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feats))
    return example.SerializeToString(deterministic=True)  # map keys sorted: same bytes



def make_parse_fn(spec: RecordSpec):
    """Returns `parse(serialized: tf.string[]) -> (inputs, targets)` for `tf.data.map`.

    Shapes are static (from `spec`), so parsed examples batch with `Dataset.batch`.
    """
    import tensorflow as tf

    k, m = spec.num_keyframes, spec.max_patches
    t = spec.max_description_tokens
    features = {
        "video_id": tf.io.FixedLenFeature([], tf.string),
        "source_id": tf.io.FixedLenFeature([], tf.string),
        "crf": tf.io.FixedLenFeature([], tf.int64),
        "is_original": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.float32),
        "vmaf": tf.io.FixedLenFeature([], tf.float32, default_value=float("nan")),
        "high_frames": tf.io.FixedLenFeature([], tf.string),
        "low_patches": tf.io.FixedLenFeature([], tf.string),
        "patch_mask": tf.io.FixedLenFeature([k * m], tf.float32),
        "description": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "description_token_ids": tf.io.VarLenFeature(tf.int64),
    }

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, features)
        high = tf.reshape(tf.io.decode_raw(ex["high_frames"], tf.uint8), spec.high_shape)
        low = tf.reshape(tf.io.decode_raw(ex["low_patches"], tf.uint8), spec.low_shape)
        ids = tf.cast(tf.sparse.to_dense(ex["description_token_ids"]), tf.int32)[:t]
        n = tf.shape(ids)[0]
        ids = tf.pad(ids, [[0, t - n]])
        ids.set_shape([t])
        inputs = {
            "high_frames": high,
            "low_patches": low,
            "patch_mask": tf.reshape(ex["patch_mask"], [k, m]),
            "description_token_ids": ids,
            "description_padding_mask": tf.range(t) < n,
        }
        targets = {
            "label": ex["label"],
            "vmaf": ex["vmaf"],
            "is_original": tf.cast(ex["is_original"], tf.bool),
            "crf": tf.cast(ex["crf"], tf.int32),
            "source_id": ex["source_id"],
            "video_id": ex["video_id"],
            "description": ex["description"],
        }
        return inputs, targets

    return parse


def decode_example(serialized: bytes, spec: RecordSpec) -> tuple[dict, dict]:
    """`make_parse_fn(spec)`'s `(inputs, targets)` of one example, in numpy and without
    TensorFlow ops (for readers that run in plain Python threads, e.g.
    `trainer.record_stream`); `targets` also holds "description_token_ids_all":
    int32[n], the example's token ids untruncated. Strings stay `bytes`, as `tf.data`'s
    numpy iterator gives them."""
    from tensorflow.core.example import example_pb2

    f = example_pb2.Example.FromString(serialized).features.feature

    def scalar(name, kind, default=None):
        if name not in f:
            if default is None:
                raise ValueError(f"example has no feature {name!r}")
            return default
        values = getattr(f[name], kind).value
        return values[0] if len(values) else default

    k, m, t = spec.num_keyframes, spec.max_patches, spec.max_description_tokens
    ids = np.asarray(f["description_token_ids"].int64_list.value, np.int32)
    n = min(int(ids.size), t)
    padded = np.zeros((t,), np.int32)
    padded[:n] = ids[:n]
    inputs = {
        "high_frames": np.frombuffer(scalar("high_frames", "bytes_list"),
                                     np.uint8).reshape(spec.high_shape),
        "low_patches": np.frombuffer(scalar("low_patches", "bytes_list"),
                                     np.uint8).reshape(spec.low_shape),
        "patch_mask": np.asarray(f["patch_mask"].float_list.value,
                                 np.float32).reshape(k, m),
        "description_token_ids": padded,
        "description_padding_mask": np.arange(t) < n,
    }
    targets = {
        "label": np.float32(scalar("label", "float_list")),
        "vmaf": np.float32(scalar("vmaf", "float_list", float("nan"))),
        "is_original": bool(scalar("is_original", "int64_list")),
        "crf": np.int32(scalar("crf", "int64_list")),
        "source_id": scalar("source_id", "bytes_list"),
        "video_id": scalar("video_id", "bytes_list"),
        "description": scalar("description", "bytes_list", b""),
        "description_token_ids_all": ids,
    }
    return inputs, targets


def dataset(file_pattern: str, spec: RecordSpec, *, shuffle_files: bool = False):
    """`tf.data.Dataset` of parsed `(inputs, targets)` from TFRecord shards (unbatched)."""
    import tensorflow as tf

    files = tf.data.Dataset.list_files(file_pattern, shuffle=shuffle_files)
    return tf.data.TFRecordDataset(files).map(
        make_parse_fn(spec), num_parallel_calls=tf.data.AUTOTUNE)

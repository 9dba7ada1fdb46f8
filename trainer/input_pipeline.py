"""tf.data input for the multi-task trainer: single videos and same-source pairs, mixed.

A split is read once from its TFRecords (`beam_pipelines.records`) into host memory
(`load_split`); batches are then drawn by a `BatchSchedule` whose composition at step s is a
pure function of (seed, s). That makes the data-iterator position of a run just its step
number: a resumed run at step s sees exactly the batches an uninterrupted run would.
A split too large for host memory streams instead (`data.streaming`): a
`record_stream.StreamingSplit` keeps an index of the records and reads each batch's
videos from storage; `BatchSchedule` and `train_dataset` treat both kinds alike (both
have `take(idx)`), and give the same batches bit for bit.

Batch layout (B = batch_size videos, P = pairs, B - 2P singles), all static shapes:
  videos 2i and 2i+1 (i < P) are the two variants of pair i (same source_id, different
  rank key), videos 2P..B-1 are singles drawn uniformly from the split.
  batch = {
    "high_frames": uint8[B, K, S, S, 3], "low_patches": uint8[B, K, M, P, P, 3],
    "patch_mask": float32[B, K, M],
    "token_ids": int32[B, T], "padding_mask": bool[B, T], "response_mask": bool[B, T],
    "label": float32[B] (NaN -> 0), "label_known": float32[B] (0 where it was NaN),
    "regression_mask": float32[B],
    "pair_order": float32[P] (+1: pair's first video is better, -1: second is better),
  }
and, added on the host by `ComparisonText` when the comparison answer trains, the first C
pairs' pairwise text: "compare_token_ids", "compare_padding_mask",
"compare_response_mask" [C, T].
Modes: "single" (P = 0), "pair" (P = B // 2), "mix" (P = round(B * pair_fraction / 2)).
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from beam_pipelines import records

FRAME_KEYS = ("high_frames", "low_patches", "patch_mask")
TEXT_KEYS = ("token_ids", "padding_mask", "response_mask")


@dataclasses.dataclass
class Split:
    """One split in host memory. Frame arrays keep the records' dtypes (uint8)."""

    frames: dict            # FRAME_KEYS -> np.ndarray[N, ...]
    description_token_ids: np.ndarray  # int32[N, T_desc], 0-padded
    description_lengths: np.ndarray    # int32[N]
    label: np.ndarray       # float32[N], NaN unknown
    vmaf: np.ndarray        # float32[N]
    is_original: np.ndarray  # bool[N]
    crf: np.ndarray         # int32[N], -1 = original
    source_id: np.ndarray   # str[N]
    video_id: np.ndarray    # str[N]
    description: list       # str[N], the three-sentence description (may be "")
    text: dict | None = None  # TEXT_KEYS -> np.ndarray[N, T] (after `attach_text`)

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def take(self, idx) -> dict:
        """FRAME_KEYS (and TEXT_KEYS after `attach_text`) arrays of rows `idx`."""
        out = {k: self.frames[k][idx] for k in FRAME_KEYS}
        if self.text is not None:
            out.update({k: self.text[k][idx] for k in TEXT_KEYS})
        return out


def shard_files(data_dir: str, split: str, group: int = 0, groups: int = 1,
                listing: list[str] | None = None) -> list[str]:
    """The TFRecord files of shard group `group` of `groups`: the split's files in name
    order, every `groups`-th from the `group`-th (a host reads only its groups' files).
    `listing`: the split's files when the caller has listed them already."""
    pattern = os.path.join(data_dir, split, "*.tfrecord")
    if listing is None:
        import tensorflow as tf

        listing = tf.io.gfile.glob(pattern)
    files = sorted(listing)
    if not files:
        raise FileNotFoundError(f"no TFRecords match {pattern}")
    mine = files[group::groups]
    if not mine:
        raise ValueError(f"{pattern}: {len(files)} files, too few for {groups} shard "
                         f"groups (group {group} would be empty); write more shards "
                         "(prepare --num_shards) or lower input.shard_groups")
    return mine


def load_split(data_dir: str, split: str, spec: records.RecordSpec | None = None,
               group: int = 0, groups: int = 1) -> Split:
    """Reads the TFRecords of `DATA_DIR/<split>/` (those of shard group `group` of
    `groups`, `shard_files`) with `records.dataset` into a `Split`."""
    if spec is None:
        spec = records.RecordSpec.from_manifest(os.path.join(data_dir, "manifest.json"))
    cols: dict[str, list] = {}
    files = shard_files(data_dir, split, group, groups)
    for inputs, targets in records.dataset(files, spec).as_numpy_iterator():
        for k, v in {**inputs, **targets}.items():
            cols.setdefault(k, []).append(v)
    order = np.argsort(np.array(cols["video_id"]), kind="stable")  # file order independent

    def stack(key, dtype=None):
        a = np.stack(cols[key])[order]
        return a.astype(dtype) if dtype else a

    return Split(
        frames={k: stack(k) for k in FRAME_KEYS},
        description_token_ids=stack("description_token_ids", np.int32),
        description_lengths=stack("description_padding_mask").sum(-1).astype(np.int32),
        label=stack("label", np.float32),
        vmaf=stack("vmaf", np.float32),
        is_original=stack("is_original", bool),
        crf=stack("crf", np.int32),
        source_id=np.array([s.decode() for s in stack("source_id")]),
        video_id=np.array([s.decode() for s in stack("video_id")]),
        description=[s.decode("utf-8") for s in stack("description")],
    )


def concat(splits: list[Split]) -> Split:
    """One split of several (e.g. two data builds' train splits), in video_id order;
    a video_id in more than one of them is an error (they would be counted twice)."""
    if len(splits) == 1:
        return splits[0]
    if any(s.text is not None for s in splits):
        raise ValueError("concat splits before attach_text")
    video_id = np.concatenate([s.video_id for s in splits])
    uniq, counts = np.unique(video_id, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"video_ids in more than one split: {list(uniq[counts > 1][:5])}")
    order = np.argsort(video_id, kind="stable")
    descriptions = [d for s in splits for d in s.description]

    def cat(name):
        return np.concatenate([getattr(s, name) for s in splits])[order]

    return Split(
        frames={k: np.concatenate([s.frames[k] for s in splits])[order] for k in FRAME_KEYS},
        **{name: cat(name) for name in (
            "description_token_ids", "description_lengths", "label", "vmaf",
            "is_original", "crf", "source_id", "video_id")},
        description=[descriptions[i] for i in order],
    )


def attach_text(split: Split, text_fn, text_from_ids=None) -> Split:
    """Builds every video's decoder text with `text_fn(description: str) -> dict` of
    TEXT_KEYS arrays [T] (prompt + answer, `response_mask` on the answer only), e.g.
    the model's `preprocessor.tokenize_description(text, sequence_length)`.

    A `record_stream.StreamingSplit` builds it per batch instead, from each record's
    token ids with `text_from_ids(ids | None)` (the same text when the records were
    tokenized with the model's tokenizer, which `check_text_from_ids` verifies)."""
    from trainer import record_stream

    if isinstance(split, record_stream.StreamingSplit):
        if text_from_ids is None:
            raise ValueError("a streaming split needs text_from_ids")
        split.text_from_ids = text_from_ids
        check_text_from_ids(split, text_fn)
        return split
    split.text = stack_text([text_fn(d) for d in split.description])
    return split


def stack_text(rows: list[dict]) -> dict:
    """TEXT_KEYS arrays of several videos' texts: token_ids int32[N, T], the masks
    bool[N, T]."""
    text = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in TEXT_KEYS}
    text["token_ids"] = text["token_ids"].astype(np.int32)
    text["padding_mask"] = text["padding_mask"].astype(bool)
    text["response_mask"] = text["response_mask"].astype(bool)
    return text


def check_text_from_ids(split, text_fn, n: int = 8) -> None:
    """Refuses a streaming split whose records' token ids do not give `text_fn`'s text
    (records prepared with another preset's tokenizer), checked on its first n videos."""
    for i, raw in enumerate(split.read(np.arange(min(n, len(split))))):
        targets = records.decode_example(raw, split.spec)[1]
        got = stack_text([split.text_of(targets)])
        want = stack_text([text_fn(targets["description"].decode("utf-8"))])
        if not all(np.array_equal(want[k], got[k]) for k in TEXT_KEYS):
            raise ValueError(
                f"video {split.video_id[i]}: its record's description_token_ids do not "
                "tokenize like the model's tokenizer (records prepared with another "
                "preset?); prepare the records with the trained preset's tokenizer or "
                "set data.streaming=False")


def num_pairs(mode: str, batch_size: int, pair_fraction: float) -> int:
    if mode == "single":
        return 0
    if mode == "pair":
        return batch_size // 2
    if mode == "mix":
        return min(batch_size // 2, max(1, round(batch_size * pair_fraction / 2)))
    raise ValueError(f"input mode must be single|pair|mix, got {mode!r}")


class BatchSchedule:
    """Which videos make up step s's batch: a pure function of (seed, s).

    Pairs: a source is drawn uniformly among those with >= 2 distinct rank keys, then two
    of its videos with different keys. Singles: uniform over the split.
    """

    def __init__(self, split: Split, *, batch_size: int, mode: str = "mix",
                 pair_fraction: float = 0.5, rank_by: str = "crf", seed: int = 0,
                 stream: tuple = ()):
        if rank_by not in ("crf", "label"):
            raise ValueError(f"rank_by must be crf|label, got {rank_by!r}")
        self.batch_size = batch_size
        self.num_pairs = num_pairs(mode, batch_size, pair_fraction)
        self.seed = seed
        self.stream = tuple(int(x) for x in stream)  # () for one block (see Block)
        # Rank key: higher = better. Originals (crf -1) rank above every CRF.
        crf_key = np.where(split.crf < 0, np.inf, -split.crf.astype(np.float64))
        self.key = crf_key if rank_by == "crf" else split.label.astype(np.float64)
        by_source: dict[str, list[int]] = {}
        for i, s in enumerate(split.source_id):
            if np.isfinite(self.key[i]) or rank_by == "crf":
                by_source.setdefault(str(s), []).append(i)
        self.groups = [np.array(v) for _, v in sorted(by_source.items())
                       if len(set(self.key[v].tolist())) >= 2]
        if self.num_pairs and not self.groups:
            raise ValueError("no source has two videos with different rank keys: "
                             "pairs are impossible (use input.mode=single)")
        self.n = len(split)

    def __call__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns (video indices int64[B], pair_order float32[P])."""
        rng = np.random.default_rng([self.seed, int(step), *self.stream])
        idx, order = [], []
        for _ in range(self.num_pairs):
            g = self.groups[rng.integers(len(self.groups))]
            a = g[rng.integers(len(g))]
            others = g[self.key[g] != self.key[a]]
            b = others[rng.integers(len(others))]
            idx += [a, b]
            order.append(np.sign(self.key[a] - self.key[b]))
        idx += rng.integers(self.n, size=self.batch_size - 2 * self.num_pairs).tolist()
        return np.asarray(idx, np.int64), np.asarray(order, np.float32)


def regression_mask(split: Split, targets: str) -> np.ndarray:
    """float32[N]: 1 where the regression loss applies ("originals" or "all" labelled)."""
    finite = np.isfinite(split.label)
    if targets == "originals":
        return (finite & split.is_original).astype(np.float32)
    if targets == "all":
        return finite.astype(np.float32)
    raise ValueError(f"regression_targets must be originals|all, got {targets!r}")


def gather_batch(split: Split, idx: np.ndarray, reg_mask: np.ndarray) -> dict:
    """The model inputs and loss targets of videos `idx` (see the module docstring)."""
    batch = split.take(idx)
    batch["label"] = np.nan_to_num(split.label[idx]).astype(np.float32)
    batch["label_known"] = np.isfinite(split.label[idx]).astype(np.float32)
    batch["regression_mask"] = reg_mask[idx]
    return batch


class ComparisonText:
    """The pairwise answer each training pair teaches (issue: `compare()` answers in this
    form): for pair i (rows `first[i]`, `second[i]`) the compare prompt and
    `prompts.compare_answer(label_a, label_b)` ("Score A: 71. Score B: 45. Video A is
    better.", scores rounded), tokenized with `tokenize(score_a, score_b)` (e.g. the
    preprocessor's `tokenize_comparison`). A pair with an unknown label has no answer
    tokens (no text loss). Answers are cached by their rounded scores.
    """

    def __init__(self, tokenize):
        self.tokenize = tokenize
        self._cache = {}

    def _text(self, a: int, b: int) -> dict:
        if (a, b) not in self._cache:
            self._cache[(a, b)] = {k: np.asarray(v) for k, v in self.tokenize(a, b).items()}
        return self._cache[(a, b)]

    def __call__(self, batch: dict, first, second) -> dict:
        """{"compare_token_ids": int32[C, T], "compare_padding_mask": bool[C, T],
        "compare_response_mask": bool[C, T]} for the C pairs (first, second)."""
        rows = []
        for i, j in zip(np.asarray(first).tolist(), np.asarray(second).tolist()):
            a, b = (int(round(float(batch["label"][r]))) for r in (i, j))
            text = dict(self._text(a, b))
            if not (batch["label_known"][i] and batch["label_known"][j]):
                text["response_mask"] = np.zeros_like(text["response_mask"])
            rows.append(text)
        return {"compare_token_ids": np.stack([r["token_ids"] for r in rows]).astype(np.int32),
                "compare_padding_mask": np.stack([r["padding_mask"] for r in rows]).astype(bool),
                "compare_response_mask": np.stack([r["response_mask"]
                                                   for r in rows]).astype(bool)}


def augment(batch: dict, rng: np.random.Generator, aligned_pairs: int = 0) -> dict:
    """Per video, the same random dihedral transform (4 rotations x mirror) of its
    high-level frames and low-level patches, in place. The first `aligned_pairs` pairs
    (rows 2i, 2i + 1) take their first video's transform for both videos, so a patch of
    one still lies over the same pixels as that patch of the other (patch ranking).

    Compression artifacts survive it (H.264's 4/8/16-pixel block grid maps onto itself
    in a 64-pixel patch), content layout does not: it keeps a from-scratch model from
    recognising each training source by its picture instead of by its artifacts.
    """
    draws = [(int(rng.integers(4)), bool(rng.integers(2)))
             for _ in range(batch["high_frames"].shape[0])]
    for i in range(1, 2 * aligned_pairs, 2):
        draws[i] = draws[i - 1]
    for i, (k, flip) in enumerate(draws):
        for key, axes in (("high_frames", (1, 2)), ("low_patches", (2, 3))):
            x = np.rot90(batch[key][i], k, axes=axes)
            batch[key][i] = np.flip(x, axis=axes[1]) if flip else x
    return batch


@dataclasses.dataclass
class Block:
    """One shard group's part of every batch: its split and its schedule.

    With G shard groups (`input.shard_groups`) a batch of B videos is G blocks of B / G,
    in group order; block g draws from group g's records only (`load_split(...,
    group=g, groups=G)`) with `BatchSchedule(..., stream=(g,))`, and is augmented with
    its own generator. So the global batch of step s is a pure function of (seed, s, the
    shard layout), whichever host builds which block: a host holds only its groups'
    records, and one process holding all G groups builds the same batches as G hosts.
    G = 1 (the default) is one block with stream () and the batches of before.
    """

    split: Split
    schedule: BatchSchedule
    group: int = 0
    groups: int = 1


def blocks_pair_rows(batch_size: int, groups: int, pairs_per_block: int):
    """(first, second) int32[G * p]: the rows of each pair's two videos in a batch of G
    blocks (pairs lead each block: rows g*B/G + 2i and + 2i + 1)."""
    b = batch_size // groups
    first = np.array([g * b + 2 * i for g in range(groups) for i in range(pairs_per_block)],
                     np.int32)
    return first, first + 1


def train_dataset(split, schedule: BatchSchedule | None = None, *, start_step: int,
                  num_steps: int, regression_targets: str, augment_frames: bool = False,
                  align_pairs: bool = False, read_parallelism: int = 1):
    """tf.data.Dataset of the batches of steps [start_step, num_steps), prefetched.

    `read_parallelism` batches are built at once (in order): worth more than 1 when the
    split streams from storage (`record_stream.StreamingSplit`), whose reads then overlap.

    `split` is a `Split` with its `schedule`, or a list of `Block`s (this host's shard
    groups, concatenated in group order; schedule None). With `augment_frames`, `augment`
    runs with a generator seeded by (seed, step, 1[, group]), so the batches stay a pure
    function of the step (exact resume). With `align_pairs`, both videos of a pair take
    the same transform (`augment`'s `aligned_pairs`).
    """
    import tensorflow as tf

    blocks = list(split) if schedule is None else [Block(split, schedule)]
    masks = [regression_mask(bl.split, regression_targets) for bl in blocks]

    def block_batch(bl, reg_mask, step):
        idx, order = bl.schedule(int(step))
        b = gather_batch(bl.split, idx, reg_mask)
        if augment_frames:
            stream = (bl.group,) if bl.groups > 1 else ()
            augment(b, np.random.default_rng([bl.schedule.seed, int(step), 1, *stream]),
                    bl.schedule.num_pairs if align_pairs else 0)
        b["pair_order"] = order
        return b

    def batch_at(step):
        parts = [block_batch(bl, m, step) for bl, m in zip(blocks, masks)]
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    example = batch_at(0)
    keys = sorted(example)

    def make(step):
        b = batch_at(step)
        return [b[k] for k in keys]

    def to_dict(step):
        values = tf.numpy_function(make, [step], [tf.as_dtype(example[k].dtype) for k in keys])
        for v, k in zip(values, keys):
            v.set_shape(example[k].shape)
        return dict(zip(keys, values))

    ds = tf.data.Dataset.range(start_step, num_steps)
    if read_parallelism > 1:
        ds = ds.map(to_dict, num_parallel_calls=read_parallelism, deterministic=True)
    else:
        ds = ds.map(to_dict)
    return ds.prefetch(max(2, read_parallelism))


def eval_batches(split, batch_size: int):
    """Yields (batch of FRAME_KEYS padded to `batch_size` by repeating row 0, n_valid).

    `split`: a `Split` or a `record_stream.StreamingSplit` (read batch by batch, so a
    held-out set larger than memory can be scored)."""
    n = len(split)
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        valid = idx.size
        idx = np.concatenate([idx, np.zeros(batch_size - valid, np.int64)])
        batch = split.take(idx)
        yield {k: batch[k] for k in FRAME_KEYS}, valid

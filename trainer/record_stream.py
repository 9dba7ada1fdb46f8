"""Training records read from storage as each batch needs them (streaming input).

`input_pipeline.load_split` holds every frame of a split in host memory. This reader
holds an index instead: per video, its file and byte offset plus the few fields the
batch schedule needs (source_id, crf, label, vmaf, is_original, video_id; about 100
bytes a video), and reads the B records of a step's batch from storage when the batch is
built: random access into the TFRecord files, on local paths or any filesystem Beam
knows (gs://, through `FileSystems`). Host memory is then the index plus a few batches in
flight, whatever the size of the data set.

The batches are the same `BatchSchedule` draws as the in-memory reader's over the same
video_id-ordered rows, so step s's batch is the same pure function of (seed, s) — bit
for bit the in-memory reader's batch — and a resumed run reads exactly the batches an
uninterrupted one would. Same-source pairs need no grouping of the files: the index knows
every video's source. (A file-order stream with a shuffle buffer would make a batch
depend on the stream's history, so a resume would replay it, and pairs could only come
from sources inside the buffer.) Cost: one seek and read per video, B per step, issued
from `tf.data`'s parallel map (`train_dataset(..., read_parallelism)`).

The index comes from one pass over the files (each host over its own shard groups'
files, `input_pipeline.shard_files`), cached as Parquet in `cache_dir` under a name that
hashes the files' paths and sizes, so a restart or a second run reuses it and a changed
file set builds a new one. Records must be uncompressed TFRecords (as `prepare` writes).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import time
from concurrent import futures

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from beam_pipelines import records

INDEX_FORMAT = 1


def _filesystems():
    from apache_beam.io.filesystems import FileSystems
    return FileSystems


def _read_record(handle) -> bytes | None:
    """One TFRecord from the handle's position (length and data CRCs checked); None at
    the end of the file."""
    from apache_beam.io.tfrecordio import _TFRecordUtil  # the framing Beam writes
    return _TFRecordUtil.read_record(handle)


def _open(path: str):
    return _filesystems().open(path, compression_type="uncompressed")


def match_files(pattern: str) -> list[tuple[str, int]]:
    """(path, size in bytes) of the files matching `pattern`, in path order."""
    found = _filesystems().match([pattern])[0].metadata_list
    return sorted((m.path, int(m.size_in_bytes)) for m in found)


@dataclasses.dataclass
class RecordIndex:
    """Where each video's record lies and the fields a `BatchSchedule` draws on.

    Rows are in video_id order (as `input_pipeline.load_split`'s), N videos:
      files: list[str]; file_index: int32[N] into `files`; offset: int64[N], the byte
      offset of the record's header; video_id, source_id: str[N]; crf: int32[N] (-1 an
      original); label, vmaf: float32[N] (NaN unknown); is_original: bool[N].
    """

    files: list
    file_index: np.ndarray
    offset: np.ndarray
    video_id: np.ndarray
    source_id: np.ndarray
    crf: np.ndarray
    label: np.ndarray
    vmaf: np.ndarray
    is_original: np.ndarray

    def __len__(self) -> int:
        return int(self.offset.shape[0])

    def to_table(self) -> pa.Table:
        return pa.table({
            "file": pa.array([self.files[i] for i in self.file_index]),
            "offset": self.offset, "video_id": self.video_id.astype(str),
            "source_id": self.source_id.astype(str), "crf": self.crf,
            "label": self.label, "vmaf": self.vmaf, "is_original": self.is_original,
        })

    @classmethod
    def from_table(cls, table: pa.Table, files: list) -> RecordIndex:
        col = {name: table.column(name).to_numpy(zero_copy_only=False)
               for name in table.column_names}
        where = {f: i for i, f in enumerate(files)}
        return cls._sorted(
            files, np.array([where[f] for f in col["file"]], np.int32),
            col["offset"].astype(np.int64), col["video_id"].astype(str),
            col["source_id"].astype(str), col["crf"].astype(np.int32),
            col["label"].astype(np.float32), col["vmaf"].astype(np.float32),
            col["is_original"].astype(bool))

    @classmethod
    def _sorted(cls, files, *columns) -> RecordIndex:
        video_id = columns[2]
        uniq, counts = np.unique(video_id, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"video_ids in more than one record: {list(uniq[counts > 1][:5])}")
        order = np.argsort(video_id, kind="stable")
        return cls(list(files), *(c[order] for c in columns))

    @classmethod
    def concat(cls, indexes: list[RecordIndex]) -> RecordIndex:
        """One index of several (e.g. two data builds' train splits), video_id ordered."""
        if len(indexes) == 1:
            return indexes[0]
        files, parts = [], []
        for ix in indexes:
            parts.append(ix.file_index + len(files))
            files += ix.files
        cat = [np.concatenate([getattr(ix, name) for ix in indexes]) for name in (
            "offset", "video_id", "source_id", "crf", "label", "vmaf", "is_original")]
        return cls._sorted(files, np.concatenate(parts), *cat)


def _scan_file(path: str, spec: records.RecordSpec) -> list[tuple]:
    """(offset, video_id, source_id, crf, label, vmaf, is_original) of every record."""
    rows, offset = [], 0
    with _open(path) as handle:
        while True:
            data = _read_record(handle)
            if data is None:
                return rows
            _, t = records.decode_example(data, spec)
            rows.append((offset, t["video_id"].decode(), t["source_id"].decode(),
                         int(t["crf"]), float(t["label"]), float(t["vmaf"]),
                         bool(t["is_original"])))
            offset += len(data) + 16  # length (8) + its CRC (4) + data + data CRC (4)


def build_index(files: list[str], spec: records.RecordSpec, workers: int = 4
                ) -> RecordIndex:
    """Scans `files` once (in parallel threads) into a `RecordIndex`."""
    for f in files:
        if f.endswith((".gz", ".zlib")):
            raise ValueError(f"{f}: streaming reads uncompressed TFRecords only")
    t0 = time.time()
    with futures.ThreadPoolExecutor(max(1, min(workers, len(files)))) as pool:
        scanned = list(pool.map(lambda f: _scan_file(f, spec), files))
    file_index = np.concatenate([np.full(len(rows), i, np.int32)
                                 for i, rows in enumerate(scanned)] or [np.zeros(0, np.int32)])
    rows = [r for part in scanned for r in part]
    if not rows:
        raise ValueError(f"no records in {len(files)} files ({files[:3]} ...)")
    cols = list(zip(*rows))
    logging.info("record index: %d records in %d files scanned in %.1f s",
                 len(rows), len(files), time.time() - t0)
    return RecordIndex._sorted(
        files, file_index, np.array(cols[0], np.int64), np.array(cols[1], str),
        np.array(cols[2], str), np.array(cols[3], np.int32), np.array(cols[4], np.float32),
        np.array(cols[5], np.float32), np.array(cols[6], bool))


def _cache_name(files: list[tuple[str, int]], spec: records.RecordSpec) -> str:
    key = repr((INDEX_FORMAT, spec.to_dict(), files)).encode()
    return f"index-{hashlib.sha256(key).hexdigest()[:20]}.parquet"


def load_index(data_dir: str, split: str, spec: records.RecordSpec, *, group: int = 0,
               groups: int = 1, cache_dir: str | None = None) -> RecordIndex:
    """The index of shard group `group` of `groups` of `DATA_DIR/<split>/` (the files
    `input_pipeline.shard_files` gives that group), from `cache_dir` when a run has
    indexed the same files (same paths and sizes) before, else scanned (and cached)."""
    from trainer import input_pipeline

    fs = _filesystems()
    sized = dict(match_files(fs.join(data_dir, split, "*.tfrecord")))
    mine = input_pipeline.shard_files(data_dir, split, group, groups, listing=sorted(sized))
    keyed = [(f, sized[f]) for f in mine]
    cache = fs.join(cache_dir, _cache_name(keyed, spec)) if cache_dir else None
    if cache and fs.exists(cache):
        with fs.open(cache, compression_type="uncompressed") as h:
            table = pq.read_table(pa.BufferReader(h.read()))
        logging.info("record index: %d records of %s/%s from %s", table.num_rows,
                     data_dir, split, cache)
        return RecordIndex.from_table(table, mine)
    index = build_index(mine, spec)
    if cache:
        if "://" not in cache_dir:
            os.makedirs(cache_dir, exist_ok=True)
        buf = io.BytesIO()
        pq.write_table(index.to_table(), buf)
        tmp = cache + f".tmp-{os.getpid()}"
        with fs.create(tmp, compression_type="uncompressed") as h:
            h.write(buf.getvalue())
        fs.rename([tmp], [cache])
    return index


class StreamingSplit:
    """A split whose frames stay in storage. Has the per-video fields of
    `input_pipeline.Split` that batch drawing needs (label, vmaf, is_original, crf,
    source_id, video_id) and `take(idx)`, which reads and decodes the records of rows
    `idx`. `text_from_ids(description_token_ids | None) -> {TEXT_KEYS: [T]}` builds each
    video's decoder text from the record's own token ids (None: no description), e.g.
    `preprocessor.training_text_from_ids` with the describe prompt (`attach_text`)."""

    def __init__(self, index: RecordIndex, spec: records.RecordSpec, text_from_ids=None):
        self.index, self.spec, self.text_from_ids = index, spec, text_from_ids
        for name in ("label", "vmaf", "is_original", "crf", "source_id", "video_id"):
            setattr(self, name, getattr(index, name))

    def __len__(self) -> int:
        return len(self.index)

    def read(self, idx) -> list[bytes]:
        """The serialized records of rows `idx`, in that order (each file opened once,
        its records read in offset order)."""
        idx = np.asarray(idx, np.int64)
        out: list = [None] * idx.size
        for f in np.unique(self.index.file_index[idx]):
            rows = np.flatnonzero(self.index.file_index[idx] == f)
            rows = rows[np.argsort(self.index.offset[idx[rows]], kind="stable")]
            with _open(self.index.files[f]) as handle:
                for r in rows:
                    handle.seek(int(self.index.offset[idx[r]]))
                    out[r] = _read_record(handle)
        return out

    def text_of(self, targets: dict) -> dict:
        """The decoder text of one decoded record (`records.decode_example`'s targets):
        `text_from_ids` of its token ids, or of None when it has no description."""
        blank = not targets["description"].decode("utf-8").strip()
        return self.text_from_ids(None if blank else targets["description_token_ids_all"])

    def take(self, idx) -> dict:
        """FRAME_KEYS (and TEXT_KEYS with `text_from_ids`) arrays of rows `idx`, as
        `input_pipeline.Split.take`."""
        from trainer.input_pipeline import FRAME_KEYS, stack_text

        decoded = [records.decode_example(r, self.spec) for r in self.read(idx)]
        for (_, t), i in zip(decoded, np.asarray(idx).tolist()):
            if t["video_id"].decode() != self.video_id[i]:
                raise ValueError(f"{self.index.files[self.index.file_index[i]]} changed "
                                 f"since it was indexed: offset {self.index.offset[i]} "
                                 f"holds {t['video_id']!r}, not {self.video_id[i]!r}")
        out = {k: np.stack([x[k] for x, _ in decoded]) for k in FRAME_KEYS}
        if self.text_from_ids is not None:
            out.update(stack_text([self.text_of(t) for _, t in decoded]))
        return out

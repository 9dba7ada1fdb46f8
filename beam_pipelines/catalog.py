"""Video catalogs: CSV, JSONL or Parquet, on local disk or gs://.

Columns: `video_id`, `uri` (required); `source_id`, `crf`, `mos`, `description`,
`bitrate_kbps` (the rendition's bitrate as the catalog knows it; overrides the probed
one), `ladder_id` (which encoder/configuration made the rendition; default: the
`source_id`, one ladder per source), `display_height` (the height the rendition is
shown at, e.g. its ladder's largest rung: a shorter rendition is scored as enlarged to
it, `cpllm_model.frames.display_frames`) (optional); other columns are ignored, header
names are matched case-insensitively. A relative `uri` is resolved against the catalog's own directory.

`check_catalog(path)` runs on the launcher and reads only the head of the file (a CSV's
header, the first 64 KiB's UTF-8, a Parquet footer's schema): it rejects a catalog that
is not a table at all (unknown extension, unreadable, not UTF-8 at the start, not
Parquet, no `video_id`/`uri` columns) with a CatalogError. `ReadCatalog` streams the rows
on the workers (Beam's FileSystems, row index kept; Parquet split per row group). Row
problems never stop a run: `ReadCatalog` emits every row either as a clean entry or as a
failure row at stage `catalog` (empty id, missing uri, bad crf/mos/bitrate_kbps/display_height,
source_id "*" (reserved for the flip-rate all-sources rows), bytes that are not UTF-8,
broken CSV quoting, repeated video_id: the first occurrence in file order is kept).
"""

import csv
import io
import json
import math
import os
import posixpath
import re
import typing

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from beam_pipelines import dead_letter, schemas

REQUIRED = ("video_id", "uri")
OPTIONAL = ("source_id", "crf", "mos", "description", "bitrate_kbps", "ladder_id",
            "display_height")
FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_NAMESPACE = "cpllm.catalog"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class CatalogError(ValueError):
    """The catalog as a whole cannot be read (not a per-row problem)."""


class RowError(ValueError):
    """One catalog row is malformed."""


def catalog_format(path):
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CatalogError(
            f"catalog {path!r}: unknown extension {ext!r}; expected one of {sorted(FORMATS)}"
        )
    return FORMATS[ext]


def _open(path):
    try:
        return FileSystems.open(path, compression_type="uncompressed")
    except Exception as e:  # FileSystems wraps every backend's errors differently.
        raise CatalogError(f"catalog {path!r} cannot be opened: {e}") from e


# The launcher reads at most this much of a text catalog (header + UTF-8 check).
HEAD_BYTES = 64 * 1024


def _text_stream(f):
    """Rows of a Beam file stream as text, read as they are needed (constant memory).

    Bytes that are not UTF-8 past the checked head become lone surrogates
    (surrogateescape); `normalize_row` refuses them as a `MalformedRow`, so a bad byte
    in row 10 million costs that row, not the run.
    """
    return io.TextIOWrapper(f, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _csv_rows(f, path):
    reader = csv.DictReader(_text_stream(f), strict=True)
    while True:
        line = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RowError(f"not valid CSV near line {reader.line_num}: {e}"), {}
            if reader.line_num == line:  # no progress: give up on the rest
                return
            continue
        extra = row.pop(None, None)  # more fields than the header
        missing = [k for k, v in row.items() if v is None]  # fewer fields than the header
        if extra or missing:
            n = len(reader.fieldnames)
            yield (RowError(f"CSV row has {n + len(extra or []) - len(missing)} fields, "
                            f"header has {n}"), row)
        else:
            yield None, row


def _jsonl_rows(f, path):
    for n, line in enumerate(_text_stream(f), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            yield RowError(f"line {n} is not valid JSON: {e}"), {}
            continue
        if not isinstance(row, dict):
            yield RowError(f"line {n} is a JSON {type(row).__name__}, not an object"), {}
            continue
        yield None, row


def _parquet_file(f, path):
    try:
        return pq.ParquetFile(f)  # reads the footer only
    except Exception as e:  # pyarrow raises ArrowInvalid and friends
        raise CatalogError(f"catalog {path!r} is not valid Parquet: {e}") from e


def _parquet_rows(f, path, row_groups=None):
    pf = _parquet_file(f, path)
    for group in range(pf.num_row_groups) if row_groups is None else row_groups:
        for row in pf.read_row_group(group).to_pylist():
            yield None, row


def _check_columns(columns, path):
    lower = {str(c).strip().lower() for c in columns}
    missing = [c for c in REQUIRED if c not in lower]
    if missing:
        raise CatalogError(
            f"catalog {path!r} lacks required column(s) {missing}; it has {sorted(lower)}"
        )


_READERS = {"csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}


def iter_raw_rows(path):
    """Yields (RowError or None, raw dict) for every row, in file order (streamed)."""
    fmt = catalog_format(path)
    with _open(path) as f:
        yield from _READERS[fmt](f, path)


def _head_text(path):
    with _open(path) as f:
        head = f.read(HEAD_BYTES + 1)
    truncated = len(head) > HEAD_BYTES
    head = head[:HEAD_BYTES]
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # A multi-byte character cut by the head's end is fine; anything else is not.
        if not (truncated and e.start >= len(head) - 3 and e.reason == "unexpected end of data"):
            raise CatalogError(f"catalog {path!r} is not UTF-8 text: {e}") from e
        text = head[:e.start].decode("utf-8-sig")
    return text, truncated


def check_catalog(path):
    """Raises CatalogError unless `path` is a readable catalog with the required columns.

    Reads only the head: a CSV's header line (and that the first 64 KiB are UTF-8), a
    JSONL file's first 64 KiB (UTF-8), a Parquet file's footer (its schema). Problems
    further down are per-row failures of `ReadCatalog`, never a launch error.
    """
    fmt = catalog_format(path)
    if fmt == "parquet":
        with _open(path) as f:
            _check_columns(_parquet_file(f, path).schema_arrow.names, path)
        return
    text, truncated = _head_text(path)
    if fmt == "csv":
        first = text.splitlines()[0] if text.strip() else ""
        if not first.strip():
            raise CatalogError(f"catalog {path!r} is empty (no CSV header)")
        if truncated and len(text.splitlines()) < 2:
            raise CatalogError(f"catalog {path!r}: CSV header longer than {HEAD_BYTES} bytes")
        try:
            header = next(csv.reader([first], strict=True))
        except csv.Error as e:
            raise CatalogError(f"catalog {path!r} is not valid CSV: {e}") from e
        _check_columns(header, path)


def catalog_splits(path):
    """Work items of a catalog: (path, row_groups, first row index).

    Parquet: one per row group, its first row index from the footer, so row groups are
    read in parallel on different workers. CSV/JSONL: one for the file (a row's index is
    only known after reading every row before it), read as a stream.
    """
    if catalog_format(path) != "parquet":
        return [(path, None, 0)]
    with _open(path) as f:
        meta = _parquet_file(f, path).metadata
    splits, first = [], 0
    for group in range(meta.num_row_groups):
        splits.append((path, [group], first))
        first += meta.row_group(group).num_rows
    return splits


def iter_split_rows(split):
    """(row index, RowError or None, raw dict) for the rows of one `catalog_splits` item."""
    path, row_groups, first = split
    with _open(path) as f:
        if row_groups is None:
            rows = _READERS[catalog_format(path)](f, path)
        else:
            rows = _parquet_rows(f, path, row_groups)
        for index, (error, raw) in enumerate(rows, start=first):
            yield index, error, raw


def is_original(row) -> bool:
    """A ladder's source itself, as `beam_pipelines.ladder`'s catalog.csv lists it beside
    its rungs: its `video_id` is its `source_id` and it has no CRF."""
    return (row.get("crf") is None and row.get("source_id") is not None
            and row.get("video_id") == row.get("source_id"))


def _text(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _number(value, name):
    """A finite float from a catalog cell, None when empty; RowError otherwise."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise RowError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise RowError(f"{name} {value!r} is not finite")
    return number


def _crf(value):
    number = _number(value, "crf")
    if number is None:
        return None
    if number != int(number) or number < 0:
        raise RowError(f"crf {value!r} is not a non-negative integer")
    return int(number)


def _mos(value):
    return _number(value, "mos")


def _bitrate(value):
    number = _number(value, "bitrate_kbps")
    if number is not None and number <= 0:
        raise RowError(f"bitrate_kbps {value!r} is not positive")
    return number


def display_height(value, name="display_height"):
    """A display height in pixels (an integer in 1..8640), None when empty; RowError
    otherwise."""
    number = _number(value, name)
    if number is None:
        return None
    if number != int(number) or not 1 <= number <= 8640:
        raise RowError(f"{name} {value!r} is not a height in pixels (an integer in 1..8640)")
    return int(number)


def resolve_uri(uri, catalog_path):
    """Relative paths are relative to the catalog's directory; absolute paths and
    anything with a scheme (gs://, file:, and schemes media.storage refuses) are kept."""
    if _SCHEME.match(uri) or os.path.isabs(uri):
        return uri
    if "://" in catalog_path:
        return posixpath.join(posixpath.dirname(catalog_path), uri)
    return os.path.join(os.path.dirname(os.path.abspath(catalog_path)), uri)


def _check_unicode(row):
    """JSON can spell lone surrogates ("\\udce9", how Python writes a non-UTF-8 file
    name); no table, Beam coder or BigQuery can carry them, so the row is refused."""
    for name in REQUIRED + OPTIONAL:
        value = row.get(name)
        if isinstance(value, str) and not _is_utf8(value):
            raise RowError(f"{name} {value!r} is not valid Unicode (lone surrogates, e.g. "
                           "a file name that is not UTF-8); catalogs must be UTF-8 text")


def _is_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalize_row(raw, catalog_path):
    """A raw row -> clean entry dict; raises RowError if malformed."""
    row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
    _check_unicode(row)
    video_id = _text(row.get("video_id"))
    uri = _text(row.get("uri"))
    if video_id is None:
        raise RowError("empty video_id")
    if uri is None:
        raise RowError("missing uri")
    source_id = _text(row.get("source_id"))
    if source_id == schemas.ALL_SOURCES:
        raise RowError(f"source_id {schemas.ALL_SOURCES!r} is reserved: it names the "
                       "all-sources rows of the flip-rate table")
    return {
        "video_id": video_id,
        "uri": resolve_uri(uri, catalog_path),
        "source_id": source_id,
        "crf": _crf(row.get("crf")),
        "mos": _mos(row.get("mos")),
        "description": _text(row.get("description")),
        "bitrate_kbps": _bitrate(row.get("bitrate_kbps")),
        "ladder_id": _text(row.get("ladder_id")) or source_id,
        "display_height": display_height(row.get("display_height")),
    }


def _raw_field(raw, name):
    for k, v in raw.items():
        if k is not None and str(k).strip().lower() == name:
            text = _text(v)
            return text if text is None or _is_utf8(text) else ascii(text)[1:-1]
    return None


class ParseCatalogRows(beam.DoFn):
    """`catalog_splits` item -> (row_index, entry) on the main output, failure rows on
    'failures'. Rows are read as a stream: memory does not grow with the catalog."""

    def __init__(self):
        self.rows_read = Metrics.counter(_NAMESPACE, "catalog_rows")
        self.malformed = Metrics.counter(_NAMESPACE, "malformed_rows")

    def process(self, split):
        path = split[0]
        for index, error, raw in iter_split_rows(split):
            self.rows_read.inc()
            if error is None:
                try:
                    yield index, normalize_row(raw, path)
                    continue
                except RowError as e:
                    error = e
            self.malformed.inc()
            yield dead_letter.tagged(dead_letter.failure_row(
                _raw_field(raw, "video_id"), _raw_field(raw, "uri"), "catalog",
                "MalformedRow", str(error)))


class _SplitDuplicates(beam.DoFn):
    """(video_id, [(row_index, entry), ...]) -> first entry; later ones to 'failures'."""

    def __init__(self):
        self.duplicates = Metrics.counter(_NAMESPACE, "duplicate_rows")

    def process(self, element):
        video_id, indexed = element
        indexed = sorted(indexed, key=lambda pair: pair[0])
        first_index, first = indexed[0]
        yield first
        for index, entry in indexed[1:]:
            self.duplicates.inc()
            yield dead_letter.tagged(
                dead_letter.failure_row(
                    video_id,
                    entry["uri"],
                    "catalog",
                    "DuplicateVideoId",
                    f"video_id {video_id!r} already appears in catalog row {first_index + 1}; "
                    f"this is row {index + 1}",
                ),
            )


class ReadCatalog(beam.PTransform):
    """Reads and validates a catalog.

    Returns a DoOutputsTuple: `.entries` (one clean dict per unique video_id, keys
    video_id, uri, source_id, crf, mos, description) and `.failures` (failure rows at
    stage `catalog`, flattened from malformed and duplicate rows).
    """

    def __init__(self, path):
        super().__init__()
        self._path = path

    def expand(self, pbegin):
        parsed = (
            pbegin
            | "CatalogPath" >> beam.Create([self._path])
            | "CatalogSplits" >> beam.FlatMap(catalog_splits)  # on a worker: footer only
            | "SpreadSplits" >> beam.Reshuffle()
            | "ParseRows"
            >> beam.ParDo(ParseCatalogRows()).with_outputs(dead_letter.FAILURES, main="rows")
        )
        deduped = (
            parsed.rows
            | "KeyByVideoId" >> beam.Map(lambda ie: (ie[1]["video_id"], ie))
            | "GroupByVideoId" >> beam.GroupByKey()
            | "DropDuplicates"
            >> beam.ParDo(_SplitDuplicates()).with_outputs(
                dead_letter.FAILURES, main="entries"
            )
        )
        failures = (parsed.failures, deduped.failures) | "CatalogFailures" >> beam.Flatten()
        return CatalogOutputs(deduped.entries, failures)


class CatalogOutputs(typing.NamedTuple):
    entries: beam.PCollection
    failures: beam.PCollection

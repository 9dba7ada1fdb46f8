"""Video catalogs: CSV, JSONL or Parquet, on local disk or gs://.

Columns: `video_id`, `uri` (required); `source_id`, `crf`, `mos`, `description`,
`bitrate_kbps` (the rendition's bitrate as the catalog knows it; overrides the probed
one), `ladder_id` (which encoder/configuration made the rendition; default: the
`source_id`, one ladder per source) (optional); other columns are ignored, header
names are matched case-insensitively. A relative `uri` is resolved against the catalog's own directory.

`check_catalog(path)` runs at pipeline construction and rejects a catalog that is not a
table at all (unknown extension, unreadable, not CSV/Parquet, no `video_id`/`uri`
columns) with a CatalogError. Row problems never stop a run: `ReadCatalog` emits every
row either as a clean entry or as a failure row at stage `catalog` (empty id, missing
uri, bad crf/mos/bitrate_kbps, source_id "*" (reserved for the flip-rate all-sources rows), repeated
video_id: the first occurrence in file order is kept).
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

from beam_pipelines import schemas

REQUIRED = ("video_id", "uri")
OPTIONAL = ("source_id", "crf", "mos", "description", "bitrate_kbps", "ladder_id")
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


def _decode(data, path):
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CatalogError(f"catalog {path!r} is not UTF-8 text: {e}") from e


def _csv_rows(path):
    with _open(path) as f:
        text = _decode(f.read(), path)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = reader.fieldnames
        rows = list(reader)
    except csv.Error as e:
        raise CatalogError(f"catalog {path!r} is not valid CSV: {e}") from e
    if not header:
        raise CatalogError(f"catalog {path!r} is empty (no CSV header)")
    _check_columns([h for h in header if h is not None], path)
    for row in rows:
        extra = row.pop(None, None)  # more fields than the header
        missing = [k for k, v in row.items() if v is None]  # fewer fields than the header
        if extra or missing:
            yield (
                RowError(
                    f"CSV row has {len(header) + len(extra or []) - len(missing)} "
                    f"fields, header has {len(header)}"
                ),
                row,
            )
        else:
            yield None, row


def _jsonl_rows(path):
    with _open(path) as f:
        text = _decode(f.read(), path)
    for n, line in enumerate(text.splitlines(), start=1):
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


def _parquet_rows(path):
    with _open(path) as f:
        try:
            table = pq.read_table(f)
        except Exception as e:  # pyarrow raises ArrowInvalid and friends
            raise CatalogError(f"catalog {path!r} is not valid Parquet: {e}") from e
    _check_columns(table.column_names, path)
    for row in table.to_pylist():
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
    """Yields (RowError or None, raw dict) for every row, in file order."""
    yield from _READERS[catalog_format(path)](path)


def check_catalog(path):
    """Raises CatalogError unless `path` is a readable catalog with the required columns.

    Reads the whole file once (catalogs are small next to their videos); JSONL rows are
    checked one by one later, so a JSONL file only has to exist and be UTF-8.
    """
    for _ in iter_raw_rows(path):
        pass


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
    }


def _raw_field(raw, name):
    for k, v in raw.items():
        if k is not None and str(k).strip().lower() == name:
            text = _text(v)
            return text if text is None or _is_utf8(text) else ascii(text)[1:-1]
    return None


class ParseCatalogRows(beam.DoFn):
    """catalog path -> (row_index, entry) on the main output, failure rows on 'failures'."""

    FAILURES = "failures"

    def __init__(self):
        self.rows_read = Metrics.counter(_NAMESPACE, "catalog_rows")
        self.malformed = Metrics.counter(_NAMESPACE, "malformed_rows")

    def process(self, path):
        for index, (error, raw) in enumerate(iter_raw_rows(path)):
            self.rows_read.inc()
            if error is None:
                try:
                    yield index, normalize_row(raw, path)
                    continue
                except RowError as e:
                    error = e
            self.malformed.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILURES,
                schemas.failure_row(
                    _raw_field(raw, "video_id"),
                    _raw_field(raw, "uri"),
                    "catalog",
                    "MalformedRow",
                    str(error),
                    attempts=1,
                ),
            )


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
            yield beam.pvalue.TaggedOutput(
                ParseCatalogRows.FAILURES,
                schemas.failure_row(
                    video_id,
                    entry["uri"],
                    "catalog",
                    "DuplicateVideoId",
                    f"video_id {video_id!r} already appears in catalog row {first_index + 1}; "
                    f"this is row {index + 1}",
                    attempts=1,
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
            | "ParseRows"
            >> beam.ParDo(ParseCatalogRows()).with_outputs(ParseCatalogRows.FAILURES, main="rows")
        )
        deduped = (
            parsed.rows
            | "KeyByVideoId" >> beam.Map(lambda ie: (ie[1]["video_id"], ie))
            | "GroupByVideoId" >> beam.GroupByKey()
            | "DropDuplicates"
            >> beam.ParDo(_SplitDuplicates()).with_outputs(
                ParseCatalogRows.FAILURES, main="entries"
            )
        )
        failures = (parsed.failures, deduped.failures) | "CatalogFailures" >> beam.Flatten()
        return CatalogOutputs(deduped.entries, failures)


class CatalogOutputs(typing.NamedTuple):
    entries: beam.PCollection
    failures: beam.PCollection

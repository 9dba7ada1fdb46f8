"""Catalog reading: formats, validation, dedupe, dead letter (real Beam, real files)."""
import io
import json
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines import catalog

HEADER = "video_id,uri,source_id,crf,mos,extra\n"


def test_csv_bad_rows_all_accounted_for(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(
        HEADER
        + "a,a.mp4,s1,23,50.5,x\n"
        + "b,b.mp4,s1,abc,,\n"  # bad crf
        + ",c.mp4,,,,\n"  # empty id
        + "d,,,,,\n"  # missing uri
        + "a,a2.mp4,s1,28,,\n"  # duplicate id: later row fails
        + "e,e.mp4,s1,28\n"  # too few fields
        + "  f  ,gs://bucket/f.mp4,,1e1,,\n"  # id stripped, crf 10
        + "g,g.mp4,,,not-a-number,\n"  # bad mos
    )
    p = test_pipeline.TestPipeline(runner=_offline())
    cat = p | catalog.ReadCatalog(str(path))
    assert_that(
        cat.entries | "Ids" >> beam.Map(lambda e: (e["video_id"], e["crf"])),
        equal_to([("a", 23), ("f", 10)]),
        label="Entries",
    )
    assert_that(
        cat.failures | "Why" >> beam.Map(lambda f: (f["video_id"], f["stage"], f["error_type"])),
        equal_to(
            [
                ("b", "catalog", "MalformedRow"),
                (None, "catalog", "MalformedRow"),
                ("d", "catalog", "MalformedRow"),
                ("a", "catalog", "DuplicateVideoId"),
                ("e", "catalog", "MalformedRow"),
                ("g", "catalog", "MalformedRow"),
            ]
        ),
        label="Failures",
    )
    p.run().wait_until_finish()


def test_first_occurrence_wins(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("video_id,uri\nx,first.mp4\ny,y.mp4\nx,second.mp4\nx,third.mp4\n")
    rows = [r for e, r in catalog.iter_raw_rows(str(path)) if e is None]
    assert [r["uri"] for r in rows] == ["first.mp4", "y.mp4", "second.mp4", "third.mp4"]
    p = test_pipeline.TestPipeline(runner=_offline())
    cat = p | catalog.ReadCatalog(str(path))
    assert_that(
        cat.entries | beam.Map(lambda e: (e["video_id"], os.path.basename(e["uri"]))),
        equal_to([("x", "first.mp4"), ("y", "y.mp4")]),
    )
    assert_that(
        cat.failures | beam.Map(lambda f: f["message"]),
        equal_to(
            [
                "video_id 'x' already appears in catalog row 1; this is row 3",
                "video_id 'x' already appears in catalog row 1; this is row 4",
            ]
        ),
        label="DuplicateMessages",
    )
    p.run().wait_until_finish()


def _offline():
    from beam_pipelines import runner

    return runner.offline_runner(beam.pipeline.PipelineOptions([]))


def test_jsonl_and_parquet_match_csv(tmp_path):
    rows = [
        {"video_id": "a", "uri": "/v/a.mp4", "source_id": "s", "crf": 23, "mos": 60.0},
        {"video_id": "b", "uri": "/v/b.mp4", "source_id": "s", "crf": 28, "mos": None},
    ]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n{not json\n[1, 2]\n\n"
    )
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path, bad in ((jsonl, 2), (parquet, 0)):
        raw = list(catalog.iter_raw_rows(str(path)))
        assert sum(e is not None for e, _ in raw) == bad
        entries = [catalog.normalize_row(r, str(path)) for e, r in raw if e is None]
        assert [(e["video_id"], e["uri"], e["crf"], e["mos"]) for e in entries] == [
            ("a", "/v/a.mp4", 23, 60.0),
            ("b", "/v/b.mp4", 28, None),
        ]


def test_relative_uris_resolve_against_catalog_dir(tmp_path):
    path = str(tmp_path / "c.csv")
    assert catalog.resolve_uri("clips/a.mp4", path) == str(tmp_path / "clips" / "a.mp4")
    assert catalog.resolve_uri("-rf.mp4", path) == str(tmp_path / "-rf.mp4")
    assert catalog.resolve_uri("/abs/a.mp4", path) == "/abs/a.mp4"
    assert catalog.resolve_uri("gs://b/a.mp4", path) == "gs://b/a.mp4"
    # A scheme is kept as is, so media.storage refuses it instead of a file lookup.
    assert catalog.resolve_uri("concat:/a|/b", path) == "concat:/a|/b"
    assert catalog.resolve_uri("a.mp4", "gs://bucket/dir/c.csv") == "gs://bucket/dir/a.mp4"


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("c.txt", b"video_id,uri\n", "unknown extension"),
        ("c.csv", b"", "empty"),
        ("c.csv", b"name,path\nx,y\n", "lacks required column"),
        ("c.csv", b'"video_id,uri\n', "not valid CSV"),
        ("c.csv", b"video_id,uri\n\xff\xfe\x00bad", "not UTF-8"),
        ("c.parquet", b"PAR1 definitely not parquet", "not valid Parquet"),
        ("c.jsonl", b"\xc3\x28", "not UTF-8"),
    ],
)
def test_catalog_that_is_not_a_table_fails_clearly(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(catalog.CatalogError, match=match):
        catalog.check_catalog(str(path))


def test_missing_catalog_fails_clearly(tmp_path):
    with pytest.raises(catalog.CatalogError, match="cannot be opened"):
        catalog.check_catalog(str(tmp_path / "nope.csv"))


def test_headers_case_insensitive_and_extra_columns_ignored(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("Video_ID, URI ,Notes\nv1,v1.mp4,hello\n")
    catalog.check_catalog(str(path))
    (err, raw), = list(catalog.iter_raw_rows(str(path)))
    entry = catalog.normalize_row(raw, str(path))
    assert err is None and entry["video_id"] == "v1" and entry["uri"].endswith("/v1.mp4")
    assert entry["source_id"] is None and entry["crf"] is None
    assert entry["display_height"] is None


@pytest.mark.parametrize("value,want", [("1080", 1080), (" 720.0", 720), ("", None),
                                        ("720p", "not a number"), ("0", "height in pixels"),
                                        ("540.5", "height in pixels")])
def test_display_height_is_a_whole_number_of_pixels_or_a_failure_row(tmp_path, value, want):
    path = tmp_path / "c.csv"
    path.write_text(f"video_id,uri,display_height\nv1,v1.mp4,{value}\n")
    (_, raw), = list(catalog.iter_raw_rows(str(path)))
    if isinstance(want, str):
        with pytest.raises(catalog.RowError, match=want):
            catalog.normalize_row(raw, str(path))
    else:
        assert catalog.normalize_row(raw, str(path))["display_height"] == want


# Issue 14 item 15: the launcher reads only the head; rows are streamed on the workers.

class _CountingOpen:
    """Wraps FileSystems.open and counts the bytes read from every stream it returns."""

    def __init__(self, monkeypatch):
        from apache_beam.io.filesystems import FileSystems

        self.read = 0
        real = FileSystems.open
        counter = self

        class Stream(io.RawIOBase):
            def __init__(self, f):
                self._f = f

            def readable(self):
                return True

            def seekable(self):
                return self._f.seekable()

            def seek(self, *a):
                return self._f.seek(*a)

            def tell(self):
                return self._f.tell()

            def readinto(self, b):
                data = self._f.read(len(b))
                counter.read += len(data)
                b[:len(data)] = data
                return len(data)

            def close(self):
                self._f.close()
                super().close()

        monkeypatch.setattr(catalog.FileSystems, "open",
                            lambda *a, **k: io.BufferedReader(Stream(real(*a, **k))))


def _big_csv(path, rows, bad_at=None):
    with open(path, "wb") as f:
        f.write(b"video_id,uri,source_id\n")
        for n in range(rows):
            uri = b"v\xff.mp4" if n == bad_at else f"v{n:07d}.mp4".encode()
            f.write(f"id{n:07d},".encode() + uri + b",src\n")


def test_launch_check_reads_only_the_head(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    _big_csv(path, 200_000)  # ~6 MB
    counting = _CountingOpen(monkeypatch)
    catalog.check_catalog(str(path))
    assert 0 < counting.read <= catalog.HEAD_BYTES + 64 * 1024 < path.stat().st_size / 10


def test_parquet_launch_check_reads_the_footer_not_the_rows(tmp_path, monkeypatch):
    path = tmp_path / "big.parquet"
    n = 100_000
    pq.write_table(pa.table({"video_id": [f"id{i}" for i in range(n)],
                             "uri": [os.urandom(8).hex() + ".mp4" for _ in range(n)]}),
                   path, compression="none")
    counting = _CountingOpen(monkeypatch)
    catalog.check_catalog(str(path))
    assert counting.read < path.stat().st_size / 10
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"name": ["x"]}), bad)
    with pytest.raises(catalog.CatalogError, match="lacks required column"):
        catalog.check_catalog(str(bad))


def test_rows_are_streamed_not_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    _big_csv(path, 200_000)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("".join(json.dumps({"video_id": f"i{n}", "uri": f"u{n}.mp4"}) + "\n"
                             for n in range(100_000)))
    for p in (path, jsonl):
        counting = _CountingOpen(monkeypatch)
        rows = catalog.iter_raw_rows(str(p))
        next(rows)
        assert counting.read < p.stat().st_size / 10, p
        rows.close()


def test_bad_bytes_past_the_head_are_one_failure_row(tmp_path):
    path = tmp_path / "big.csv"
    _big_csv(path, 5_000, bad_at=4_000)  # far past the first 64 KiB
    catalog.check_catalog(str(path))  # before: "not UTF-8 text", the whole run refused
    p = test_pipeline.TestPipeline(runner=_offline())
    cat = p | catalog.ReadCatalog(str(path))
    assert_that(cat.entries | beam.combiners.Count.Globally(), equal_to([4_999]),
                label="Entries")
    assert_that(cat.failures | beam.Map(lambda f: (f["video_id"], f["error_type"],
                                                   "not valid Unicode" in f["message"])),
                equal_to([("id0004000", "MalformedRow", True)]), label="Failures")
    p.run().wait_until_finish()


def test_broken_csv_quoting_is_a_failure_row_not_a_launch_error(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('video_id,uri\nok,ok.mp4\n"a,b\n')
    catalog.check_catalog(str(path))
    p = test_pipeline.TestPipeline(runner=_offline())
    cat = p | catalog.ReadCatalog(str(path))
    assert_that(cat.entries | beam.Map(lambda e: e["video_id"]), equal_to(["ok"]),
                label="Entries")
    assert_that(cat.failures | beam.Map(lambda f: (f["error_type"],
                                                   "not valid CSV" in f["message"])),
                equal_to([("MalformedRow", True)]), label="Failures")
    p.run().wait_until_finish()


def test_parquet_row_groups_are_split_and_keep_the_row_index(tmp_path):
    path = tmp_path / "c.parquet"
    ids = ["a", "b", "c", "a", "d", "b", "e"]
    pq.write_table(pa.table({"video_id": ids, "uri": [f"{i}{n}.mp4" for n, i in enumerate(ids)]}),
                   path, row_group_size=2)
    splits = catalog.catalog_splits(str(path))
    assert [(groups, first) for _, groups, first in splits] == [
        ([0], 0), ([1], 2), ([2], 4), ([3], 6)]
    assert [i for s in splits for i, _, _ in catalog.iter_split_rows(s)] == list(range(7))
    p = test_pipeline.TestPipeline(runner=_offline())
    cat = p | catalog.ReadCatalog(str(path))
    assert_that(cat.entries | beam.Map(lambda e: (e["video_id"], os.path.basename(e["uri"]))),
                equal_to([("a", "a0.mp4"), ("b", "b1.mp4"), ("c", "c2.mp4"),
                          ("d", "d4.mp4"), ("e", "e6.mp4")]), label="Entries")
    assert_that(cat.failures | beam.Map(lambda f: f["message"]), equal_to([
        "video_id 'a' already appears in catalog row 1; this is row 4",
        "video_id 'b' already appears in catalog row 2; this is row 6"]), label="Failures")
    p.run().wait_until_finish()

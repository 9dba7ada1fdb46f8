"""The Parquet output tables: written with Beam's sink, read back with pyarrow.

A table NAME in an output directory (local or gs://) is the shard set
`DIR/NAME-SSSSS-of-NNNNN.parquet` (schemas.TABLES gives each table's schema). Every
pipeline writes its tables with `write_parquet`; the launcher's summary, the report,
bdrate, the trainer's evaluation and the tests read them with `read_table`.
"""
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

PARQUET_CODEC = "snappy"


def write_parquet(pcoll, prefix, schema, *, label, num_shards=0):
    """`pcoll | WriteToParquet(prefix-SSSSS-of-NNNNN.parquet)`, snappy-compressed.

    num_shards: 0 lets the runner choose (large tables such as scores); small tables
    (failures, flip_rate, per-ladder aggregates) pass 1 so that a Dataflow job with
    hundreds of workers does not leave hundreds of tiny files (issue 14 item 17).
    """
    import apache_beam as beam

    return pcoll | label >> beam.io.WriteToParquet(
        prefix,
        schema,
        codec=PARQUET_CODEC,
        file_name_suffix=".parquet",
        num_shards=num_shards,
    )


def table_files(output_dir, name):
    """Sorted paths of the shards `name-*.parquet` in `output_dir` (none: [])."""
    match = FileSystems.match([FileSystems.join(output_dir, f"{name}-*.parquet")])[0]
    return sorted(m.path for m in match.metadata_list)


def read_file(path, columns=None):
    """One Parquet file (local or gs://) as a pyarrow Table."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return pq.read_table(f, columns=columns)


def read_table(output_dir, name, columns=None):
    """Every shard of table `name` in `output_dir` as a list of dicts (`columns`: only
    these); a table with no shard reads as []."""
    rows = []
    for path in table_files(output_dir, name):
        rows.extend(read_file(path, columns).to_pylist())
    return rows

"""Replacing a pipeline's earlier output files (score, ladder and prepare share the rule).

Before the pipeline runs (after it is built, so flag errors delete nothing) the launcher
deletes the earlier shards of every file set the pipeline writes and Beam's leftover
`beam-temp-<name>-*` directories of them; nothing else in the output directory is
touched. Beam's file sinks then write every shard under a temp directory and rename it
into place when the sink finalizes, so a finished run leaves exactly one complete set of
shards per output, whatever shard count an earlier run used.
"""

import contextlib
import logging
import os

from apache_beam.io.filesystems import FileSystems

_LOG = logging.getLogger("cpllm.pipeline")


def clear_previous(output_dir, outputs):
    """Deletes earlier files of `outputs` under `output_dir`; returns the deleted paths.

    `outputs`: (prefix, suffix, sharded) per file set, prefix relative to output_dir as
    passed to Beam's sink (e.g. ("train/data", ".tfrecord", True) for
    `WriteToTFRecord(DIR/train/data, file_name_suffix=".tfrecord")`; ("manifest", ".json",
    False) for a `shard_name_template=""` file).
    """
    if not FileSystems.exists(output_dir):
        FileSystems.mkdirs(output_dir)

    def matches(pattern):
        match = FileSystems.match([FileSystems.join(output_dir, pattern)])[0]
        return [m.path for m in match.metadata_list]

    files, temp_files = [], []
    for prefix, suffix, sharded in outputs:
        head, name = os.path.split(prefix)
        files += matches(f"{prefix}-*{suffix}" if sharded else f"{prefix}{suffix}")
        temp_files += matches(os.path.join(head, f"beam-temp-{name}-*", "*"))
    deleted = sorted(set(files + temp_files))
    if deleted:
        _LOG.info("replacing %d earlier output files in %s", len(deleted), output_dir)
        FileSystems.delete(deleted)
    # Local temp directories are left empty now; object stores have no directories.
    for temp_dir in sorted({os.path.dirname(p) for p in temp_files if "://" not in p}):
        with contextlib.suppress(OSError):
            os.rmdir(temp_dir)
    return deleted


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

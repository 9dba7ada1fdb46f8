"""Replacing a pipeline's earlier output files (score, ladder and prepare share the rule).

Before the pipeline runs (after it is built, so flag errors delete nothing) the launcher
deletes the earlier shards of every file set the pipeline writes and Beam's leftover
`beam-temp-<name>-*` directories of them; nothing else in the output directory is
touched. Beam's file sinks then write every shard under a temp directory and rename it
into place when the sink finalizes, so a finished run leaves exactly one complete set of
shards per output, whatever shard count an earlier run used.

The scoring pipeline goes one step further (`new_run_id`, `staging_dir`, `publish`): it
writes into OUTPUT_DIR/_staging/RUN_ID/ and replaces the earlier tables only after the
job has succeeded, so a failed job leaves the previous tables in place.
"""

import contextlib
import glob
import logging
import os
import shutil

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
    # Local temp directories are left empty now, or were empty already (a run that died
    # before its sink wrote a file, e.g. one shard written after a GroupByKey); object
    # stores have no directories.
    temp_dirs = {os.path.dirname(p) for p in temp_files if "://" not in p}
    if "://" not in output_dir:
        for prefix, _, _ in outputs:
            head, name = os.path.split(prefix)
            temp_dirs.update(glob.glob(os.path.join(glob.escape(os.path.join(
                output_dir, head)), f"beam-temp-{glob.escape(name)}-*")))
    for temp_dir in sorted(temp_dirs):
        with contextlib.suppress(OSError):
            os.rmdir(temp_dir)
    return deleted


STAGING = "_staging"


def new_run_id():
    """A run id: UTC start time and a random suffix, e.g. '20260102T030405Z-1a2b3c4d'."""
    import datetime
    import uuid

    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


def staging_dir(output_dir, run_id):
    """Where run `run_id` writes its tables before `publish`: OUTPUT_DIR/_staging/RUN_ID."""
    return FileSystems.join(output_dir, STAGING, run_id)


def publish(staging, output_dir, outputs):
    """After a successful run: replace the earlier files of `outputs` in `output_dir` with
    the run's files in `staging`, then delete every staging directory of `output_dir`
    (this run's, and those failed runs left). Returns the published paths.

    Until this is called nothing in `output_dir` itself changes, so a job that fails
    leaves the previous run's tables complete (issue 14 item 12). The switch itself is
    not atomic: between deleting the old shards and the last rename (local: a rename per
    shard; gs://: a copy and a delete per object) a reader can see no or a partial table.
    """
    def matches(base, pattern):
        match = FileSystems.match([FileSystems.join(base, pattern)])[0]
        return sorted(m.path for m in match.metadata_list)

    staged = []
    for prefix, suffix, sharded in outputs:
        staged += matches(staging, f"{prefix}-*{suffix}" if sharded else f"{prefix}{suffix}")
    clear_previous(output_dir, outputs)
    rel = [p[len(staging):].lstrip("/" if "://" in p else os.sep) for p in staged]
    targets = [FileSystems.join(output_dir, r) for r in rel]
    for target in targets:
        parent = target.rsplit("/", 1)[0] if "://" in target else os.path.dirname(target)
        if "://" not in target and not os.path.isdir(parent):
            os.makedirs(parent)
    if staged:
        FileSystems.rename(staged, targets)
    root = FileSystems.join(output_dir, STAGING)
    if "://" not in root:
        shutil.rmtree(root, ignore_errors=True)
    else:  # object stores: a trailing "/" deletes everything under the prefix
        with contextlib.suppress(Exception):  # a leftover is harmless; the next run retries
            FileSystems.delete([root + "/"])
    _LOG.info("published %d files of run %s into %s", len(targets),
              os.path.basename(staging.rstrip("/")), output_dir)
    return targets

"""BigQuery sinks of the scoring tables and their re-run rules (issue 14 item 13).

- ``FILE_LOADS`` (the default) loads each table with ``WRITE_TRUNCATE``: a re-run replaces
  the table. Beam starts no load job for an empty PCollection, so an empty table would
  keep the previous run's rows; ``TruncateIfEmpty`` loads an empty file with
  ``WRITE_TRUNCATE`` (schema replaced, as Beam's own load) when the table has no rows.
- ``STREAMING_INSERTS`` appends. After a successful job the launcher records the run in
  a ``runs`` table (``record_run``); ``latest_sql(name)`` (the ``<name>_latest`` views
  ``create_latest_views`` makes) selects the rows of the newest *completed* run and keeps
  one row per ``run_id`` + key (``video_id`` for scores): a re-run shows no duplicates, a
  failed streaming job (rows inserted, no ``runs`` row) is never shown, and rows a retried
  bundle inserted twice are read once.
"""
import datetime
import logging
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

_LOG = logging.getLogger("cpllm.pipeline")

METHODS = ("FILE_LOADS", "STREAMING_INSERTS")
DEFAULT_METHOD = "FILE_LOADS"
RUNS_TABLE = "runs"
RUNS_SCHEMA = {"fields": [
    {"name": "run_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "finished_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "method", "type": "STRING", "mode": "NULLABLE"},
    {"name": "catalog", "type": "STRING", "mode": "NULLABLE"},
    {"name": "output_dir", "type": "STRING", "mode": "NULLABLE"},
]}
# Within one run, rows with the same key are copies (a bundle retried by the runner
# inserts its rows again); the key is what makes a row unique in a run.
DEDUPE_KEYS = {
    "scores": ("video_id",),
    "failures": ("video_id", "stage", "error_type", "message"),
    "flip_rate": ("source_id", "level", "crf_low", "crf_high", "rung_diff"),
    "ladder_summary": ("source_id", "ladder_id"),
    # FLOAT64 cannot be a window partition key in BigQuery: compared as text.
    "ladder_advice": ("source_id", "ladder_id", "CAST(target_score AS STRING)"),
}


def split_dataset(dataset):
    """'PROJECT:DATASET' -> (project, dataset); ValueError otherwise."""
    project, sep, name = (dataset or "").partition(":")
    if not sep or not project or not name or ":" in name:
        raise ValueError(f"--bigquery_dataset must be PROJECT:DATASET, got {dataset!r}")
    return project, name


def _table_sql(dataset, table):
    project, name = split_dataset(dataset)
    return f"`{project}.{name}.{table}`"


def latest_sql(dataset, name):
    """The rows of table `name` as the newest completed run wrote them, each once."""
    keys = ", ".join(("t.run_id",) + tuple(
        k if "(" in k else f"t.{k}" for k in DEDUPE_KEYS[name]))
    order = " ORDER BY t.scored_at DESC" if name == "scores" else ""
    return (
        f"SELECT * EXCEPT (_copy) FROM (\n"
        f"  SELECT t.*, ROW_NUMBER() OVER (PARTITION BY {keys}{order}) AS _copy\n"
        f"  FROM {_table_sql(dataset, name)} AS t\n"
        f"  WHERE t.run_id = (SELECT MAX(run_id) FROM {_table_sql(dataset, RUNS_TABLE)}))\n"
        f"WHERE _copy = 1"
    )


def _client(project):
    # Beam's own google-cloud-bigquery import (the emulator tests redirect this one).
    from apache_beam.io.gcp import bigquery_tools  # pylint: disable=import-outside-toplevel

    return bigquery_tools.gcp_bigquery.Client(project=project)


def record_run(dataset, run_id, method, catalog=None, output_dir=None, client=None):
    """Appends this run's row to DATASET.runs (created if needed); after the job succeeded."""
    from google.cloud import bigquery  # pylint: disable=import-outside-toplevel

    project, name = split_dataset(dataset)
    client = client or _client(project)
    table = bigquery.Table(f"{project}.{name}.{RUNS_TABLE}", schema=[
        bigquery.SchemaField(f["name"], f["type"], mode=f["mode"])
        for f in RUNS_SCHEMA["fields"]])
    client.create_table(table, exists_ok=True)
    row = {"run_id": run_id, "finished_at": datetime.datetime.now(datetime.UTC).isoformat(),
           "method": method, "catalog": catalog, "output_dir": output_dir}
    errors = client.insert_rows_json(table, [row], row_ids=[run_id])
    if errors:
        raise RuntimeError(f"recording run {run_id} in {dataset}.{RUNS_TABLE} failed: {errors}")


def create_latest_views(dataset, tables, client=None):
    """CREATE OR REPLACE VIEW DATASET.<name>_latest AS latest_sql(name), per table.

    `tables`: {name: BigQuery schema dict}. A table no run has streamed a row into yet
    (streaming creates tables at the first insert) is created empty first.
    """
    from google.cloud import bigquery  # pylint: disable=import-outside-toplevel

    project, name = split_dataset(dataset)
    client = client or _client(project)
    for table, schema in tables.items():
        client.create_table(bigquery.Table(
            f"{project}.{name}.{table}",
            schema=[bigquery.SchemaField.from_api_repr(f) for f in schema["fields"]]),
            exists_ok=True)
        view = _table_sql(dataset, f"{table}_latest")
        client.query(f"CREATE OR REPLACE VIEW {view} AS\n{latest_sql(dataset, table)}").result()


class TruncateIfEmpty(beam.DoFn):
    """count -> when 0, an empty WRITE_TRUNCATE load of the table (FILE_LOADS only).

    Beam's FILE_LOADS starts no load job for an empty PCollection, which would leave the
    previous run's rows in place. This load writes nothing and replaces the table's rows
    (and schema) exactly as a load with rows would. It runs only when there are no rows,
    so it never races Beam's own load of the same table.
    """

    def __init__(self, table_spec, schema, temp_location):
        self._table_spec = table_spec
        self._schema = schema
        self._temp_location = temp_location

    def process(self, count):
        if count:
            return
        from apache_beam.io.gcp import bigquery_tools  # pylint: disable=import-outside-toplevel
        from apache_beam.io.gcp.internal.clients import bigquery as bq  # pylint: disable=import-outside-toplevel

        project, rest = self._table_spec.split(":", 1)
        dataset, table = rest.split(".", 1)
        token = uuid.uuid4().hex
        path = FileSystems.join(self._temp_location, f"cpllm-empty-{table}-{token}.json")
        with FileSystems.create(path) as f:
            f.write(b"")
        try:
            wrapper = bigquery_tools.BigQueryWrapper()
            job = wrapper.perform_load_job(
                bq.TableReference(projectId=project, datasetId=dataset, tableId=table),
                f"cpllm_truncate_{table}_{token}",
                source_uris=[path],
                schema=bigquery_tools.get_bq_tableschema(self._schema),
                write_disposition="WRITE_TRUNCATE",
                create_disposition="CREATE_IF_NEEDED",
                source_format="NEWLINE_DELIMITED_JSON",
            )
            wrapper.wait_for_bq_job(job, sleep_duration_sec=1)
            _LOG.info("BigQuery table %s emptied (this run has no rows for it)",
                      self._table_spec)
        finally:
            FileSystems.delete([path])


def write(pcoll, opts, name, schema, local_validation_off):
    """Writes the BigQuery rows `pcoll` to DATASET.name with --bigquery_method.

    `local_validation_off`: skip Beam's up-front checks (local FILE_LOADS temp directory
    with emulators, local runners only).
    """
    split_dataset(opts.bigquery_dataset)
    table_spec = f"{opts.bigquery_dataset}.{name}"
    method = opts.bigquery_method
    file_loads = method == "FILE_LOADS"
    written = pcoll | f"Write_{name}_BigQuery" >> beam.io.WriteToBigQuery(
        table=table_spec,
        schema=schema,
        method=method,
        create_disposition=beam.io.BigQueryDisposition.CREATE_IF_NEEDED,
        write_disposition=(
            beam.io.BigQueryDisposition.WRITE_TRUNCATE
            if file_loads
            else beam.io.BigQueryDisposition.WRITE_APPEND
        ),
        custom_gcs_temp_location=opts.bigquery_temp_location,
        validate=not local_validation_off,
    )
    if file_loads:
        temp = opts.bigquery_temp_location or pcoll.pipeline.options.view_as(
            beam.options.pipeline_options.GoogleCloudOptions).temp_location
        (pcoll
         | f"Count_{name}_BigQuery" >> beam.combiners.Count.Globally()
         | f"TruncateIfEmpty_{name}" >> beam.ParDo(TruncateIfEmpty(table_spec, schema, temp)))
    return written

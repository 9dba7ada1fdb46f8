"""In-process BigQuery emulator (bqemulator from PyPI) for the BigQuery write path.

Offline start-up: bqemulator INSTALLs DuckDB's spatial and avro extensions from the
internet at start; both are disabled here (no GEOGRAPHY, no AVRO loads; Beam's FILE_LOADS
writes newline-delimited JSON). Beam's BigQuery clients are redirected to the emulator
in *this* process only (so BigQuery tests run with the in_memory runner):
the apitools BigqueryV2 client behind BigQueryWrapper and the google-cloud-bigquery
client used for streaming inserts. What the emulators cover and where they differ from GCS/BigQuery: docs/PIPELINE.md.
"""
import asyncio
import contextlib
import threading

PROJECT = "cpllm-test"


def _client(rest_url, project=PROJECT, client_class=None):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return (client_class or bigquery.Client)(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=rest_url),
    )


@contextlib.contextmanager
def bigquery_emulator(monkeypatch):
    """Yields (rest_url, google.cloud.bigquery.Client) with Beam redirected to it."""
    from apache_beam.internal.http_client import get_new_http
    from apache_beam.io.gcp import bigquery_tools
    from apache_beam.io.gcp.internal.clients import bigquery as apitools_bq
    from bqemulator.config import Settings
    from bqemulator.server import EmulatorServer
    from bqemulator.storage import engine

    monkeypatch.setattr(engine.DuckDBEngine, "_load_spatial", lambda self: None)
    monkeypatch.setattr(engine.DuckDBEngine, "_load_format_extensions", lambda self: None)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    server = EmulatorServer(
        Settings(rest_port=0, grpc_port=0, default_project_id=PROJECT, log_level="error"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bqemulator", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=60)
    try:
        rest_url = server.rest_url

        def apitools_client(options):
            del options
            return apitools_bq.BigqueryV2(
                url=rest_url + "/bigquery/v2/", http=get_new_http(), get_credentials=False,
                credentials=None, response_encoding="utf8")

        monkeypatch.setattr(bigquery_tools.BigQueryWrapper, "_bigquery_client",
                            staticmethod(apitools_client))
        real_client = bigquery_tools.gcp_bigquery.Client
        monkeypatch.setattr(bigquery_tools.gcp_bigquery, "Client",
                            lambda *a, **k: _client(rest_url, client_class=real_client))
        yield rest_url, _client(rest_url, client_class=real_client)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def query_rows(client, sql):
    return [dict(row.items()) for row in client.query(sql).result()]


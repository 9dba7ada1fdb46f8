"""A local GCS for tests: ``gcp-storage-emulator`` in-process, wired for Beam and GCS clients.

    from gcs_emulator import gcs_emulator        # tests/ is on sys.path under pytest
    with gcs_emulator(buckets=("videos",)) as gcs:
        gcs.upload("videos", "a.mp4", local_path)  # or FileSystems.create("gs://videos/a.mp4")
        ... FileSystems / google-cloud-storage / Beam IO on gs://videos/... ...

What it sets while active (restored afterwards): ``STORAGE_EMULATOR_HOST`` (with the
``http://`` scheme, which the clients need), ``GOOGLE_CLOUD_PROJECT`` and
``GOOGLE_APPLICATION_CREDENTIALS`` -> a fake ``authorized_user`` JSON whose token never
needs refreshing against the network, so Beam's GCS client does not spend ~20 s per
process backing off while looking for credentials (worker processes inherit it). Beam's
cached client and credentials are reset on entry and exit. The server runs a non-daemon
thread: always leave the ``with`` block (it stops the server in ``finally``).
"""
import contextlib
import dataclasses
import datetime
import json
import os
import tempfile

PROJECT = "cpllm-test"


@dataclasses.dataclass
class Emulator:
    host: str          # "http://127.0.0.1:PORT"
    server: object

    def client(self):
        """A google-cloud-storage client talking to the emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        return storage.Client(project=PROJECT, credentials=AnonymousCredentials())

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name)

    def upload(self, bucket: str, name: str, path_or_bytes) -> str:
        """Uploads a local file (path) or bytes; returns the gs:// URI."""
        blob = self.client().bucket(bucket).blob(name)
        if isinstance(path_or_bytes, (bytes, bytearray)):
            blob.upload_from_string(bytes(path_or_bytes))
        else:
            blob.upload_from_filename(path_or_bytes)
        return f"gs://{bucket}/{name}"

    def wipe(self) -> None:
        self.server.wipe()


def _reset_beam_gcs_caches() -> None:
    """Forgets Beam's cached GCS client/credentials so the next use sees the env."""
    try:
        from apache_beam.internal.gcp import auth
        auth._Credentials._credentials_init = False  # pylint: disable=protected-access
        auth._Credentials._credentials = None  # pylint: disable=protected-access
    except (ImportError, AttributeError):
        pass
    try:
        from apache_beam.io.gcp import gcsio
        if hasattr(gcsio, "_GCS_CLIENT"):
            gcsio._GCS_CLIENT = None  # pylint: disable=protected-access
    except ImportError:
        pass


def _fake_credentials_file(directory: str) -> str:
    path = os.path.join(directory, "fake_authorized_user.json")
    expiry = (datetime.datetime.now(datetime.UTC)
              + datetime.timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": "authorized_user", "client_id": "fake", "client_secret": "fake",
                   "refresh_token": "fake", "token": "fake-token", "expiry": expiry,
                   "quota_project_id": PROJECT}, f)
    return path


@contextlib.contextmanager
def gcs_emulator(buckets=("cpllm-test",)):
    """Context manager: runs the emulator with ``buckets`` created; yields an Emulator."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    saved = {k: os.environ.get(k) for k in
             ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT",
              "GOOGLE_APPLICATION_CREDENTIALS")}
    tmpdir = tempfile.mkdtemp(prefix="gcs_emulator_")
    try:
        port = server._api._httpd.server_address[1]  # pylint: disable=protected-access
        host = f"http://127.0.0.1:{port}"
        os.environ["STORAGE_EMULATOR_HOST"] = host
        os.environ["GOOGLE_CLOUD_PROJECT"] = PROJECT
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = _fake_credentials_file(tmpdir)
        _reset_beam_gcs_caches()
        emu = Emulator(host=host, server=server)
        for b in buckets:
            emu.create_bucket(b)
        yield emu
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reset_beam_gcs_caches()
        with contextlib.suppress(OSError):
            os.remove(os.path.join(tmpdir, "fake_authorized_user.json"))
            os.rmdir(tmpdir)

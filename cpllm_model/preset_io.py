"""Copies preset directories to and from `gs://` (google-cloud-storage).

keras-hub reads `gs://` presets through TensorFlow's GCS filesystem, which cannot be
pointed at a local emulator; this module uses google-cloud-storage instead (it honours
`STORAGE_EMULATOR_HOST`), so the same code path is testable offline.
"""
import os


def is_gcs(uri):
    return str(uri).startswith("gs://")


def _split(uri):
    bucket, _, prefix = str(uri)[len("gs://"):].partition("/")
    return bucket, prefix.strip("/")


def _client():
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "local"),
                              credentials=AnonymousCredentials())
    return storage.Client()


def download_preset(uri, local_dir):
    """Copies every object under gs://bucket/prefix/ into local_dir; returns local_dir."""
    bucket, prefix = _split(uri)
    client = _client()
    found = False
    for blob in client.list_blobs(bucket, prefix=prefix + "/"):
        rel = blob.name[len(prefix) + 1:]
        if not rel or rel.endswith("/"):
            continue
        dst = os.path.join(local_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        blob.download_to_filename(dst)
        found = True
    if not found:
        raise FileNotFoundError(f"No preset files under {uri}")
    return local_dir


def upload_preset(local_dir, uri):
    """Copies the files of local_dir to gs://bucket/prefix/ (same relative paths)."""
    bucket_name, prefix = _split(uri)
    bucket = _client().bucket(bucket_name)
    for root, _, files in os.walk(local_dir):
        for name in files:
            src = os.path.join(root, name)
            rel = os.path.relpath(src, local_dir).replace(os.sep, "/")
            bucket.blob(f"{prefix}/{rel}" if prefix else rel).upload_from_filename(src)

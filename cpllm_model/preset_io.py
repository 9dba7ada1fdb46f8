"""Loading and saving presets: the one place for names, `gs://` and safe mode.

`load_task(cls, preset)` (what `CPLLM.from_preset` runs) and `load_preprocessor(cls,
preset)` (`CPLLMPreprocessor.from_preset`) take a registered assembly ("cpllm_paper",
`preset_registry`), a bundled name ("cpllm_tiny"), a local directory or a `gs://`
directory. Directories are read with keras-hub's own preset loader, always in Keras safe
mode (a preset's config can never run code, e.g. a Lambda layer). From `gs://` a task
copies the whole preset; a preprocessor copies only its config and asset files, never the
weights (issue 14 item 9).

keras-hub reads `gs://` presets through TensorFlow's GCS filesystem, which cannot be
pointed at a local emulator; this module uses google-cloud-storage instead (it honours
`STORAGE_EMULATOR_HOST`), so the same code path is testable offline.
"""
import json
import logging
import os
import shutil
import tempfile

from keras.src.saving.serialization_lib import SafeModeScope
from keras_hub.src.utils import preset_utils

from cpllm_model import legacy_weights, preset_registry

_LOG = logging.getLogger("cpllm.model")


def load_task(cls, preset, load_weights=True, score_only=False, own_run_only=False,
              **kwargs):
    """A task of class `cls` (e.g. CPLLM) from `preset`; see the module docstring.

    score_only: build the backbone without its decoder (`include_decoder=False`) and
    load the preset's weights into it; the decoder's saved weights are left unread.
    own_run_only: likewise without the backbone's `score_members` (`score_members=[]`,
    its own score path counted again: `score_own_path=True`).
    """
    built = preset_registry.assembly(preset)
    if built is not None:
        if score_only or own_run_only:
            raise ValueError(
                f"{'score_only' if score_only else 'own_run_only'} loads a trained preset "
                f"directory; {preset!r} is assembled "
                "from pretrained parts with an untrained score head (save it with "
                "save_to_preset after training, then load that directory)."
            )
        return built[0](load_weights=load_weights, **kwargs)
    preset = preset_registry.resolve(preset)
    if is_gcs(preset):
        with tempfile.TemporaryDirectory(prefix="cpllm_preset_") as tmp:
            return load_task(cls, download_preset(preset, tmp), load_weights,
                             score_only=score_only, own_run_only=own_run_only, **kwargs)
    if os.path.isdir(preset) and legacy_weights.needs_upgrade(preset):
        _LOG.warning("%s has the pre-2026-12-03 score head weight paths; loading an "
                     "upgraded copy (cpllm_model.legacy_weights)", preset)
        with tempfile.TemporaryDirectory(prefix="cpllm_preset_") as tmp:
            copy = os.path.join(tmp, "preset")
            shutil.copytree(preset, copy)
            legacy_weights.upgrade(copy)
            return load_task(cls, copy, load_weights, score_only=score_only,
                             own_run_only=own_run_only, **kwargs)
    with SafeModeScope(True):
        loader = preset_utils.get_preset_loader(preset)
        changes = {**({"include_decoder": False} if score_only else {}),
                   **({"score_members": [], "score_own_path": True} if own_run_only else {})}
        if changes and "backbone" not in kwargs:
            # keras-hub's task loader loads the preset's weights into a given backbone.
            kwargs["backbone"] = loader.load_backbone(
                cls.backbone_cls, False, dtype=kwargs.pop("dtype", None), **changes)
        return loader.load_task(cls, load_weights, True, **kwargs)


def load_preprocessor(cls, preset, **kwargs):
    """A preprocessor of class `cls` (e.g. CPLLMPreprocessor) from `preset`, without
    loading (or, from gs://, copying) any weights."""
    built = preset_registry.assembly(preset)
    if built is not None:
        return built[1](**kwargs)
    preset = preset_registry.resolve(preset)
    if is_gcs(preset):
        with tempfile.TemporaryDirectory(prefix="cpllm_preset_") as tmp:
            return load_preprocessor(cls, download_preprocessor_files(preset, tmp), **kwargs)
    with SafeModeScope(True):
        return preset_utils.get_preset_loader(preset).load_preprocessor(cls, **kwargs)


def task_config(preset):
    """The task's config (task.json "config") of a preset directory, local or gs://
    (configs only, no weights); {} for an assembled preset ("cpllm_paper") or a
    directory without task.json."""
    if preset_registry.assembly(preset) is not None:
        return {}
    preset = preset_registry.resolve(preset)
    if is_gcs(preset):
        with tempfile.TemporaryDirectory(prefix="cpllm_preset_") as tmp:
            _download(preset, tmp, lambda rel: rel == "task.json")
            return _task_config_file(os.path.join(tmp, "task.json"))
    return _task_config_file(os.path.join(preset, "task.json"))


def _task_config_file(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f).get("config", {})


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


def _download(uri, local_dir, keep):
    """Copies the objects under gs://bucket/prefix/ whose relative name passes `keep`
    into local_dir (same relative paths); returns the relative names copied."""
    bucket, prefix = _split(uri)
    names = []
    for blob in _client().list_blobs(bucket, prefix=prefix + "/"):
        rel = blob.name[len(prefix) + 1:]
        if not rel or rel.endswith("/") or not keep(rel):
            continue
        dst = os.path.join(local_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        blob.download_to_filename(dst)
        names.append(rel)
    return names


def download_preset(uri, local_dir):
    """Copies every object under gs://bucket/prefix/ into local_dir; returns local_dir."""
    if not _download(uri, local_dir, lambda rel: True):
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


def weights_bytes(preset):
    """Bytes of a preset's weight files (everything but its configs and assets), from
    file sizes or gs:// object metadata: nothing is read or downloaded. Assembled
    presets ("cpllm_paper") are not directories: None."""
    if preset_registry.assembly(preset) is not None:
        return None
    preset = preset_registry.resolve(preset)
    if is_gcs(preset):
        bucket, prefix = _split(preset)
        return sum(b.size or 0 for b in _client().list_blobs(bucket, prefix=prefix + "/")
                   if not is_preprocessor_file(b.name[len(prefix) + 1:]))
    total = 0
    for root, _, files in os.walk(preset):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), preset).replace(os.sep, "/")
            if not is_preprocessor_file(rel):
                total += os.path.getsize(os.path.join(root, name))
    return total


def is_preprocessor_file(rel):
    """True for the files of a keras-hub preset a preprocessor needs: the top-level JSON
    configs (config, preprocessor, tokenizer, task, metadata) and everything under
    assets/ (the tokenizer's vocabulary); never weights (*.weights.h5, *.weights.json
    shard indexes, *.h5, *.safetensors, ...)."""
    if rel.startswith("assets/"):
        return not rel.endswith("/")
    return "/" not in rel and rel.endswith(".json") and not rel.endswith(".weights.json")


def download_preprocessor_files(uri, local_dir):
    """Copies the config and asset files of the gs:// preset `uri` into `local_dir`
    (exact object names under the prefix); returns local_dir.

    Raises FileNotFoundError when the prefix has no preprocessor.json.
    """
    names = _download(uri, local_dir, is_preprocessor_file)
    if "preprocessor.json" not in names:
        raise FileNotFoundError(f"no preprocessor.json under {uri} (found {sorted(names)})")
    _LOG.info("fetched %d preset files (no weights) from %s", len(names), uri)
    return local_dir

"""DoFns of the scoring pipeline (other than catalog parsing and inference).

- DecodeKeyframes: catalog entry -> (video_id, {"inputs": model inputs, "meta": ...}),
  reading (gs:// included), decoding K key frames with ffmpeg and running the model's
  frame preprocessing, all as compact uint8; failures go to the 'failures' output.
- ToScoreRow: (video_id, PredictionResult) -> scores row, or a failure row at stage
  `inference` when the handler reported a per-video error.
- inference_failure_rows: RunInference's dead letter (a whole failed batch) -> rows.
"""

import datetime
import logging
import math
import time
import typing

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from beam_pipelines import faults, schemas

NAMESPACE = "cpllm.pipeline"
FAILURES = "failures"
_LOG = logging.getLogger("cpllm.pipeline")


def _message(exc):
    text = str(exc).strip() or repr(exc)
    return text[:2000]


def default_reader(uri):
    """Context manager yielding a local path for `uri` (media.storage.local_copy)."""
    from beam_pipelines.media import storage

    return storage.local_copy(uri)


def default_decoder(path, k, *, max_side, timeout_s):
    """media.keyframes.decode_keyframes -> Keyframes(frames, times_s, info)."""
    from beam_pipelines.media import keyframes

    return keyframes.decode_keyframes(path, k, max_side=max_side, timeout_s=timeout_s)


class FrameInputs:
    """Callable: uint8[K, H, W, 3] -> the model's per-video input dict.

    Loads only the preset's preprocessor (its config and tokenizer, no weights), once per
    process, in `preprocessor()` (DecodeKeyframes.setup calls it, so a load failure fails
    the bundle rather than each video). `num_keyframes` overrides the preset's K.
    """

    _CACHE: typing.ClassVar[dict] = {}

    def __init__(self, preset, num_keyframes=None):
        self.preset = str(preset)
        self.num_keyframes = num_keyframes

    def preprocessor(self):
        key = (self.preset, self.num_keyframes)
        if key not in self._CACHE:
            pre = load_preprocessor(self.preset)
            if self.num_keyframes:
                pre.num_keyframes = int(self.num_keyframes)
            self._CACHE[key] = pre
        return self._CACHE[key]

    def __call__(self, frames):
        return as_numpy(self.preprocessor().frame_inputs(frames))


def load_preprocessor(preset):
    """The CPLLMPreprocessor of a preset name, local directory or gs:// directory.

    Loads the preprocessor alone (config + tokenizer, Keras safe mode), never the weights.
    A gs:// preset: only its config files and assets are fetched (`fetch_preprocessor_files`)
    into a temporary directory, not the whole preset with its weights (issue 14 item 9).
    """
    import tempfile

    from cpllm_model import CPLLMPreprocessor

    if str(preset).startswith("gs://"):
        with tempfile.TemporaryDirectory(prefix="cpllm_preset_") as tmp:
            return CPLLMPreprocessor.from_preset(fetch_preprocessor_files(preset, tmp))
    return CPLLMPreprocessor.from_preset(preset)


def is_preprocessor_file(rel):
    """True for the files of a keras-hub preset a preprocessor needs: the top-level JSON
    configs (config, preprocessor, tokenizer, task, metadata) and everything under
    assets/ (the tokenizer's vocabulary); never weights (*.weights.h5, *.weights.json
    shard indexes, *.h5, *.safetensors, ...)."""
    if rel.startswith("assets/"):
        return not rel.endswith("/")
    return "/" not in rel and rel.endswith(".json") and not rel.endswith(".weights.json")


def fetch_preprocessor_files(uri, local_dir):
    """Copies the config and asset files of the gs:// preset `uri` into `local_dir`
    (google-cloud-storage, exact object names under the prefix); returns local_dir.

    Raises FileNotFoundError when the prefix has no preprocessor.json.
    """
    import os

    from cpllm_model import preset_io

    bucket, _, prefix = str(uri)[len("gs://"):].partition("/")
    prefix = prefix.strip("/")
    client = preset_io._client()  # honours STORAGE_EMULATOR_HOST, like the model loader
    names = []
    for blob in client.list_blobs(bucket, prefix=prefix + "/"):
        rel = blob.name[len(prefix) + 1:]
        if not is_preprocessor_file(rel):
            continue
        dst = os.path.join(local_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        blob.download_to_filename(dst)
        names.append(rel)
    if "preprocessor.json" not in names:
        raise FileNotFoundError(f"no preprocessor.json under {uri} (found {sorted(names)})")
    _LOG.info("fetched %d preset files (no weights) from %s", len(names), uri)
    return local_dir


class DecodeKeyframes(beam.DoFn):
    """Catalog entry -> (video_id, {"inputs": {...uint8/float32 arrays}, "meta": {...}}).

    inputs: high_frames uint8[K, S, S, 3], low_patches uint8[K, M, P, P, 3],
    patch_mask float32[K, M] (model.preprocessor.frame_inputs of one video).
    meta: catalog fields + frame_times_s, width, height, duration_s, fps, codec,
    bitrate_kbps, bitrate_source (see ``rendition_bitrate``).

    Which errors become failure rows (issue 14 item 8; `beam_pipelines.faults`):

    - MediaErrors (they carry .stage: read/probe/decode) are the video's: a failure row
      at once, except Unreadable on gs:// (a network read), which is retried.
    - Errors caused by the video's data (`faults.is_input_error`: ValueError,
      TypeError, ... that are not out-of-memory) are the video's too: a failure row at
      once at the stage where they happened (retrying a deterministic error is useless).
    - Anything else (an OSError on a flaky mount, a dropped connection, MemoryError) is
      retried up to `max_attempts` times with a short back-off; if the last attempt
      fails too, `faults.WorkerFault` is raised: the bundle fails and the runner retries
      it, the video never becomes a permanent failure row because a worker was sick. A
      gs:// Unreadable whose cause is infrastructure (connection, 5xx) after the last
      attempt is raised the same way; one whose cause is the object's (403, 400) is a
      `read` failure row with `attempts` = the tries made.
    - Preprocessing: input errors are `preprocess` failure rows; others raise
      WorkerFault at once.
    """

    def __init__(
        self,
        frame_inputs,
        num_keyframes,
        *,
        max_side=None,
        timeout_s=120.0,
        max_attempts=3,
        backoff_s=0.2,
        progress_every=10,
        reader=default_reader,
        decoder=default_decoder,
    ):
        self._frame_inputs = frame_inputs
        self._k = num_keyframes
        self._max_side = max_side
        self._timeout_s = timeout_s
        self._max_attempts = max(1, int(max_attempts))
        self._backoff_s = backoff_s
        self._progress_every = progress_every
        self._reader = reader
        self._decoder = decoder
        self.videos_read = Metrics.counter(NAMESPACE, "videos_read")
        self.videos_decoded = Metrics.counter(NAMESPACE, "videos_decoded")
        self.frames_decoded = Metrics.counter(NAMESPACE, "frames_decoded")
        self.retries = Metrics.counter(NAMESPACE, "retries")
        self.decode_ms = Metrics.distribution(NAMESPACE, "decode_ms")
        self._seen = 0

    def setup(self):
        # The preset's preprocessor is loaded here, once per DoFn instance, not lazily in
        # process: a preset that cannot be loaded (bad path, gs:// outage, sick worker)
        # fails the bundle, which the runner retries, instead of turning every video into
        # a `preprocess` failure row.
        load = getattr(self._frame_inputs, "preprocessor", None)
        if callable(load):
            load()

    def _decode_once(self, uri):
        """Returns (keyframes, None) or (None, (stage, exception, retryable))."""
        from beam_pipelines.media import errors

        stage = "read"
        try:
            with self._reader(uri) as path:
                stage = "decode"
                return self._decoder(
                    path, self._k, max_side=self._max_side, timeout_s=self._timeout_s
                ), None
        except errors.MediaError as e:
            # Unreadable gs:// objects are worth another try (network); local ones not.
            retry = isinstance(e, errors.Unreadable) and str(uri).startswith("gs://")
            return None, (getattr(e, "stage", stage), e, retry)
        except Exception as e:  # noqa: BLE001 - classified: the video's, or transient
            return None, (stage, e, not faults.is_input_error(e))

    @staticmethod
    def _is_workers(exc):
        """After the last attempt: is this retryable failure the worker's (raise)?"""
        from beam_pipelines.media import errors

        if isinstance(exc, errors.MediaError):  # gs:// Unreadable: depends on its cause
            return faults.is_infrastructure_error(exc.__cause__ or exc.__context__)
        return True

    def process(self, entry):
        video_id, uri = entry["video_id"], entry["uri"]
        self.videos_read.inc()
        start = time.monotonic()
        for attempt in range(1, self._max_attempts + 1):
            keyframes, failure = self._decode_once(uri)
            if failure is None or not failure[2] or attempt == self._max_attempts:
                break
            self.retries.inc()
            _LOG.warning(
                "retrying %s after %s: %s",
                video_id,
                type(failure[1]).__name__,
                _message(failure[1]),
            )
            time.sleep(self._backoff_s * 2 ** (attempt - 1))
        if failure is not None:
            stage, exc, retryable = failure
            if retryable and self._is_workers(exc):
                raise faults.WorkerFault(
                    f"{stage} of video {video_id!r} failed {attempt} times with "
                    f"{faults.describe(exc)}; not a per-video error, so the bundle fails "
                    "and the runner retries it"
                ) from exc
            yield self._fail(video_id, uri, stage, exc, attempt)
            return
        try:
            inputs = self._frame_inputs(keyframes.frames)
        except Exception as e:  # noqa: BLE001 - classified below
            if not faults.is_input_error(e):
                raise faults.WorkerFault(
                    f"preprocessing video {video_id!r} failed with {faults.describe(e)}; "
                    "not a per-video error, so the bundle fails and the runner retries it"
                ) from e
            yield self._fail(video_id, uri, "preprocess", e, attempt)
            return
        self.decode_ms.update(int(1000 * (time.monotonic() - start)))
        self.videos_decoded.inc()
        self.frames_decoded.inc(len(keyframes.frames))
        self._progress()
        info = keyframes.info
        meta = dict(entry)
        meta.update(
            frame_times_s=[float(t) for t in keyframes.times_s],
            width=int(info.width),
            height=int(info.height),
            duration_s=float(info.duration_s),
            fps=float(info.fps),
            codec=str(info.codec),
        )
        meta["bitrate_kbps"], meta["bitrate_source"] = rendition_bitrate(info, entry)
        yield video_id, {"inputs": inputs, "meta": meta}

    def _fail(self, video_id, uri, stage, exc, attempts):
        Metrics.counter(NAMESPACE, f"failed_{stage}").inc()
        self._progress()
        return beam.pvalue.TaggedOutput(
            FAILURES,
            schemas.failure_row(video_id, uri, stage, type(exc).__name__, _message(exc), attempts),
        )

    def _progress(self):
        self._seen += 1
        if self._progress_every and self._seen % self._progress_every == 0:
            _LOG.info("decoded %d videos in this worker", self._seen)


def rendition_bitrate(info, entry):
    """(bitrate_kbps, bitrate_source) of a decoded rendition.

    The catalog's `bitrate_kbps` wins ("catalog"); else the probe's
    ``VideoInfo.bitrate()``: the video stream's bitrate as the container states it
    ("stream"), the whole file's ("container"), or file size x 8 / duration
    ("file_size"); (None, None) when nothing is known.
    """
    if entry.get("bitrate_kbps") is not None:
        return float(entry["bitrate_kbps"]), "catalog"
    probed = getattr(info, "bitrate", None)
    if not callable(probed):
        return None, None
    return probed()


class ToScoreRow(beam.DoFn):
    """(video_id, PredictionResult(meta, inference, model_id)) -> scores row."""

    def __init__(self):
        self.videos_scored = Metrics.counter(NAMESPACE, "videos_scored")

    def process(self, element):
        video_id, result = element
        meta, out = result.example, result.inference
        if "error_type" in out:
            Metrics.counter(NAMESPACE, "failed_inference").inc()
            yield beam.pvalue.TaggedOutput(
                FAILURES,
                schemas.failure_row(
                    video_id, meta["uri"], "inference", out["error_type"], out["message"], 1
                ),
            )
            return
        score = float(out["score"])
        frame_scores = [float(s) for s in out["frame_scores"]]
        if not math.isfinite(score) or not all(map(math.isfinite, frame_scores)):
            Metrics.counter(NAMESPACE, "failed_inference").inc()
            yield beam.pvalue.TaggedOutput(
                FAILURES,
                schemas.failure_row(
                    video_id,
                    meta["uri"],
                    "inference",
                    "NonFiniteScore",
                    f"model returned a non-finite score ({score})",
                    1,
                ),
            )
            return
        self.videos_scored.inc()
        yield {
            "video_id": video_id,
            "uri": meta["uri"],
            "source_id": meta.get("source_id"),
            "crf": meta.get("crf"),
            "ladder_id": meta.get("ladder_id") or meta.get("source_id"),
            "bitrate_kbps": meta.get("bitrate_kbps"),
            "bitrate_source": meta.get("bitrate_source"),
            "score": score,
            "frame_scores": frame_scores,
            "frame_times_s": meta["frame_times_s"],
            "description": out.get("description"),
            "width": meta["width"],
            "height": meta["height"],
            "duration_s": meta["duration_s"],
            "fps": meta["fps"],
            "codec": meta["codec"],
            "model_id": result.model_id,
            "scored_at": datetime.datetime.now(datetime.UTC),
        }


def dead_letter_error(error):
    """(error_type, message) of the error half of a Beam dead-letter element.

    `with_exception_handling` (Beam 2.77, transforms/core.py) emits
    `(element, (exception class, repr(exception), formatted traceback lines))`; a bare
    exception instance is accepted too.
    """
    if isinstance(error, BaseException):
        return type(error).__name__, _message(error)
    if isinstance(error, tuple) and error:
        exc_type = error[0]
        name = exc_type.__name__ if isinstance(exc_type, type) else str(exc_type)
        text = str(error[1]).strip() if len(error) > 1 else ""
        return name, (text or name)[:2000]
    return type(error).__name__, _message(error)


def inference_failure_rows(failed):
    """RunInference dead letter (batch of (video_id, example), (exc_type, repr, traceback))
    -> one failure row per video of the batch."""
    batch, error = failed
    error_type, message = dead_letter_error(error)
    for video_id, example in batch:
        Metrics.counter(NAMESPACE, "failed_inference").inc()
        yield schemas.failure_row(
            video_id, example["meta"]["uri"], "inference", error_type, message, 1
        )


def as_numpy(inputs):
    """Model inputs as numpy arrays (the preprocessor may return backend tensors)."""
    return {k: np.asarray(v) for k, v in inputs.items()}

"""DoFns of the scoring pipeline (other than catalog parsing and inference).

- DecodeKeyframes: catalog entry -> (video_id, {"inputs": model inputs, "meta": ...}),
  reading (gs:// included), decoding K key frames with ffmpeg and running the model's
  frame preprocessing, all as compact uint8; failures go to the 'failures' output.
- ToScoreRow: (video_id, PredictionResult) -> scores row, or a failure row at stage
  `inference` when the handler reported a per-video error.
- inference_failure_rows: RunInference's dead letter (a whole failed batch) -> rows.

With ``segment_seconds`` (score --segment_seconds N), DecodeKeyframes emits a video
longer than N as one element per segment (K frames each, the same shape as a whole
video's, so inference batches keep their one compiled size) plus, once every segment
was decoded, a plan on the ``segments.PLANS`` output; ToScoreRow and
inference_failure_rows send the segments' results to ``segments.RESULTS``, and
``segments.JoinSegments`` makes them one scores row (or one failure row) per video.
"""

import contextlib
import datetime
import logging
import math
import time
import typing

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from beam_pipelines import dead_letter, faults

NAMESPACE = "cpllm.pipeline"
_LOG = logging.getLogger("cpllm.pipeline")


def default_reader(uri):
    """Context manager yielding a local path for `uri` (media.storage.local_copy)."""
    from beam_pipelines.media import storage

    return storage.local_copy(uri)


def default_decoder(path, k, *, max_side, timeout_s, frames_per_key=1, frame_gap_s=None):
    """media.keyframes.decode_keyframes -> Keyframes(frames, times_s, info)."""
    from beam_pipelines.media import keyframes

    return keyframes.decode_keyframes(path, k, max_side=max_side, timeout_s=timeout_s,
                                      frames_per_key=frames_per_key, frame_gap_s=frame_gap_s)


def default_segment_opener(uri, segment_seconds, *, max_side, timeout_s, frames_per_key=1,
                           frame_gap_s=None):
    """media.keyframes.SegmentedVideo: a context manager (read + probe once) whose
    `decode(j, k)` gives segment j's Keyframes (None past the last segment)."""
    from beam_pipelines.media import keyframes

    return keyframes.SegmentedVideo(uri, segment_seconds, max_side=max_side,
                                    timeout_s=timeout_s, frames_per_key=frames_per_key,
                                    frame_gap_s=frame_gap_s)


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
            from cpllm_model import CPLLMPreprocessor

            # A gs:// preset: only its config and asset files are copied (preset_io).
            pre = CPLLMPreprocessor.from_preset(self.preset)
            if self.num_keyframes:
                pre.num_keyframes = int(self.num_keyframes)
            self._CACHE[key] = pre
        return self._CACHE[key]

    def decode_options(self):
        """{frames_per_key, frame_gap_s}: what the decoder must bring for every key frame
        (the preprocessor's `decode_options()` but max_side, which the pipeline sets)."""
        opts = self.preprocessor().decode_options()
        return {k: v for k, v in opts.items() if k != "max_side"}

    def __call__(self, frames, display_height=None):
        return as_numpy(self.preprocessor().frame_inputs(frames, display_height=display_height))


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
        segment_seconds=None,
        segment_opener=default_segment_opener,
        display_height=None,
    ):
        self._frame_inputs = frame_inputs
        self._display_height = display_height
        self._k = num_keyframes
        self._max_side = max_side
        self._timeout_s = timeout_s
        self._max_attempts = max(1, int(max_attempts))
        self._backoff_s = backoff_s
        self._progress_every = progress_every
        self._reader = reader
        self._decoder = decoder
        self._segment_seconds = None if segment_seconds is None else float(segment_seconds)
        self._segment_opener = segment_opener
        self.segments_decoded = Metrics.counter(NAMESPACE, "segments_decoded")
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

    def _clip_frames(self):
        """The frame_inputs' `decode_options()` when it reads more than the key frames
        (patch clips, a per-frame motion view), else {} (so decoders that know nothing of
        them keep working)."""
        get = getattr(self._frame_inputs, "decode_options", None)
        opts = get() if callable(get) else {}
        if int(opts.get("frames_per_key", 1)) == 1:
            return {}
        return {k: v for k, v in opts.items() if v is not None}

    def _decode_once(self, uri):
        """Returns (keyframes, None) or (None, (stage, exception, retryable))."""
        from beam_pipelines.media import errors

        stage = "read"
        try:
            with self._reader(uri) as path:
                stage = "decode"
                return self._decoder(
                    path, self._k, max_side=self._max_side, timeout_s=self._timeout_s,
                    **self._clip_frames()), None
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
        if self._display_height is not None and not entry.get("display_height"):
            entry = dict(entry, display_height=self._display_height)
        if self._segment_seconds is not None:
            yield from self._process_segmented(entry)
            return
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
                dead_letter.message(failure[1]),
            )
            time.sleep(self._backoff_s * 2 ** (attempt - 1))
        if failure is not None:
            yield self._failure_or_raise(video_id, uri, failure, attempt)
            return
        try:
            inputs = self._inputs(keyframes.frames, entry)
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
        yield video_id, {"inputs": inputs, "meta": self._meta(entry, keyframes)}

    @staticmethod
    def _meta(entry, keyframes):
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
        return meta

    def _attempts(self, fn, uri, stage):
        """Runs fn() with today's retry rule; (result, None, attempts) or
        (None, (stage, exception, retryable), attempts)."""
        from beam_pipelines.media import errors

        for attempt in range(1, self._max_attempts + 1):
            try:
                return fn(), None, attempt
            except errors.MediaError as e:
                retry = isinstance(e, errors.Unreadable) and str(uri).startswith("gs://")
                failure = (getattr(e, "stage", stage), e, retry)
            except Exception as e:  # noqa: BLE001 - classified: the video's, or transient
                failure = (stage, e, not faults.is_input_error(e))
            if not failure[2] or attempt == self._max_attempts:
                break
            self.retries.inc()
            _LOG.warning("retrying %s after %s: %s", uri, type(failure[1]).__name__,
                         dead_letter.message(failure[1]))
            time.sleep(self._backoff_s * 2 ** (attempt - 1))
        return None, failure, attempt

    def _failure_or_raise(self, video_id, uri, failure, attempt):
        stage, exc, retryable = failure
        if retryable and self._is_workers(exc):
            raise faults.WorkerFault(
                f"{stage} of video {video_id!r} failed {attempt} times with "
                f"{faults.describe(exc)}; not a per-video error, so the bundle fails "
                "and the runner retries it"
            ) from exc
        return self._fail(video_id, uri, stage, exc, attempt)

    def _inputs(self, frames, entry):
        """The model's inputs of one video's frames, at the entry's `display_height`
        (the catalog's, else the pipeline's; neither: native size)."""
        height = entry.get("display_height")
        if height is None:  # frame_inputs callables that know nothing of display sizes
            return self._frame_inputs(frames)
        return self._frame_inputs(frames, display_height=int(height))

    def _preprocess(self, entry, frames, attempt):
        """(inputs, None) or (None, failure output); raises WorkerFault."""
        video_id, uri = entry["video_id"], entry["uri"]
        try:
            return self._inputs(frames, entry), None
        except Exception as e:  # noqa: BLE001 - classified below
            if not faults.is_input_error(e):
                raise faults.WorkerFault(
                    f"preprocessing video {video_id!r} failed with {faults.describe(e)}; "
                    "not a per-video error, so the bundle fails and the runner retries it"
                ) from e
            return None, self._fail(video_id, uri, "preprocess", e, attempt)

    def _process_segmented(self, entry):
        """--segment_seconds N: a video of one segment (D <= N + min(1 s, N/2)) is
        emitted as today (its scores row gets null segment columns); a longer one as
        one element per segment j, meta["segment"] = {"index", "start_s", "end_s"},
        decoded and emitted one at a time (memory flat), then its plan on PLANS.

        The video is read and probed once; each segment's decode is retried like a
        whole video's. A segment that fails makes the video one failure row and stops
        it: no plan is emitted, so JoinSegments drops the segments already emitted
        (every catalog row still lands in exactly one table)."""
        from beam_pipelines import segments

        video_id, uri = entry["video_id"], entry["uri"]
        self.videos_read.inc()
        start = time.monotonic()
        with contextlib.ExitStack() as stack:
            video, failure, attempt = self._attempts(
                lambda: stack.enter_context(self._segment_opener(
                    uri, self._segment_seconds, max_side=self._max_side,
                    timeout_s=self._timeout_s, **self._clip_frames())), uri, "read")
            if failure is not None:
                yield self._failure_or_raise(video_id, uri, failure, attempt)
                return
            starts, j = [], 0
            while True:
                kf, failure, attempt = self._attempts(
                    lambda: video.decode(j, self._k), uri, "decode")
                if failure is not None:
                    yield self._failure_or_raise(video_id, uri, failure, attempt)
                    return
                if kf is None:
                    break
                bounds = video.bounds
                inputs, failed = self._preprocess(entry, kf.frames, attempt)
                if failed is not None:
                    yield failed
                    return
                self.frames_decoded.inc(len(kf.frames))
                meta = self._meta(entry, kf)
                if len(bounds) == 1:  # not longer than N: scored whole, as without the flag
                    self.decode_ms.update(int(1000 * (time.monotonic() - start)))
                    self.videos_decoded.inc()
                    self._progress()
                    yield video_id, {"inputs": inputs, "meta": meta}
                    return
                a, b = bounds[j]
                meta["segment"] = {"index": j, "start_s": float(a), "end_s": float(b)}
                meta["segment_seconds"] = self._segment_seconds
                self.segments_decoded.inc()
                starts.append(float(a))
                yield video_id, {"inputs": inputs, "meta": meta}
                j += 1
        self.decode_ms.update(int(1000 * (time.monotonic() - start)))
        self.videos_decoded.inc()
        self._progress()
        yield beam.pvalue.TaggedOutput(
            segments.PLANS, (video_id, {"plan": {"segments": j, "starts_s": starts}}))

    def _fail(self, video_id, uri, stage, exc, attempts):
        Metrics.counter(NAMESPACE, f"failed_{stage}").inc()
        self._progress()
        return dead_letter.tagged(
            dead_letter.failure_from_exception(video_id, uri, exc, stage, attempts))

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
        from beam_pipelines import segments

        video_id, result = element
        meta, out = result.example, result.inference
        if meta.get("segment") is not None:  # one segment of a long video: joined later
            yield beam.pvalue.TaggedOutput(
                segments.RESULTS, (video_id, segments.result(meta, out, result.model_id)))
            return
        if "error_type" in out:
            Metrics.counter(NAMESPACE, "failed_inference").inc()
            yield dead_letter.tagged(dead_letter.failure_row(
                video_id, meta["uri"], "inference", out["error_type"], out["message"]))
            return
        score = float(out["score"])
        frame_scores = [float(s) for s in out["frame_scores"]]
        if not math.isfinite(score) or not all(map(math.isfinite, frame_scores)):
            Metrics.counter(NAMESPACE, "failed_inference").inc()
            yield dead_letter.tagged(
                dead_letter.failure_row(
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
        yield score_row(video_id, meta, out, result.model_id)


def score_row(video_id, meta, out, model_id):
    """A scores-table row from DecodeKeyframes' meta and the handler's output; the
    segment columns come from meta (segments.JoinSegments), null for a whole video."""
    return {
        "video_id": video_id,
        "uri": meta["uri"],
        "source_id": meta.get("source_id"),
        "crf": meta.get("crf"),
        "ladder_id": meta.get("ladder_id") or meta.get("source_id"),
        "bitrate_kbps": meta.get("bitrate_kbps"),
        "bitrate_source": meta.get("bitrate_source"),
        "score": float(out["score"]),
        "score_alone": float(out["score"]),
        "fine_detail": out.get("fine_detail"),
        "frame_scores": [float(s) for s in out["frame_scores"]],
        "frame_times_s": meta["frame_times_s"],
        "segment_seconds": meta.get("segment_seconds"),
        "segment_starts_s": meta.get("segment_starts_s"),
        "segment_scores": meta.get("segment_scores"),
        "worst_segment_start_s": meta.get("worst_segment_start_s"),
        "worst_segment_score": meta.get("worst_segment_score"),
        "description": out.get("description"),
        "width": meta["width"],
        "height": meta["height"],
        "display_height": meta.get("display_height"),
        "duration_s": meta["duration_s"],
        "fps": meta["fps"],
        "codec": meta["codec"],
        "model_id": model_id,
        "scored_at": datetime.datetime.now(datetime.UTC),
    }


def inference_failure_rows(failed):
    """RunInference dead letter (batch of (video_id, example), (exc_type, repr, traceback))
    -> one failure row per video of the batch."""
    from beam_pipelines import segments

    batch, error = failed
    error_type, message = dead_letter.beam_error(error)
    for video_id, example in batch:
        if example["meta"].get("segment") is not None:  # the video's row: JoinSegments
            yield beam.pvalue.TaggedOutput(segments.RESULTS, (video_id, segments.result(
                example["meta"], {"error_type": error_type, "message": message}, None)))
            continue
        Metrics.counter(NAMESPACE, "failed_inference").inc()
        yield dead_letter.failure_row(
            video_id, example["meta"]["uri"], "inference", error_type, message, 1
        )


def as_numpy(inputs):
    """Model inputs as numpy arrays (the preprocessor may return backend tensors)."""
    return {k: np.asarray(v) for k, v in inputs.items()}

"""Per-process bounds on decoding (issue 14 item 16).

A Beam SDK process runs several bundles at once (Dataflow: a harness thread pool, one
Python process per vCPU by default), so without a bound every thread can hold a video's
temp copy (gs:// videos are copied to the OS temp dir for ffmpeg) and an ffmpeg process
with ffmpeg's own thread count (cores + 1 per decoder). `BoundedReader` wraps
`DecodeKeyframes`' reader: at most `max_concurrent` videos per process are read and
decoded at once (a process-wide semaphore held from the temp copy to the end of its
decode), and every ffmpeg input decodes with at most `decoder_threads` threads (default:
the machine's cores // max_concurrent; `media.ffmpeg_bin.set_max_input_threads`), so one
process runs at most max_concurrent x decoder_threads decoder threads.

Disk for temp copies, per worker machine: processes x max_concurrent x the largest
video (docs/PIPELINE.md, "Dataflow").
"""
import contextlib
import os
import threading

_LOCK = threading.Lock()
_SEMAPHORES = {}  # max_concurrent -> the process's semaphore


def _semaphore(limit):
    with _LOCK:
        if limit not in _SEMAPHORES:
            _SEMAPHORES[limit] = threading.BoundedSemaphore(limit)
        return _SEMAPHORES[limit]


class BoundedReader:
    """Wraps a reader (`dofns.default_reader`: uri -> context manager) or a segment
    opener (`dofns.default_segment_opener`): the same call, holding a slot while the
    context is open."""

    def __init__(self, reader, max_concurrent, decoder_threads=None):
        if int(max_concurrent) < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        if decoder_threads is not None and int(decoder_threads) < 1:
            raise ValueError(f"decoder_threads must be >= 1, got {decoder_threads}")
        self._reader = reader
        self.max_concurrent = int(max_concurrent)
        self.decoder_threads = None if decoder_threads is None else int(decoder_threads)

    def threads(self):
        """Decoder threads per ffmpeg input on this machine."""
        if self.decoder_threads is not None:
            return self.decoder_threads
        return max(1, (os.cpu_count() or 1) // self.max_concurrent)

    @contextlib.contextmanager
    def __call__(self, *args, **kwargs):
        from beam_pipelines.media import ffmpeg_bin  # pylint: disable=import-outside-toplevel

        ffmpeg_bin.set_max_input_threads(self.threads())
        with _semaphore(self.max_concurrent), self._reader(*args, **kwargs) as path:
            yield path

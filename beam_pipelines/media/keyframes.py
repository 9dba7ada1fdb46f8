"""``decode_keyframes(uri, k)``: K exact frames spread uniformly over a video.

Which frames. Target times are t_i = (i + 0.5) * D / K (D = duration, seconds from the
first frame). Frame i is the frame on screen at t_i: with nominal frame rate f, the frame
with index n_i = floor(t_i * f), found as the first frame whose timestamp is at or after
s_i = (n_i - 0.5) / f. ffmpeg's input-side ``-ss`` gives exactly "first frame at or
after", decoding from the previous I-frame and discarding up to s_i, so the frame is
exact (never snapped to an I-frame, which would bias quality: encoders give I-frames
more bits). For constant-frame-rate video this is frame n_i exactly; for variable frame
rate it is the first frame within half a nominal frame before t_i or after it.

How. Two strategies, chosen by measurement (BENCHMARKS.md, "Key-frame decode"):
- "select": one ffmpeg pass, a ``select`` filter keeps the K frames. Decodes every frame,
  but with frame threads and one process start: the cheaper choice for short clips,
  where the K seeks would decode most of the frames anyway (each from its GOP start).
- "seek": K input-side seeks in one ffmpeg process (K inputs of the same file, each
  ending after its first frame; one start-up, the decoders run concurrently). Cost
  grows with K x GOP length, not with the video length: used for anything longer than
  ``SELECT_MAX_SECONDS`` (12 s; measured: 10 s 1080p with 2 s GOP, select 0.9x the
  best plain ffmpeg command; 30 s, seek 2x cheaper than a pass). A seek that lands
  past its target (demuxers without an index, e.g. MPEG-TS) or finds no frame is
  retried with a pre-roll (``PREROLLS_S``), so both strategies return the same frames.

Long videos by segment (``segment_bounds``, ``SegmentedVideo``; score --segment_seconds):
segment j covers [jN, min((j+1)N, D)) and gets its own K targets by the same rule over
its span, decoded with the "seek" strategy, one segment at a time (memory flat).

Conversions, in ffmpeg: rotation metadata is honoured (ffmpeg autorotates); interlaced
streams are deinterlaced (bwdif); PQ / HLG (HDR) input is tone-mapped to 8-bit BT.709 SDR
(zscale to linear light, BT.709 primaries, Hable tone-map); other high-bit-depth input
is simply converted to 8-bit; anamorphic pixels are made square; ``max_side``
downscales (aspect kept) before frames leave ffmpeg, so 8K input never costs K
full-resolution frames in Python. Output is rawvideo rgb24 on a pipe.

Frame pairs (``frames_per_key`` T > 1, a preset whose low-level path reads short clips,
``CPLLMPreprocessor.low_level_frames``): each target also brings the T - 1 frames that
follow it, found by the same rule at s_i + j / f (j = 1 .. T - 1): the key frame's
neighbours in display order, whatever the spacing of the key frames. Frames come
key-major, uint8[K * T, H, W, 3] (key frame i at row i * T). The "seek" strategy ends
each branch after T frames instead of one, so its cost barely grows; a neighbour past the
last frame repeats the last frame. ``frame_gap_s`` g spaces them in time instead: the
frames n, 2n, ... after each key frame, n = max(1, round(g f)) (a preset whose motion
input reads two frames a fixed time apart, whatever the frame rate; at f = 1 / g, n = 1
and the frames are the neighbours).

Short videos (fewer than K frames) return K frames anyway: targets that share a frame
repeat it. Targets that land after the last decodable frame repeat it when it is within
``max(1 s, 10% of D)``; further away, the video stream is measured by demuxing it (the
container's duration may be that of a longer audio track) and, if it reads cleanly and
is shorter, the targets are spread over its own length; a stream whose data is cut
short (a file truncated mid-stream) is a DecodeError.
"""
import dataclasses
import math
import os
import re

import numpy as np

from beam_pipelines.media import errors, ffmpeg_bin, storage
from beam_pipelines.media import probe as probe_lib

SELECT_MAX_SECONDS = 12.0
PREROLLS_S = (2.0, 10.0)  # re-seek pre-rolls for seeks that land after their target
DEFAULT_FPS = 25.0
SEEK_THREADS = None  # decoder threads per seek input; None: cores // K (at least 1)
_SHOWINFO_RE = re.compile(rb"\[(?:Parsed_showinfo_\d+|showinfo@b(?P<branch>\d+)) @ [^\]]+\] "
                          rb"n:\s*\d+ pts:\s*-?\d+ pts_time:(?P<t>-?[\d.e+-]+)")
_DECODED_RE = re.compile(rb"Input stream #\d+:\d+ \(video\): \d+ packets read \(\d+ bytes\); "
                         rb"(\d+) frames decoded")
_HDR_CHAIN = ("zscale=tin={tin}:min={min}:pin={pin}:t=linear:npl=100,format=gbrpf32le,"
              "zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv444p")


@dataclasses.dataclass(frozen=True)
class Keyframes:
    """frames: uint8[K * T, H, W, 3] RGB (display orientation, after max_side), T =
    frames_per_key (1 unless asked: key frame i and the T - 1 frames after it at rows
    i * T ..., `frame_stride` frames apart); times_s: float64[K] the target times t_i;
    frame_times_s: float64[K * T] the timestamps of the frames actually returned
    (seconds from the file's start); info: the probe; strategy: "select" or "seek";
    decoded_frames: ffmpeg's count over all its inputs."""

    frames: np.ndarray
    times_s: np.ndarray
    info: probe_lib.VideoInfo
    frame_times_s: np.ndarray | None = None
    strategy: str = ""
    decoded_frames: int = -1  # frames ffmpeg decoded in total (cost telemetry), -1 unknown
    frames_per_key: int = 1
    frame_stride: int = 1


def target_times(duration_s: float, k: int) -> np.ndarray:
    """float64[K]: t_i = (i + 0.5) * D / K."""
    return (np.arange(k, dtype=np.float64) + 0.5) * (duration_s / k)


def seek_points(times_s: np.ndarray, fps: float) -> np.ndarray:
    """float64[K]: s_i = (floor(t_i f) - 0.5) / f, clamped at 0 (see module docstring)."""
    n = np.floor(times_s * fps + 1e-9)
    return np.maximum(0.0, (n - 0.5) / fps)


def output_size(info: probe_lib.VideoInfo, max_side: int | None) -> tuple[int, int]:
    """(width, height) of the returned frames: display size (rotation applied, anamorphic
    pixels made square by widening or heightening), longer side <= max_side."""
    cw, ch = info.coded_size
    if info.sample_aspect > 1:
        cw = round(cw * info.sample_aspect)
    elif info.sample_aspect < 1:
        ch = round(ch / info.sample_aspect)
    w, h = (ch, cw) if info.rotation in (90, 270) else (cw, ch)
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
    return w, h


def decode_keyframes(uri: str, k: int = 8, *, max_side: int | None = None,
                     timeout_s: float = 120.0, strategy: str = "auto",
                     frames_per_key: int = 1, frame_gap_s: float | None = None) -> Keyframes:
    """Decodes K frames at uniform target times (see the module docstring).

    Args:
        uri: local path or gs:// URI (other schemes raise UnsupportedUri).
        k: number of key frames K.
        max_side: if set, frames whose longer side exceeds it are downscaled (in ffmpeg).
        timeout_s: limit for each ffmpeg call (probe and decode).
        strategy: "auto", "select" or "seek" (benchmarks and tests).
        frames_per_key: T, each key frame and the T - 1 frames after it.
        frame_gap_s: None (the frames right after each key frame) or g > 0: the frames
            n, 2n, ... after it, n = max(1, round(g * fps)).

    Returns:
        Keyframes with frames uint8[K * T, H, W, 3].

    Raises:
        MediaError subclasses: read errors, NotAVideo / NoVideoStream, DecodeError,
        DecodeTimeout.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _check_frames_per_key(frames_per_key)
    _check_frame_gap(frame_gap_s)
    with storage.local_copy(uri) as path:
        info = probe_lib.probe_local(path, timeout_s=timeout_s, uri=uri)
        url = storage.ffmpeg_input(path)
        try:
            return _decode(url, info, info.duration_s, k, max_side, timeout_s, strategy, uri,
                           frames_per_key=frames_per_key, frame_gap_s=frame_gap_s)
        except _PastTheEnd as e:
            # The stated duration may cover a longer audio track or another video stream:
            # measure this stream (demux only) and sample its own length instead.
            end, clean = probe_lib.video_stream_end(url, info, timeout_s)
            if not clean or end <= 0 or end >= 0.99 * e.duration:
                raise errors.DecodeError(f"{e} (truncated?)", uri=uri) from None
            return _decode(url, info, end, k, max_side, timeout_s, strategy, uri,
                           frames_per_key=frames_per_key, frame_gap_s=frame_gap_s)


# Segments (score --segment_seconds N): a trailing remainder shorter than this (or N / 2
# when that is smaller) is folded into the segment before it.
MIN_TAIL_S = 1.0


def segment_bounds(duration_s: float, segment_seconds: float) -> list[tuple[float, float]]:
    """[(start_s, end_s)] of the segments of a video of duration D, N = segment_seconds.

    Segments start at 0, N, 2N, ...; the last one ends at D. A trailing remainder
    shorter than min(MIN_TAIL_S, N / 2) is folded into the segment before it (container
    durations often run a frame or an audio packet past a whole number of segments), so
    a video is segmented (two or more segments) only when D > N + min(1 s, N / 2).
    """
    n_s = float(segment_seconds)
    if not n_s > 0:
        raise ValueError(f"segment_seconds must be > 0, got {segment_seconds}")
    d = max(0.0, float(duration_s))
    count = max(1, math.ceil((d - min(MIN_TAIL_S, n_s / 2)) / n_s - 1e-9))
    return [(j * n_s, (j + 1) * n_s) for j in range(count - 1)] + [((count - 1) * n_s, d)]


class SegmentedVideo:
    """A video opened once (read, probed) and decoded segment by segment.

        with SegmentedVideo(uri, 60.0, max_side=..., timeout_s=...) as video:
            j = 0
            while (kf := video.decode(j, k)) is not None:
                ...  # kf: K frames over video.bounds[j]
                j += 1

    Each segment j is decoded like a whole video is (same target-time rule over the
    segment, t_ij = a_j + (i + 0.5) * L_j / K), with the "seek" strategy (K input-side
    seeks in one ffmpeg process: cost K x GOP, independent of where the segment is and of
    the video's length). Only one segment's K frames are in memory at a time, so memory
    stays flat however long the video is. A video of one segment (`bounds` has one entry)
    is decoded exactly as `decode_keyframes` decodes it (strategy "auto").

    When a segment's targets land past the last decodable frame (a stated duration longer
    than the video stream), the stream is measured once (`video_stream_end`, demux only)
    and the bounds are recomputed from its real end; segments past it do not exist
    (`decode` returns None), a stream cut short is a DecodeError.
    """

    def __init__(self, uri: str, segment_seconds: float, *, max_side: int | None = None,
                 timeout_s: float = 120.0, frames_per_key: int = 1,
                 frame_gap_s: float | None = None):
        self.uri = uri
        self.frames_per_key = _check_frames_per_key(frames_per_key)
        self.frame_gap_s = _check_frame_gap(frame_gap_s)
        self.segment_seconds = float(segment_seconds)
        self.max_side = max_side
        self.timeout_s = timeout_s
        self.info = None
        self.end_s = None
        self._cm = None
        self._url = None
        self._measured = False

    def __enter__(self):
        self._cm = storage.local_copy(self.uri)
        path = self._cm.__enter__()
        try:
            self.info = probe_lib.probe_local(path, timeout_s=self.timeout_s, uri=self.uri)
        except BaseException:
            self._cm.__exit__(None, None, None)
            raise
        self._url = storage.ffmpeg_input(path)
        self.end_s = float(self.info.duration_s)
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    @property
    def bounds(self) -> list[tuple[float, float]]:
        return segment_bounds(self.end_s, self.segment_seconds)

    def decode(self, j: int, k: int) -> Keyframes | None:
        """K frames of segment j, or None when the video has no segment j."""
        bounds = self.bounds
        if j >= len(bounds):
            return None
        a, b = bounds[j]
        whole = len(bounds) == 1
        try:
            return _decode(self._url, self.info, b - a, k, self.max_side, self.timeout_s,
                           "auto" if whole else "seek", self.uri, start=a,
                           frames_per_key=self.frames_per_key, frame_gap_s=self.frame_gap_s)
        except _PastTheEnd as e:
            if self._measured:
                raise errors.DecodeError(f"{e} (truncated?)", uri=self.uri) from None
            self._measured = True
            end, clean = probe_lib.video_stream_end(self._url, self.info, self.timeout_s)
            if not clean or end <= 0 or end >= 0.99 * self.end_s:
                raise errors.DecodeError(f"{e} (truncated?)", uri=self.uri) from None
            self.end_s = end
            return self.decode(j, k)


class _PastTheEnd(Exception):

    def __init__(self, message, duration):
        super().__init__(message)
        self.duration = duration


def _check_frames_per_key(t) -> int:
    if isinstance(t, bool) or int(t) != t or int(t) < 1:
        raise ValueError(f"frames_per_key must be an integer >= 1, got {t!r}")
    return int(t)


def _check_frame_gap(g):
    if g is not None and not (isinstance(g, (int, float)) and not isinstance(g, bool)
                              and math.isfinite(g) and g > 0):
        raise ValueError(f"frame_gap_s must be None or a number of seconds > 0, got {g!r}")
    return g


def frame_stride(fps: float, frame_gap_s: float | None) -> int:
    """n: frames between the frames brought after a key frame (1 without a gap); fps > 0
    (the caller falls back to DEFAULT_FPS)."""
    if frame_gap_s is None:
        return 1
    return max(1, int(round(frame_gap_s * fps)))


def _decode(url, info, duration, k, max_side, timeout_s, strategy, uri,
            start=0.0, frames_per_key=1, frame_gap_s=None) -> Keyframes:
    """K (x T) frames over [start, start + duration) (the whole video: start 0)."""
    fps = info.fps if info.fps > 0 else DEFAULT_FPS
    # A single-frame video may state no duration: sample its first frame.
    duration = duration if duration > 0 else 1.0 / fps
    key_times = start + target_times(duration, k)
    key_seeks = seek_points(key_times, fps)
    # Key-major: key frame i, then the frames after it (the same rule, j * n frames later).
    stride = frame_stride(fps, frame_gap_s)
    step = np.arange(frames_per_key, dtype=np.float64) * stride / fps
    times = (key_times[:, None] + step[None, :]).ravel()
    seeks = (key_seeks[:, None] + step[None, :]).ravel()
    if strategy == "auto":
        strategy = "select" if duration <= SELECT_MAX_SECONDS else "seek"
    w, h = output_size(info, max_side)
    chain = _conversion_chain(info, w, h)
    if strategy == "select":
        proc, got_frames, got_times = _decode_select(url, info, seeks, chain, w, h, timeout_s)
    elif strategy == "seek":
        proc, got_frames, got_times = _decode_seek(url, info, key_seeks, chain, w, h,
                                                   timeout_s,
                                                   frames=(frames_per_key - 1) * stride + 1)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    frames, frame_times = _assign(got_frames, got_times, seeks, times, duration, uri)
    decoded = sum(int(n) for n in _DECODED_RE.findall(proc.stderr))
    if strategy == "seek":
        # A frame later than s_i + 0.75 frame (a real gap in VFR, or a seek that landed
        # past its target: demuxers without an index), or none at all (the seek landed
        # past the end): retry those targets with a pre-roll.
        for preroll in PREROLLS_S:
            late = np.nonzero((frame_times > seeks + 0.75 / fps + 1e-3)
                              | (frame_times < seeks - 1e-3))[0]
            if not len(late):
                break
            try:
                proc, f2, t2 = _decode_seek(url, info, seeks[late], chain, w, h, timeout_s,
                                            preroll)
            except errors.DecodeError:
                break  # no frame at all there: keep what the first pass found
            decoded += sum(int(n) for n in _DECODED_RE.findall(proc.stderr))
            for i in late:
                cand = np.nonzero(t2 >= seeks[i] - 1e-4)[0]
                if len(cand) and (t2[cand[0]] < frame_times[i] - 1e-4
                                  or frame_times[i] < seeks[i] - 1e-3):
                    frames[i], frame_times[i] = f2[cand[0]], t2[cand[0]]
    return Keyframes(frames=frames, times_s=key_times, info=info, frame_times_s=frame_times,
                     strategy=strategy, decoded_frames=decoded,
                     frames_per_key=frames_per_key, frame_stride=stride)


def _conversion_chain(info: probe_lib.VideoInfo, w: int, h: int) -> str:
    """Filters applied to each kept frame: scale, tone-map, to rgb24."""
    filters = []
    if info.is_hdr:
        filters.append(f"scale={w}:{h}:flags=area")
        filters.append(_HDR_CHAIN.format(
            tin=info.color_transfer, min=info.color_space or "bt2020nc",
            pin=info.color_primaries or "bt2020"))
    else:
        filters.append(f"scale={w}:{h}:flags=area")
    filters.append("format=rgb24")
    return ",".join(filters)


def _common_args() -> list[str]:
    return ["-hide_banner", "-nostats", "-loglevel", "verbose",
            "-protocol_whitelist", ffmpeg_bin.PROTOCOL_WHITELIST]


def _output_args() -> list[str]:
    return ["-an", "-sn", "-dn", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]


def _deinterlace(info: probe_lib.VideoInfo) -> str:
    return "bwdif=mode=send_frame:deint=interlaced," if info.interlaced else ""


def _decode_select(url, info, seeks, chain, w, h, timeout_s):
    """One pass; keeps, for each s_i, the first frame with t >= s_i."""
    terms = [f"gte(t,{s:.6f})*not(gte(prev_t,{s:.6f}))" for s in np.unique(seeks)]
    vf = f"{_deinterlace(info)}select='{'+'.join(terms)}',showinfo,{chain}"
    proc = ffmpeg_bin.run([*_common_args(), "-i", url, "-map", f"0:{info.stream_index}",
                           "-vf", vf, *_output_args()], timeout_s=timeout_s)
    times = [float(m.group("t")) for m in _SHOWINFO_RE.finditer(proc.stderr)]
    return proc, _split_frames(proc, len(times), w, h), np.array(times)


def _decode_seek(url, info, seeks, chain, w, h, timeout_s, preroll=0.0, frames=1):
    """K seeked inputs in one ffmpeg process; each branch ends after `frames` frames.

    ``preroll`` > 0 seeks that much earlier and skips to s_i in the filter: for demuxers
    whose seek can land after the requested time (MPEG-TS/PS, raw streams).
    """
    unique = np.unique(seeks)
    # The K decoders run at once: share the cores instead of K x (cores + 1) frame
    # threads, which on 8K input would hold gigabytes of reference frames.
    threads = SEEK_THREADS if SEEK_THREADS is not None else max(
        1, (os.cpu_count() or 1) // len(unique))
    args = [*_common_args()]
    graph = []
    for j, s in enumerate(unique):
        x = max(0.0, s - preroll)
        skip = f"select='gte(t,{s - x - 1e-4:.6f})'," if s - x > 0 else ""
        args += ["-threads", str(threads), "-ss", f"{x:.6f}", "-i", url]
        graph.append(f"[{j}:{info.stream_index}]{_deinterlace(info)}{skip}trim=end_frame={frames},"
                     f"setpts=PTS+{x:.6f}/TB,showinfo@b{j},{chain}[v{j}]")
    labels = "".join(f"[v{j}]" for j in range(len(unique)))
    graph.append(f"{labels}concat=n={len(unique)}:v=1:a=0[out]")
    proc = ffmpeg_bin.run([*args, "-filter_complex", ";".join(graph), "-map", "[out]",
                           *_output_args()], timeout_s=timeout_s)
    # Branches log concurrently; concat emits them in branch order (`frames` each, fewer
    # near the end, none for a seek past the end).
    hits = sorted((int(m.group("branch")), float(m.group("t")))
                  for m in _SHOWINFO_RE.finditer(proc.stderr))
    times = np.array([t for _, t in hits])
    got = _split_frames(proc, len(times), w, h)
    # In time order, for _assign (branches of T frames may overlap when keys are close).
    order = np.argsort(times[:len(got)], kind="stable")
    return proc, got[order], times[:len(got)][order]


def _split_frames(proc, n: int, w: int, h: int) -> np.ndarray:
    frame_bytes = w * h * 3
    data = proc.stdout
    if n == 0 or len(data) < n * frame_bytes:
        got = len(data) // frame_bytes
        if got == 0:
            raise errors.DecodeError(
                f"ffmpeg decoded no frame (exit {proc.returncode}): "
                f"{ffmpeg_bin.last_error_line(proc.stderr)}")
        n = got
    return np.frombuffer(data[:n * frame_bytes], np.uint8).reshape(n, h, w, 3)


def _assign(frames, frame_times, seeks, times, duration, uri):
    """Picks for every target the first decoded frame at or after its seek point."""
    n = min(len(frames), len(frame_times))
    frames, frame_times = frames[:n], frame_times[:n]
    tol = 1e-4
    out_idx = np.empty(len(seeks), dtype=np.int64)
    for i, s in enumerate(seeks):
        after = np.nonzero(frame_times >= s - tol)[0]
        if len(after):
            out_idx[i] = after[0]
            continue
        last = n - 1
        if times[i] - frame_times[last] > max(1.0, 0.1 * duration):
            raise _PastTheEnd(
                f"{uri!r}: no frame near t={times[i]:.3f} s (last decodable frame at "
                f"{frame_times[last]:.3f} s of a stated {duration:.3f} s)", duration)
        out_idx[i] = last
    return np.ascontiguousarray(frames[out_idx]), frame_times[out_idx].astype(np.float64)

"""Quality measurements with ffmpeg filters: VMAF (full reference) and blockdetect/blurdetect.

- `vmaf(distorted, reference)`: ffmpeg's `libvmaf` filter (default model vmaf_v0.6.1,
  0-100, higher is better), mean over frames. Both inputs must have the same frame size
  (a CRF ladder keeps the master's size); the distorted frames are scaled to the
  reference's size when `size=(w, h)` is given.
- `blockiness(path)`: ffmpeg's `blockdetect` no-reference filter, mean over frames
  (higher = more blocking; roughly 10 on clean content, 40+ on heavy H.264 blocking).
- `blur(path)`: ffmpeg's `blurdetect`, mean over frames (higher = blurrier).
- `no_reference(path)`: both in one decode pass.
The no-reference means are NaN or inf where the filter has nothing to measure (flat
frames: blurdetect "-nan"; no block grid: blockdetect "inf"); VMAF is always finite.

Local paths only (callers use `media.storage.local_copy` for gs://). List arguments and a
timeout on every subprocess; a failure raises `media.errors.DecodeError`.
"""
from __future__ import annotations

import re

from beam_pipelines.media import errors, ffmpeg_bin, storage

# Values may be "nan"/"-nan"/"inf" (blurdetect on flat frames, blockdetect on frames
# without a block grid): they are returned as float NaN/inf, callers filter.
_VMAF_RE = re.compile(r"VMAF score:\s*(\S+)")
_BLOCK_RE = re.compile(r"block mean:\s*(\S+)")
_BLUR_RE = re.compile(r"blur mean:\s*(\S+)")


def _run_filter(args: list[str], timeout_s: float) -> str:
    """Runs `ffmpeg <args> -f null -` and returns its stderr (where filters report)."""
    proc = ffmpeg_bin.run(["-hide_banner", "-nostats", "-loglevel", "info",
                           "-protocol_whitelist", ffmpeg_bin.PROTOCOL_WHITELIST, *args,
                           "-f", "null", "-"], timeout_s=timeout_s)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise errors.DecodeError(
            f"ffmpeg exited {proc.returncode}: {ffmpeg_bin.last_error_line(proc.stderr)}")
    return stderr


def _input(path: str) -> str:
    return storage.ffmpeg_input(storage.check_local_file(path))


def _grab(regex: re.Pattern, text: str, what: str) -> float:
    m = regex.findall(text)
    if not m:
        raise errors.DecodeError(f"ffmpeg printed no {what}: {text[-300:]}")
    try:
        return float(m[-1])
    except ValueError:
        raise errors.DecodeError(f"ffmpeg printed {what} {m[-1]!r}") from None


def vmaf(distorted: str, reference: str, *, size: tuple[int, int] | None = None,
         n_threads: int = 1, subsample: int = 1, timeout_s: float = 300.0) -> float:
    """VMAF (0-100) of `distorted` against `reference`, pooled mean over frames."""
    scale = f"scale={size[0]}:{size[1]}:flags=bicubic," if size else ""
    graph = (f"[0:v]{scale}setpts=PTS-STARTPTS[d];[1:v]setpts=PTS-STARTPTS[r];"
             f"[d][r]libvmaf=n_threads={int(n_threads)}:n_subsample={int(subsample)}")
    err = _run_filter(["-i", _input(distorted), "-i", _input(reference), "-lavfi", graph], timeout_s)
    return _grab(_VMAF_RE, err, "VMAF score")


def no_reference(path: str, *, timeout_s: float = 120.0) -> dict[str, float]:
    """{"blockiness": blockdetect mean, "blur": blurdetect mean} in one decode pass."""
    err = _run_filter(["-i", _input(path), "-vf", "blockdetect,blurdetect"], timeout_s)
    return {"blockiness": _grab(_BLOCK_RE, err, "block mean"),
            "blur": _grab(_BLUR_RE, err, "blur mean")}


def blockiness(path: str, *, timeout_s: float = 120.0) -> float:
    """ffmpeg `blockdetect` mean over frames (no reference; higher = more blocking)."""
    err = _run_filter(["-i", _input(path), "-vf", "blockdetect"], timeout_s)
    return _grab(_BLOCK_RE, err, "block mean")


def blur(path: str, *, timeout_s: float = 120.0) -> float:
    """ffmpeg `blurdetect` mean over frames (no reference; higher = blurrier)."""
    err = _run_filter(["-i", _input(path), "-vf", "blurdetect"], timeout_s)
    return _grab(_BLUR_RE, err, "blur mean")

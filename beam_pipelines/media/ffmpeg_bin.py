"""The one place that chooses and runs the ffmpeg binary.

A system ``ffmpeg`` on PATH wins; otherwise the static binary that the ``imageio-ffmpeg``
wheel ships is used, so ``pip install`` alone is enough. Arguments are always a list
(never a shell string) and every call has a timeout.
"""
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Sequence

from beam_pipelines.media import errors

# ffmpeg's protocols that a decode may use: local files only (plus "pipe" for output).
# Refuses concat:, subfile:, http(s):, data:, ... even if a caller slips one through.
PROTOCOL_WHITELIST = "file,pipe"

Arg = str | bytes | os.PathLike


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: system ``ffmpeg`` on PATH, else imageio-ffmpeg's."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
    return imageio_ffmpeg.get_ffmpeg_exe()


_MAX_INPUT_THREADS = None  # process-wide cap on decoder threads per input (None: none)


def set_max_input_threads(threads: int | None) -> None:
    """Caps ``-threads`` of every ffmpeg input this process runs (None: ffmpeg's own)."""
    global _MAX_INPUT_THREADS  # pylint: disable=global-statement
    _MAX_INPUT_THREADS = None if threads is None else max(1, int(threads))


def cap_input_threads(args: list, cap: int | None) -> list:
    """``args`` with every input's ``-threads`` at most ``cap`` (added where missing).

    Only input options (before each ``-i``) are touched; output-side ``-threads`` (an
    encoder's, after the last input) are kept as written.
    """
    if cap is None:
        return list(args)
    out, since_input = [], []  # since_input: indices in `out` of -threads since last -i
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-threads" and i + 1 < len(args):
            out += ["-threads", args[i + 1]]
            since_input.append(len(out) - 1)
            i += 2
            continue
        if a == "-i":
            if since_input:
                for j in since_input:
                    v = str(out[j])  # "0" (or not a number) is ffmpeg's auto: capped
                    out[j] = str(min(int(v), cap)) if v.isdigit() and int(v) > 0 else str(cap)
            else:
                out += ["-threads", str(cap)]
            since_input = []
        out.append(a)
        i += 1
    return out


def run(args: Sequence[Arg], *, timeout_s: float, check: bool = False,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs ``ffmpeg <args>`` and captures stdout (bytes) and stderr (bytes).

    Args:
        args: ffmpeg arguments without the binary, e.g. ``["-i", "file:/a.mp4", ...]``.
        timeout_s: wall-clock limit; the process is killed past it.
        check: raise ``DecodeError`` when ffmpeg exits non-zero.
        input_bytes: fed to ffmpeg's stdin (read it with ``-i pipe:0``).

    Raises:
        DecodeTimeout: the process ran past ``timeout_s``.
        DecodeError: ``check`` and a non-zero exit status.
    """
    if isinstance(args, (str, bytes)):
        raise TypeError("ffmpeg_bin.run takes a list of arguments, not a string")
    cmd = [ffmpeg_exe(), *cap_input_threads(list(args), _MAX_INPUT_THREADS)]
    if input_bytes is None:
        cmd.insert(1, "-nostdin")
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False,
                              input=input_bytes,
                              stdin=subprocess.DEVNULL if input_bytes is None else None)
    except subprocess.TimeoutExpired as e:
        raise errors.DecodeTimeout(f"ffmpeg ran past its {timeout_s:g} s timeout") from e
    if check and proc.returncode != 0:
        raise errors.DecodeError(f"ffmpeg failed (exit {proc.returncode}): "
                                 f"{last_error_line(proc.stderr)}")
    return proc


def last_error_line(stderr: bytes) -> str:
    """The last non-empty line of ffmpeg's stderr, for error messages."""
    lines = [l.strip() for l in stderr.decode("utf-8", "replace").splitlines() if l.strip()]
    return lines[-1][:500] if lines else ""


@functools.cache
def pix_fmt_bit_depths() -> dict[str, int]:
    """Maps every pixel format ffmpeg knows to its largest component bit depth."""
    out = run(["-hide_banner", "-pix_fmts"], timeout_s=30).stdout.decode("ascii", "replace")
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        # "IO... yuv420p10le   3   15   10-10-10"
        if len(parts) == 5 and len(parts[0]) == 5 and re.fullmatch(r"\d+(-\d+)*", parts[4]):
            depths[parts[1]] = max(int(d) for d in parts[4].split("-"))
    return depths

"""Turns a video URI into a local path ffmpeg may open, refusing everything else.

Accepted: local paths (absolute or relative, ``file://`` URLs) and ``gs://bucket/object``
(read through Beam's ``FileSystems``, streamed to a temporary file that is deleted on
exit). Any other ``scheme:`` — ``http:``, ``concat:``, ``subfile:``, ``data:``, ... — is
refused with ``UnsupportedUri`` before ffmpeg ever sees it: inputs are untrusted. A local
name that merely contains a colon (``a:b.mp4``) reads as a scheme; pass ``./a:b.mp4``.
"""
import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator

from beam_pipelines.media import errors

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_CHUNK = 8 << 20


def scheme(uri: str) -> str:
    """Lower-case URI scheme ("gs", "file", "http", ...), or "" for a plain path.

    Anything with a colon before its first slash counts as a scheme, as ffmpeg would read
    it as a protocol (with options: ``subfile,,start,0,:path``).
    """
    head = uri.split("/", 1)[0]
    if ":" not in head:
        return ""
    m = _SCHEME.match(uri)
    return m.group(1).lower() if m else head.split(":", 1)[0].lower()


def check_uri(uri: str) -> str:
    """Returns the scheme ("" or "gs") of an acceptable URI; raises UnsupportedUri else."""
    if not isinstance(uri, str) or not uri:
        raise errors.UnsupportedUri(f"not a URI: {uri!r}", uri=str(uri))
    s = scheme(uri)
    if s == "file":
        return ""
    if s not in ("", "gs"):
        raise errors.UnsupportedUri(
            f"unsupported URI scheme {s!r} (only local paths and gs:// are read)", uri=uri)
    return s


def check_local_file(path: str, uri: str | None = None) -> str:
    """Absolute path of a readable, non-empty regular file; typed errors otherwise."""
    uri = uri if uri is not None else path
    if scheme(path) == "file":
        path = path[len("file:"):]
        path = path.removeprefix("//")
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise errors.VideoNotFound(f"no such file: {path!r}", uri=uri) from e
    except OSError as e:  # e.g. a path component is not searchable
        raise errors.Unreadable(f"cannot stat {path!r}: {e.strerror}", uri=uri) from e
    if os.path.isdir(path):
        raise errors.Unreadable(f"is a directory: {path!r}", uri=uri)
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device could block or never end
        raise errors.Unreadable(f"not a regular file (pipe, device or socket): {path!r}",
                                uri=uri)
    if st.st_size == 0:
        raise errors.EmptyFile(f"zero-byte file: {path!r}", uri=uri)
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise errors.Unreadable(f"cannot read {path!r}: {e.strerror}", uri=uri) from e
    return path


def ffmpeg_input(path: str) -> str:
    """The ``-i`` argument for a local absolute path: ``file:`` prefixed, so a name that
    starts with ``-`` or contains ``:`` or ``|`` is never read as an option or protocol."""
    return "file:" + os.path.abspath(path)


def _gcs_metadata(uri: str):
    """FileMetadata of one gs:// object, looked up by its exact name.

    Not ``FileSystems.match``: that is a glob, so a name containing ``[``, ``*`` or ``?``
    would be read as a pattern (and reported missing). The filesystem's ``metadata`` is a
    single object GET without glob expansion.
    """
    # pylint: disable=import-outside-toplevel
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems
    try:
        return FileSystems.get_filesystem(uri).metadata(uri)
    except BeamIOError as e:
        causes = list((e.exception_details or {}).values())
        if any(_is_not_found(c) for c in causes):
            raise errors.VideoNotFound(f"no such object: {uri}", uri=uri) from e
        detail = "; ".join(str(c) for c in causes) or str(e)
        raise errors.Unreadable(f"cannot stat {uri}: {detail}", uri=uri) from e
    except Exception as e:  # pylint: disable=broad-except
        raise errors.Unreadable(f"cannot stat {uri}: {e}", uri=uri) from e


def _is_not_found(exc) -> bool:
    try:
        from google.api_core import exceptions as gexc  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - apache-beam[gcp] brings it
        return False
    return isinstance(exc, (gexc.NotFound, FileNotFoundError))


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[str]:
    """Yields a local absolute path holding the bytes of ``uri``.

    Local paths pass through (checked: exists, non-empty, readable). ``gs://`` objects are
    streamed with ``apache_beam.io.filesystems.FileSystems`` into a temporary file (same
    extension, so ffmpeg's format guess still works) that is removed on exit.

    Raises:
        UnsupportedUri, VideoNotFound, EmptyFile, Unreadable (all stage "read").
    """
    if check_uri(uri) != "gs":
        yield check_local_file(uri)
        return
    # pylint: disable=import-outside-toplevel
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    meta = _gcs_metadata(uri)
    if meta.size_in_bytes == 0:
        raise errors.EmptyFile(f"zero-byte object: {uri}", uri=uri)
    suffix = os.path.splitext(uri.rsplit("/", 1)[-1])[1][:16]
    if not re.fullmatch(r"\.[A-Za-z0-9]*", suffix or "."):
        suffix = ""
    fd, tmp = tempfile.mkstemp(prefix="cpllm_", suffix=suffix)
    try:
        try:
            with os.fdopen(fd, "wb") as out, FileSystems.open(
                    uri, compression_type=CompressionTypes.UNCOMPRESSED) as src:
                shutil.copyfileobj(src, out, _CHUNK)
        except Exception as e:  # pylint: disable=broad-except
            raise errors.Unreadable(f"cannot read {uri}: {e}", uri=uri) from e
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)

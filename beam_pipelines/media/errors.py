"""Typed media errors.

Every error carries ``.stage`` (one of ``"read"``, ``"probe"``, ``"decode"``), the stage
name written to the failures table, and a human-readable message.
"""


class MediaError(Exception):
    """Base class of every media error; ``stage`` says where the video failed."""

    stage = "decode"

    def __init__(self, message: str, *, uri: str | None = None):
        super().__init__(message)
        self.uri = uri


class VideoNotFound(MediaError):
    """The path or gs:// object does not exist."""

    stage = "read"


class EmptyFile(MediaError):
    """The file exists but has zero bytes."""

    stage = "read"


class Unreadable(MediaError):
    """The file exists but cannot be opened (permissions, a directory, I/O error)."""

    stage = "read"


class UnsupportedUri(MediaError):
    """A URI scheme other than a local path or gs:// (refused before ffmpeg runs)."""

    stage = "read"


class NotAVideo(MediaError):
    """ffmpeg cannot parse the file as a container, or it is a still image."""

    stage = "probe"


class NoVideoStream(MediaError):
    """A valid container without a video stream (audio-only, cover art only)."""

    stage = "probe"


class DecodeError(MediaError):
    """ffmpeg failed, or returned fewer bytes than the frames need (corrupt data)."""

    stage = "decode"


class DecodeTimeout(MediaError):
    """An ffmpeg subprocess ran past its timeout and was killed."""

    stage = "decode"

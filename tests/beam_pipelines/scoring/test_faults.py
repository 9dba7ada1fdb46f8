"""beam_pipelines.faults on real errors: what is one video's, what is the worker's."""
import socket

import numpy as np
import pytest

from beam_pipelines import faults
from beam_pipelines.media import errors


def _real(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the error itself is the test input
        return e
    raise AssertionError("did not raise")


def _jax_oom():
    import jax.numpy as jnp

    jnp.zeros((2**40,), jnp.float32).block_until_ready()


def _refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    socket.create_connection(("127.0.0.1", port), timeout=5)


def _shape_mismatch():
    np.stack([np.zeros((2, 3)), np.zeros((3, 2))])


def _chained_value_error():
    try:
        np.empty((2**62,), np.uint8)
    except MemoryError as e:
        raise ValueError("could not build the batch") from e


@pytest.mark.parametrize("fn, infra", [
    (_jax_oom, True), (_refused, True), (lambda: np.empty((2**62,), np.uint8), True),
    (_chained_value_error, True),
    (_shape_mismatch, False), (lambda: {}["high_frames"], False), (lambda: 1 / 0, False),
])
def test_real_errors_are_classified(fn, infra):
    e = _real(fn)
    assert faults.is_infrastructure_error(e) is infra
    assert faults.is_input_error(e) is (not infra)


def test_runtime_errors_of_unknown_origin_are_not_isolated():
    e = RuntimeError("some library failed")
    assert not faults.is_infrastructure_error(e) and not faults.is_input_error(e)


def test_gcs_errors_through_beams_wrapper():
    # storage._gcs_metadata raises Unreadable from a BeamIOError (itself an IOError): the
    # per-path error inside decides, not the wrapper.
    from apache_beam.io.filesystem import BeamIOError
    from google.api_core import exceptions as gexc

    def unreadable(detail):
        try:
            raise BeamIOError("Metadata operation failed", {"gs://b/v.mp4": detail})
        except BeamIOError as wrapped:
            try:
                raise errors.Unreadable("cannot stat gs://b/v.mp4") from wrapped
            except errors.Unreadable as e:
                return e

    forbidden = unreadable(gexc.Forbidden("caller does not have storage.objects.get"))
    assert not faults.is_infrastructure_error(forbidden.__cause__)
    for detail in (gexc.ServiceUnavailable("backend error"), _real(_refused),
                   gexc.TooManyRequests("rate limit")):
        assert faults.is_infrastructure_error(unreadable(detail).__cause__), detail

"""Which errors belong to one video, and which to the worker (issue 14 item 8).

The dead letter (failure rows) is for bad videos, not for a sick worker. An error caused
by one video's inputs becomes that video's failure row; an infrastructure error (out of
memory, an XLA/JAX runtime error, a dropped connection, a full disk, a server error)
must not: it fails the bundle, so the runner retries it (Dataflow retries a failed
bundle, on another worker if needed; Beam's local FnApiRunner fails the run instead).

- `INPUT_ERRORS`: the exception classes that can mean "this video's data is bad"
  (a shape or dtype the model cannot take, a value out of range): ValueError,
  TypeError, ArithmeticError, LookupError. It is also the `exc_class` of RunInference's
  dead letter, so nothing else reaches it.
- `is_infrastructure_error(exc)`: MemoryError, OSError (ConnectionError, TimeoutError,
  BrokenPipeError, ...), JAX/XLA runtime errors (`JaxRuntimeError`, `XlaRuntimeError`),
  TensorFlow op errors, google-api-core server errors (5xx, 429, retries exhausted),
  google-auth transport errors, and any exception whose text says RESOURCE_EXHAUSTED or
  out of memory; the `__cause__` / `__context__` chain (and a BeamIOError's per-path
  errors, not the wrapper itself, which is an IOError) is searched too.
- `is_input_error(exc)`: an INPUT_ERRORS instance that is not an infrastructure error.
  Anything else (a RuntimeError from a library, an assertion) is not isolated either:
  only errors known to come from one video's inputs are.
- `WorkerFault`: what the DoFns raise instead (a RuntimeError, so the dead letter never
  catches it), chained to the original error.
"""

INPUT_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError)

# By class name (anywhere in the MRO), so that no GCP, TF or JAX import is needed here.
_INFRA_CLASS_NAMES = frozenset({
    "JaxRuntimeError", "XlaRuntimeError",  # JAX / XLA: OOM, device or compiler failures
    "OpError",  # TensorFlow: ResourceExhaustedError, UnavailableError, InternalError, ...
    "ServerError", "TooManyRequests", "RetryError",  # google-api-core: 5xx, 429, retries
    "TransportError",  # google-auth: token refresh over the network failed
})
_INFRA_TEXT = ("resource_exhausted", "out of memory", "oom when allocating",
               "failed to allocate")


class WorkerFault(RuntimeError):
    """Not a per-video failure: raised so the bundle fails and the runner retries it."""


def _chain(exc, limit=16):
    """exc, the errors it was raised from, and the per-path errors of a BeamIOError."""
    seen, todo = [], [exc]
    while todo and len(seen) < limit:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        details = getattr(e, "exception_details", None)
        if isinstance(details, dict):
            todo += [d for d in details.values() if isinstance(d, BaseException)]
        todo.append(e.__cause__ or e.__context__)
    return seen


def _is_infra_one(exc):
    if type(exc).__name__ == "BeamIOError":
        return False  # an IOError wrapper of Beam's filesystems: its details decide
    if isinstance(exc, (MemoryError, OSError)):
        return True
    if any(cls.__name__ in _INFRA_CLASS_NAMES for cls in type(exc).__mro__):
        return True
    text = str(exc).lower()
    return any(t in text for t in _INFRA_TEXT)


def is_infrastructure_error(exc):
    """True when `exc` (or an error it was raised from) is the worker's, not a video's."""
    return any(_is_infra_one(e) for e in _chain(exc))


def is_input_error(exc):
    """True when `exc` can be isolated as one video's failure (see the module doc)."""
    return isinstance(exc, INPUT_ERRORS) and not is_infrastructure_error(exc)


def describe(exc):
    """'ClassName: message' in one line, for WorkerFault messages and logs."""
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text[:500]}"

"""The dead letter: one failures-table row per video (or ladder) that could not be used.

Every pipeline sends what it cannot read, decode, score or summarise to its `FAILURES`
output (also the table's name) instead of failing the job; the table's columns are
schemas.FAILURES_SCHEMA. Rows are built here only:

- `failure_row`: from its fields (`stage` one of schemas.STAGES);
- `failure_from_exception`: from an exception (its class name, its message cut to
  `MAX_MESSAGE` characters);
- `beam_error`: (error_type, message) of the error half of a Beam dead-letter element
  (`with_exception_handling`, RunInference);
- `tagged`: a row on the `FAILURES` output of a multi-output DoFn.
"""
import apache_beam as beam

from beam_pipelines import schemas

FAILURES = "failures"  # the tagged output of every DoFn that fails rows, and the table
MAX_MESSAGE = 2000


def message(exc) -> str:
    """The exception's text (its repr when empty), cut to MAX_MESSAGE characters."""
    text = str(exc).strip() or repr(exc)
    return text[:MAX_MESSAGE]


def failure_row(video_id, uri, stage, error_type, message, attempts=1):
    """A failures-table row (dict of plain Python values); `run_id` is stamped by
    `score.run` at its sink (None in the tables of prepare, ladder and sources)."""
    if stage not in schemas.STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {schemas.STAGES}")
    return {
        "video_id": None if video_id is None else str(video_id),
        "uri": None if uri is None else str(uri),
        "stage": stage,
        "error_type": str(error_type),
        "message": str(message)[:MAX_MESSAGE],
        "attempts": int(attempts),
        "run_id": None,
    }


def stage_of(exc, default):
    """The stage an exception names itself (a media error's `.stage`), else `default`."""
    stage = getattr(exc, "stage", None)
    return stage if stage in schemas.STAGES else default


def failure_from_exception(video_id, uri, exc, stage, attempts=1):
    """The failure row of `exc`, raised while `video_id` was in `stage`."""
    return failure_row(video_id, uri, stage, type(exc).__name__, message(exc), attempts)


def beam_error(error):
    """(error_type, message) of the error half of a Beam dead-letter element.

    `with_exception_handling` (Beam 2.77, transforms/core.py) emits
    `(element, (exception class, repr(exception), formatted traceback lines))`; a bare
    exception instance is accepted too.
    """
    if isinstance(error, tuple) and error:
        exc_type = error[0]
        name = exc_type.__name__ if isinstance(exc_type, type) else str(exc_type)
        text = str(error[1]).strip() if len(error) > 1 else ""
        return name, (text or name)[:MAX_MESSAGE]
    return type(error).__name__, message(error)


def tagged(row):
    """`row` on the FAILURES output of a multi-output DoFn."""
    return beam.pvalue.TaggedOutput(FAILURES, row)

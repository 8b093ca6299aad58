"""Error types for CSM training and evaluation; the CLI prints each as one line."""

from gaitloop.errors import DataError, GaitloopError


class CSMError(GaitloopError):
    """Base class: a CSM command cannot go on (bad input, bad template, bad data)."""


class TemplateError(CSMError):
    """A template file or template values are invalid."""


class InputError(CSMError, DataError):
    """An input directory or recording cannot be used (missing, malformed, NaN-only)."""

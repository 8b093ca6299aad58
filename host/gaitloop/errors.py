"""The typed exception tree: the CLI turns each into one clear line and a non-zero exit."""


class GaitloopError(Exception):
    """Base of every error gaitloop reports to a user."""


class DataError(GaitloopError):
    """An input file is missing, unreadable or not in the expected format."""


class LinkError(GaitloopError):
    """A board link could not be opened or broke."""


class BoardError(GaitloopError):
    """The board (or the virtual board) failed to start or answered with an error."""


class RecordingError(GaitloopError):
    """A session file is not a gaitloop recording or cannot be read."""

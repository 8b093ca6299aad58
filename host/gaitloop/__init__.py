"""gaitloop host toolchain: flash, stream, record, train and push to gait sensor boards."""

__version__ = "0.1.0"

"""Loaders for the real datasets (../shared/data) and the recordings shipped in data/."""

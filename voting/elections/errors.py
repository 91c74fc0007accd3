"""Errors of the elections feature."""


class ElectionError(Exception):
    """Base of the election errors; the message is meant for the user."""


class ElectionFileError(ElectionError):
    """An election file or schedule value is invalid; the message names the field."""


class ElectionNotFound(ElectionError):
    """No election has the slug."""

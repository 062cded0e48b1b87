"""Errors a user can cause, kept import-light so the CLI can catch them cheaply."""

from __future__ import annotations


class ConfigError(Exception):
    """One or more mistakes in a config file; ``lines`` has one line per mistake."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))

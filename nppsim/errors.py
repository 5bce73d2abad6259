"""Error types of nppsim.

`InputError` and its subclasses mean "the user's input is wrong": the command line prints the
message as one line and exits with status 2. `SimulationError` means a computation failed
(exit status 1); it may carry the partial result computed so far.
"""

from __future__ import annotations


class InputError(ValueError):
    """Invalid user input (case file, data file, command-line value).

    The message is a single line that names the file and the key, line or column.
    """


class CaseError(InputError):
    """A case file (or a value set on it) is invalid."""


class DataFileError(InputError):
    """A measured-profile file is missing, unreadable or malformed."""


class SimulationError(RuntimeError):
    """The solver could not complete; `partial` holds what was computed (or None)."""

    def __init__(self, message: str, partial: object | None = None) -> None:
        super().__init__(message)
        self.partial = partial

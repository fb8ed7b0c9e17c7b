"""The one error type of the schema repository toolkit: a one-line message naming file and JSON pointer."""

from __future__ import annotations


class SchemaToolError(Exception):
    """Bad input for materialize/dereference: ``<file>: <json pointer>: <what>`` on one line.

    ``file`` is the schema file being processed (or ``<stdin>``), ``pointer`` the JSON pointer inside it
    where the problem is ("" for the whole document).
    """

    def __init__(self, file: str, pointer: str, message: str) -> None:
        self.file = file
        self.pointer = pointer
        self.message = " ".join(str(message).split())  # always one line
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.file}: {self.pointer or '/'}: {self.message}"

    def __reduce__(self) -> tuple[type[SchemaToolError], tuple[str, str, str]]:
        # raised in a forked worker, re-raised in the parent (schemas.forking): it must survive pickling
        return (type(self), (self.file, self.pointer, self.message))

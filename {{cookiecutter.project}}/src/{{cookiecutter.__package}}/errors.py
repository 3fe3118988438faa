"""The one error type of this project: its message says what is wrong and how to fix it."""


class ProjectError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""

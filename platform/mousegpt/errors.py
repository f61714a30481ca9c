"""The one exception type the CLI turns into a single clear error line."""


class MouseGPTError(Exception):
    """A problem the user can fix: bad input, bad metadata, an incompatible workspace.

    The message is one line that names the file (when there is one) and the problem.
    """


class InputError(MouseGPTError):
    """A video, pose file or manifest that cannot be used as given."""


class WorkspaceError(MouseGPTError):
    """A workspace that cannot be read or written safely."""

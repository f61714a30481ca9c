"""MouseGPT: mouse videos and pose files to searchable natural-language behaviour descriptions."""

__version__ = "0.1.0"

"""trialatlas: a self-hostable clinical trial registry."""

__version__ = "0.1.0"

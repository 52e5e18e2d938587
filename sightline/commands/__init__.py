"""Subcommands of the ``sightline`` CLI, one module each."""

__all__: list[str] = []

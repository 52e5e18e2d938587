"""Evaluation commands on real data and generated sample streams."""

__all__: list[str] = []

"""Operators' commands, run with `python -m manage` (see `python -m manage --help`)."""

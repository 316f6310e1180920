"""Domain errors, raised where they are discovered. `powerfactor.http` maps them to HTTP."""

from __future__ import annotations


class PowerFactorError(Exception):
    """Base of the errors a caller can cause and correct."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlantNotFound(PowerFactorError):
    def __init__(self, plant_id: int) -> None:
        super().__init__(f"plant {plant_id} does not exist")
        self.plant_id = plant_id


class NameTaken(PowerFactorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a plant named {name!r} already exists (names are case-insensitive)")
        self.name = name


class InvalidCursor(PowerFactorError):
    def __init__(self) -> None:
        super().__init__("the cursor is not one this API returned; start again without it")


class InvalidRange(PowerFactorError):
    """A date range that cannot be answered (e.g. `from` after `to`)."""

"""Data access: the only code that knows DynamoDB. Models are private; functions speak the domain.

- `storage.plants`: the plants table (plants, name claims, the id counter and plant count, sync state).
- `storage.datapoints`: the datapoints table (one item per plant-day, one summary per plant-month).
- `storage.keys`: the API keys table.
- `storage.outage`: which storage errors are worth retrying.
- `deadline`: the time budget of the DynamoDB calls of one invocation (see `_tables`).
"""

from powerfactor.storage._tables import deadline

__all__ = ["deadline"]

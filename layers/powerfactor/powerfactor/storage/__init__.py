"""Data access: the only code that knows DynamoDB. Models are private; functions speak the domain.

- `storage.plants`: the plants table (plants, name claims, the id counter, sync state).
- `storage.datapoints`: the datapoints table (one item per plant-day, one summary per plant-month).
"""

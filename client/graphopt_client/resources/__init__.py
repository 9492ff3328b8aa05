"""The API's resources: ``client.models`` and ``client.jobs`` (sync and async twins)."""

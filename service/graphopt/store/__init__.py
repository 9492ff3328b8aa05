"""Persistent state of the service: the database (SQLAlchemy 2) and content-addressed blobs."""

"""The HTTP API (FastAPI): routes per resource, dependencies, schemas, uploads, SSE."""

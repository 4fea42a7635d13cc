"""Alembic revisions of the audit store."""

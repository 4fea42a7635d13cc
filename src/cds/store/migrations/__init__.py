"""Alembic environment and revisions of the audit store (package so they ship in the wheel)."""

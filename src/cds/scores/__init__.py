"""Published scores computed from the patient snapshot (see docs/scores.md)."""

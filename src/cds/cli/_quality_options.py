"""Options shared by `cds screen` and `cds backtest` (moment, pseudonym key, model)."""

from __future__ import annotations

import os
import secrets
from datetime import datetime, time
from pathlib import Path

from cds.cli import UserError
from cds.cli._time import cli_zone, parse_time


def parse_at(value: str | None) -> datetime | None:
    """--at: a date (noon, clinical time) or an ISO date-time (clinical time when it has no offset)."""
    if value is None:
        return None
    return parse_time(value, "--at", cli_zone(), bare_date_at=time(12, 0))


def pseudonym_key(key_file: Path | None) -> bytes:
    """The key for patient pseudonyms: --key-file, else $CDS_PSEUDONYM_KEY, else a fresh key for this run."""
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise UserError(f"cannot read the key file {key_file}: {exc.strerror}") from None
    else:
        env = os.environ.get("CDS_PSEUDONYM_KEY")
        key = env.encode() if env else secrets.token_bytes(32)
    if len(key) < 16:
        raise UserError("the pseudonym key must be at least 16 bytes")
    return key


def model_dir(model: Path | None, no_model: bool) -> Path | None:
    """--model, else the bundled model when present; None with --no-model."""
    if no_model:
        return None
    if model is not None:
        if not model.is_dir():
            raise UserError(f"--model {model} is not a directory")
        return model
    from cds.service.settings import BUNDLED_MODEL_DIR

    return BUNDLED_MODEL_DIR if BUNDLED_MODEL_DIR.is_dir() else None

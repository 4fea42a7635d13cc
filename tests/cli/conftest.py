"""Shared set-up of the command-line tests: a private data directory and pseudonym key, one evaluator per process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cds.cli import _register_all, app

if not app.registered_commands:
    _register_all()


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDS_PSEUDONYM_KEY", "cli-test-pseudonym-key-0123456789")


@pytest.fixture(scope="module")
def shared_evaluator() -> Iterator[None]:
    """Commands in this module build the evaluator once per settings (loading the rules costs seconds)."""
    import cds.service.runtime as runtime

    built: dict[tuple[Any, ...], Any] = {}
    real = runtime.build_evaluator

    def cached(settings: Any) -> Any:
        key = (settings.rules_dir, tuple(settings.rule_overrides), settings.model_dir, settings.clinical_timezone)
        if key not in built:
            built[key] = real(settings)
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "build_evaluator", cached)
        yield

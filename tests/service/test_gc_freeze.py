"""The service moves its long-lived startup objects out of the garbage collector's generations."""

import gc

from fastapi.testclient import TestClient

from cds.service.app import create_app
from cds.service.settings import Settings


def test_startup_freezes_long_lived_objects_and_shutdown_unfreezes(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0

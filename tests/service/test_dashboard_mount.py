"""The quality dashboard is part of the service only when its password is configured."""

from cds.service.settings import Settings


def test_without_a_dashboard_password_there_is_no_dashboard(client):
    assert client.get("/dashboard").status_code == 404


def test_with_a_password_the_dashboard_asks_for_credentials(make_client, tmp_path):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        dashboard={"password": "kvalitet"})
    client = make_client(settings=settings)
    assert client.get("/dashboard").status_code == 401
    assert client.get("/dashboard", auth=("quality", "kvalitet")).status_code == 200

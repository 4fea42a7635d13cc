"""Client JWT authentication: only properly signed, fresh, unreplayed tokens for this URL get in.

The EPJ "DIPS Arena at Sykehuset Innlandet" signs its tokens with an ES384 key
whose public half the service knows (inline JWKS) or fetches from an
allowlisted jku.
"""

import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds.service.settings import Settings

ISS = "https://arena.sykehuset-innlandet.example"
JKU = "https://arena.sykehuset-innlandet.example/.well-known/jwks.json"
URL = "http://testserver/cds-services/discharge-pathway"

EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JKU_KEY = ec.generate_private_key(ec.SECP384R1())


def jwk(public_key, kid, algorithm):
    data = algorithm.to_jwk(public_key, as_dict=True)
    data["kid"] = kid
    return data


JWKS = {"keys": [jwk(EC_KEY.public_key(), "ec-1", ECAlgorithm), jwk(RSA_KEY.public_key(), "rsa-1", RSAAlgorithm)]}
JKU_JWKS = {"keys": [jwk(JKU_KEY.public_key(), "jku-1", ECAlgorithm)]}


def token(*, key=EC_KEY, alg="ES384", kid="ec-1", jku=None, **claims):
    now = int(time.time())
    payload = {"iss": ISS, "sub": "arena", "aud": URL, "iat": now, "exp": now + 240, "jti": str(uuid.uuid4())}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {"kid": kid, "typ": "JWT"}
    if jku:
        headers["jku"] = jku
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


@pytest.fixture
def jwks_requests():
    return []


@pytest.fixture
def secured(make_client, tmp_path, jwks_requests):
    settings = Settings(
        data_dir=tmp_path / "data",
        pseudonym_key="test-pseudonym-key-0123456789",
        public_base_url="http://testserver",
        auth={"issuers": {ISS: {"jwks": JWKS, "jku": [JKU]}}},
    )

    def handler(request):
        jwks_requests.append(str(request.url))
        return httpx.Response(200, json=JKU_JWKS)

    return make_client(settings=settings, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def call(client, request_body, bearer):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return client.post("/cds-services/discharge-pathway", json=request_body(), headers=headers)


def reason(response):
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    return response.json()["issue"][0]["diagnostics"]


def test_a_valid_es384_token_is_accepted(secured, request_body):
    assert call(secured, request_body, token()).status_code == 200


def test_a_valid_rs384_token_is_accepted(secured, request_body):
    assert call(secured, request_body, token(key=RSA_KEY, alg="RS384", kid="rsa-1")).status_code == 200


def test_no_token_is_401(secured, request_body):
    assert "bearer JWT is required" in reason(call(secured, request_body, None))


def test_alg_none_is_401(secured, request_body):
    unsigned = jwt.encode({"iss": ISS, "aud": URL, "exp": int(time.time()) + 60, "iat": int(time.time()),
                           "jti": "x"}, None, algorithm="none", headers={"kid": "ec-1"})
    assert "not allowed" in reason(call(secured, request_body, unsigned))


def test_hs256_is_401_even_with_the_public_key_as_secret(secured, request_body):
    assert "not allowed" in reason(call(secured, request_body, token(key="a-shared-secret-of-32-bytes-or-more!",
                                                                     alg="HS256")))


def test_wrong_aud_is_401(secured, request_body):
    wrong = token(aud="http://testserver/cds-services/frailty-admission")
    assert "aud must be the URL called" in reason(call(secured, request_body, wrong))


def test_expired_token_is_401(secured, request_body):
    now = int(time.time())
    assert "expired" in reason(call(secured, request_body, token(iat=now - 600, exp=now - 300)))


def test_token_living_longer_than_five_minutes_is_401(secured, request_body):
    now = int(time.time())
    assert "lives too long" in reason(call(secured, request_body, token(iat=now, exp=now + 3600)))


def test_missing_jti_is_401(secured, request_body):
    assert "jti" in reason(call(secured, request_body, token(jti=None)))


def test_unknown_kid_is_401(secured, request_body):
    assert "kid is not a known key" in reason(call(secured, request_body, token(kid="retired-key")))


def test_a_forged_signature_is_401(secured, request_body):
    other = ec.generate_private_key(ec.SECP384R1())
    assert "refused" in reason(call(secured, request_body, token(key=other)))


def test_replayed_jti_is_401(secured, request_body):
    once = token()
    assert call(secured, request_body, once).status_code == 200
    assert "replay" in reason(call(secured, request_body, once))


def test_a_token_used_before_a_restart_is_refused_after_it(make_client, tmp_path, request_body):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789",
                        public_base_url="http://testserver", auth={"issuers": {ISS: {"jwks": JWKS}}})
    once = token()
    assert call(make_client(settings=settings), request_body, once).status_code == 200
    restarted = make_client(settings=settings)
    assert "replay" in reason(call(restarted, request_body, once))
    assert call(restarted, request_body, token()).status_code == 200


def test_issuer_not_allowed_is_401(secured, request_body):
    assert "issuer" in reason(call(secured, request_body, token(iss="https://evil.example")))


def test_jku_not_on_the_allowlist_is_401(secured, request_body, jwks_requests):
    assert "jku is not on the allowlist" in reason(
        call(secured, request_body, token(jku="https://evil.example/jwks.json")))
    assert jwks_requests == []


def test_keys_from_an_allowlisted_jku_are_fetched_once_and_cached(secured, request_body, jwks_requests):
    for _ in range(2):
        assert call(secured, request_body, token(key=JKU_KEY, kid="jku-1", jku=JKU)).status_code == 200
    assert jwks_requests == [JKU]


def test_the_public_base_url_is_the_audience_behind_a_proxy(make_client, tmp_path, request_body):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        public_base_url="https://cds.sykehus.example/",
                        auth={"issuers": {ISS: {"jwks": JWKS}}})
    client = make_client(settings=settings)
    good = token(aud="https://cds.sykehus.example/cds-services/discharge-pathway")
    assert call(client, request_body, good).status_code == 200
    assert call(client, request_body, token()).status_code == 401


def test_protected_discovery_needs_a_token_for_its_own_url(make_client, tmp_path):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        public_base_url="http://testserver", auth={"issuers": {ISS: {"jwks": JWKS}}, "protect_discovery": True})
    client = make_client(settings=settings)
    assert client.get("/cds-services").status_code == 401
    ok = token(aud="http://testserver/cds-services")
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {ok}"}).status_code == 200


@pytest.mark.parametrize("path", ["/cds-services/no-such-service", "/cds-services/no-such-service/feedback"])
def test_with_protected_discovery_an_unknown_service_is_401_before_it_is_404(make_client, tmp_path, request_body,
                                                                             path):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        public_base_url="http://testserver",
                        auth={"issuers": {ISS: {"jwks": JWKS}}, "protect_discovery": True})
    client = make_client(settings=settings)
    assert "no-such-service" not in reason(client.post(path, json=request_body()))
    good = token(aud=f"http://testserver{path}")
    answer = client.post(path, json=request_body(), headers={"Authorization": f"Bearer {good}"})
    assert answer.status_code == 404 and "no-such-service" in answer.json()["issue"][0]["diagnostics"]


def test_with_protected_discovery_a_known_service_authenticates_each_token_once(make_client, tmp_path, request_body):
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        public_base_url="http://testserver",
                        auth={"issuers": {ISS: {"jwks": JWKS}}, "protect_discovery": True})
    assert call(make_client(settings=settings), request_body, token()).status_code == 200


def test_a_token_for_another_host_is_refused_whatever_host_header_is_sent(secured, request_body):
    other = token(aud="http://cds.elsewhere.example/cds-services/discharge-pathway")
    response = secured.post("http://cds.elsewhere.example/cds-services/discharge-pathway", json=request_body(),
                            headers={"Authorization": f"Bearer {other}", "Host": "cds.elsewhere.example"})
    assert "aud" in reason(response)


def test_authentication_without_public_base_url_is_a_configuration_error(tmp_path):
    from cds.service.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="public_base_url is required when authentication is on"):
        load_settings(data_dir=tmp_path, auth={"issuers": {ISS: {"jwks": JWKS}}})


def test_symmetric_algorithms_cannot_be_configured():
    with pytest.raises(ValueError, match="asymmetric"):
        Settings(auth={"algorithms": ["HS256"]})


def test_a_data_directory_the_replay_table_cannot_live_in_is_a_configuration_error(tmp_path):
    from cds.service.auth import ClientAuthenticator
    from cds.service.settings import AuthSettings, ConfigError

    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot open the jti replay table"):
        ClientAuthenticator(AuthSettings(issuers={ISS: {"jwks": JWKS}}),
                            replay_file=tmp_path / "a-file" / "data" / "jti-replay.bin")


def test_the_replay_table_is_created_when_the_service_starts_with_authentication_on(make_client, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789",
                        public_base_url="http://testserver", auth={"issuers": {ISS: {"jwks": JWKS}}})
    make_client(settings=settings)
    assert settings.jti_replay_file.is_file()


def test_development_mode_creates_no_replay_table(make_client, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", pseudonym_key="test-pseudonym-key-0123456789")
    make_client(settings=settings)
    assert not settings.jti_replay_file.exists()

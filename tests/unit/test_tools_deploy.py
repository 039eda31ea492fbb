"""docker-compose.yml's trust, checked by structure (no Docker engine runs here): Keycloak issues the
tokens, its realm has a user per person of the demo network, and no secret has a default."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from shared.network import load_network
from shared.settings import DEMO_NETWORK

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
REALM: dict[str, Any] = json.loads((ROOT / "deploy/keycloak/thuisbest-realm.json").read_text())
SERVICES = ("intake", "scheduler", "notifier")
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")  # ${VAR:?message}: compose refuses to start without VAR


def test_keycloak_imports_the_realm_and_the_services_trust_it() -> None:
    keycloak = COMPOSE["services"]["keycloak"]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:")
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    assert "./deploy/keycloak:/opt/keycloak/data/import:ro" in keycloak["volumes"]
    assert "healthcheck" in keycloak
    frontend = keycloak["environment"]["KC_HOSTNAME"]
    for name in SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert env["THUISBEST_AUTH_ISSUER"] == f"{frontend}/realms/{REALM['realm']}"
        assert env["THUISBEST_AUTH_JWKS_URL"].startswith("http://keycloak:8080/realms/thuisbest/")
        assert env["THUISBEST_AUTH_AUDIENCE"] == "thuisbest-api"
        assert COMPOSE["services"][name]["depends_on"]["keycloak"]["condition"] == "service_healthy"


def test_the_realms_client_puts_the_audience_and_the_person_in_the_token() -> None:
    assert REALM["realm"] == "thuisbest" and REALM["enabled"]
    clients = {c["clientId"]: c for c in REALM["clients"]}
    assert set(clients) == {"thuisbest-app", "thuisbest-board"}
    for client in clients.values():
        mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        audience = mappers["oidc-audience-mapper"]
        assert audience["included.custom.audience"] == "thuisbest-api"
        assert audience["access.token.claim"] == "true"
        person = mappers["oidc-usermodel-attribute-mapper"]
        claim = COMPOSE["services"]["intake"]["environment"]["THUISBEST_AUTH_PERSON_CLAIM"]
        assert person["claim.name"] == claim and person["access.token.claim"] == "true"
    assert not REALM["registrationAllowed"], "nobody may sign themselves up"
    # Users may not change who they are: the attribute that names the person is the admin's only.
    (provider,) = REALM["components"]["org.keycloak.userprofile.UserProfileProvider"]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    attribute = next(a for a in profile["attributes"] if a["name"] == person["user.attribute"])
    assert attribute["permissions"]["edit"] == ["admin"]
    assert "unmanagedAttributePolicy" not in profile


def test_the_board_signs_in_with_the_code_flow_and_pkce_only() -> None:
    board = next(c for c in REALM["clients"] if c["clientId"] == "thuisbest-board")
    env = COMPOSE["services"]["board"]["environment"]
    assert env["THUISBEST_OIDC_CLIENT_ID"] == board["clientId"]
    assert board["standardFlowEnabled"] and not board["implicitFlowEnabled"]
    assert not board["directAccessGrantsEnabled"], "no passwords through the board"
    assert board["attributes"]["pkce.code.challenge.method"] == "S256"
    assert board["redirectUris"] == [env["THUISBEST_BOARD_URL"] + "/aanmelden/terug"]
    assert env["THUISBEST_OIDC_DISCOVERY_URL"].startswith("http://keycloak:8080/realms/thuisbest/")


def test_there_is_a_user_for_every_person_of_the_demo_network() -> None:
    people = {p.id for p in load_network(DEMO_NETWORK).people}
    users = REALM["users"]
    assert {u["attributes"]["thuisbest_person"][0] for u in users} == people
    for user in users:
        assert user["username"] == user["attributes"]["thuisbest_person"][0].lower()
        (credential,) = user["credentials"]
        # Keycloak resolves the placeholder from its environment at import: no password in git.
        assert credential["value"] == "${THUISBEST_DEMO_PASSWORD}" and not credential["temporary"]


def test_no_secret_has_a_default_value() -> None:
    services = COMPOSE["services"]
    env = services["notifier"]["environment"]
    assert REQUIRED.fullmatch(env["THUISBEST_WEBHOOK_SECRET"])
    postgres = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert REQUIRED.fullmatch(postgres)
    for name in SERVICES:
        url = services[name]["environment"]["THUISBEST_DATABASE_URL"]
        assert REQUIRED.findall(url) == ["THUISBEST_POSTGRES_PASSWORD"], url
    assert services["intake"]["environment"]["THUISBEST_IDENTITY_KEY_FILE"] == "/run/secrets/identity_keys"
    assert "identity_keys" in services["intake"]["secrets"]
    assert REQUIRED.fullmatch(COMPOSE["secrets"]["identity_keys"]["file"])
    keycloak = services["keycloak"]["environment"]
    assert REQUIRED.fullmatch(keycloak["KC_BOOTSTRAP_ADMIN_PASSWORD"])
    assert REQUIRED.fullmatch(keycloak["THUISBEST_DEMO_PASSWORD"])
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "thuisbest:thuisbest@" not in text

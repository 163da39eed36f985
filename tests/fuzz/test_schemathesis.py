"""Schemathesis fuzzes every operation of /api/openapi.json, in-process through Django's WSGI
application, as a signed-in session user (with CSRF), as a write token's bearer and as a staff
user: no answer is a 5xx, and every answer's status and body are the ones the schema documents.

The budget is bounded and derandomized, so CI runs the same cases every time.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from core import tokens
from core.models import Change, Invite, TableGrant
from datasources_app.discovery import discover_tables
from datasources_app.models import DatasourceConfig
from datasources_app.values import encode_key
from tests.datasources_app.sqlite_files import build_shop
from tests.factories import DatasourceFactory, UserFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db,
    # The export streams an async iterator (for ASGI); through WSGI Django consumes it whole.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume"),
]

CSRF = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"  # a CSRF secret: 32 letters
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Small enough that the whole folder runs in about a minute on two cores.
EXAMPLES = 12
STAFF_PATHS = ("/api/plugins", "/api/datasources")
# Operations every identity of the fuzzer's must have got through at least once: otherwise it
# was only ever refused, and the run proved little.
GOT_THROUGH = {
    "GET /api/tables", "GET /api/tables/{table_id}/rows", "GET /api/tables/{table_id}/history",
    "GET /api/tables/{table_id}/rows/{row_key}", "GET /api/tables/{table_id}/view",
    "POST /api/tables/{table_id}/rows", "DELETE /api/tables/{table_id}/rows/{row_key}",
}  # fmt: skip


@pytest.fixture
def api_schema(keep_test_transaction):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def world(db, tmp_path):
    """A shop datasource of a few tables; `fuzzer` may read, write and delete in all of them and
    owns `notes`; `staff` is staff with the datasource permissions but no superuser."""
    source = DatasourceFactory(
        name="Shop", connection_string=f"sqlite:///{build_shop(tmp_path / 'shop.sqlite3')}"
    )
    discover_tables(source)
    fuzzer = UserFactory(username="fuzzer")
    for table in source.tables.all():
        TableGrant.objects.create(
            table=table, user=fuzzer, can_read=True, can_write=True, can_delete=True,
            is_owner=table.name == "notes",
        )  # fmt: skip
    staff = UserFactory(username="staff", is_staff=True)
    actions = ("view", "add", "change")
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=[f"{a}_datasourceconfig" for a in actions])
    )
    return {"source": source, "fuzzer": fuzzer, "staff": staff}


def signed_in(user) -> dict:
    """A session's cookies, with the CSRF cookie and header its writes need."""
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF}
    return {"headers": {"X-CSRFToken": CSRF}, "cookies": cookies}


def bearer(user) -> dict:
    """A write token of the user; a token needs no CSRF."""
    _, plaintext = tokens.create_token(user, "fuzz", write=True)
    return {"headers": {"Authorization": f"Bearer {plaintext}"}}


KEYS = [encode_key([n]) for n in (1, 2, 3)] + [encode_key([1, "x"])]


def _existing(ids: list[int], drawn: object) -> object:
    """Most drawn ids point at things that exist, so the fuzzer gets past the 404s; negative
    ones stay as drawn, for the not-found answers."""
    if isinstance(drawn, int) and not isinstance(drawn, bool) and drawn >= 0 and ids:
        return ids[drawn % len(ids)]
    return drawn


CREDENTIALS = ("authorization", "cookie", "x-csrftoken", "sessionid", "csrftoken")


def aim(case, world) -> None:
    """Call as the test's identity, and point the case's path parameters at the world's tables,
    rows and changes. Schemathesis makes up credentials from the security schemes: those would
    only ever test the 401 (a bearer header wins over the session), so they are dropped."""
    for part in ("headers", "cookies"):
        values = getattr(case, part)
        if values:
            setattr(case, part, {k: v for k, v in values.items() if k.lower() not in CREDENTIALS})
    path = case.path_parameters or {}
    table_ids = list(world["source"].tables.order_by("pk").values_list("pk", flat=True))
    known = {
        "table_id": table_ids,
        "change_id": list(Change.objects.order_by("pk").values_list("pk", flat=True)),
        "invite_id": list(Invite.objects.order_by("pk").values_list("pk", flat=True)),
        "token_id": list(tokens.ApiToken.objects.order_by("pk").values_list("pk", flat=True)),
        "datasource_id": list(DatasourceConfig.objects.order_by("pk").values_list("pk", flat=True)),
    }
    for name, ids in known.items():
        if name in path:
            path[name] = _existing(ids, path[name])
    key = path.get("row_key")
    if isinstance(key, str) and len(key) % 2 == 0:
        path["row_key"] = KEYS[len(key) % len(KEYS)]


def fuzz(api_schema, world, identity, only=None) -> tuple[list[str], set[str]]:
    """Run every operation (or those under the `only` paths): the failures, one line each, and
    the operations that answered a success at least once (so the identity really got in)."""
    failures, succeeded = [], set()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if only and not operation.path.startswith(only):
            continue
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
        )  # fmt: skip
        @given(case=strategy)
        def run(case):
            aim(case, world)
            response = case.call_and_validate(checks=CHECKS, **identity)
            if response.status_code < 300:
                succeeded.add(case.operation.label)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is reported
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures, succeeded


def test_a_signed_in_user_gets_no_server_error_and_documented_answers(api_schema, world):
    failures, succeeded = fuzz(api_schema, world, signed_in(world["fuzzer"]))
    assert not failures, "\n\n".join(failures)
    assert GOT_THROUGH | {"GET /api/tokens", "POST /api/tokens"} <= succeeded


def test_a_write_token_gets_no_server_error_and_documented_answers(api_schema, world):
    failures, succeeded = fuzz(api_schema, world, bearer(world["fuzzer"]))
    assert not failures, "\n\n".join(failures)
    assert GOT_THROUGH <= succeeded


def test_a_staff_user_gets_no_server_error_on_the_staff_endpoints(api_schema, world):
    failures, succeeded = fuzz(api_schema, world, signed_in(world["staff"]), only=STAFF_PATHS)
    assert not failures, "\n\n".join(failures)
    assert {"GET /api/plugins", "GET /api/datasources"} <= succeeded

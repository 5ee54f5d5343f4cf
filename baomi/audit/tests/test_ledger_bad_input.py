"""The ledger's web page and API on input they must refuse or survive: filter dates and
offsets out of range, NUL characters, an exported checkpoint that is not one, an entry
whose stored bytes were altered. Each answers as designed: never a 500, errors as
`{code, message, detail}` with a localized message, and every read recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from baomi import cli
from baomi.accounts import services as accounts
from baomi.accounts.models import Role
from baomi.audit import selectors
from baomi.audit.events import record
from baomi.audit.messages import LEDGER_MESSAGE_DEFAULT, LEDGER_MESSAGES, ledger_message
from baomi.audit.models import LedgerEntry, VerificationRun
from baomi.audit.services import AuditEvent, ledger_append_many
from baomi.audit.tests.test_verify_background import join_workers
from baomi.ledger import errors as ledger_errors
from conftest import verified_client

pytestmark = pytest.mark.django_db

UNREADABLE = "Unreadable entry (altered? run verification)"


@pytest.fixture
def admin(make_user: Any) -> Any:
    return make_user("admin", role=Role.ADMIN)


def bearer(user: Any, lang: str = "en") -> HttpClient:
    token = accounts.token_create(user=user).plaintext
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=lang)


def web(user: Any) -> HttpClient:
    c: HttpClient = verified_client(user, HTTP_ACCEPT_LANGUAGE="en")
    return c


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code, body
    return body


def _raw(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _filter_error(label: str) -> str:
    return f"The “{label}” filter is not valid and was ignored."


# --- The audit page's filters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("since=2024-02-30", "From"),  # no such day: parse_date raised ValueError
        ("until=9999-12-31", "To"),  # the day after it is past datetime's range
        ("since=0001-01-01", "From"),  # before year 1 once in UTC (Asia/Shanghai)
        ("since=yesterday", "From"),
        ("client=%00", "Client ID"),  # PostgreSQL text cannot hold NUL
        ("actor=a%00b", "User"),
    ],
)
def test_an_invalid_filter_is_shown_and_ignored(admin: Any, query: str, label: str) -> None:
    page = web(admin).get(f"/audit/?{query}")
    assert page.status_code == 200
    html = page.content.decode()
    assert _filter_error(label) in html
    assert "No entries match." not in html  # ignored, not matching nothing
    # The rows alone (htmx) carry the message too.
    rows = web(admin).get(f"/audit/?{query}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="ledger-rows")
    assert rows.status_code == 200 and _filter_error(label) in rows.content.decode()


def test_the_other_filters_still_apply_beside_an_invalid_one(admin: Any) -> None:
    page = web(admin).get("/audit/?since=2024-02-30&action=no.such.action")
    html = page.content.decode()
    assert _filter_error("From") in html and "No entries match." in html


def test_valid_day_filters_still_filter(admin: Any) -> None:
    from django.utils import timezone

    today = timezone.localdate().isoformat()
    c = web(admin)
    assert "No entries match." not in c.get(f"/audit/?since={today}&until={today}").content.decode()
    page = c.get("/audit/?until=2000-01-01").content.decode()
    assert "No entries match." in page and "filter is not valid" not in page


@pytest.mark.parametrize(
    "query", ["actor=nobody", "client=999999", "client=1&page=-5", "actor=%ff%fe&page=3"]
)
def test_a_filtered_listing_with_no_entries_is_an_empty_page(admin: Any, query: str) -> None:
    # On PostgreSQL the empty page of a client or actor listing was a 500.
    page = web(admin).get(f"/audit/?{query}")
    assert page.status_code == 200 and "No entries match." in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_failed_verification_is_explained_on_the_page(admin: Any) -> None:
    first = LedgerEntry.objects.order_by("seq").first()
    assert first is not None
    _raw("UPDATE audit_ledgerentry SET data = %s WHERE seq = %s", [b'{"not json', first.seq])
    c = web(admin)
    started = c.post(reverse("audit:verify"), HTTP_HX_REQUEST="true")
    assert started.status_code == 200
    # It runs in the background; the card polls until the verdict is in.
    join_workers()
    status = c.get(reverse("audit:verify_progress"))
    assert status.status_code == 200
    run = selectors.last_verification()
    assert run is not None and not run.ok
    with translation.override("en"):
        assert escape(ledger_message(run.code)) in status.content.decode()


# --- API bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/ledger/entries?offset=99999999999999999999",
        "/api/v1/ledger/entries?client=1&offset=99999999999999999999",
        "/api/v1/ledger/entries?offset=1000000001",
        "/api/v1/clients/{cid}/access-history?offset=99999999999999999999",
        "/api/v1/clients/{cid}/access-history?offset=-1",
    ],
)
def test_an_offset_beyond_the_cap_is_a_validation_error(
    admin: Any, make_client: Any, url: str
) -> None:
    client = make_client(admin)
    body = error_of(bearer(admin).get(url.format(cid=client.pk)), 422, "validation_error")
    assert [k for k in body["detail"]["fields"] if k.endswith("offset")], body


def test_the_largest_offset_is_an_empty_page(admin: Any, make_client: Any) -> None:
    client = make_client(admin)
    api = bearer(admin)
    for url in ("/api/v1/ledger/entries", "/api/v1/ledger/entries?client=1",
                f"/api/v1/clients/{client.pk}/access-history"):
        sep = "&" if "?" in url else "?"
        r = api.get(f"{url}{sep}offset=1000000000")
        assert r.status_code == 200, r.content
        assert r.json()["items"] == [] and r.json()["offset"] == 10**9


def test_the_offset_cap_is_in_the_openapi_schema() -> None:
    import baomi.urls  # noqa: F401  (registers every router)
    from baomi.api.base import api

    paths = api.get_openapi_schema()["paths"]
    for path in ("/api/v1/ledger/entries", "/api/v1/clients/{client_id}/access-history"):
        params = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        assert params["offset"]["schema"]["maximum"] == 10**9, path
        assert params["offset"]["schema"]["minimum"] == 0, path


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("since", "0001-01-01T00:00:00+14:00"),  # before year 1 in UTC
        ("until", "9999-12-31T23:59:59-14:00"),  # after year 9999 in UTC
        ("since", "0001-01-01T00:00:00"),  # naive: the server's time zone is east of UTC
    ],
)
def test_an_instant_out_of_range_is_a_validation_error(admin: Any, param: str, value: str) -> None:
    body = error_of(
        bearer(admin).get("/api/v1/ledger/entries", {param: value}), 422, "validation_error"
    )
    assert body["message"] == "Some fields are not valid."
    assert any("out of range" in " ".join(msgs) for msgs in body["detail"]["fields"].values())


def test_instants_in_range_still_filter(admin: Any) -> None:
    api = bearer(admin)
    r = api.get("/api/v1/ledger/entries", {"until": "9999-12-31T23:59:59"})
    assert r.status_code == 200 and r.json()["count"] > 0
    r = api.get("/api/v1/ledger/entries", {"since": "9999-12-31T23:59:59+00:00"})
    assert r.status_code == 200 and r.json()["count"] == 0


@pytest.mark.parametrize("param", ["client", "actor", "action"])
def test_a_nul_in_a_text_filter_is_a_validation_error(admin: Any, param: str) -> None:
    # PostgreSQL refused the query with a DataError (a 500).
    r = bearer(admin).get(f"/api/v1/ledger/entries?{param}=a%00b")
    error_of(r, 422, "validation_error")


# --- Localized ledger errors ----------------------------------------------------------------


def _zh(code: str) -> str:
    with translation.override("zh-hans"):
        return ledger_message(code)


def test_a_malformed_checkpoint_is_explained_in_the_readers_language(admin: Any) -> None:
    r = bearer(admin, "zh-hans").post(
        "/api/v1/ledger/consistency", {"checkpoint": "hello"}, content_type="application/json"
    )
    body = error_of(r, 400, "checkpoint_malformed")
    assert body["message"] == _zh("checkpoint_malformed")
    # The core's own English account is kept, as detail.
    assert body["detail"]["reason"] == "not a signed note: no blank line before signatures"
    assert body["message"] != body["detail"]["reason"]


def test_a_rollback_is_a_localized_conflict(admin: Any) -> None:
    ledger_append_many([AuditEvent(actor="system", action="test.fill") for _ in range(10)])
    text = selectors.checkpoint_create().text
    # Entries removed from the end: the log (with the request's own entry) is shorter.
    _raw("DELETE FROM audit_ledgerentry WHERE seq >= %s", [selectors.ledger_state().size - 5])
    r = bearer(admin, "zh-hans").post(
        "/api/v1/ledger/consistency", {"checkpoint": text}, content_type="application/json"
    )
    body = error_of(r, 409, "rollback")
    assert body["message"] == _zh("rollback")
    assert body["detail"]["reason"].startswith("rollback: ")


def test_an_unavailable_proof_is_localized(admin: Any) -> None:
    body = error_of(bearer(admin, "zh-hans").get("/api/v1/ledger/proof/99999"), 404,
                    "proof_unavailable")
    assert body["message"] == _zh("proof_unavailable")
    assert "checkpoint" in body["detail"]["reason"]


def test_every_ledger_code_has_a_message() -> None:
    codes = {c.value for c in ledger_errors.VerifyCode}
    codes |= {
        cls.code
        for cls in vars(ledger_errors).values()
        if isinstance(cls, type) and issubclass(cls, ledger_errors.LedgerError)
    }
    codes |= {"proof_unavailable"}
    assert codes - {"ledger_error"} <= set(LEDGER_MESSAGES)
    assert ledger_message("no_such_code") == str(LEDGER_MESSAGE_DEFAULT)


def test_a_failed_verification_has_a_localized_message(admin: Any) -> None:
    api = bearer(admin)
    ok = api.post("/api/v1/ledger/verify?wait=true").json()
    assert ok["ok"] and ok["message"] == "" and ok["reason"] == ""
    first = LedgerEntry.objects.order_by("seq").first()
    assert first is not None
    _raw("UPDATE audit_ledgerentry SET data = %s WHERE seq = %s", [b'{"not json', first.seq])
    bad = bearer(admin, "zh-hans").post("/api/v1/ledger/verify?wait=true").json()
    assert not bad["ok"] and bad["first_bad_seq"] == first.seq
    assert bad["message"] == _zh(bad["code"])
    assert f"seq {first.seq}" in bad["reason"]


# --- Every read of the ledger is recorded ---------------------------------------------------


def _last_entry() -> LedgerEntry:
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert entry is not None
    return entry


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("get", "/api/v1/ledger/proof/0", ("ledger.prove", "ledger_entry", "0")),
        ("get", "/api/v1/ledger/state", ("ledger.view", "ledger", "state")),
        ("get", "/api/v1/ledger/checkpoints/latest", ("ledger.view", "ledger", "checkpoint")),
        ("get", "/api/v1/ledger/verify/{run}", ("ledger.view", "ledger", "verification/{run}")),
        ("post", "/api/v1/ledger/consistency", ("ledger.consistency", "ledger", "")),
    ],
)
def test_each_ledger_read_is_recorded(
    admin: Any, method: str, url: str, expected: tuple[str, str, str]
) -> None:
    text = selectors.checkpoint_create().text
    api = bearer(admin)
    before = _last_entry().seq
    run = VerificationRun.objects.create(started_at=timezone.now(), status="done", ok=True)
    url = url.replace("{run}", str(run.pk))
    expected = (expected[0], expected[1], expected[2].replace("{run}", str(run.pk)))
    kw: dict[str, Any] = {}
    if method == "post":
        kw = {"data": json.dumps({"checkpoint": text}), "content_type": "application/json"}
    r = getattr(api, method)(url, **kw)
    assert r.status_code == 200, r.content
    entry = _last_entry()
    assert entry.seq == before + 1
    assert (entry.actor, entry.decision) == ("admin", "allowed")
    assert (entry.action, entry.object_type, entry.object_id) == expected


def test_a_refused_proof_is_recorded_as_such(make_user: Any) -> None:
    outsider = make_user("acct_prove", role=Role.ACCOUNTANT)
    error_of(bearer(outsider).get("/api/v1/ledger/proof/0"), 403, "access_denied")
    entry = _last_entry()
    assert (entry.actor, entry.action, entry.decision) == ("acct_prove", "ledger.prove",
                                                          "refused")


# --- An entry whose stored bytes were altered -----------------------------------------------


def test_an_unreadable_entry_is_listed_as_such_everywhere(
    admin: Any, make_client: Any, capsys: Any, monkeypatch: Any
) -> None:
    client = make_client(admin)
    selectors.checkpoint_create()
    entry = LedgerEntry.objects.filter(client_id=str(client.pk)).order_by("seq").first()
    assert entry is not None
    seq = entry.seq
    _raw("UPDATE audit_ledgerentry SET data = %s WHERE seq = %s", [b'{"not json\xff', seq])

    page = web(admin).get("/audit/")
    assert page.status_code == 200 and UNREADABLE in page.content.decode()
    detail = web(admin).get(reverse("clients:detail", args=[client.pk]))
    assert detail.status_code == 200 and UNREADABLE in detail.content.decode()

    api = bearer(admin)
    for url in (f"/api/v1/ledger/entries?client={client.pk}",
                f"/api/v1/clients/{client.pk}/access-history"):
        r = api.get(url)
        assert r.status_code == 200, r.content
        items = {item["seq"]: item for item in r.json()["items"]}
        assert items[seq]["unreadable"] is True and items[seq]["actor"] == ""
        assert items[seq]["leaf_hash"] == bytes(entry.leaf_hash).hex()
        assert not any(item["unreadable"] for s, item in items.items() if s != seq)
    # Its proof cannot carry bytes that are not text: a stable error, not a traceback.
    error_of(api.get(f"/api/v1/ledger/proof/{seq}"), 500, "entry_malformed")

    monkeypatch.setattr(cli, "_setup", lambda data_dir: None)
    capsys.readouterr()
    with translation.override("en"):
        assert cli.main(["ledger", "show", "--client", str(client.pk)]) == 0
        lines = [line for line in capsys.readouterr().out.splitlines()
                 if line.split()[0] == str(seq)]
        assert len(lines) == 1 and UNREADABLE in lines[0]
        assert cli.main(["ledger", "show", "--client", str(client.pk), "--json"]) == 0
        rows = {row["seq"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
        assert rows[seq]["unreadable"] is True
        assert cli.main(["ledger", "prove", str(seq)]) == 1
        assert "[entry_malformed]" in capsys.readouterr().err


def test_an_entry_whose_time_column_is_unreadable_too_is_still_listed(
    admin: Any, capsys: Any, monkeypatch: Any
) -> None:
    record(admin, "client.read", object_type="client", object_id="1", client_id="1")
    seq = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    from baomi.audit.tests.test_verify_storage import unreadable_time

    _raw("UPDATE audit_ledgerentry SET data = %s, time = %s WHERE seq = %s",
         [b'{"not json', unreadable_time(), seq])
    r = bearer(admin).get("/api/v1/ledger/entries?limit=500")
    assert r.status_code == 200, r.content
    item = next(i for i in r.json()["items"] if i["seq"] == seq)
    assert item["unreadable"] is True and item["time"] is None
    assert web(admin).get("/audit/").status_code == 200
    monkeypatch.setattr(cli, "_setup", lambda data_dir: None)
    capsys.readouterr()
    with translation.override("en"):
        assert cli.main(["ledger", "show", "--json"]) == 0
        rows = {row["seq"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
        assert rows[seq]["time"] is None

"""Ledger action codes are shown with their labels, in the page's language, on the audit
log, a client's access history and the access matrix (the code stays beside the label)."""

from __future__ import annotations

import pytest

from baomi import policy
from baomi.access import views as access_views
from baomi.access.tests.test_services import _read, firm  # noqa: F401  (fixture)
from baomi.audit.actions import ACTION_LABELS
from baomi.vault import door
from conftest import verified_client

pytestmark = pytest.mark.django_db


def test_every_policy_and_door_action_and_matrix_cell_has_a_label():
    codes = {a.value for a in policy.Action} | {a.value for a in door.Action}
    assert codes - ACTION_LABELS.keys() == set()
    assert {r for r in policy.Req if r is not policy.Req.DENY} == access_views._REQ_LABELS.keys()


@pytest.mark.parametrize(("lang", "label"), [("zh-hans", "下载文件"),
                                             ("en", "Document downloaded")])
def test_history_and_audit_log_show_the_label_beside_the_code(firm, lang, label):  # noqa: F811
    _read(firm["acct"], firm["doc"])
    history = verified_client(firm["manager"], HTTP_ACCEPT_LANGUAGE=lang).get(
        f"/clients/{firm['client'].pk}/").content.decode()
    section = history[history.index('id="access-history"'):]
    assert f'{label} <code class="muted">document.download</code>' in section
    log = verified_client(firm["compliance"], HTTP_ACCEPT_LANGUAGE=lang).get(
        "/audit/?action=document.download").content.decode()
    assert f'{label} <code class="muted">document.download</code>' in log


def test_a_code_without_a_label_is_shown_as_it_is(firm):  # noqa: F811
    from baomi.audit.events import record

    record("scheduler", "future.action", object_type="client",
           object_id=firm["client"].pk, client_id=firm["client"].pk)
    log = verified_client(firm["compliance"]).get("/audit/?action=future.action").content.decode()
    assert "<td><code>future.action</code>" in log.replace("\n", "")


@pytest.mark.parametrize(("lang", "texts"), [
    ("zh-hans", ["公开", "绝密", "负责的客户", "紧急访问（破窗）"]),
    ("en", ["Public", "Top secret", "assigned clients", "Emergency read (break-glass)"]),
])
def test_the_matrix_names_levels_cells_and_actions(firm, lang, texts):  # noqa: F811
    body = verified_client(firm["acct"], HTTP_ACCEPT_LANGUAGE=lang).get(
        "/access/matrix/").content.decode()
    for text in texts:
        assert text in body, text

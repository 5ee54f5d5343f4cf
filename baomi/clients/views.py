"""Client pages: list with search and pagination, detail, create, edit, contacts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from baomi import policy
from baomi.access import selectors as access_selectors
from baomi.access.services import refusal_of
from baomi.accounts.models import User
from baomi.audit import selectors as audit_selectors
from baomi.audit.events import record
from baomi.clients import selectors, services
from baomi.clients.forms import ClientForm, ContactForm
from baomi.clients.models import Client, ClientStatus, Contact
from baomi.core.http import actor_of, positive_id
from baomi.core.views import error_403
from baomi.errors import AccessDenied, BaomiError, Conflict, NotFound, ValidationFailed


@login_required
def client_list_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    q = request.GET.get("q", "")[:100]
    status = request.GET.get("status", "")
    if status not in ClientStatus.values:
        status = ""
    # Searching ID numbers, mobiles and bank accounts confirms protected values: a
    # purpose is asked for, as for any other read of them (F08).
    purpose = request.GET.get("purpose", "").strip()
    found = selectors.protected_search(actor=actor, term=q, purpose=purpose)
    qs = selectors.client_list(actor=actor, search=q, status=status, also=found.clients)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "purpose": purpose,
        "found": found,
        "contact_matches": _sealed_rows(actor, found.contacts, ("mobile", "id_number"), "")[0],
        "status": status,
        "statuses": ClientStatus.choices,
        "can_create": selectors.client_can_create(actor),
        "nav": "clients",
    }
    if request.headers.get("HX-Request"):
        return render(request, "clients/_rows.html", context)
    context["purposes"] = access_selectors.purposes()
    return render(request, "clients/list.html", context)


def _get(request: HttpRequest, client_id: int) -> Client:
    try:
        return selectors.client_get(actor=actor_of(request), client_id=client_id)
    except NotFound as exc:
        raise Http404 from exc


def _shown(values: dict[str, str], obj: Any, name: str) -> str | None:
    """The opened value, or None for "sealed, masked", or "" for "no value"."""
    from baomi.vault import door

    if values:
        return values.get(name, "")
    return None if door.record_present(obj, name) else ""


def _sealed_rows(
    actor: Any, objs: list[Any], fields: tuple[str, ...], purpose: str
) -> tuple[list[dict[str, Any]], str]:
    """Rows of sealed values: masked, or opened through the vault door for `purpose`.

    A refusal (no assignment, no purpose) keeps them masked and returns the reason."""
    from baomi.vault import door

    rows: list[dict[str, Any]] = []
    refused = ""
    for obj in objs:
        values: dict[str, str] = {}
        if purpose and not refused:
            try:
                values = door.record_read(actor=actor, obj=obj, fields=fields, purpose=purpose)
            except BaomiError as exc:
                refused = str(exc.message)
        rows.append(
            {
                "obj": obj,
                "revealed": bool(values),
                "values": {f: _shown(values, obj, f) for f in fields},
            }
        )
    return rows, refused


@login_required
@never_cache
def client_detail_view(request: HttpRequest, client_id: int) -> HttpResponse:
    client = _get(request, client_id)
    actor = actor_of(request)
    from baomi.vault import door
    from baomi.vault.selectors import document_list

    purpose = request.GET.get("purpose", "").strip()
    contacts, refused = _sealed_rows(
        actor, list(client.contacts.all()), services.CONTACT_SEALED_FIELDS, purpose
    )
    company, refused_company = _sealed_rows(actor, [client], services.SEALED_CLIENT_FIELDS, purpose)
    can_edit = selectors.client_can_edit(actor, client)
    # Who read what and why is itself confidential: shown only to those the matrix gives
    # `ledger.view_client` (as `GET /api/v1/clients/{id}/access-history`); for anyone
    # else it is not even read.
    can_view_history = access_selectors.permitted_for(
        actor, policy.Action.LEDGER_VIEW_CLIENT, access_selectors.client_resource(client)
    )
    history = None
    if can_view_history:
        # Reading who read is itself a read of the ledger, recorded before it is shown.
        record(actor, "ledger.view_client", object_type="client", object_id=client.pk,
               client_id=client.pk)
        history = [audit_selectors.entry_view(e)
                   for e in audit_selectors.entry_list(client_id=str(client.pk))[:20]]
    return render(
        request,
        "clients/detail.html",
        {
            "client": client,
            "contacts": contacts,
            "company": company[0],
            "purpose": purpose,
            "approved_purposes": access_selectors.approved_purposes(actor, replace(
                access_selectors.client_resource(client), level=policy.Level(
                    door.fields_level(client, services.SEALED_CLIENT_FIELDS)))),
            "reveal_refused": refused or refused_company,
            "documents": document_list(actor=actor, client=client),
            "can_upload": can_edit,
            "engagements": client.engagements.select_related("service_type"),
            "assignees": [a.user for a in client.assignments.select_related("user")],
            "can_edit": can_edit,
            "history": history,
            "can_view_history": can_view_history,
            "nav": "clients",
        },
    )


def _input_from(form: ClientForm) -> services.ClientInput:
    data = form.cleaned_data
    dept = data.get("department")
    sealed = form.sealed_changes()
    return services.ClientInput(
        name=data["name"],
        uscc=data["uscc"],
        legal_representative=data["legal_representative"],
        status=data["status"],
        service_types=[s.code for s in data.get("service_types") or []],
        department_id=dept.pk if dept else None,
        service_started_on=data.get("service_started_on"),
        service_ended_on=data.get("service_ended_on"),
        deregistered_on=data.get("deregistered_on"),
        clear_fields={
            k
            for k in ("service_started_on", "service_ended_on", "deregistered_on")
            if not data.get(k)
        },
        legal_rep_id_number=sealed.get("legal_rep_id_number"),
        bank_account=sealed.get("bank_account"),
        address=sealed.get("address"),
        notes=sealed.get("notes"),
    )


def _save(request: HttpRequest, form: ClientForm, client: Client | None) -> Client | None:
    """Create or update; a refusal of the sealed-field write (the policy decides it at the
    level of the fields touched) is shown on the form, so nothing else typed is lost."""
    actor = actor_of(request)
    try:
        if client is None:
            return services.client_create(actor=actor, data=_input_from(form))
        return services.client_update(actor=actor, client=client, data=_input_from(form))
    except (ValidationFailed, Conflict) as exc:
        form.add_service_errors(exc.detail.get("fields", {}))
        if not exc.detail.get("fields"):
            form.add_error(None, str(exc.message))
    except AccessDenied as exc:
        if client is not None and not selectors.client_can_edit(actor, client):
            raise
        form.add_error(None, str(exc.message))
    if client is not None:
        # The update changed the instance before it failed; show what is stored.
        client.refresh_from_db()
    return None


def _edit_refusal(actor: User, client: Client) -> AccessDenied | None:
    """`client.update` for the edit pages: None, or the recorded refusal to show."""
    return refusal_of(actor, policy.Action.CLIENT_UPDATE, access_selectors.client_resource(client),
                      ledger_action="client.update", object_type="client", object_id=client.pk)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def client_create_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    denial = refusal_of(actor, policy.Action.CLIENT_CREATE, None,
                         ledger_action="client.create", object_type="client")
    if denial is not None:
        return error_403(request, denial)
    form = ClientForm(request.POST or None, initial={"status": ClientStatus.ACTIVE})
    if request.method == "POST" and form.is_valid():
        try:
            client = _save(request, form, None)
        except AccessDenied as exc:
            return error_403(request, exc)
        if client is not None:
            messages.success(request, _("Client %(name)s created.") % {"name": client.name})
            return redirect("clients:detail", client_id=client.pk)
    return _form_page(request, form, None)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def client_edit_view(request: HttpRequest, client_id: int) -> HttpResponse:
    """Edit a client. Sealed fields are masked; `?purpose=…` reveals their stored values
    through the vault door (a recorded, policy-checked read) beside the inputs."""
    client = _get(request, client_id)
    actor = actor_of(request)
    denial = _edit_refusal(actor, client)
    if denial is not None:
        return error_403(request, denial)
    initial: dict[str, Any] = {
        "name": client.name,
        "uscc": client.uscc,
        "legal_representative": client.legal_representative,
        "status": client.status,
        "service_types": list(client.service_types.all()),
        "department": client.department,
        "service_started_on": client.service_started_on,
        "service_ended_on": client.service_ended_on,
        "deregistered_on": client.deregistered_on,
    }
    form = ClientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = _save(request, form, client)
        except AccessDenied as exc:
            return error_403(request, exc)
        if saved is not None:
            messages.success(request, _("Changes saved."))
            return redirect("clients:detail", client_id=client.pk)
    purpose = request.GET.get("purpose", "").strip() if request.method == "GET" else ""
    rows, refused = _sealed_rows(actor, [client], services.SEALED_CLIENT_FIELDS, purpose)
    return _form_page(
        request, form, client, stored=rows[0], purpose=purpose, refused=refused
    )


def _form_page(
    request: HttpRequest,
    form: ClientForm,
    client: Client | None,
    *,
    stored: dict[str, Any] | None = None,
    purpose: str = "",
    refused: str = "",
) -> HttpResponse:
    status = 400 if form.is_bound and form.errors else 200
    shown: dict[str, str | None] = stored["values"] if stored else {}
    return render(
        request,
        "clients/form.html",
        {
            "form": form,
            "client": client,
            "sealed_rows": form.sealed_rows(shown),
            "revealed": bool(stored and stored["revealed"]),
            "retype": form.is_bound and bool(form.errors) and form.sealed_typed(),
            "purpose": purpose,
            "reveal_refused": refused,
            "nav": "clients",
        },
        status=status,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def contacts_view(request: HttpRequest, client_id: int) -> HttpResponse:
    """A client's contacts for those who may edit the client (`client.update`): the list;
    with `contact=<id>` that contact's form, with `contact=new` a new contact's form.
    Sealed fields are masked; `purpose=…` reveals the stored values through the vault
    door (a recorded, policy-checked read)."""
    client = _get(request, client_id)
    actor = actor_of(request)
    denial = _edit_refusal(actor, client)
    if denial is not None:
        return error_403(request, denial)
    raw_id = request.POST.get("contact") or request.GET.get("contact") or ""
    if not raw_id:
        rows, _refused = _sealed_rows(
            actor, list(client.contacts.all()), services.CONTACT_SEALED_FIELDS, ""
        )
        return render(
            request,
            "clients/contacts.html",
            {"client": client, "contacts": rows, "nav": "clients"},
        )
    contact: Contact | None = None
    if raw_id != "new":
        contact_id = positive_id(raw_id)
        contact = client.contacts.filter(pk=contact_id).first() if contact_id else None
        if contact is None:
            raise Http404
    initial = (
        {"name": contact.name, "title": contact.title, "is_primary": contact.is_primary}
        if contact is not None
        else {}
    )
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = _contact_save(request, form, client, contact)
        if saved is not None:
            messages.success(request, _("Contact %(name)s saved.") % {"name": saved.name})
            return redirect(reverse("clients:detail", args=[client.pk]) + "#contacts")
    purpose = request.GET.get("purpose", "").strip() if request.method == "GET" else ""
    shown: dict[str, str | None] = {}
    refused = ""
    if contact is not None:
        rows, refused = _sealed_rows(actor, [contact], services.CONTACT_SEALED_FIELDS, purpose)
        shown = rows[0]["values"]
    return render(
        request,
        "clients/contact_form.html",
        {
            "client": client,
            "contact": contact,
            "form": form,
            "sealed_rows": form.sealed_rows(shown),
            "retype": form.is_bound and bool(form.errors) and form.sealed_typed(),
            "purpose": purpose,
            "reveal_refused": refused,
            "nav": "clients",
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def _contact_save(
    request: HttpRequest, form: ContactForm, client: Client, contact: Contact | None
) -> Contact | None:
    """Add or update; the service's field errors and refusals are shown on the form."""
    actor = actor_of(request)
    data = form.cleaned_data
    try:
        if contact is None:
            return services.contact_add(
                actor=actor,
                client=client,
                data={
                    "name": data["name"],
                    "title": data.get("title") or "",
                    "is_primary": bool(data.get("is_primary")),
                    **form.sealed_changes(),
                },
            )
        return services.contact_update(
            actor=actor,
            contact=contact,
            name=data["name"],
            title=data.get("title") or "",
            is_primary=bool(data.get("is_primary")),
            sealed=form.sealed_changes(),
        )
    except (ValidationFailed, AccessDenied) as exc:
        fields = exc.detail.get("fields") if isinstance(exc.detail, dict) else None
        if fields:
            form.add_service_errors(fields)
        else:
            form.add_error(None, str(exc.message))
        if contact is not None:
            contact.refresh_from_db()
    return None

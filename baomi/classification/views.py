"""Pages: confirm or override a suggested classification; the review queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from baomi.accounts.models import Level
from baomi.classification import services
from baomi.classification.models import ReviewItem
from baomi.classification.reasons import type_label
from baomi.core.http import actor_of
from baomi.detect import TYPES
from baomi.errors import AccessDenied, BaomiError, NotFound
from baomi.vault import selectors as vault_selectors
from baomi.vault.models import Category


def _error(request: HttpRequest, exc: BaomiError) -> HttpResponse:
    return render(
        request,
        "vault/error.html",
        {"error": exc, "message": str(exc.message), "code": exc.code},
        status=exc.http_status,
    )


def _level_label(value: str) -> str:
    return str(Level(value).label) if value in Level.values else ""


def _category_label(value: str) -> str:
    return str(Category(value).label) if value in Category.values else ""


@login_required
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, document_id: int) -> HttpResponse:
    """The suggestion with its reasons and counts; the person confirms or overrides."""
    actor = actor_of(request)
    try:
        document = vault_selectors.document_get(actor=actor, document_id=document_id)
        if request.method == "POST":
            services.document_classify(
                actor=actor,
                document=document,
                level=request.POST.get("level", ""),
                category=request.POST.get("category", ""),
            )
            messages.success(request, _("Classification saved."))
            return redirect("vault:document", document_id=document.pk)
    except BaomiError as exc:
        return _error(request, exc)
    label = services.label_get(document=document)
    # Only the levels the matrix lets this person set here are offered (the door still
    # decides what is submitted). A suggestion they may not set is not preselected: the
    # current label is, or else the highest level they may set.
    settable = services.classify_levels(actor=actor, document=document)
    suggested_level = label.suggested_level if label else ""
    chosen_level = suggested_level or document.level
    if chosen_level not in settable:
        chosen_level = document.level if document.level in settable else (
            settable[-1] if settable else ""
        )
    chosen_category = (label.suggested_category if label else "") or document.category
    summary = [
        (t, type_label(t), n)
        for t in TYPES
        if label and (n := int(label.findings_summary.get(t, 0)))
    ]
    return render(
        request,
        "classification/confirm.html",
        {
            "document": document,
            "client": document.client,
            "label": label,
            "summary": summary,
            "reasons": label.reason_items() if label else [],
            "suggested_level_label": _level_label(label.suggested_level if label else ""),
            "suggested_category_label": _category_label(label.suggested_category if label else ""),
            "levels": [(v, text) for v, text in Level.choices if v in settable],
            "categories": Category.choices,
            "can_classify": bool(settable),
            "suggestion_not_settable": bool(
                settable and suggested_level and suggested_level not in settable
            ),
            "chosen_level": chosen_level,
            "chosen_category": chosen_category,
            "nav": "clients",
        },
    )


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    try:
        items = services.review_queue(actor=actor)
    except AccessDenied as exc:
        return _error(request, exc)
    # Each item offers what this reviewer may choose for it: its own label (to confirm)
    # and the relabels the matrix allows them (the door still decides what is submitted).
    choices = services.review_choices(actor=actor, items=items)
    level_names, category_names = dict(Level.choices), dict(Category.choices)
    rows = [
        {
            "item": item,
            "levels": [(v, level_names.get(v, v)) for v in choices[item.pk].levels],
            "categories": [(c, category_names.get(c, c)) for c in choices[item.pk].categories],
            "relabel": choices[item.pk].relabel,
        }
        for item in items
    ]
    return render(
        request,
        "classification/review.html",
        {
            "items": items,
            "rows": rows,
            "period_days": services.review_period_days(),
            "nav": "review",
        },
    )


@login_required
@require_POST
def review_resolve(request: HttpRequest, item_id: int) -> HttpResponse:
    actor = actor_of(request)
    try:
        item = ReviewItem.objects.filter(pk=item_id).first()
        if item is None:
            raise NotFound(_("No such review."), code="review_not_found")
        done = services.review_resolve(
            actor=actor,
            item=item,
            level=request.POST.get("level", ""),
            category=request.POST.get("category", ""),
        )
    except BaomiError as exc:
        return _error(request, exc)
    messages.success(
        request,
        _("Label confirmed.") if done.status == "confirmed" else _("Document relabelled."),
    )
    return redirect("classification:review")

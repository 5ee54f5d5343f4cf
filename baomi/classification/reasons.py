"""Suggestion reasons in the reader's language (zh-Hans by default, or English).

`baomi.detect` is framework-free and returns each reason as a stable code with
parameters (`baomi.detect.classify.Reason`); they are stored as such and rendered here,
when a page or API response is built, in the active language. Suggestions stored before
reasons had codes are plain text and are shown as they were written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from baomi.accounts.models import Level
from baomi.detect import classify
from baomi.vault.models import Category

# Finding types as people call them; the codes themselves stay in the API.
TYPE_LABELS = {
    "cn_resident_id": gettext_lazy("resident ID numbers"),
    "cn_uscc": gettext_lazy("unified social credit codes"),
    "bank_card": gettext_lazy("bank card numbers"),
    "cn_mobile": gettext_lazy("mobile numbers"),
    "email": gettext_lazy("e-mail addresses"),
    "hk_mo_permit": gettext_lazy("Hong Kong/Macau permits"),
    "passport": gettext_lazy("passport numbers"),
}


def type_label(code: str) -> str:
    label = TYPE_LABELS.get(code)
    return str(label) if label is not None else code


def _level(value: object) -> str:
    return str(Level(value).label) if value in Level.values else str(value)


def _category(value: object) -> str:
    return str(Category(value).label) if value in Category.values else str(value)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def reason_text(code: str, params: Mapping[str, Any]) -> str:
    """The sentence for one reason code in the active language."""
    if code == classify.REASON_FOUND:
        counts = params.get("counts")
        lower = set(params.get("at_least") or ())
        parts = []
        for t, n in counts.items() if isinstance(counts, Mapping) else ():
            values = {"count": _int(n), "type": type_label(str(t))}
            if t in lower:
                parts.append(_("%(type)s: at least %(count)d") % values)
            else:
                parts.append(_("%(type)s: %(count)d") % values)
        return _("Found (distinct values): %(items)s") % {"items": _("; ").join(parts)}
    if code == classify.REASON_BULK_PERSONAL:
        return _(
            "Many personal identifiers, or personal identifiers together with bank card "
            "numbers (%(ids)d IDs, %(cards)d cards): a bulk list that enables identity "
            "fraud → %(level)s"
        ) % {
            "ids": _int(params.get("ids")),
            "cards": _int(params.get("cards")),
            "level": _level("secret"),
        }
    if code == classify.REASON_PERSONAL:
        return _("Personal ID document or bank card numbers (personal information) → %(level)s") % {
            "level": _level("confidential")
        }
    if code == classify.REASON_KEYWORDS:
        words = params.get("keywords")
        listed = "、".join(str(w) for w in words) if isinstance(words, list) else ""
        return ngettext(
            "Keyword %(keywords)s → %(category)s",
            "Keywords %(keywords)s → %(category)s",
            len(words) if isinstance(words, list) else 1,
        ) % {"keywords": listed, "category": _category(params.get("category"))}
    if code == classify.REASON_CONTACT_ONLY:
        return _("Only contact details → %(level)s") % {"level": _level("internal")}
    if code == classify.REASON_USCC_ONLY:
        return _("Only company credit codes, which are public registry data → %(level)s") % {
            "level": _level("internal")
        }
    if code == classify.REASON_NOTHING_FOUND:
        return _("Nothing sensitive found; client documents default to %(level)s") % {
            "level": _level("internal")
        }
    return code


def stored(reasons: Iterable[object]) -> list[dict[str, Any]]:
    """What is kept of a suggestion's reasons: code and parameters, never a value."""
    return [r.as_dict() for r in reasons if isinstance(r, classify.Reason)]


def localized(codes: Iterable[object], legacy: Iterable[object] = ()) -> list[dict[str, Any]]:
    """Reasons for display and the API: [{"reason_code", "reason", "params"}].

    `codes` are stored reason dicts; when there are none (a suggestion stored before
    reasons had codes) the stored texts are returned with the code "text".
    """
    out: list[dict[str, Any]] = []
    for item in codes:
        if not isinstance(item, Mapping) or not isinstance(item.get("code"), str):
            continue
        params = item.get("params")
        params = dict(params) if isinstance(params, Mapping) else {}
        out.append(
            {
                "reason_code": item["code"],
                "reason": reason_text(item["code"], params),
                "params": params,
            }
        )
    if not out:
        out = [{"reason_code": "text", "reason": str(t), "params": {}} for t in legacy]
    return out

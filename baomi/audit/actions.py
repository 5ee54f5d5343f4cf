"""What a ledger action code means, in the page's language.

The ledger stores stable codes (`document.download`); pages show the label beside the
code, so a firm's staff and a client's portal users read 下载文件 rather than a code, and
an auditor still sees exactly what is stored. A code without a label (a new one, or one
written by an older release) is shown as it is.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ACTION_LABELS: dict[str, Promise] = {
    # Sign-in and sessions
    "auth.login": _("Sign-in"),
    "auth.logout": _("Sign-out"),
    "auth.session": _("Session ended"),
    "auth.token": _("API token use"),
    "auth.password_ok": _("Password checked"),
    "token.create": _("API token created"),
    "token.list": _("API tokens listed"),
    "token.revoke": _("API token revoked"),
    # Clients and their protected records
    "client.list": _("Client list"),
    "client.view": _("Client viewed"),
    "client.read": _("Client viewed"),
    "client.create": _("Client created"),
    "client.update": _("Client changed"),
    "client.sensitive.read": _("Protected fields opened"),
    "record.read": _("Protected record opened"),
    "record.update": _("Protected record changed"),
    "record.search": _("Protected fields searched"),
    "record.migrate": _("Protected fields sealed (migration)"),
    # Documents
    "document.list": _("Document list"),
    "document.metadata": _("Document details viewed"),
    "document.read": _("Document opened"),
    "document.download": _("Document downloaded"),
    "document.upload": _("Document uploaded"),
    "document.version": _("New document version"),
    "document.classify": _("Document classified"),
    "document.scan": _("Document scanned for sensitive data"),
    "document.export": _("Documents exported"),
    "export.create": _("Export"),
    "watermark.trace": _("Watermark traced"),
    "sealed_file.read": _("Signed scan opened"),
    "sealed_file.write": _("Signed scan stored"),
    # Staff, assignments, permissions
    "staff.view": _("Staff viewed"),
    "staff.create": _("Staff member created"),
    "staff.update": _("Staff member changed"),
    "staff.manage": _("Staff record changed"),
    "staff.sensitive.read": _("Staff protected fields opened"),
    "staff.deactivate": _("Account deactivated"),
    "staff.reactivate": _("Account reactivated"),
    "staff.leave": _("Marked as left (离职)"),
    "staff.transfer": _("Transferred (调岗)"),
    "staff.handover": _("Handover (工作交接)"),
    "department.create": _("Department created"),
    "permission.change": _("Permission changed"),
    "assignment.add": _("Assigned to client"),
    "assignment.remove": _("Unassigned from client"),
    "assignment.manage": _("Assignments changed"),
    # Agreements, training, partners, purposes
    "agreement.record": _("Confidentiality agreement registered"),
    "agreement.docx": _("Agreement template downloaded"),
    "training.record": _("Training registered"),
    "partner.create": _("Partner organisation registered"),
    "partner.update": _("Partner organisation changed"),
    "partner.deactivate": _("Partner organisation deactivated"),
    "partner.reactivate": _("Partner organisation reactivated"),
    "purpose.create": _("Purpose added"),
    "purpose.rename": _("Purpose renamed"),
    "purpose.reorder": _("Purposes reordered"),
    "purpose.retire": _("Purpose retired"),
    "purpose.restore": _("Purpose restored"),
    # Client authorizations and query requests
    "authorization.grant": _("Client authorization granted"),
    "authorization.revoke": _("Client authorization revoked"),
    "authorization.form": _("Authorization form issued"),
    "authorization.form_expire": _("Expired authorization forms removed"),
    "query_request.create": _("Query request filed"),
    "query_request.approve": _("Query request approved"),
    "query_request.reject": _("Query request rejected"),
    "query_request.cancel": _("Query request cancelled"),
    "query_request.revoke": _("Query request revoked"),
    "query_request.expire": _("Query request expired"),
    "break_glass.read": _("Emergency read (break-glass)"),
    "break_glass.form": _("Emergency read requested"),
    "break_glass.review": _("Emergency read reviewed"),
    # Access reviews
    "access_review.create": _("Access review started"),
    "access_review.confirm": _("Access confirmed in review"),
    "access_review.revoke": _("Access revoked in review"),
    "access_review.close": _("Review item closed: the access had already ended"),
    "access_review.flag": _("Unreviewed access flagged"),
    "access_review.export": _("Access review exported"),
    "access_review.manage": _("Access review managed"),
    # Classification and imports
    "classification.review": _("Classification reviewed"),
    "classification.review.list": _("Classification review queue viewed"),
    "classification.review.fill": _("Classification review queue filled"),
    "classification.review.queue": _("Queued for classification review"),
    "import.queue": _("Import queued"),
    "import.start": _("Import started"),
    "import.finish": _("Import finished"),
    "import.interrupted": _("Import interrupted"),
    "import.row.error": _("Import row refused"),
    "import.file.error": _("Import file refused"),
    "import.on_behalf": _("Imported on behalf of"),
    # Keys and the ledger itself
    "key.rotate": _("Client key rotated"),
    "key.rewrap": _("Client key re-wrapped"),
    "key.destroy": _("Client key destroyed"),
    "ledger.view": _("Audit log viewed"),
    "ledger.view_client": _("Access history viewed"),
    "ledger.verify": _("Audit log verified"),
    "ledger.checkpoint": _("Checkpoint signed"),
    "ledger.prove": _("Inclusion proof made"),
    "ledger.consistency": _("Consistency proof made"),
    "ledger.reindex": _("Audit log index rebuilt"),
    # Administration
    "admin.manage": _("Administration command"),
    "demo.load": _("Demo data loaded"),
}


def action_label(code: str) -> str:
    """The label of a ledger action code in the active language, or "" if it has none."""
    label = ACTION_LABELS.get(code)
    return "" if label is None else str(label)

"""Localized texts for the technical codes of reading tables and files.

`TableError` and the detector's `ExtractionError` carry a stable code and an English
detail. A job keeps both (it runs in the background, maybe in another language than the
person who reads it later); pages show the text for the code in the reader's language.
A code without a text here (one whose message was localized when it was made, such as a
row's field errors) is shown with its stored message.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

FILE_ERRORS: dict[str, Promise] = {
    "binary_file": _("This is not a text or spreadsheet file."),
    "unsupported_format": _("This file format is not supported; save it as XLSX or CSV."),
    "encrypted_document": _(
        "The file is password-protected or a legacy format; save an unprotected .xlsx copy."
    ),
    "encrypted_entry": _("An entry of the archive is password-protected."),
    "malformed_xlsx": _("The Excel file is damaged or not a valid .xlsx file."),
    "malformed_csv": _("The CSV file could not be read (a line is malformed or too long)."),
    "malformed_docx": _("The Word file is damaged or not a valid .docx file."),
    "malformed_pdf": _("The PDF file is damaged."),
    "malformed_image": _("The image is damaged or in a format that cannot be read."),
    "malformed_zip": _("The ZIP archive is damaged."),
    "zip_bomb": _("The archive unpacks to far more than it holds; refused as unsafe."),
    "unsafe_archive": _("The archive holds entries with unsafe names or paths; refused."),
    "unsafe_path": _("The archive holds entries with unsafe names or paths; refused."),
    "empty_table": _("The table is empty."),
    "ocr_unavailable": _("Text recognition (OCR) is not available on this server."),
    "ocr_failed": _("Text recognition (OCR) failed on this image."),
    "unreadable": _("The file could not be read."),
}


def error_text(code: str, detail: str) -> str:
    """What to show for an error `code` with its stored `detail`."""
    text = FILE_ERRORS.get(code)
    return str(text) if text is not None else detail


def failure_text(stored: str) -> str:
    """What to show for a job's `error` ("code: detail"): the text for its code, with the
    code (stable, for support), or what was stored for a code without a text."""
    code, _sep, _detail = stored.partition(": ")
    text = FILE_ERRORS.get(code)
    return f"{text} ({code})" if text is not None else stored

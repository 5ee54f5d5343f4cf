"""Command-line front ends for key operations and leak tracing (called from baomi.cli)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from baomi.errors import BaomiError

OPERATOR = "cli"


def _actor() -> Any:
    from baomi.vault.door import SystemActor

    return SystemActor(OPERATOR)


def _client(client_id: int) -> Any:
    from baomi.clients.models import Client

    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        print(f"error: no client with id {client_id}", file=sys.stderr)
    return client


def run(args: argparse.Namespace) -> int:
    from baomi.vault import services

    try:
        if args.keys_cmd == "status":
            return _status(services.keys_status(), as_json=args.json)
        if args.keys_cmd == "rotate":

            def progress(n: int, total: int, scope: str) -> None:
                print(f"  re-wrapped {n}/{total} ({scope})", flush=True)

            result = services.master_key_rotate(
                actor=_actor(), progress=progress, new_key_label=args.new_key_label
            )
            if not result.new_key_id:
                print(
                    f"Created HSM key {args.new_key_label!r}. "
                    "Now set BAOMI_PKCS11_KEY_LABEL to it, "
                    "add the old label to BAOMI_PKCS11_PREVIOUS_KEY_LABELS, restart Baomi and run "
                    "'baomi keys rotate' again to re-wrap."
                )
                return 0
            what = "Resumed re-wrapping" if result.resumed else "Rotated the master key"
            print(
                f"{what}: now {result.new_key_id} (previous {result.previous_key_id}); "
                f"re-wrapped {result.rewrapped} of {result.total} client keys."
            )
            print(
                "The previous key stays configured for reading until you remove it; "
                "'baomi keys status' shows when no key needs it any more."
            )
            return 0
        if args.keys_cmd == "rotate-client":
            client = _client(args.client_id)
            if client is None:
                return 1
            counts = services.client_key_rotate(actor=_actor(), client=client)
            print(
                f"Client {client.pk} now has key generation {counts['generation']}: "
                f"{counts['data_keys']} data keys re-wrapped, {counts['fields']} fields re-sealed."
            )
            return 0
        if args.keys_cmd == "destroy-client":
            client = _client(args.client_id)
            if client is None:
                return 1
            if not args.yes:
                print(
                    f"Refusing: destroying the key of client {client.pk} ({client.name}) makes "
                    "all its documents and protected fields unreadable for good. Add --yes.",
                    file=sys.stderr,
                )
                return 2
            services.client_key_destroy(actor=_actor(), client=client)
            print(f"Destroyed the key of client {client.pk}; its data can no longer be read.")
            return 0
    except BaomiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 2


def _fmt_dt(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _status(status: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(status, default=_fmt_dt, ensure_ascii=False, indent=2))
        return 0
    print(
        f"master key {status['master_key_id']} ({status['provider']}, {status['suite']}); "
        f"client keys still wrapped by an older master key: {status['backlog']}"
    )
    print(f"{'scope':<16} {'key id':<17} {'gen':>3} {'age d':>6} {'uses':>8}  state")
    for row in status["keys"]:
        state = (
            "destroyed " + _fmt_dt(row["destroyed_at"])
            if row["destroyed_at"]
            else ("needs re-wrap" if row["needs_rewrap"] else "ok")
        )
        print(
            f"{row['scope']:<16} {row['key_id'] or '-':<17} {row['generation']:>3} "
            f"{row['age_days']:>6} {row['usage_count']:>8}  {state}"
        )
    return 0


def trace(args: argparse.Namespace) -> int:
    from django.utils import timezone

    from baomi.vault import watermark
    from baomi.vault.selectors import watermark_get

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    wm_id = watermark.extract_id(path)
    if wm_id is None:
        print(f"{path}: no Baomi watermark found.", file=sys.stderr)
        return 1
    wm = watermark_get(watermark_id=wm_id)
    if wm is None:
        print(f"{path}: watermark {wm_id} is not in this Baomi's records.", file=sys.stderr)
        return 1
    version = wm.version
    document = version.document
    # Tracing names who downloaded which client's document: recorded before it is shown.
    from baomi.audit.events import record

    record(_actor(), "watermark.trace", object_type="document", object_id=document.pk,
           client_id=document.client_id, reason=f"watermark={wm.id}")
    info = {
        "watermark": wm.id,
        "downloaded_by": wm.user.username,
        "downloaded_by_name": wm.user.display_name,
        "downloaded_at": timezone.localtime(wm.created_at).isoformat(timespec="seconds"),
        "purpose": wm.purpose,
        "document_id": document.pk,
        "document": document.title,
        "version": version.number,
        "client_id": document.client_id,
        "client": document.client.name,
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"Watermark {wm.id}")
    print(f"  downloaded by {wm.user.display_name or wm.user.username} ({wm.user.username})")
    print(f"  at            {info['downloaded_at']}")
    print(f"  purpose       {wm.purpose or '-'}")
    print(f"  document      #{document.pk} {document.title} (version {version.number})")
    print(f"  client        #{document.client_id} {document.client.name}")
    return 0

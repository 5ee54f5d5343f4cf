"""`baomi import clients FILE [--mapping JSON] --as USER` and
`baomi import documents --client ID PATH --as USER` (PATH: a folder or a .zip).

Runs as the named person (the door decides and records every write as theirs), prints
a progress line, and exits 0 when every row/file was imported, 1 when some were
skipped (listed), 2 for usage errors or a file that cannot be read at all. Running the
same command again resumes an unfinished job and changes nothing already imported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for annotations: `baomi --help` builds this parser before Django is set up.
    from baomi.imports.models import ImportJob


def _progress(job: ImportJob) -> None:
    total = f"/{job.total}" if job.total else ""
    sys.stderr.write(
        f"\r{job.processed}{total} processed: {job.created} created, {job.updated} updated, "
        f"{job.unchanged} unchanged, {job.failed} failed"
    )
    sys.stderr.flush()


def _report(job: ImportJob) -> int:
    sys.stderr.write("\n")
    print(
        json.dumps(
            {
                "job": job.pk,
                "status": job.status,
                "processed": job.processed,
                "created": job.created,
                "updated": job.updated,
                "unchanged": job.unchanged,
                "failed": job.failed,
                "error": job.error or None,
                "errors": job.errors,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    if job.status == "failed":
        return 2
    return 1 if job.failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import", help="Bulk import clients/contacts or documents.")
    p.add_argument("--data-dir", help="data directory")
    kinds = p.add_subparsers(dest="kind", required=True)
    c = kinds.add_parser("clients", help="Clients and contacts from XLSX/CSV.")
    c.add_argument("file")
    c.add_argument("--mapping", help='JSON {"name": 0, "uscc": 1, ...} (column indexes)')
    c.add_argument("--as", dest="username", required=True, help="the person importing")
    d = kinds.add_parser("documents", help="Documents from a folder or a ZIP.")
    d.add_argument("path")
    d.add_argument("--client", type=int, required=True, help="client id")
    d.add_argument("--as", dest="username", required=True, help="the person importing")


def run(args: argparse.Namespace) -> int:
    from baomi.accounts.models import User
    from baomi.clients.selectors import client_get
    from baomi.errors import BaomiError
    from baomi.imports import services

    user = User.objects.filter(username=args.username.strip().casefold()).first()
    if user is None or not user.is_active:
        print(f"error: no active user {args.username!r}", file=sys.stderr)
        return 2
    from baomi.audit.events import record
    from baomi.cli import _cli_actor

    try:
        # The import's own entries name `user`; this one names the operator who ran it
        # on their behalf, so both are accountable.
        record(_cli_actor(), "import.on_behalf", object_type="user", object_id=user.pk,
               reason=f"kind={args.kind}")
        if args.kind == "clients":
            mapping = None
            if args.mapping:
                try:
                    mapping = json.loads(args.mapping)
                except json.JSONDecodeError as exc:
                    print(f"error: --mapping is not JSON: {exc}", file=sys.stderr)
                    return 2
                if not isinstance(mapping, dict):
                    print("error: --mapping must be a JSON object", file=sys.stderr)
                    return 2
            path = Path(args.file)
            if not path.is_file():
                print(f"error: no such file: {path}", file=sys.stderr)
                return 2
            with path.open("rb") as fh:
                job = services.clients_import(
                    actor=user,
                    stream=fh,
                    filename=path.name,
                    mapping=mapping,
                    progress=_progress,
                )
            return _report(job)
        client = client_get(actor=user, client_id=args.client)
        path = Path(args.path)
        if path.is_dir():
            job = services.documents_import(
                actor=user,
                client=client,
                sources=services.iter_folder(path),
                source_name=str(path),
                sha256=services.folder_key(path),
                progress=_progress,
                total=services.folder_file_count(path),
            )
        elif path.is_file():
            with path.open("rb") as fh:
                job = services.documents_import(
                    actor=user,
                    client=client,
                    sources=services.iter_zip(fh),
                    source_name=path.name,
                    sha256=services.sha256_of(fh),
                    progress=_progress,
                    total=services.zip_entry_count(fh),
                )
        else:
            print(f"error: no such file or folder: {path}", file=sys.stderr)
            return 2
        return _report(job)
    except BaomiError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        # Refusals written inside a row's rolled-back transaction are written again.
        from baomi.vault.door import record_rolled_back_refusals

        try:
            record_rolled_back_refusals()
        except BaomiError as exc:
            print(f"error: refusals not recorded: {exc.message}", file=sys.stderr)

"""The `baomi` command: thin wrappers over services and Django management commands."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from baomi import __version__


def _setup(data_dir: str | None) -> Path:
    """Point Baomi at a data directory and start Django."""
    # Everything Baomi writes (database, WAL, blobs, keys) is for its own user only; the
    # server and scheduler processes inherit this.
    os.umask(0o077)
    if data_dir:
        os.environ["BAOMI_DATA_DIR"] = str(Path(data_dir).expanduser().resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baomi.settings")
    from baomi import config

    base = config.ensure_data_dir()
    import django

    django.setup()
    return base


def _migrate(verbose: bool = False) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1 if verbose else 0)


def _ensure_admin(stdout: Any = sys.stdout) -> None:
    """Create the first administrator once; print a generated password only then."""
    from baomi.accounts.models import Level, Role, User
    from baomi.accounts.services import user_create

    if User.objects.filter(role=Role.ADMIN).exists():
        return
    password = os.environ.get("BAOMI_ADMIN_PASSWORD")
    generated = not password
    if not password:
        password = secrets.token_urlsafe(12)
    user_create(
        username=os.environ.get("BAOMI_ADMIN_USERNAME", "admin"),
        password=password,
        role=Role.ADMIN,
        display_name="Administrator",
        clearance=Level.CONFIDENTIAL,
        validate=not generated and len(password) >= 10,
        actor="baomi-up",
    )
    print("Created the first administrator 'admin'.", file=stdout)
    if generated:
        print(f"  Password (shown once, change it after signing in): {password}", file=stdout)
    print("  Two-factor authentication is set up at the first sign-in.", file=stdout)


def _cli_actor() -> str:
    """How operator commands appear in the ledger: `cli:<login name>`."""
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return f"cli:{who}"


def cmd_up(args: argparse.Namespace) -> int:
    base = _setup(args.data_dir)
    from django.conf import settings
    from django.core.management import call_command

    print(f"Baomi {__version__} — data directory {base}")
    _migrate()
    _ensure_admin()
    call_command("collectstatic", interactive=False, verbosity=0)
    if bool(args.cert) != bool(args.key):
        print("error: --cert and --key must be given together", file=sys.stderr)
        return 2
    env = dict(os.environ, BAOMI_DATA_DIR=str(base), DJANGO_SETTINGS_MODULE="baomi.settings")
    scheme = "http"
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "baomi.wsgi:application",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--no-control-socket",
        "--timeout",
        "120",
        "--graceful-timeout",
        "20",
        "--error-logfile",
        "-",
        "--forwarded-allow-ips",
        os.environ.get("BAOMI_FORWARDED_ALLOW_IPS", "127.0.0.1"),
    ]
    if args.access_log:
        # Without the option gunicorn builds no access line at all; pointing it at
        # /dev/null still formatted one per request (about 5 % of a sealed read's CPU).
        gunicorn += ["--access-logfile", "-"]
    if args.cert:
        gunicorn += [
            "--certfile",
            str(Path(args.cert).resolve()),
            "--keyfile",
            str(Path(args.key).resolve()),
        ]
        env["BAOMI_HTTPS"] = "1"
        scheme = "https"
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children.append(subprocess.Popen(gunicorn, env=env))  # noqa: S603  (fixed argv)
    if not args.no_scheduler:
        children.append(
            subprocess.Popen(  # noqa: S603  (fixed argv)
                [sys.executable, "-m", "baomi.cli", "scheduler", "--data-dir", str(base)], env=env
            )
        )
    print(f"Serving on {scheme}://{args.host}:{args.port}/  (Ctrl-C stops)", flush=True)
    if args.host not in {"127.0.0.1", "localhost", "::1"} and not settings.HTTPS and not args.cert:
        print(
            "warning: listening beyond loopback without HTTPS; see README 'HTTPS'.", file=sys.stderr
        )
    code = 0
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(
                        f"error: a server process exited with {child.returncode}", file=sys.stderr
                    )
                    stopping = True
                    code = 1
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()
    print("Baomi stopped.")
    return code


def cmd_scheduler(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    from baomi.core.scheduler import run_forever

    return run_forever(once=args.once)


def cmd_demo(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    _migrate()
    from baomi.core.demo import demo_load

    demo_load(stdout=sys.stdout)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    _migrate(verbose=True)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    from baomi.accounts import services
    from baomi.accounts.models import User
    from baomi.audit.events import record
    from baomi.errors import BaomiError

    try:
        if args.token_cmd == "create":  # noqa: S105
            from baomi.accounts.security import normalize_username

            user = User.objects.filter(username=normalize_username(args.username)).first()
            if user is None:
                print(f"error: no user named {args.username!r}", file=sys.stderr)
                return 1
            issued = services.token_create(
                user=user, name=args.name, expires_days=args.expires, actor=_cli_actor()
            )
            expiry = issued.token.expires_at.isoformat() if issued.token.expires_at else "never"
            print(f"Token for {user.username} (expires {expiry}); it is shown only once:")
            print(issued.plaintext)
            return 0
        if args.token_cmd == "revoke":  # noqa: S105
            token = services.token_revoke(prefix=args.token, actor=_cli_actor())
            print(f"Revoked token {token.prefix} of {token.user.username}.")
            return 0
        if args.token_cmd == "list":  # noqa: S105
            from baomi.accounts.models import ApiToken

            qs = ApiToken.objects.select_related("user")
            if args.username:
                qs = qs.filter(user__username=args.username.strip().casefold())
            record(_cli_actor(), "token.list", object_type="api_token",
                   reason=f"user={args.username.strip().casefold()}" if args.username else "")
            for t in qs:
                state = "revoked" if t.revoked_at else ("active" if t.is_usable() else "expired")
                print(f"{t.prefix}\t{t.user.username}\t{state}\t{t.name}")
            return 0
    except BaomiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 2


# `baomi ledger consistency FILE`: a signed checkpoint is a few hundred bytes; anything
# much larger is not one, and is not read whole (the file may be /dev/zero).
CHECKPOINT_FILE_MAX = 64 * 1024
SHOW_LAST_MAX = 1_000_000


def _show_count(value: str) -> int:
    """`--last N`: a whole number from 1 to SHOW_LAST_MAX."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= SHOW_LAST_MAX:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {SHOW_LAST_MAX:,}")
    return n


def _filter_text(value: str) -> str:
    """A filter value the database can take: text, not bytes that are not UTF-8 (which
    Python hands over as lone surrogates, e.g. from `--client $'\\xff'`)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid UTF-8 text") from None
    if "\x00" in value:
        raise argparse.ArgumentTypeError("must not contain NUL characters")
    return value


def _database_ready() -> bool:
    """Whether every migration is applied (the ledger's tables exist and are current)."""
    from baomi.core.checks import pending_migrations

    return not pending_migrations()


def _ledger_error(code: str, reason: str) -> None:
    """Print a ledger failure: its stable code, the localized message, the core's text."""
    from baomi.audit.messages import ledger_message

    label = "FORK" if code in {"fork", "rollback"} else "error"
    print(f"{label} [{code}]: {ledger_message(code)}", file=sys.stderr)
    print(f"  {reason}", file=sys.stderr)


def _show_line(row: dict[str, Any]) -> str:
    if row.get("unreadable"):
        from django.utils.translation import gettext as _

        when = f"{row['time']:%Y-%m-%d %H:%M:%S}" if row["time"] is not None else "—"
        return f"{row['seq']:>8} {when:<19} {_('Unreadable entry (altered? run verification)')}"
    return (
        f"{row['seq']:>8} {row['time']:%Y-%m-%d %H:%M:%S} {row['decision']:<8} "
        f"{row['actor']:<16} {row['action']:<22} {row['object_type']}:"
        f"{row['object_id']} client={row['client_id'] or '-'} "
        f"{row['purpose']} {row['reason']}".rstrip()
    )


def _default_jobs() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 64")
    return value


class _VerifyProgress:
    """`baomi ledger verify`'s progress on stderr: on a terminal one line rewritten in
    place (and cleared at the end), elsewhere (`--progress`) one line per step. Only
    stdout carries the result, so `--json` stays one clean JSON object."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, checked: int, total: int) -> None:
        percent = checked * 100 // total if total else 100
        line = f"verifying: {checked:,} of {total:,} entries ({percent}%)"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def cmd_ledger(args: argparse.Namespace) -> int:
    """`baomi ledger …`. Reads are not recorded (the operator running it holds the
    database itself, as the API's and web pages' readers do not); `reindex`, a write, is."""
    _setup(args.data_dir)
    import json

    from django.utils.translation import gettext as _

    from baomi.audit import selectors
    from baomi.ledger.errors import LedgerError

    if not _database_ready():
        print("error: " + _("The database is not up to date: run `baomi migrate` first."),
              file=sys.stderr)
        return 1
    sub = args.ledger_cmd
    if sub == "verify":
        show = _VerifyProgress() if args.progress or sys.stderr.isatty() else None
        try:
            result = selectors.ledger_verify(jobs=args.jobs, progress=show)
        finally:
            if show is not None:
                show.end()
        if args.json:
            print(json.dumps(result.__dict__, ensure_ascii=False))
        elif result.ok:
            print(
                f"ledger intact: {result.size} entries, {result.checkpoints} checkpoint(s) verified"
            )
        else:
            from baomi.audit.messages import ledger_message

            where = (
                f" (first bad entry: seq {result.first_bad_seq})"
                if (result.first_bad_seq is not None)
                else ""
            )
            print(f"LEDGER VERIFICATION FAILED [{result.code}]{where}: "
                  f"{ledger_message(result.code)}")
            print(f"  {result.message}")
        return 0 if result.ok else 1
    if sub == "reindex":
        from baomi.audit.events import record
        from baomi.audit.services import lookup_rebuild
        from baomi.errors import BaomiError

        try:
            record(_cli_actor(), "ledger.reindex", object_type="ledger")
            count = lookup_rebuild()
        except BaomiError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        print(f"filter index rebuilt: {count} entries")
        return 0
    if sub == "show":
        qs = selectors.entry_list(client_id=args.client, actor=args.actor, action=args.action)
        rows = [selectors.entry_view(e) for e in qs[: args.last]][::-1]
        for row in rows:
            if args.json:
                when = row["time"].isoformat() if row["time"] is not None else None
                print(json.dumps({**row, "time": when}, ensure_ascii=False))
            else:
                print(_show_line(row))
        return 0
    try:
        if sub == "prove":
            try:
                proof = selectors.inclusion(args.seq)
            except LedgerError as exc:
                _ledger_error("proof_unavailable", str(exc))
                return 1
            except UnicodeDecodeError:
                _ledger_error("entry_malformed", f"entry {args.seq} is not UTF-8")
                return 1
            print(json.dumps(proof, ensure_ascii=False, indent=2))
            return 0
        if sub == "checkpoint":
            cp = selectors.checkpoint_create()
            if args.export:
                Path(args.export).write_text(cp.text, encoding="utf-8")
                print(f"checkpoint at size {cp.size} exported to {args.export}")
            else:
                print(cp.text, end="")
            return 0
        if sub == "consistency":
            with Path(args.file).open("rb") as fh:
                data = fh.read(CHECKPOINT_FILE_MAX + 1)
            if len(data) > CHECKPOINT_FILE_MAX:
                print("error: " + _("This file is too large to be a checkpoint "
                                    "(%(limit)s bytes at most).")
                      % {"limit": f"{CHECKPOINT_FILE_MAX:,}"}, file=sys.stderr)
                return 1
            # The parser reports bytes that are not UTF-8 as a malformed checkpoint.
            text = selectors.checkpoint_parse(data).text
            extension = selectors.consistency_with(text)
            print(
                f"consistent: the log at size {extension['new_size']} extends the exported "
                f"checkpoint at size {extension['old_size']}"
            )
            return 0
    except LedgerError as exc:
        _ledger_error(exc.code or "ledger_error", str(exc))
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


def cmd_check(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    from baomi.core.checks import run_all

    problems = run_all()
    if not problems:
        print("baomi check: no problems found.")
        return 0
    for level, ident, message in problems:
        print(f"{level}: [{ident}] {message}")
    print(f"baomi check: {len(problems)} problem(s).")
    return 1


def cmd_manage(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    from django.core.management import execute_from_command_line

    from baomi.audit.events import record
    from baomi.errors import BaomiError

    # Django's commands reach past every service (`shell`, `changepassword`, …): each use
    # is an administrator action, recorded (the command's name only: its arguments may
    # hold secrets) before it runs, and refused if the entry cannot be written.
    command = args.rest[0] if args.rest and not args.rest[0].startswith("-") else ""
    if command and command not in ("help", "--help", "-h"):
        try:
            record(_cli_actor(), "admin.manage", object_type="command",
                   object_id=command[:64])
        except BaomiError as exc:
            print(f"error: {exc.message} (run `baomi migrate` first on a new data "
                  "directory)", file=sys.stderr)
            return 1
    execute_from_command_line(["baomi manage", *args.rest])
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from baomi.detect import main as scan_main

    return int(scan_main(args.rest))


def cmd_import(args: argparse.Namespace) -> int:
    """`baomi import clients|documents …` (baomi/imports/cli.py)."""
    _setup(args.data_dir)
    from baomi.imports.cli import run

    return run(args)


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    name = {"ledger": "ledger", "vault": "vault", "policy": "policy", "scan": "scan"}.get(args.name)
    if name is None:
        print(f"error: unknown benchmark {args.name!r}", file=sys.stderr)
        return 2
    rest = list(args.rest)
    if name == "vault" and "--http" in rest:
        # Documents over HTTP through `baomi up` (baomi/bench/vault_http.py).
        name = "vault_http"
        rest.remove("--http")
    module = importlib.import_module(f"baomi.bench.{name}")
    main: Callable[[list[str]], int] = module.main
    if name == "policy":
        _setup(args.data_dir)
    return int(main(rest))


def cmd_keys(args: argparse.Namespace) -> int:
    """`baomi keys rotate|rotate-client|status|destroy-client`: thin wrappers over the vault
    services (docs/vault.md "Key operations")."""
    _setup(args.data_dir)
    from baomi.vault import keys_cli

    return keys_cli.run(args)


def cmd_trace(args: argparse.Namespace) -> int:
    """`baomi trace FILE`: who downloaded this watermarked copy, when and why."""
    _setup(args.data_dir)
    from baomi.vault import keys_cli

    return keys_cli.trace(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baomi",
        description="Baomi (保密): encrypted, audited client records for accounting firms.",
    )
    parser.add_argument("--version", action="version", version=f"baomi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--data-dir", help="data directory (default $BAOMI_DATA_DIR or ./baomi-data)"
        )
        p.set_defaults(func=func)
        return p

    up = add("up", cmd_up, "Initialise on first run, then serve Baomi and run the scheduler.")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    up.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("BAOMI_WORKERS", "2")),
        help="server worker processes (default 2)",
    )
    up.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("BAOMI_THREADS", "4")),
        help="threads per worker (default 4)",
    )
    up.add_argument("--cert", help="TLS certificate (PEM) to serve HTTPS directly")
    up.add_argument("--key", help="TLS private key (PEM) for --cert")
    up.add_argument("--no-scheduler", action="store_true", help="do not run background jobs")
    up.add_argument(
        "--access-log", action="store_true", help="print an access log line per request"
    )

    add("demo", cmd_demo, "Load (idempotently) a demo firm with staff, clients and a portal user.")
    add("migrate", cmd_migrate, "Apply database migrations.")
    add("check", cmd_check, "Check the deployment (Django deploy checks plus Baomi's own).")

    sched = add("scheduler", cmd_scheduler, "Run background jobs (started by 'baomi up').")
    sched.add_argument("--once", action="store_true", help="run every job once and exit")

    token = add("token", cmd_token, "Create, list or revoke API tokens.")
    token_sub = token.add_subparsers(dest="token_cmd", required=True)
    create = token_sub.add_parser("create", help="issue a token; it is printed as the last line")
    create.add_argument("username")
    create.add_argument(
        "--expires",
        type=int,
        default=None,
        metavar="DAYS",
        help="days until expiry (default $BAOMI_TOKEN_DEFAULT_DAYS or 90; 0 = never)",
    )
    create.add_argument("--name", default="", help="a label for the token")
    revoke = token_sub.add_parser("revoke", help="revoke a token by its prefix or full value")
    revoke.add_argument("token")
    lst = token_sub.add_parser("list", help="list tokens (prefix, user, state)")
    lst.add_argument("username", nargs="?")

    ledger = add("ledger", cmd_ledger, "Verify, show and prove the audit ledger.")
    ledger_sub = ledger.add_subparsers(dest="ledger_cmd", required=True)
    verify = ledger_sub.add_parser(
        "verify",
        help="recompute everything; exit 1 naming the "
        "first bad entry if the ledger was tampered with",
    )
    verify.add_argument("--json", action="store_true")
    verify.add_argument(
        "--progress",
        action="store_true",
        help="report progress on stderr even when it is not a terminal (on one, always)",
    )
    verify.add_argument(
        "--jobs",
        type=_jobs,
        default=_default_jobs(),
        metavar="N",
        help="verify a large ledger in N parts in parallel processes, 1 to 64 "
        f"(default: the CPUs, at most 8: {_default_jobs()})",
    )
    show = ledger_sub.add_parser("show", help="list entries (newest last)")
    show.add_argument("--client", type=_filter_text, help="client id")
    show.add_argument("--actor", type=_filter_text, help="username")
    show.add_argument(
        "--action", type=_filter_text, help="action prefix, e.g. client. or auth.login"
    )
    show.add_argument(
        "--last",
        type=_show_count,
        default=50,
        metavar="N",
        help=f"how many, 1 to {SHOW_LAST_MAX:,} (default 50)",
    )
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    prove = ledger_sub.add_parser(
        "prove", help="inclusion proof of entry SEQ as JSON, against the latest checkpoint"
    )
    prove.add_argument("seq", type=int)
    ckpt = ledger_sub.add_parser("checkpoint", help="sign a checkpoint of the current head")
    ckpt.add_argument("--export", metavar="FILE", help="write the signed checkpoint to FILE")
    cons = ledger_sub.add_parser(
        "consistency", help="prove the log extends an exported checkpoint, or report a fork"
    )
    cons.add_argument("file")
    ledger_sub.add_parser(
        "reindex", help="rebuild the filter index (client, actor) from the entries"
    )

    manage = add("manage", cmd_manage, "Run a Django management command.")
    manage.add_argument("rest", nargs=argparse.REMAINDER)

    scan = sub.add_parser(
        "scan", help="Scan files for sensitive data (see 'baomi scan --help').", add_help=False
    )
    scan.add_argument("rest", nargs=argparse.REMAINDER)
    scan.set_defaults(func=cmd_scan)

    keys = add("keys", cmd_keys, "Master and client key operations: rotate, status, destroy.")
    keys_sub = keys.add_subparsers(dest="keys_cmd", required=True)
    rot = keys_sub.add_parser(
        "rotate", help="rotate the master key and re-wrap every client key (online, resumable)"
    )
    rot.add_argument("--new-key-label", help="PKCS#11 only: label of the new key in the token")
    rot_client = keys_sub.add_parser(
        "rotate-client", help="give one client a new key (re-wraps its data keys)"
    )
    rot_client.add_argument("client_id", type=int)
    status = keys_sub.add_parser("status", help="key ages, usage counts, rotation backlog")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    destroy = keys_sub.add_parser(
        "destroy-client", help="destroy a client's key: all its data becomes unreadable"
    )
    destroy.add_argument("client_id", type=int)
    destroy.add_argument("--yes", action="store_true", help="confirm the destruction")

    trace = add("trace", cmd_trace, "Tell who downloaded a watermarked copy, when and why.")
    trace.add_argument("file", help="a downloaded PDF, XLSX, DOCX, PNG or JPEG copy")
    trace.add_argument("--json", action="store_true", help="machine-readable output")

    from baomi.imports.cli import add_parser as add_import_parser

    add_import_parser(sub)
    sub.choices["import"].set_defaults(func=cmd_import)
    bench = add("bench", cmd_bench, "Run a benchmark: ledger, vault, policy or scan.")
    bench.add_argument("name")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv) if argv is not None else sys.argv[1:]
    if argv[:1] == ["scan"]:
        # The scanner has its own argument parser (and --help); hand everything to it.
        from baomi.detect import main as scan_main

        return int(scan_main(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())

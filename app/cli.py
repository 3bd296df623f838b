"""``flask`` commands for the routine tasks of running the service.

Each command owns its transaction: it commits once at the end, or not at all.
"""

import json
import sys

import click

from app import clock
from app.errors import DomainError
from app.extensions import db


def _fail(message):
    raise click.ClickException(message)


def _commit_or_fail(work):
    try:
        result = work()
        db.session.commit()
        return result
    except DomainError as exc:
        db.session.rollback()
        details = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in exc.fields.items()
        )
        _fail(f"{exc.message} {details}".strip())


def register(app):
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(cases_cli)
    app.cli.add_command(agreements_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(pii_cli)
    app.cli.add_command(retention_cli)


@click.group("users", help="Accounts and roles.")
def users_cli():
    pass


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["agent", "supervisor", "auditor", "admin"]))
@click.option("--team", help="Team code (a supervisor needs a team or a region).")
@click.option("--region", help="Region code.")
@click.option("--display-name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(username, role, team, region, display_name, password_stdin):
    """Create an account, e.g. the first admin of a new deployment."""
    from app.services.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = _commit_or_fail(
        lambda: create_user(
            {
                "username": username,
                "password": password,
                "role": role,
                "team": team,
                "region": region,
                "display_name": display_name or username,
            }
        )
    )
    click.echo(f"created {user.role} {user.username} (id {user.id})")


@click.command("demo")
@click.option("--cases", "case_count", default=1200, show_default=True, help="How many overdue cases.")
@click.option("--seed", default=7, show_default=True)
def demo_command(case_count, seed):
    """Seed a realistic Shanghai demo: teams, 48 collectors in crews of two, cases, users."""
    from app.services import demo

    credentials = _commit_or_fail(lambda: demo.seed(case_count=case_count, seed=seed))
    if credentials is None:
        click.echo("The demo data is already present; nothing was added.")
        credentials = demo.CREDENTIALS
    click.echo("Demo accounts (username / password / role):")
    for username, password, role in credentials:
        click.echo(f"  {username:<12} {password:<22} {role}")


@click.group("audit", help="The tamper-evident audit log.")
def audit_cli():
    pass


@audit_cli.command("verify")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes that check segments of the chain at once (PostgreSQL).",
)
def verify_command(workers):
    """Recompute the hash chain and check it against every anchor; exit 1 and name the first broken link."""
    from app.services import audit_log

    result = audit_log.verify(workers=workers)
    anchored = result["anchors"]
    latest = anchored["latest"]
    anchors_line = f"anchors: {anchored['checked']} in {anchored['store']}" + (
        f", latest seq {latest['seq']} written {latest['anchored_at']}" if latest else " (none written yet)"
    )
    if result["ok"]:
        click.echo(f"intact: {result['checked']} events, head {result['head']['seq']} {result['head']['hash']}")
        click.echo(anchors_line)
        return
    click.echo(anchors_line, err=True)
    broken = result["first_broken"]
    click.echo(
        f"BROKEN at seq {broken['seq']}: {broken['what']} — {broken['detail']} "
        f"({result['checked']} events verified before it)",
        err=True,
    )
    sys.exit(1)


@audit_cli.command("head")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="A UTC day that has ended: the head as of its end, for a daily anchor.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def head_command(day, as_json):
    """Print the chain head (sequence and hash), live or as of the end of a UTC day, for anchoring elsewhere.

    A day's head is "final" once an event of a later day exists; until then it is
    "provisional" (the head so far).
    """
    from app.services import audit_log

    try:
        head = audit_log.head(day.date() if day else None)
    except DomainError as exc:
        _fail(exc.message)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "date": head["date"] and head["date"].isoformat(),
                    "as_of": head["as_of"].isoformat(),
                    "seq": head["seq"],
                    "hash": head["hash"],
                    "final": head["final"],
                    **({"chains": head["chains"]} if "chains" in head else {}),
                }
            )
        )
    elif day:
        click.echo(
            f"{head['date'].isoformat()} {head['seq']} {head['hash']} {'final' if head['final'] else 'provisional'}"
        )
    else:
        click.echo(f"{head['seq']} {head['hash']}")


@audit_cli.command("anchor")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Anchor the head as of the end of this UTC day (default: the live head).",
)
def anchor_command(day):
    """Sign the chain head and write it to the anchor store (daily from cron, and on demand)."""
    from app import anchors

    anchor = _commit_or_fail(lambda: anchors.anchor_head(day.date() if day else None))
    click.echo(
        f"anchored seq {anchor['seq']} {anchor['hash']} as of {anchor['as_of']} in {anchor['store']} "
        f"({anchor['name']}, key {anchor['key_id']})"
    )


@audit_cli.command("keygen")
def keygen_command():
    """Print a new Ed25519 anchor signing key (keep it outside the database) and its public key."""
    from app import anchors

    private, public = anchors.new_signing_key()
    click.echo(f"ANCHOR_SIGNING_KEY={private}")
    click.echo(f"# public key, for ANCHOR_PUBLIC_KEYS once this key is rotated out: {public}")


@click.group("cases", help="Overdue cases.")
def cases_cli():
    pass


@cases_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--team", help="Team for rows without a team column.")
@click.option(
    "--mode", type=click.Choice(["all_or_nothing", "valid_rows"]), default="all_or_nothing", show_default=True
)
@click.option("--dry-run", is_flag=True)
def import_command(path, team, mode, dry_run):
    """Import a loan system's CSV export (idempotent on loan_ref)."""
    from app.services.importer import import_cases

    with open(path, "rb") as handle:
        content = handle.read()
    report = _commit_or_fail(lambda: import_cases(content, None, default_team=team, mode=mode, dry_run=dry_run))
    if report.start_geocoding is not None:
        click.echo(f"geocoding {report.address_only} address-only row(s): job {report.geocode_job}")
        report.start_geocoding()
    for problem in report.problems[:100]:
        click.echo(f"row {problem['row']}, {problem['column'] or '-'}: {problem['message']}", err=True)
    click.echo(
        f"rows {report.rows}: created {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, rejected {report.rejected}; "
        f"{'committed' if report.committed else 'nothing written'}"
    )
    if report.problems and not report.committed:
        sys.exit(1)


@click.group("agreements", help="Repayment agreements.")
def agreements_cli():
    pass


@agreements_cli.command("evaluate")
@click.option(
    "--date",
    "on_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Evaluate as of this day (default: today, UTC).",
)
def evaluate_command(on_date):
    """Mark instalments late/missed and agreements kept/broken; broken ones send the case back."""

    from app.services.agreements import evaluate

    day = on_date.date() if on_date else clock.now().date()
    counts = _commit_or_fail(lambda: evaluate(day))
    click.echo(f"{day}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@click.group("jobs", help="Background work: nightly planning, agreement evaluation.")
def jobs_cli():
    pass


@jobs_cli.command("submit")
@click.argument("name")
@click.option("--date", "on_date", default=None, help="YYYY-MM-DD (default: tomorrow for planning, today otherwise).")
@click.option("--team", "teams", multiple=True, help="Plan only these teams (repeatable).")
def submit_command(name, on_date, teams):
    """Submit a job: to the queue when REDIS_URL is set, else run it here and now."""
    from app import jobs

    params = {k: v for k, v in {"date": on_date, "teams": list(teams) or None}.items() if v}
    job, start = _commit_or_fail(lambda: jobs.submit(name, params, None))
    job_id = job.id
    start()
    job = jobs.get(job_id)
    click.echo(
        f"job {job.id} {job.name}: {job.status}"
        + (f" — {job.result}" if job.result else "")
        + (f" — {job.error}" if job.error else "")
    )
    if job.status == "failed":
        sys.exit(1)


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker_command(burst):
    """Run an RQ worker for this app's queue (needs REDIS_URL)."""
    from flask import current_app
    from rq import SimpleWorker

    from app import jobs

    if not current_app.config.get("REDIS_URL"):
        _fail("REDIS_URL is not set: without Redis, jobs run in-process and need no worker.")
    queue = jobs.queue()
    # SimpleWorker runs jobs in this process: no fork sharing the app's database connections.
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.work(burst=burst, with_scheduler=True)


@click.group("pii", help="Keys of the personal data encrypted at rest.")
def pii_cli():
    pass


@pii_cli.command("keygen")
@click.option("--key-id", default=None, help="Id of the new encryption key (default: k + today's date).")
def pii_keygen_command(key_id):
    """Print new keys for PII_ENCRYPTION_KEYS and PII_INDEX_KEY (keep them outside the database)."""
    from app.services.pii_keys import new_keys

    for name, value in new_keys(key_id or f"k{clock.now():%Y%m%d}").items():
        click.echo(f"{name}={value}")


@pii_cli.command("rotate-keys")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100000))
def pii_rotate_command(batch):
    """Re-encrypt every phone and national id under the first PII_ENCRYPTION_KEYS key and
    recompute the blind index; committed batch by batch, safe to run again."""
    from app.services.pii_keys import rotate_keys

    counts = rotate_keys(batch, commit=db.session.commit)
    db.session.commit()
    click.echo(f"debtors {counts['debtors']}: re-encrypted {counts['reencrypted']}, re-indexed {counts['reindexed']}")


@click.group("retention", help="Retention of personal data: anonymise closed cases past their period.")
def retention_cli():
    pass


@retention_cli.command("sweep")
@click.option(
    "--date",
    "on_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Judge retention as of this day (default: today, UTC).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be anonymised and what is held; change nothing.")
def retention_sweep_command(on_date, dry_run):
    """Anonymise the debtors whose cases are all closed and past their profile's retention."""
    from app.services import retention

    report = retention.sweep(on_date.date() if on_date else None, dry_run=dry_run, commit_each=True)
    for item in report["anonymised"]:
        click.echo(
            f"{'would anonymise' if dry_run else 'anonymised'} debtor {item['debtor_id']} "
            f"(cases {', '.join(map(str, item['cases']))}; due {item['due']}): "
            + ", ".join(f"{k} {v}" for k, v in item["removed"].items())
        )
    for item in report["held"]:
        click.echo(f"held: debtor {item['debtor_id']} — {'; '.join(h['reason'] for h in item['holds'])}")
    for item in report["failed"]:
        click.echo(f"failed: debtor {item['debtor_id']} — {item['error']}", err=True)
    click.echo(
        f"{report['date']}: {len(report['anonymised'])} {'to anonymise' if dry_run else 'anonymised'}, "
        f"{len(report['held'])} held, {report['waiting']} not yet due, {len(report['failed'])} failed"
    )
    if report["failed"]:
        sys.exit(1)

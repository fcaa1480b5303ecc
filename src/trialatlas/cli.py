"""The `trialatlas` command: one entry point for every job, reading like the README.

Exit codes: 0 ok, 1 partial failure (some records failed, or nothing found), 2 bad usage.
Errors and progress go to stderr; results go to stdout.
"""

from __future__ import annotations

import csv
import functools
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click
import orjson
from rich.console import Console
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from trialatlas.records.document import NCT_ID
from trialatlas.store import DATABASE_ENV, DEFAULT_DATABASE, Store, StoreUnavailable, open_store

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True)
stdout = Console(highlight=False, soft_wrap=True)


def with_store(command: F) -> F:
    """Adds --database (or $TRIALATLAS_DATABASE) and passes the opened store as `store`."""

    @click.option(
        "--database",
        "database",
        envvar=DATABASE_ENV,
        default=DEFAULT_DATABASE,
        show_default=True,
        metavar="PATH|URL",
        help=f"SQLite file or postgresql:// URL (env {DATABASE_ENV}).",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, database: str, **kwargs: Any) -> Any:
        try:
            store = open_store(database)
        except StoreUnavailable as exc:
            fail(str(exc), code=2)
        try:
            return command(*args, store=store, **kwargs)
        finally:
            store.close()

    return wrapper  # type: ignore[return-value]


def nct_id_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    value = value.strip().upper()
    if not NCT_ID.match(value):
        raise click.BadParameter(f"{value!r} is not an NCT id (NCT followed by 8 digits)")
    return value


def progress_bar(quiet: bool, *columns: ProgressColumn) -> Progress:
    """A long job's progress on stderr, gone when it ends; none with --quiet."""
    return Progress(
        SpinnerColumn(),
        *columns,
        TimeElapsedColumn(),
        console=stderr,
        disable=quiet,
        transient=True,
    )


def fail(message: str, code: int = 1) -> NoReturn:
    stderr.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trialatlas")
def main() -> None:
    """trialatlas: a self-hostable clinical trial registry."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(0, 64),
    default=max((os.cpu_count() or 1) - 1, 1),
    show_default=True,
    help="Processes that decode and validate while this one writes (0: all in one).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@with_store
def ingest(paths: tuple[Path, ...], workers: int, quiet: bool, store: Store) -> None:
    """Ingest ClinicalTrials.gov records: API v2 JSON in any layout, legacy XML, archives.

    Each PATH is a file, a directory or an archive (.zip, .tar.gz, .gz), format detected
    from content. A changed record becomes a new version; an identical one is left alone.
    """
    from trialatlas.ingest import ingest as run_ingest

    started = time.perf_counter()
    with progress_bar(
        quiet,
        TextColumn("{task.fields[stage]}"),
        TextColumn("{task.completed:,} records"),
        TextColumn("[cyan]{task.fields[rate]:,.0f}/s"),
        TextColumn("[red]{task.fields[failed]} failed"),
    ) as progress:
        task = progress.add_task("ingest", total=None, rate=0.0, failed=0, stage="ingest")

        def on_progress(report: Any) -> None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            progress.update(
                task,
                completed=report.processed,
                rate=report.processed / elapsed,
                failed=len(report.failures),
                stage=report.stage,
            )

        report = run_ingest(store, paths, workers=workers, on_progress=on_progress)
    elapsed = time.perf_counter() - started
    for failure in report.failures:
        stderr.print(f"[red]failed[/red] {failure}", highlight=False, soft_wrap=True)
    rate = report.processed / elapsed if elapsed else 0.0
    stdout.print(
        f"{report.added:,} added, {report.updated:,} updated, {report.unchanged:,} unchanged, "
        f"{len(report.failures):,} failed in {elapsed:.1f}s ({rate:,.0f} records/s)"
    )
    if report.failures:
        sys.exit(1)


@main.command()
@click.argument("nct_id", callback=nct_id_argument)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--version", "version", type=click.IntRange(1), help="A stored version.")
@with_store
def show(nct_id: str, fmt: str, version: int | None, store: Store) -> None:
    """Show one trial in the sections of a registry detail page (or its stored JSON)."""
    document = store.document(nct_id, version)
    if document is None:
        fail(f"{nct_id}{f' version {version}' if version else ''} is not in the store")
    if fmt == "json":
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from trialatlas.records.detail import build_detail
    from trialatlas.records.render_text import render_text

    sys.stdout.write(render_text(build_detail(document)))


@main.command()
@click.argument("nct_id", callback=nct_id_argument)
@with_store
def history(nct_id: str, store: Store) -> None:
    """List the stored versions of a trial and the modules each one changed."""
    versions = store.versions(nct_id)
    if not versions:
        fail(f"{nct_id} is not in the store")
    for info in versions:
        click.echo(f"version {info.version}  {info.ingested_at}  {info.source}")
        if info.version == 1:
            click.echo("    (first version)")
        else:
            click.echo(f"    changed: {', '.join(info.changed_modules) or '(nothing)'}")


@main.command()
@click.argument("nct_id", callback=nct_id_argument)
@click.argument("v1", type=click.IntRange(1))
@click.argument("v2", type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@with_store
def diff(nct_id: str, v1: int, v2: int, fmt: str, store: Store) -> None:
    """Show the field-level differences between two versions of a trial."""
    from trialatlas.store.versions import diff_documents

    old, new = store.document(nct_id, v1), store.document(nct_id, v2)
    for version, document in ((v1, old), (v2, new)):
        if document is None:
            fail(f"{nct_id} has no version {version} (see `trialatlas history {nct_id}`)")
    assert old is not None and new is not None
    changes = diff_documents(old, new)
    if fmt == "json":
        rows = [{"path": c.path, "kind": c.kind, "old": c.old, "new": c.new} for c in changes]
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not changes:
        stdout.print(f"{nct_id}: versions {v1} and {v2} are identical")
    for change in changes:
        stdout.print(f"[bold]{change.path}[/bold] ({change.kind})", highlight=False)
        if change.old is not None:
            stdout.print(f"  [red]- {change.old!s}[/red]", highlight=False, markup=False)
        if change.new is not None:
            stdout.print(f"  [green]+ {change.new!s}[/green]", highlight=False, markup=False)


_CSV_COLUMNS = (
    "nct_id", "brief_title", "acronym", "overall_status", "phases", "study_type", "start_date",
    "primary_completion_date", "completion_date", "first_posted_date", "last_update_date",
    "enrollment", "enrollment_type", "sex", "min_age_days", "max_age_days",
    "healthy_volunteers", "conditions", "keywords", "mesh_terms", "interventions", "countries",
    "lead_sponsor", "lead_sponsor_class", "has_results",
)  # fmt: skip


def _csv_row(document: dict[str, Any]) -> list[Any]:
    from trialatlas.records.document import study_columns

    c = study_columns(document)
    values: dict[str, Any] = {name: getattr(c, name) for name in _CSV_COLUMNS if hasattr(c, name)}
    for name in ("start", "primary_completion", "completion", "first_posted", "last_update"):
        values[f"{name}_date"] = getattr(c, name).date
    return ["|".join(v) if isinstance(v, tuple) else v for v in map(values.get, _CSV_COLUMNS)]


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@with_store
def export(fmt: str, output: Path | None, store: Store) -> None:
    """Export every current record: documents as JSON Lines, or listing columns as CSV."""
    with output.open("w", newline="") if output else sys.stdout as out:
        if fmt == "jsonl":
            for document in store.iter_documents():
                out.write(orjson.dumps(document).decode() + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow(_CSV_COLUMNS)
            writer.writerows(_csv_row(document) for document in store.iter_documents())


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@with_store
def stats(fmt: str, store: Store) -> None:
    """Count the stored trials by overall status, phase and study type."""
    counts = {
        column: store.counts_by(column) for column in ("overall_status", "phase", "study_type")
    }
    if fmt == "json":
        payload = {"studies": store.count()} | {
            column: {str(value): n for value, n in rows} for column, rows in counts.items()
        }
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    stdout.print(f"{store.count():,} studies")
    for column, rows in counts.items():
        table = Table(column.replace("_", " "), "studies", box=None)
        for value, n in rows:
            table.add_row(value or "(none)", f"{n:,}")
        stdout.print(table)


@main.command()
@click.option("--count", "-n", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@with_store
def synth(count: int, out: Path, seed: int, store: Store) -> None:
    """Write N synthetic studies recombined from the stored real ones (NCT99xxxxxx ids).

    Output is JSON Lines, gzipped when FILE ends in .gz; each record is marked
    "trialatlas": {"synthetic": true}.
    """
    from trialatlas.synth import write_synthetic

    pool = [d for d in store.iter_documents() if not d.get("trialatlas", {}).get("synthetic")]
    if not pool:
        fail("the store holds no real studies to recombine: ingest some first", code=2)
    with Progress(console=stderr, transient=True) as progress:
        task = progress.add_task("synth", total=count)
        write_synthetic(
            pool, count, out, seed=seed, on_progress=lambda n: progress.update(task, completed=n)
        )
    stdout.print(f"{count:,} synthetic studies written to {out}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True,
    help="Server processes: one per core (each holds its own search columns in memory).",
)  # fmt: skip
@click.option(
    "--database", envvar=DATABASE_ENV, default=DEFAULT_DATABASE, show_default=True,
    metavar="PATH|URL", help=f"SQLite file or postgresql:// URL (env {DATABASE_ENV}).",
)  # fmt: skip
def serve(host: str, port: int, workers: int, database: str) -> None:
    """Serve the registry web site and its JSON API (uvicorn)."""
    from trialatlas.web.server import serve as run_server

    try:
        run_server(database, host, port, workers)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}", code=2)


def _near(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from trialatlas.search import Near
    from trialatlas.search.geo import parse_distance_km, parse_point
    from trialatlas.search.query import QueryError

    parts = value.split(",")
    try:
        if len(parts) != 3:
            raise QueryError("expected LAT,LON,DISTANCE (e.g. 39.0,-77.1,50mi)")
        lat, lon = parse_point(parts[0], parts[1], "--near")
        return Near(lat, lon, parse_distance_km(parts[2], "--near"))
    except QueryError as exc:
        raise click.BadParameter(exc.message) from None


@main.command()
@click.option("--cond", default="", help="Condition or disease (Essie syntax; synonyms too).")
@click.option("--intr", default="", help="Intervention or treatment.")
@click.option("--term", default="", help="Other terms: every indexed field.")
@click.option("--titles", default="", help="Title or acronym.")
@click.option("--status", multiple=True, help="Overall status, e.g. RECRUITING (repeatable).")
@click.option("--phase", multiple=True, help="Phase: EARLY_PHASE1, PHASE1…PHASE4, NA.")
@click.option("--country", multiple=True, help="Country of a site (repeatable).")
@click.option("--near", callback=_near, metavar="LAT,LON,DIST", help="Sites within DIST (mi|km).")
@click.option("--sort", default="", help="e.g. LastUpdatePostDate:desc or @relevance.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--page-token", default=None, help="nextPageToken of a previous page.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@with_store
def search(
    cond: str, intr: str, term: str, titles: str, status: tuple[str, ...],
    phase: tuple[str, ...], country: tuple[str, ...], near: Any, sort: str, limit: int,
    page_token: str | None, fmt: str, store: Store,
) -> None:  # fmt: skip
    """Search the stored trials like ClinicalTrials.gov; exits 1 when nothing matches."""
    from dataclasses import asdict

    from trialatlas.search import QueryError, SearchRequest
    from trialatlas.search import search as run_search
    from trialatlas.search.params import parse_sort

    try:
        request = SearchRequest(
            cond=cond, intr=intr, term=term, titles=titles,
            status=frozenset(s.upper() for s in status), phase=frozenset(p.upper() for p in phase),
            country=frozenset(country), near=near, sort=parse_sort(sort), page_size=limit,
            page_token=page_token,
        )  # fmt: skip
        result = run_search(store, request)
    except QueryError as exc:
        raise click.UsageError(f"{exc.param or 'query'}: {exc.message}") from None
    if fmt == "json":
        payload = {
            "totalCount": result.total,
            "nextPageToken": result.next_page_token,
            "studies": [asdict(hit) for hit in result.hits],
        }
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["nct_id", "status", "phases", "title", "conditions", "score"])
        for hit in result.hits:
            writer.writerow([hit.nct_id, hit.overall_status, "|".join(hit.phases), hit.title,
                             "|".join(hit.conditions), f"{hit.score:.3f}"])  # fmt: skip
    else:
        table = Table("NCT id", "status", "phase", "title", "conditions", box=None)
        for hit in result.hits:
            table.add_row(hit.nct_id, hit.overall_status or "", "/".join(hit.phases),
                          hit.title or "", "; ".join(hit.conditions[:3]))  # fmt: skip
        stdout.print(table)
        stderr.print(f"{len(result.hits):,} of {result.total:,} trials", highlight=False)
        if result.next_page_token:
            stderr.print(f"next page: --page-token {result.next_page_token}", highlight=False)
    if not result.hits:
        sys.exit(1)


_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@main.group()
def db() -> None:
    """Create or upgrade the database schema (PostgreSQL migrations; SQLite does it on open)."""


def database_option(command: F) -> F:
    return click.option(
        "--database", envvar=DATABASE_ENV, default=DEFAULT_DATABASE, show_default=True,
        metavar="PATH|URL", help=f"SQLite file or postgresql:// URL (env {DATABASE_ENV}).",
    )(command)  # fmt: skip


@db.command("upgrade")
@database_option
@click.option("--sql", is_flag=True, help="Print the migration SQL instead of running it.")
def db_upgrade(database: str, sql: bool) -> None:
    """Migrate the database to the newest schema; safe to run again, or from several hosts."""
    if not database.startswith(_POSTGRES_SCHEMES):
        open_store(database).close()  # the embedded store creates and checks its schema
        stdout.print(f"{database}: SQLite schema is current")
        return
    import psycopg

    from trialatlas.store.postgres import current_revision, upgrade

    try:
        upgrade(database, sql=sql)
        if not sql:
            stdout.print(f"schema at revision {current_revision(database)}")
    except psycopg.Error as exc:
        fail(f"cannot migrate: {exc}")


@db.command("current")
@database_option
def db_current(database: str) -> None:
    """Show the schema revision the database is at; exit 1 when it needs `db upgrade`."""
    if not database.startswith(_POSTGRES_SCHEMES):
        from trialatlas.store.sqlite import SCHEMA_VERSION

        open_store(database).close()
        stdout.print(f"{database}: SQLite schema {SCHEMA_VERSION}")
        return
    import psycopg

    from trialatlas.store.postgres import SCHEMA_REVISION, current_revision

    try:
        found = current_revision(database)
    except psycopg.Error as exc:
        fail(f"cannot connect: {exc}")
    if found == SCHEMA_REVISION:
        stdout.print(f"{found} (head)")
    else:
        fail(f"schema at {found or '(empty)'}, head is {SCHEMA_REVISION}: run `db upgrade`")


@main.command()
@click.argument(
    "profile_file", required=False, metavar="[PROFILE.json]",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)  # fmt: skip
@click.option("--note", help="A free-text patient description (read into a profile).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--any-status", is_flag=True, help="Do not put open trials on the patient's conditions first."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@with_store
def match(
    profile_file: Path | None, note: str | None, limit: int, any_status: bool, fmt: str,
    store: Store,
) -> None:  # fmt: skip
    """Rank the stored trials for one patient, every criterion judged and explained.

    The patient is PROFILE.json (see docs/eligibility.md; - reads stdin), or --note, or both
    (the note's words then help find trials). Exits 2 for a bad profile, naming the field,
    and 1 when no trial is found.
    """
    from trialatlas.eligibility.profile import Profile, ProfileError, profile_from_note
    from trialatlas.eligibility.rank import rank_trials

    if profile_file is None and not note:
        raise click.UsageError("give PROFILE.json or --note")
    try:
        if profile_file is None:
            profile = profile_from_note(note or "")
        else:
            raw = sys.stdin.buffer.read() if str(profile_file) == "-" else profile_file.read_bytes()
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                fail(f"{profile_file}: not JSON ({exc})", 2)
            profile = Profile.from_dict(data)
        trials = rank_trials(store, profile, limit, any_status, note=note)
    except ProfileError as exc:
        for problem in exc.problems:
            stderr.print(f"[red]error:[/red] {problem}", highlight=False)
        sys.exit(2)
    if fmt == "json":
        payload = [trial.to_json() for trial in trials]
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        table = Table(box=None)
        # a narrow terminal shortens the status, the title and the reason, never the verdict
        for name, width in (
            ("#", 2),
            ("NCT id", 11),
            ("status", 10),
            ("verdict", 15),
            ("score", 5),
        ):
            table.add_column(name, min_width=width, max_width=30, no_wrap=True, overflow="ellipsis")
        table.add_column("title", max_width=30, no_wrap=True, overflow="ellipsis")
        table.add_column("why", min_width=10, max_width=30, no_wrap=True, overflow="ellipsis")
        for t in trials:
            failures = t.match.failures
            why = f"except: {failures[0].text}" if failures else f"{len(t.match.unknowns)} unknown"
            table.add_row(str(t.rank), t.nct_id, t.overall_status or "", t.verdict,
                          f"{t.score:.3f}", t.title or "", why)  # fmt: skip
        stdout.print(table)
    if not trials:
        stderr.print("no trial found for this patient", highlight=False)
        sys.exit(1)


@main.command("read-note")
@click.argument(
    "note_file", required=False, metavar="[NOTE.txt]", type=click.File(encoding="utf-8")
)
@click.option("--note", "text", help="The description itself, instead of a file.")
def read_note(note_file: TextIO | None, text: str | None) -> None:
    """Read a free-text patient description into a profile: JSON on stdout, for checking and
    editing before `trialatlas match PROFILE.json` (- reads stdin).

    The conditions the profile's measurements define, which matching counts too, are listed
    on stderr.
    """
    from trialatlas.eligibility.derived import derived_conditions
    from trialatlas.eligibility.profile import profile_from_note

    if (note_file is None) == (text is None):
        raise click.UsageError("give NOTE.txt or --note (one of them)")
    note = text if note_file is None else note_file.read()
    if not note.strip():
        raise click.UsageError("the note is empty")
    profile = profile_from_note(note)
    payload = orjson.dumps(profile.to_dict(), option=orjson.OPT_INDENT_2).decode()
    sys.stdout.write(payload + "\n")
    for derived in derived_conditions(profile):
        stderr.print(f"from the measurements: {derived.evidence}", highlight=False)


@main.command("analyze-criteria")
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(0, 64),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Processes that analyse while this one reads the store and writes (0: all in one).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@with_store
def analyze_criteria(workers: int, quiet: bool, store: Store) -> None:
    """Analyse every stored trial's criteria once, ahead of patients.

    Matching reads each candidate's analysed criteria from a cache file
    ($TRIALATLAS_CACHE_DIR, default ~/.cache/trialatlas); a text no patient has met yet is
    analysed on the spot, which makes the first patients after a load or an upgrade slow.
    Run this after loading, and again after upgrading trialatlas. Texts already analysed by
    this version are skipped; an interrupted run keeps what it finished. Exits 1 when the
    cache cannot be written.
    """
    from trialatlas.eligibility.cache import FillReport, criteria_cache
    from trialatlas.eligibility.rank import analyze_store

    started = time.perf_counter()
    with progress_bar(
        quiet,
        TextColumn("{task.completed:,}/{task.total:,} trials"),
        TextColumn("[cyan]{task.fields[analysed]:,} analysed"),
    ) as progress:
        task = progress.add_task("analyse", total=store.count(), analysed=0)

        def on_progress(report: FillReport) -> None:
            progress.update(task, completed=report.read, analysed=report.analysed)

        try:
            report = analyze_store(store, workers, on_progress)
        except (OSError, sqlite3.Error) as exc:
            fail(f"cannot fill the criteria cache: {exc}")
    elapsed = time.perf_counter() - started
    path = criteria_cache().path
    size = path.stat().st_size / 1e6 if path and path.exists() else 0.0
    stdout.print(
        f"{report.read:,} criteria texts, {report.distinct:,} distinct, {report.analysed:,} "
        f"analysed in {elapsed:.1f}s; cache {path} ({size:,.0f} MB)"
    )


if __name__ == "__main__":
    main()

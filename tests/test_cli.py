"""The command line as a user meets it: output, exit codes, errors on stderr."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialatlas.cli import main
from trialatlas.store import open_store

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_ingest_summary_and_exit_zero(db: str) -> None:
    code, out, _ = invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    assert code == 0
    assert out.startswith("21 added, 0 updated, 0 unchanged, 0 failed")
    code, out, _ = invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    assert out.startswith("0 added, 0 updated, 21 unchanged, 0 failed")


def test_partial_failure_exits_one_and_names_the_record(db: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "bad.json").write_text('{"protocolSection": {"identificationModule": {}}}')
    (inputs / "good.json").write_text((DEMO / "NCT04952155.json").read_text())
    code, out, err = invoke("ingest", "-q", "--workers", "0", "--database", db, str(inputs))
    assert code == 1
    assert out.startswith("1 added")
    assert "bad.json: missing NCT id (protocolSection.identificationModule.nctId)" in err


def test_bad_usage_exits_two(db: str) -> None:
    assert invoke("ingest", "--database", db, "/no/such/path")[0] == 2
    assert invoke("ingest", "--database", db)[0] == 2
    code, _, err = invoke("show", "--database", db, "NCT123")
    assert code == 2
    assert "not an NCT id" in err


def test_a_database_that_cannot_be_opened_is_bad_usage(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are my notes, not a registry\n" * 200)
    code, _, err = invoke("stats", "--database", str(not_a_database))
    assert code == 2
    assert f"cannot open {not_a_database} as a trialatlas store" in " ".join(err.split())
    assert not_a_database.read_text().startswith("these are my notes")
    code, _, err = invoke("stats", "--database", str(tmp_path / "no" / "such" / "dir.db"))
    assert code == 2 and "unable to open database file" in err


def test_database_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env.db"
    monkeypatch.setenv("TRIALATLAS_DATABASE", str(target))
    assert invoke("ingest", "-q", "--workers", "0", str(DEMO / "NCT04952155.json"))[0] == 0
    assert target.exists()


def test_show_renders_the_seed_sections(db: str) -> None:
    invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    code, out, _ = invoke("show", "--database", db, "NCT04952155")
    assert code == 0
    headings = [
        "Administrative data",
        "Study information",
        "Clinical Trial Summary",
        "Recruitment information / eligibility",
        "Study Design",
        "Related Conditions & MeSH terms",
        "Intervention",
        "Locations",
        "Sponsors",
        "Country where clinical trial is conducted",
        "Outcome",
    ]
    lines = [line.strip() for line in out.splitlines()]
    positions = [
        next(i for i, line in enumerate(lines) if line == h or line.startswith(f"{h} ("))
        for h in headings
    ]
    assert positions == sorted(positions)
    assert "Est. completion date December 31, 2022" in out
    assert "Start date January 1, 2020" in out
    code, out, _ = invoke("show", "--database", db, "--format", "json", "NCT04952155")
    assert json.loads(out) == json.loads((DEMO / "NCT04952155.json").read_text())


def test_show_unknown_trial_is_an_error(db: str) -> None:
    code, out, err = invoke("show", "--database", db, "NCT09999999")
    assert (code, out) == (1, "")
    assert "NCT09999999 is not in the store" in err


def test_history_and_diff(db: str, tmp_path: Path) -> None:
    document = json.loads((DEMO / "NCT04952155.json").read_text())
    invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO / "NCT04952155.json"))
    document["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    assert invoke("ingest", "-q", "--workers", "0", "--database", db, str(changed))[1].startswith(
        "0 added, 1 updated"
    )
    code, out, _ = invoke("history", "--database", db, "NCT04952155")
    assert code == 0
    assert "(first version)" in out
    assert "protocolSection.statusModule" in out
    code, out, _ = invoke("diff", "--database", db, "--format", "json", "NCT04952155", "1", "2")
    assert json.loads(out) == [
        {
            "path": "protocolSection.statusModule.overallStatus",
            "kind": "changed",
            "old": "RECRUITING",
            "new": "COMPLETED",
        }
    ]
    code, _, err = invoke("diff", "--database", db, "NCT04952155", "1", "3")
    assert code == 1
    assert "has no version 3" in err


def test_export_and_stats(db: str) -> None:
    invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    code, out, _ = invoke("export", "--database", db, "--format", "jsonl")
    ids = [
        json.loads(line)["protocolSection"]["identificationModule"]["nctId"]
        for line in out.splitlines()
    ]
    assert ids == sorted(p.stem for p in DEMO.glob("NCT*.json"))
    code, out, _ = invoke("export", "--database", db, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    seed = next(row for row in rows if row["nct_id"] == "NCT04952155")
    assert (seed["overall_status"], seed["phases"], seed["min_age_days"]) == (
        "RECRUITING",
        "PHASE2",
        "6574",
    )
    assert code == 0
    code, out, _ = invoke("stats", "--database", db, "--format", "json")
    assert code == 0
    stats = json.loads(out)
    assert stats["studies"] == 21
    assert sum(stats["overall_status"].values()) == 21
    assert stats["overall_status"]["RECRUITING"] == sum(
        1
        for p in DEMO.glob("NCT*.json")
        if json.loads(p.read_text())["protocolSection"]["statusModule"]["overallStatus"]
        == "RECRUITING"
    )


def test_synth_marks_records_and_uses_reserved_ids(db: str, tmp_path: Path) -> None:
    invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    out_file = tmp_path / "synthetic.jsonl.gz"
    code, _, _ = invoke("synth", "--database", db, "--count", "50", "--out", str(out_file))
    assert code == 0
    code, out, _ = invoke("ingest", "-q", "--workers", "0", "--database", db, str(out_file))
    assert (code, out[:10]) == (0, "50 added, ")
    synthetic = [
        json.loads(line)
        for line in invoke("export", "--database", db)[1].splitlines()
        if json.loads(line).get("trialatlas", {}).get("synthetic")
    ]
    assert len(synthetic) == 50
    assert all(
        d["protocolSection"]["identificationModule"]["nctId"].startswith("NCT99") for d in synthetic
    )


def test_analyze_criteria_fills_the_cache_once(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIALATLAS_CACHE_DIR", str(tmp_path / "cache"))
    invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    code, out, _ = invoke("analyze-criteria", "-q", "-j", "0", "--database", db)
    assert code == 0
    counts = re.match(r"(\d+) criteria texts, (\d+) distinct, (\d+) analysed", out)
    assert counts, out
    texts, distinct, analysed = map(int, counts.groups())
    store = open_store(db)
    with_criteria = [
        d
        for d in store.iter_documents()
        if d["protocolSection"].get("eligibilityModule", {}).get("eligibilityCriteria")
    ]
    store.close()
    assert texts == len(with_criteria) > 0 and 0 < distinct <= texts and analysed == distinct
    assert str(tmp_path / "cache" / "criteria.sqlite") in out
    code, out, _ = invoke("analyze-criteria", "-q", "-j", "0", "--database", db)
    assert code == 0 and f"{distinct} distinct, 0 analysed" in out


def test_analyze_criteria_names_a_cache_it_cannot_write(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blocked").write_text("")
    monkeypatch.setenv("TRIALATLAS_CACHE_DIR", str(tmp_path / "blocked"))
    invoke("ingest", "-q", "--workers", "0", "--database", db, str(DEMO))
    code, _, err = invoke("analyze-criteria", "-q", "--database", db)
    assert code == 1
    assert "cannot fill the criteria cache" in err and "blocked" in err

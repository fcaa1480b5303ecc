"""Every input layout the readers accept, detected from content, and every bad input."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from trialatlas.ingest import ingest
from trialatlas.records.document import MAX_FIELD_CHARS
from trialatlas.store.sqlite import SQLiteStore

XML_STUDY = """<?xml version="1.0" encoding="UTF-8"?>
<clinical_study>
  <id_info><org_study_id>X-1</org_study_id><nct_id>{nct}</nct_id></id_info>
  <brief_title>{title}</brief_title>
  <overall_status>Recruiting</overall_status>
  <study_type>Interventional</study_type>
  <condition>Amyotrophic Lateral Sclerosis</condition>
</clinical_study>
"""


def study(nct: str, title: str = "A study", **status: Any) -> dict[str, Any]:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": title},
            "statusModule": {"overallStatus": "RECRUITING", **status},
        },
        "hasResults": False,
    }


def ids_in(store: SQLiteStore) -> list[str]:
    return [row[0] for row in store.connection.execute("SELECT nct_id FROM study ORDER BY 1")]


def run(store: SQLiteStore, *paths: Path) -> Any:
    return ingest(store, list(paths))


def test_one_study_object(store: SQLiteStore, tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps(study("NCT00000001")))
    report = run(store, tmp_path / "one.json")
    assert (report.added, report.failures) == (1, [])
    assert store.document("NCT00000001") == study("NCT00000001")


def test_array_search_page_and_json_lines(store: SQLiteStore, tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text(json.dumps([study("NCT00000001"), study("NCT00000002")]))
    page = {"studies": [study("NCT00000003")], "nextPageToken": "abc"}
    (tmp_path / "page.json").write_text(json.dumps(page))
    lines = "\n".join(json.dumps(study(f"NCT0000000{i}")) for i in (4, 5)) + "\n"
    (tmp_path / "lines.jsonl").write_text(lines)
    report = run(store, tmp_path)
    assert report.failures == []
    assert ids_in(store) == [f"NCT0000000{i}" for i in range(1, 6)]


def test_gzip_of_each_layout(store: SQLiteStore, tmp_path: Path) -> None:
    payloads = {
        "object.json.gz": json.dumps(study("NCT00000011")),
        "array.json.gz": json.dumps([study("NCT00000012")]),
        "page.gz": json.dumps({"studies": [study("NCT00000013")]}),
        "lines.jsonl.gz": json.dumps(study("NCT00000014"))
        + "\n"
        + json.dumps(study("NCT00000015")),
        "legacy.xml.gz": XML_STUDY.format(nct="NCT00000016", title="XML"),
    }
    for name, text in payloads.items():
        (tmp_path / name).write_bytes(gzip.compress(text.encode()))
    report = run(store, tmp_path)
    assert report.failures == []
    assert ids_in(store) == [f"NCT000000{i}" for i in range(11, 17)]


def test_bulk_zip_and_xml_archives(store: SQLiteStore, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "ctg-studies.json.zip", "w") as archive:
        for nct in ("NCT00000021", "NCT00000022"):
            archive.writestr(f"{nct}.json", json.dumps(study(nct)))
    with tarfile.open(tmp_path / "xml.tar.gz", "w:gz") as archive:
        for nct in ("NCT00000023", "NCT00000024"):
            data = XML_STUDY.format(nct=nct, title="x").encode()
            info = tarfile.TarInfo(f"NCT0000xxxx/{nct}.xml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(tmp_path / "xml.zip", "w") as archive:
        archive.writestr("tree/NCT00000025.xml", XML_STUDY.format(nct="NCT00000025", title="x"))
    report = run(store, tmp_path)
    assert report.failures == []
    assert ids_in(store) == [f"NCT0000002{i}" for i in range(1, 6)]


def test_format_is_detected_from_content_not_name(store: SQLiteStore, tmp_path: Path) -> None:
    (tmp_path / "really-json.xml").write_text(json.dumps(study("NCT00000031")))
    (tmp_path / "really-xml.json").write_text(XML_STUDY.format(nct="NCT00000032", title="x"))
    (tmp_path / "no-extension").write_bytes(
        gzip.compress(json.dumps([study("NCT00000033")]).encode())
    )
    report = run(store, tmp_path)
    assert report.failures == []
    assert ids_in(store) == ["NCT00000031", "NCT00000032", "NCT00000033"]


BAD_INPUTS: dict[str, tuple[bytes, str]] = {
    "malformed.json": (b'{"protocolSection": {', "malformed JSON"),
    "malformed.xml": (b"<clinical_study><id_info></clinical_study>", "malformed XML"),
    "doctype.xml": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<clinical_study><brief_title>&e;</brief_title></clinical_study>",
        "DOCTYPE",
    ),
    "laughs.xml": (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b"<clinical_study><brief_title>&c;</brief_title></clinical_study>",
        "DOCTYPE",
    ),
    "no-id.json": (json.dumps({"protocolSection": {}}).encode(), "identificationModule"),
    "bad-id.json": (json.dumps(study("NCT123")).encode(), "malformed NCT id 'NCT123'"),
    "wrong-type.json": (
        json.dumps(study("NCT00000041", overallStatus=7)).encode(),
        "protocolSection.statusModule.overallStatus must be a string, got int",
    ),
    "not-a-study.json": (b"[1]", "must be a JSON object"),
    "empty.json": (b"", "empty file"),
    "blank.json": (b"   \n", "empty file"),
    "garbage.bin": (b"\x00\x01binary", "neither JSON nor XML"),
    "truncated.zip": (b"PK\x03\x04" + b"\x00" * 40, "unreadable"),
    "truncated.tar.gz": (b"", "unreadable"),  # filled in below: a real archive cut short
}


def _truncated_tar_gz() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = XML_STUDY.format(nct="NCT00000042", title="t" * 5000).encode()
        info = tarfile.TarInfo("NCT00000042.xml")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    whole = buffer.getvalue()
    return whole[: len(whole) // 2]


BAD_INPUTS["truncated.tar.gz"] = (_truncated_tar_gz(), "unreadable")


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_fails_that_record_only(store: SQLiteStore, tmp_path: Path, name: str) -> None:
    data, reason = BAD_INPUTS[name]
    (tmp_path / "good.json").write_text(json.dumps(study("NCT00000099")))
    (tmp_path / name).write_bytes(data)
    report = run(store, tmp_path)
    assert report.added == 1, "the good record beside the bad one is kept"
    assert len(report.failures) == 1
    failure = report.failures[0]
    assert name in failure.location
    assert reason in failure.reason
    assert ids_in(store) == ["NCT00000099"]


def test_enormous_field_is_refused_with_its_path(store: SQLiteStore, tmp_path: Path) -> None:
    record = study("NCT00000051")
    record["protocolSection"]["descriptionModule"] = {"briefSummary": "x" * (MAX_FIELD_CHARS + 1)}
    (tmp_path / "big.json").write_text(json.dumps(record))
    report = run(store, tmp_path / "big.json")
    assert report.added == 0
    assert "protocolSection.descriptionModule.briefSummary" in report.failures[0].reason


def test_same_id_twice_in_one_file_fails_the_second(store: SQLiteStore, tmp_path: Path) -> None:
    records = [study("NCT00000061", "first"), study("NCT00000061", "second")]
    (tmp_path / "dupes.json").write_text(json.dumps(records))
    report = run(store, tmp_path / "dupes.json")
    assert report.added == 1
    (failure,) = report.failures
    assert failure.location.endswith("dupes.json[1]")
    assert "duplicate NCT id NCT00000061" in failure.reason
    assert "dupes.json[0]" in failure.reason
    assert store.document("NCT00000061")["protocolSection"]["identificationModule"][
        "briefTitle"
    ] == ("first")


def test_json_lines_error_names_the_line(store: SQLiteStore, tmp_path: Path) -> None:
    lines = [json.dumps(study("NCT00000071")), "{not json}", json.dumps(study("NCT00000072"))]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    report = run(store, tmp_path / "mixed.jsonl")
    assert report.added == 2
    assert report.failures[0].location.endswith("mixed.jsonl:line 2")

"""The JSON API in ClinicalTrials.gov API v2's request and response shapes, over the corpus."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from trialatlas.search import SearchRequest, search
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.web.app import create_app

SEED = "NCT04952155"


@pytest.fixture(scope="module")
def client(corpus_store: SQLiteStore) -> Iterator[TestClient]:
    with TestClient(create_app(str(corpus_store.path))) as test_client:
        yield test_client


def _nct(study: dict[str, Any]) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def test_studies_page_shape(client: TestClient) -> None:
    response = client.get("/api/v2/studies", params={"query.cond": "ALS", "countTotal": "true",
                                                     "pageSize": "5"})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"studies", "nextPageToken", "totalCount"}
    assert len(body["studies"]) == 5 and body["totalCount"] > 5
    first = body["studies"][0]
    assert {"protocolSection", "hasResults"} <= set(first)
    assert _nct(first).startswith("NCT")


def test_page_tokens_walk_every_study_once(client: TestClient, corpus_store: SQLiteStore) -> None:
    params = {"query.term": "asthma", "pageSize": "25", "countTotal": "true", "fields": "NCTId"}
    body = client.get("/api/v2/studies", params=params).json()
    total, seen = body["totalCount"], [_nct(s) for s in body["studies"]]
    while "nextPageToken" in body:
        page = {**params, "pageToken": body["nextPageToken"]}
        body = client.get("/api/v2/studies", params=page).json()
        assert "totalCount" not in body  # only the first page carries it, as the original
        seen += [_nct(s) for s in body["studies"]]
    assert len(seen) == len(set(seen)) == total > 25
    direct = search(corpus_store, SearchRequest(term="asthma", page_size=1000))
    assert seen == [h.nct_id for h in direct.hits]


def test_fields_project_the_documents(client: TestClient) -> None:
    body = client.get("/api/v2/studies", params={
        "filter.ids": SEED, "fields": "NCTId,OverallStatus|Phase,LocationCity"
    }).json()  # fmt: skip
    assert body == {"studies": [{"protocolSection": {
        "identificationModule": {"nctId": SEED},
        "statusModule": {"overallStatus": "RECRUITING"},
        "designModule": {"phases": ["PHASE2"]},
        "contactsLocationsModule": {"locations": [{"city": "Beijing"}]},
    }}]}  # fmt: skip
    whole = client.get("/api/v2/studies", params={"filter.ids": SEED, "fields": "ProtocolSection"})
    assert set(whole.json()["studies"][0]) == {"protocolSection"}


def test_filters_and_agg_filters(client: TestClient, corpus_store: SQLiteStore) -> None:
    def total(**params: str) -> int:
        response = client.get("/api/v2/studies", params={**params, "countTotal": "true"})
        assert response.status_code == 200, response.text
        return response.json()["totalCount"]

    everything = total()
    assert everything == corpus_store.count()
    recruiting = total(**{"filter.overallStatus": "RECRUITING"})
    assert recruiting == total(aggFilters="status:rec")
    assert recruiting + total(aggFilters="status:not") == total(aggFilters="status:rec not")
    assert total(aggFilters="status:rec phase:2") == total(
        **{"filter.overallStatus": "RECRUITING", "filter.advanced": "AREA[Phase]PHASE2"}
    )
    near = total(**{"filter.geo": "distance(39.0035707,-77.1013313,50mi)"})
    assert 0 < near < total(**{"filter.geo": "distance(39.0035707,-77.1013313,500mi)"})
    assert total(**{"filter.ids": f"{SEED},NCT00000102"}) == 2
    assert total(aggFilters="results:with") + total(aggFilters="results:without") == everything


def test_sort_by_last_update(client: TestClient) -> None:
    body = client.get("/api/v2/studies", params={
        "query.cond": "cancer", "sort": "LastUpdatePostDate:desc", "pageSize": "50",
        "fields": "NCTId,LastUpdatePostDate",
    }).json()  # fmt: skip
    dates = [s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
             for s in body["studies"]]  # fmt: skip
    assert dates == sorted(dates, reverse=True)


def test_csv_pages(client: TestClient) -> None:
    params = {"query.cond": "ALS", "format": "csv", "pageSize": "10", "countTotal": "true",
              "fields": "NCT Number,Study Title,Study Status"}  # fmt: skip
    first = client.get("/api/v2/studies", params=params)
    assert first.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(first.text)))
    assert rows[0] == ["NCT Number", "Study Title", "Study Status"] and len(rows) == 11
    assert int(first.headers["x-total-count"]) > 10
    second = client.get(
        "/api/v2/studies", params={**params, "pageToken": first.headers["x-next-page-token"]}
    )
    assert not second.text.startswith("NCT Number")  # the header comes with the first page only


def test_single_study(client: TestClient, corpus_store: SQLiteStore) -> None:
    response = client.get(f"/api/v2/studies/{SEED}")
    assert response.status_code == 200 and response.json() == corpus_store.document(SEED)
    short = client.get("/api/v2/studies/nct4952155", params={"fields": "BriefSummary"}).json()
    assert list(short["protocolSection"]) == ["descriptionModule"]
    assert client.get("/api/v2/studies/NCT09999999").status_code == 404
    bad = client.get("/api/v2/studies/NCT-12")
    assert bad.status_code == 400 and "NCT" in bad.text


def test_query_id_with_several_ids_matches_any(client: TestClient) -> None:
    def ids(query: str) -> set[str]:
        body = client.get("/api/v2/studies", params={"query.id": query, "pageSize": "50"}).json()
        return {_nct(s) for s in body["studies"]}

    both = {SEED, "NCT04998305"}
    assert ids(f"{SEED} NCT04998305") == both  # space-separated, no OR: either id
    assert ids(f"{SEED} OR NCT04998305") == both
    assert ids(f"{SEED} NCT00000000") == {SEED}  # an unknown id does not hide a known one


def test_related_endpoint(client: TestClient) -> None:
    body = client.get(f"/api/v2/studies/{SEED}/related", params={"limit": "5"}).json()
    assert body["nctId"] == SEED and len(body["related"]) == 5
    assert all("Amyotrophic Lateral Sclerosis" in r["conditions"] or "Motor Neuron Disease"
               in r["conditions"] for r in body["related"])  # fmt: skip
    assert client.get("/api/v2/studies/NCT09999999/related").status_code == 404
    assert client.get(f"/api/v2/studies/{SEED}/related", params={"limit": "0"}).status_code == 400


def test_stats_version_facets_and_openapi(client: TestClient, corpus_store: SQLiteStore) -> None:
    size = client.get("/api/v2/stats/size").json()
    assert size["totalStudies"] == corpus_store.count() and size["averageSizeBytes"] > 0
    assert set(size["percentiles"]) >= {"50", "95"} and len(size["largestStudies"]) == 10
    version = client.get("/api/v2/version").json()
    assert version["apiVersion"].startswith("2.") and version["dataTimestamp"][:2] == "20"
    params = {"query.cond": "ALS", "aggFilters": "status:rec"}
    facets = client.get("/api/trialatlas/facets", params=params).json()
    status = next(f for f in facets["facets"] if f["name"] == "status")
    counts = {v["value"]: v["count"] for v in status["values"]}
    assert counts["COMPLETED"] > 0  # the status facet ignores the status selection
    assert facets["totalCount"] == counts["RECRUITING"]
    spec = client.get("/openapi.json").json()
    parameters = {p["name"] for p in spec["paths"]["/api/v2/studies"]["get"]["parameters"]}
    assert {"query.cond", "filter.advanced", "aggFilters", "pageToken"} <= parameters


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter.phase": "PHASE3"}, "`filter.phase` is unknown parameter"),
        ({"pageSize": "-1"}, "Parameter 'pageSize'"),
        ({"query.term": "AREA[Nope]x"}, "Parameter 'query.term': unknown field AREA[Nope]"),
        ({"query.cond": "(heart"}, "Parameter 'query.cond'"),
        ({"filter.advanced": "AREA[StartDate]RANGE[x, y]"}, "Parameter 'filter.advanced'"),
        (
            {"fields": "StudyDesign"},
            "Parameter 'fields' contains invalid field name: 'StudyDesign'",
        ),
        ({"pageToken": "garbage"}, "Parameter 'pageToken'"),
        ({"aggFilters": "status:open"}, "Parameter 'aggFilters'"),
        ({"format": "csv", "fields": "NCTId"}, "Parameter 'fields' contains invalid field name"),
    ],
)
def test_bad_requests_are_400_naming_the_parameter(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/v2/studies", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert message in response.text


def test_page_token_of_another_query_is_refused(client: TestClient) -> None:
    token = client.get("/api/v2/studies", params={"query.cond": "asthma"}).json()["nextPageToken"]
    response = client.get("/api/v2/studies", params={"query.cond": "copd", "pageToken": token})
    assert response.status_code == 400 and "pageToken" in response.text


VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["RECRUITING", "status:rec", "distance(1,2,3mi)", "NCTId", "10", "true",
                     "AREA[Phase]PHASE2", "csv", '"heart attack" OR (ALS NOT cancer)'])
)  # fmt: skip
NAMES = st.sampled_from(
    ["query.cond", "query.term", "query.intr", "query.locn", "filter.overallStatus", "filter.geo",
     "filter.ids", "filter.advanced", "aggFilters", "fields", "sort", "pageSize", "countTotal",
     "format", "pageToken", "geoDecay", "nonsense"]
)  # fmt: skip


@given(st.dictionaries(NAMES, VALUES, max_size=4))
@settings(max_examples=150, deadline=None)
def test_any_request_is_answered_or_refused_with_a_reason(
    client: TestClient, params: dict[str, str]
) -> None:
    response = client.get("/api/v2/studies", params=params)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert any(name in response.text for name in params), response.text

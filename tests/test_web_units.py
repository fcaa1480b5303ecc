"""The web views' pure parts: escaping and highlighting, criteria lists, diffs, charts; the
security-headers middleware and the server's listening socket."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from trialatlas.search import DateRange, QueryError, SearchResult
from trialatlas.store import Store
from trialatlas.web.app import SECURITY_HEADERS, SecurityHeaders, create_app
from trialatlas.web.server import listening_socket
from trialatlas.web.views.cache import ExpiringCache
from trialatlas.web.views.charts import Datum, bar_chart, column_chart
from trialatlas.web.views.history import compare, module_title, word_diff
from trialatlas.web.views.render import highlight, paragraphs, segments
from trialatlas.web.views.search import format_agg, parse_web_params
from trialatlas.web.views.study import eligibility_of


def test_highlight_escapes_before_marking() -> None:
    pattern = re.compile(r"\bamp\b|script", re.IGNORECASE)
    out = highlight("<script> & amp", pattern)
    assert isinstance(out, Markup)
    assert out == "&lt;<mark>script</mark>&gt; &amp; <mark>amp</mark>"


def test_highlight_without_terms_only_escapes() -> None:
    assert highlight("a < b", None) == "a &lt; b"


def test_paragraphs_keep_blank_line_breaks_and_join_wrapped_lines() -> None:
    text = "First line\n  wrapped here.\n\n  Second\tparagraph.  \n\n\n"
    assert paragraphs(text) == ["First line wrapped here.", "Second paragraph."]


def test_criteria_split_into_inclusion_and_exclusion_items_verbatim() -> None:
    text = (
        "Inclusion Criteria:\n\n* Age 18 to 70\n* Platelets > 80,000 /mm3\n\n"
        "Exclusion Criteria:\n\n* Lymphocytes < 600/mm3\n* Pregnant"
    )
    lists = eligibility_of(text).lists
    assert [(c.kind, c.title) for c in lists] == [
        ("inclusion", "Inclusion criteria"),
        ("exclusion", "Exclusion criteria"),
    ]
    assert [n.text for n in lists[0].items] == ["Age 18 to 70", "Platelets > 80,000 /mm3"]
    assert [n.text for n in lists[1].items] == ["Lymphocytes < 600/mm3", "Pregnant"]


def test_criteria_without_headers_are_not_called_inclusion() -> None:
    lists = eligibility_of("- adults\n- signed consent").lists
    assert [(c.kind, c.title) for c in lists] == [("", "Criteria")]
    assert [n.text for n in lists[0].items] == ["adults", "signed consent"]


def test_nested_criteria_stay_under_their_heading() -> None:
    text = "Inclusion Criteria:\n1. Patients must have:\n   a. ALS\n   b. FVC > 60%\n2. Consent"
    (inclusion,) = eligibility_of(text).lists
    first = inclusion.items[0]
    assert [c.text for c in first.children] == ["ALS", "FVC > 60%"]


def test_empty_criteria_have_no_lists() -> None:
    assert eligibility_of("").lists == ()


def test_word_diff_marks_only_changed_words() -> None:
    old, new = word_diff("Enrollment is 10 patients", "Enrollment is 13 patients")
    assert ("del", "10") in old and ("ins", "13") in new
    assert "".join(t for _, t in old) == "Enrollment is 10 patients"
    assert segments(new) == "Enrollment is <ins>13</ins> patients"
    assert segments([("ins", "<b>")]) == "<ins>&lt;b&gt;</ins>"


def test_compare_groups_changes_by_module_with_readable_titles() -> None:
    old = {"protocolSection": {"statusModule": {"overallStatus": "RECRUITING"}}}
    new = {
        "protocolSection": {"statusModule": {"overallStatus": "COMPLETED"}},
        "hasResults": True,
    }
    modules = compare(old, new)
    assert [m.title for m in modules] == ["Status", "Has results"]
    row = modules[0].rows[0]
    assert (row.field, row.kind) == ("overallStatus", "changed")
    assert module_title("derivedSection.conditionBrowseModule") == "Condition browse"


def test_bar_chart_scales_to_the_largest_count() -> None:
    chart = bar_chart("s", "Status", [Datum("A", 10, "/a"), Datum("B", 5, "/b")])
    assert chart.bars[0].width == 2 * chart.bars[1].width
    assert chart.total == 15 and chart.height > 0


def test_column_chart_thins_axis_labels() -> None:
    data = [Datum(str(year), 1, f"/{year}") for year in range(1960, 2030)]
    chart = column_chart("y", "Start year", data)
    shown = [b.short_label for b in chart.bars if b.show_label]
    assert 5 <= len(shown) < len(data)


def test_web_params_round_trip_to_the_same_url() -> None:
    query = parse_web_params(
        {"cond": "ALS", "aggFilters": "phase:3 2,status:rec", "sort": "StartDate:desc", "x": "1"}
    )
    assert query.request.cond == "ALS"
    assert query.request.status == frozenset({"RECRUITING"})
    assert query.request.phase == frozenset({"PHASE2", "PHASE3"})
    assert query.url() == (
        "/search?cond=ALS&aggFilters=phase%3A3+2%2Cstatus%3Arec&sort=StartDate%3Adesc"
    )
    assert query.agg_url("status", "rec") == (
        "/search?cond=ALS&aggFilters=phase%3A2+3&sort=StartDate%3Adesc"
    )
    assert "aggFilters=phase%3A2+3%2Cstatus%3Arec+com" in query.agg_url("status", "com")
    assert "aggFilters=phase%3A2+3%2Cstatus%3Aact" in query.agg_url("status", "act", only=True)
    assert format_agg({"status": ["com", "rec"], "phase": []}) == "status:rec com"


def test_web_params_pages_and_dates() -> None:
    query = parse_web_params({"term": "pain", "page": "3", "start": "2020-01-01_2020-12-31"})
    assert (query.page, query.request.page_size) == (3, 30)
    assert query.request.start == DateRange("2020-01-01", "2020-12-31")
    assert query.url(page="4") == "/search?term=pain&start=2020-01-01_2020-12-31&page=4"
    assert query.hidden == [("start", "2020-01-01_2020-12-31")]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"page": "x"}, "page"),
        ({"aggFilters": "colour:red"}, "aggFilters"),
        ({"distance": "10"}, "distance"),
        ({"locStr": "Nowhere, Atlantis", "distance": "10"}, "locStr"),
        ({"sort": "Colour"}, "sort"),
        ({"start": "tomorrow"}, "start"),
    ],
)
def test_bad_web_params_name_the_parameter(params: dict[str, str], param: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_web_params(params)
    assert caught.value.param == param


def test_highlighter_matches_words_phrases_and_synonyms() -> None:
    query = parse_web_params({"term": 'ALS OR "motor neuron" AND NOT AREA[Phase]PHASE2'})
    result = SearchResult([], 0, None, expansions={"als": ("amyotrophic lateral sclerosis",)})
    pattern = query.highlighter(result)
    assert pattern is not None
    text = "Amyotrophic  lateral sclerosis and motor neurons; also alsatian"
    assert highlight(text, pattern) == (
        "<mark>Amyotrophic  lateral sclerosis</mark> and <mark>motor</mark> "
        "<mark>neurons</mark>; also alsatian"
    )


def test_expiring_cache_keeps_values_until_they_expire() -> None:
    cache: ExpiringCache[int] = ExpiringCache(size=2, seconds=60)
    calls: list[str] = []

    def compute(key: str) -> int:
        calls.append(key)
        return len(calls)

    assert cache.get("a", lambda: compute("a")) == 1
    assert cache.get("a", lambda: compute("a")) == 1
    cache.get("b", lambda: compute("b"))
    cache.get("c", lambda: compute("c"))  # evicts "a", the least recently used
    assert cache.get("a", lambda: compute("a")) == 4
    expired: ExpiringCache[int] = ExpiringCache(size=2, seconds=0)
    expired.get("a", lambda: compute("a"))
    assert expired.get("a", lambda: compute("a")) == 6


def test_security_headers_are_added_but_never_replace_a_responses_own() -> None:
    def framed(_: object) -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"X-Frame-Options": "SAMEORIGIN"})

    app = SecurityHeaders(Starlette(routes=[Route("/", framed)]))
    response = TestClient(app).get("/")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert len(response.headers.get_list("x-frame-options")) == 1
    for name in SECURITY_HEADERS.keys() - {"X-Frame-Options"}:
        assert response.headers[name] == SECURITY_HEADERS[name]


def test_an_error_page_carries_the_security_headers_too(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "t.db"))

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    response = TestClient(app, raise_server_exceptions=False).get("/broken")
    assert response.status_code == 500
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_connections_accepted_on_the_servers_socket_disable_nagle() -> None:
    """What uvicorn's workers do with the socket: asyncio serves on it. Each accepted
    connection must have TCP_NODELAY, or keep-alive responses wait for delayed ACKs."""
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            nodelay.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        listener = listening_socket("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            for _ in range(100):
                if nodelay:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    # its own thread: the browser tests may leave an event loop running in this one
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, accept_one()).result(timeout=30)
    assert nodelay == [1]


def test_a_starting_server_loads_the_search_columns_before_the_first_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warmed: list[Path] = []
    done = threading.Event()

    def record(store: Store) -> None:
        warmed.append(store.path)  # type: ignore[attr-defined]
        done.set()

    monkeypatch.setattr("trialatlas.search.warm", record)
    database = tmp_path / "warm.db"
    with TestClient(create_app(str(database))):  # runs the app's startup
        assert done.wait(10), "the app did not load the search columns at startup"
    assert warmed == [database]

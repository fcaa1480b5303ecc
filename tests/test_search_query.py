"""Query parsing: Essie expressions, API v2 parameters, page tokens; no store needed.

The property tests feed arbitrary text to every parser: each input either parses or is
refused with a QueryError that names the parameter, and whatever parses compiles to an FTS5
expression made only of quoted letters/digits, known column names and operators, which
SQLite's FTS5 accepts.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialatlas.records.index_text import FIELD_NAMES
from trialatlas.search import QueryError, SearchRequest, SortKey
from trialatlas.search.essie import And, Not, Or, Pred, Text, parse, tokenize
from trialatlas.search.params import parse_agg_filters, parse_api_params, parse_sort
from trialatlas.search.plan import build_plan
from trialatlas.search.query import decode_page_token, encode_page_token
from trialatlas.search.sqlite import SQLiteSearch
from trialatlas.search.synonyms import abbreviation_pairs, is_abbreviation

ESSIE_CHARS = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 ()\"[],:-*\\'AREA RANGE MISSING AND OR NOT é中")),
    max_size=60,
)


def test_words_phrases_and_operators() -> None:
    node = parse('lung cancer OR "heart attack" NOT smoking')
    assert node == Or(
        (
            Text(("lung", "cancer"), False, (), True),
            And(
                (
                    Text(("heart", "attack"), True, (), True),
                    Not(Text(("smoking",), False, (), True)),
                )
            ),
        )
    )


def test_area_applies_to_one_term_or_group() -> None:
    node = parse("AREA[Phase](PHASE2 OR PHASE3) pain", "ConditionSearch")
    assert isinstance(node, And)
    assert node.items[0] == Or((Pred("phase", "in", ("PHASE2",)), Pred("phase", "in", ("PHASE3",))))
    assert isinstance(node.items[1], Text)
    assert node.items[1].columns == (
        "brief_title", "official_title", "acronym", "conditions", "condition_mesh", "keywords",
    )  # fmt: skip


def test_ranges_with_min_max_dates_and_ages() -> None:
    assert parse("AREA[StartDate]RANGE[2020-01, MAX]") == Pred(
        "start", "range", low="2020-01-01", high=None
    )
    assert parse("AREA[StartDate]2022") == Pred(
        "start", "range", low="2022-01-01", high="2022-12-31"
    )
    assert parse("AREA[MinimumAge]RANGE[MIN, 16 years]") == Pred("min_age", "range", high=5844)
    assert parse("AREA[EnrollmentCount]RANGE[100, 200]") == Pred(
        "enrollment", "range", low=100, high=200
    )
    assert parse(
        "AREA[ResultsFirstPostDate]MISSING".replace("ResultsFirstPostDate", "StartDate")
    ) == Pred("start", "missing")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(cancer", "unbalanced ("),
        ("cancer)", "unbalanced )"),
        ('"heart', "unbalanced"),
        ("AREA[Nope]x", "unknown field AREA[Nope]"),
        ("AREA[Phase]PHASE9", "unknown value"),
        ("AREA[BriefTitle]RANGE[1, 2]", "RANGE"),
        ("AREA[StartDate]RANGE[2020]", "two bounds"),
        ("AREA[StartDate]RANGE[2020-13-01, MAX]", "not a valid date"),
        ("AREA[Summary]MISSING".replace("Summary", "BriefSummary"), "MISSING is not supported"),
        ("SEARCH[Location](AREA[LocationCity]Boston)", "not supported"),
        ("cancer AND", "ends where a term was expected"),
        ("OR cancer", "needs a term"),
        ("(" * 40 + "x" + ")" * 40, "nested deeper"),
    ],
)
def test_bad_expressions_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(QueryError, match=re.escape(reason)):
        parse(text)


def test_terms_without_letters_or_digits_are_dropped() -> None:
    assert parse("--- ***") is None
    assert parse('cancer "" -') == Text(("cancer",), False, (), True)


@given(ESSIE_CHARS)
@settings(max_examples=400, deadline=None)
def test_any_text_parses_or_is_refused(text: str) -> None:
    try:
        parse(text)
    except QueryError as exc:
        assert exc.message


_FTS_SAFE = re.compile(r'^(?:"[^\W_]+(?: [^\W_]+)*"|\{[a-z_ ]+\} :|AND|OR|NOT|[()]|\s)+$')


class _NoSynonyms(SQLiteSearch):
    def __init__(self) -> None:  # no database: compile only
        self.expansions = {}

    def expand(self, phrase: str) -> tuple[str, ...]:
        return ("synonym of " + phrase,)


def _text_only(node: object) -> bool:
    if isinstance(node, Text):
        return True
    if isinstance(node, Or):
        return all(_text_only(i) for i in node.items)
    if isinstance(node, And):
        items = [i.item if isinstance(i, Not) else i for i in node.items]
        return any(not isinstance(i, Not) for i in node.items) and all(map(_text_only, items))
    return False


@pytest.fixture(scope="module")
def fts_table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(
        f"CREATE VIRTUAL TABLE study_fts USING fts5({', '.join(FIELD_NAMES)}, content='',"
        " tokenize='porter unicode61 remove_diacritics 2')"
    )
    return db


@given(ESSIE_CHARS, st.sampled_from(["BasicSearch", "ConditionSearch", "TitleSearch", "IdSearch"]))
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_compiled_full_text_is_quoted_tokens_only(
    fts_table: sqlite3.Connection, text: str, area: str
) -> None:
    try:
        node = parse(text, area)
    except QueryError:
        return
    if node is None or not _text_only(node):
        return
    expression = _NoSynonyms().fts(node)
    assert _FTS_SAFE.match(expression), expression
    for columns in re.findall(r"\{([a-z_ ]+)\}", expression):
        assert set(columns.split()) <= set(FIELD_NAMES)
    fts_table.execute("SELECT rowid FROM study_fts WHERE study_fts MATCH ?", (expression,))


API_NAMES = st.sampled_from(
    ["query.cond", "query.term", "filter.overallStatus", "filter.geo", "filter.ids", "aggFilters",
     "sort", "pageSize", "fields", "countTotal", "format", "filter.advanced", "bogus"]
)  # fmt: skip


@given(st.dictionaries(API_NAMES, st.lists(ESSIE_CHARS, min_size=1, max_size=2), max_size=4))
@settings(max_examples=400, deadline=None)
def test_any_api_parameters_parse_or_name_the_bad_one(params: dict[str, list[str]]) -> None:
    try:
        query = parse_api_params(params)
        build_plan(query.request)
    except QueryError as exc:
        assert exc.param in params or exc.param in ("pageToken",), exc


def test_api_parameters_map_to_a_request() -> None:
    query = parse_api_params(
        {
            "query.cond": ["ALS"],
            "filter.overallStatus": ["RECRUITING|NOT_YET_RECRUITING"],
            "aggFilters": ["status:rec phase:2 3,ages:older,results:with,funderType:other"],
            "filter.geo": ["distance(39.0035707,-77.1013313,50mi)"],
            "filter.ids": ["nct4952155,NCT00000102"],
            "sort": ["LastUpdatePostDate:desc,EnrollmentCount"],
            "pageSize": ["5000"],
            "countTotal": ["true"],
            "fields": ["NCTId|BriefTitle"],
        }
    )
    r = query.request
    assert r.cond == "ALS" and r.status == {"RECRUITING"}  # filter and aggFilters intersect
    assert r.phase == {"PHASE2", "PHASE3"} and r.age_group == {"OLDER_ADULT"}
    assert r.has_results is True and "OTHER_GOV" in r.funder_type and "NIH" not in r.funder_type
    assert r.near is not None and round(r.near.km, 2) == 80.47
    assert r.ids == {"NCT04952155", "NCT00000102"}
    assert r.sort == (SortKey("last_update", True), SortKey("enrollment", False))
    assert r.page_size == 1000 and query.count_total and query.fields == ("NCTId", "BriefTitle")


@pytest.mark.parametrize(
    ("params", "param", "reason"),
    [
        ({"filter.phase": ["PHASE3"]}, "filter.phase", "`filter.phase` is unknown parameter"),
        ({"pageSize": ["-1"]}, "pageSize", "negative"),
        ({"pageSize": ["ten"]}, "pageSize", "whole number"),
        ({"filter.overallStatus": ["RECRUTING"]}, "filter.overallStatus", "unknown status"),
        ({"filter.geo": ["distance(1,2)"]}, "filter.geo", "distance("),
        ({"filter.geo": ["distance(91,2,5mi)"]}, "filter.geo", "outside"),
        ({"filter.ids": ["NCT1234567890"]}, "filter.ids", "not an NCT id"),
        ({"aggFilters": ["status:xyz"]}, "aggFilters", "unknown option"),
        ({"aggFilters": ["colour:red"]}, "aggFilters", "unknown filter"),
        ({"sort": ["BriefTitle"]}, "sort", "cannot sort"),
        ({"sort": ["StartDate:up"]}, "sort", "asc or desc"),
        ({"sort": ["StartDate,EnrollmentCount,@relevance"]}, "sort", "at most two"),
        ({"countTotal": ["yes"]}, "countTotal", "true or false"),
        ({"format": ["xml"]}, "format", "json or csv"),
        ({"pageSize": ["1", "2"]}, "pageSize", "more than once"),
    ],
)
def test_bad_api_parameters_name_the_parameter(
    params: dict[str, list[str]], param: str, reason: str
) -> None:
    with pytest.raises(QueryError, match=re.escape(reason)) as caught:
        parse_api_params(params)
    assert caught.value.param == param


def test_page_size_zero_means_default() -> None:
    assert parse_api_params({"pageSize": ["0"]}).request.page_size == 10


def test_query_of_only_nct_ids_ignores_filters() -> None:
    query = parse_api_params(
        {"query.term": ["NCT04952155, NCT00000102"], "aggFilters": ["status:rec"]}
    )
    assert build_plan(query.request).filters == ()


def test_agg_filters_accept_comma_or_space_separated_pairs() -> None:
    assert parse_agg_filters("status:rec,phase:2") == parse_agg_filters("status:rec phase:2")
    assert parse_agg_filters("healthy:y|sex:f") == {"healthy_volunteers": {True}, "sex": {"FEMALE"}}


def test_sort_defaults_follow_the_original() -> None:
    assert parse_sort("StartDate") == (SortKey("start", True),)  # dates: newest first
    assert parse_sort("EnrollmentCount") == (SortKey("enrollment", False),)  # numbers: ascending
    assert parse_sort("@relevance") == (SortKey("relevance", True),)


def test_page_tokens_round_trip_and_belong_to_their_query() -> None:
    request = SearchRequest(cond="asthma", page_size=5)
    token = encode_page_token(request, (-12.5, float("inf")), 4952155)
    assert decode_page_token(request.with_page(token)) == ((-12.5, float("inf")), 4952155)
    with pytest.raises(QueryError, match="different query"):
        decode_page_token(SearchRequest(cond="copd", page_token=token))
    with pytest.raises(QueryError, match="malformed"):
        decode_page_token(SearchRequest(page_token="not-a-token"))


@given(st.text(max_size=40))
def test_any_page_token_decodes_or_is_refused(token: str) -> None:
    try:
        decode_page_token(SearchRequest(page_token=token or None))
    except QueryError as exc:
        assert exc.param == "pageToken"


def test_request_validates_its_values() -> None:
    with pytest.raises(QueryError, match="unknown status"):
        SearchRequest(status=frozenset({"OPEN"}))
    with pytest.raises(QueryError, match="page size"):
        SearchRequest(page_size=0)


def test_abbreviations_are_initials_of_a_stated_long_form() -> None:
    assert is_abbreviation("ALS", "Amyotrophic Lateral Sclerosis")
    assert is_abbreviation("COPD", "Chronic Obstructive Pulmonary Disease")
    assert not is_abbreviation("ALS", "Lou Gehrig's disease")
    assert abbreviation_pairs(["Amyotrophic Lateral Sclerosis", "ALS", "riluzole"]) == {
        ("als", "amyotrophic lateral sclerosis")
    }
    assert abbreviation_pairs(["Major Depressive Disorder (MDD)"]) == {
        ("mdd", "major depressive disorder")
    }


def test_tokens_are_what_the_index_holds() -> None:
    assert tokenize("IL-2 Low-dose, ALSFRS-R") == ("il", "2", "low", "dose", "alsfrs", "r")

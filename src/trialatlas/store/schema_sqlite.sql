-- trialatlas embedded store (SQLite, WAL). One row per study in `study` with the columns
-- listing and filtering need; every version's full API v2 document in `study_version`;
-- multi-valued facets in `study_term`; geocoded places in `location`; condition-synonym
-- evidence in `term_link`. The BM25 full text (`study_fts`, rowid = study.rowid) is in a
-- file of its own beside this one: schema_text.sql.
PRAGMA user_version = 3;

CREATE TABLE IF NOT EXISTS study (
    rowid INTEGER PRIMARY KEY,
    nct_id TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    brief_title TEXT,
    official_title TEXT,
    acronym TEXT,
    overall_status TEXT,
    phases TEXT,                 -- '|'-joined API v2 phases, e.g. 'PHASE1|PHASE2'
    study_type TEXT,
    start_date TEXT, start_date_type TEXT,
    primary_completion_date TEXT, primary_completion_date_type TEXT,
    completion_date TEXT, completion_date_type TEXT,
    first_posted_date TEXT, first_posted_date_type TEXT,
    last_update_date TEXT, last_update_date_type TEXT,
    enrollment INTEGER, enrollment_type TEXT,
    sex TEXT,
    min_age_days INTEGER, max_age_days INTEGER,
    healthy_volunteers INTEGER,
    lead_sponsor TEXT, lead_sponsor_class TEXT,
    has_results INTEGER NOT NULL,
    synthetic INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0  -- search_state.generation of the write that set it
);

CREATE TABLE IF NOT EXISTS study_version (
    nct_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    changed_modules TEXT NOT NULL,  -- JSON array of module paths
    document BLOB NOT NULL,         -- the API v2 study document: JSON, or a zstd frame of it
    PRIMARY KEY (nct_id, version)
) WITHOUT ROWID;

-- kind: condition | keyword | mesh | intervention | country | phase
CREATE TABLE IF NOT EXISTS study_term (
    study_rowid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL COLLATE NOCASE
);
CREATE INDEX IF NOT EXISTS study_term_by_value ON study_term (kind, value, study_rowid);
CREATE INDEX IF NOT EXISTS study_term_by_study ON study_term (study_rowid);

CREATE INDEX IF NOT EXISTS study_by_status ON study (overall_status);
CREATE INDEX IF NOT EXISTS study_by_type ON study (study_type);
CREATE INDEX IF NOT EXISTS study_by_last_update ON study (last_update_date);
CREATE INDEX IF NOT EXISTS study_by_generation ON study (generation);

-- Bumped by every write: the search layer refreshes its in-memory columns from the rows
-- whose generation is newer than the one it loaded.
CREATE TABLE IF NOT EXISTS search_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO search_state VALUES ('generation', 0);
-- tells apart two databases created one after the other at the same path
INSERT OR IGNORE INTO search_state VALUES ('instance', abs(random()));

-- One row per distinct place (city, state, country) of a study's sites; lat/lon from the
-- record's geoPoint or, failing that, the offline gazetteer (search/geo.py).
CREATE TABLE IF NOT EXISTS location (
    study_rowid INTEGER NOT NULL,
    city TEXT COLLATE NOCASE,
    state TEXT,
    country TEXT COLLATE NOCASE,
    status TEXT,                 -- RECRUITING when any site there recruits
    lat REAL,
    lon REAL
);
CREATE INDEX IF NOT EXISTS location_by_study ON location (study_rowid);
CREATE INDEX IF NOT EXISTS location_by_city ON location (city, country);

-- Evidence for condition synonyms, counted over current records (search/synonyms.py):
-- kind 'ab' (abbreviation a of long form b), 'cm' (condition a with MeSH term b on n
-- records), 'c' / 'm' (records with MeSH terms filed under condition a / carrying term a).
CREATE TABLE IF NOT EXISTS term_link (
    kind TEXT NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (kind, a, b)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS term_link_by_b ON term_link (kind, b);

-- trialatlas embedded store (SQLite, WAL). One row per study in `study` with the columns
-- listing and filtering need; every version's full API v2 document in `study_version`;
-- multi-valued facets in `study_term`; BM25 full text in `study_fts` (rowid = study.rowid).
PRAGMA user_version = 1;

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
    synthetic INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS study_version (
    nct_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    changed_modules TEXT NOT NULL,  -- JSON array of module paths
    document TEXT NOT NULL,         -- the API v2 study document (JSON)
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

CREATE VIRTUAL TABLE IF NOT EXISTS study_fts USING fts5 (
    {fts_columns},
    content = '',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

-- The full-text index of a trialatlas SQLite store, in a file of its own beside it
-- ({store}-fts), so that a bulk ingest indexes text on a second core (store/text_index.py).
-- Derived data: whatever it lacks is rebuilt from the store's documents.
PRAGMA user_version = 1;

-- generation: the store's search_state generation this file has caught up with;
-- instance: the store's search_state instance, so a file left by another store is rebuilt.
CREATE TABLE IF NOT EXISTS text_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- Which version of each study (by store rowid) study_fts holds: a contentless FTS5 row is
-- deleted by giving it the text it was indexed with, which that version's document gives.
CREATE TABLE IF NOT EXISTS indexed (
    rowid INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);

CREATE VIRTUAL TABLE IF NOT EXISTS study_fts USING fts5 (
    {fts_columns},
    content = '',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- FTS5 buffers a transaction's new postings in memory and writes a segment when they pass
-- `hashsize` (default 1 MB); a batch of 4,000 studies (ingest.WRITE_BATCH) holds about
-- 40 MB, so with 64 MB it writes one segment per batch instead of many, saving merges.
-- Write tuning only: what the index holds and returns is the same.
INSERT INTO study_fts (study_fts, rank) VALUES ('hashsize', 67108864);
-- Merge segments 8 at a time instead of 4: a bulk ingest rewrites each posting fewer times
-- (6% of the write time at 90,000 studies), for at most twice as many segments a query reads.
INSERT INTO study_fts (study_fts, rank) VALUES ('automerge', 8)

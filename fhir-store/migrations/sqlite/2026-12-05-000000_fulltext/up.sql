-- Full-text search (`_text`, `_content`; fhir-server/src/search/fulltext/).
-- The tokens are made in Rust and stored space-separated; the `ascii`
-- tokenizer splits exactly at those spaces (non-ASCII characters are token
-- characters), so FTS5 indexes our tokens as they are. Contentless: the
-- text itself is not kept, only the index; `contentless_delete` lets a
-- write remove the old version's row.
--
-- Resources stored before this migration have no row here until
-- `$reindex` (POST [base]/$reindex) indexes them again.
CREATE TABLE idx_fulltext_doc (
    id INTEGER PRIMARY KEY,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    UNIQUE (resource_type, resource_id)
);

CREATE VIRTUAL TABLE idx_fulltext USING fts5(
    narrative, content,
    content = '', contentless_delete = 1, tokenize = 'ascii'
);

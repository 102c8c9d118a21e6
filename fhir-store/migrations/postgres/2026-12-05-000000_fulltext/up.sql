-- Full-text search (`_text`, `_content`; fhir-server/src/search/fulltext/).
-- The tokens are made in Rust and written as tsvector literals, so no
-- text-search configuration or locale is involved; GIN indexes answer
-- `@@ tsquery`.
--
-- Resources stored before this migration have no row here until
-- `$reindex` (POST [base]/$reindex) indexes them again.
CREATE TABLE idx_fulltext (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    narrative TSVECTOR NOT NULL,
    content TSVECTOR NOT NULL,
    PRIMARY KEY (resource_type, resource_id)
);

CREATE INDEX idx_fulltext_narrative ON idx_fulltext USING GIN (narrative);
CREATE INDEX idx_fulltext_content ON idx_fulltext USING GIN (content);

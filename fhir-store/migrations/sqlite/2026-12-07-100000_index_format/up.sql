-- The format of the stored search index rows (`store::INDEX_FORMAT`): when
-- the code that folds or extracts index values changes what it stores, the
-- server reindexes every resource at start and records the new format
-- here, so old rows never meet new search values. No row means format 1
-- (every database from before this table).
CREATE TABLE index_format (
    id INTEGER PRIMARY KEY,
    format INTEGER NOT NULL
);

-- Index format 2 also keeps every number and quantity value exactly
-- (search/decimal_key.rs: an order-preserving text key), so values beyond
-- f64 (9007199254740993, 0.1e400) are found; filled by the reindex.
ALTER TABLE idx_number ADD COLUMN value_key TEXT;
ALTER TABLE idx_quantity ADD COLUMN value_key TEXT;
CREATE INDEX idx_number_key ON idx_number (resource_type, param, value_key);
CREATE INDEX idx_quantity_key ON idx_quantity (resource_type, param, value_key);

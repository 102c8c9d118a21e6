-- Local codes of imported code systems that had no standard mapping when a
-- resource carrying them was written (`serve --local-codes`), one row per
-- (write, code): insert-only, so concurrent writers never contend for a
-- counter row; `CodeSystem/$unmapped-codes` aggregates.
CREATE TABLE local_code_unmapped (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL,
    code TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE INDEX local_code_unmapped_code ON local_code_unmapped (system, code);

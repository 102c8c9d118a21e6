-- The change feed of definitions (`store/definitions.rs`): one counter per
-- kind of definition that servers cache in memory (search parameters,
-- terminology, profiles, Consents), bumped in the transaction of every
-- write of such a resource. A server compares the counters with the ones
-- its caches were built from, so a change made by another process on the
-- same database is seen (PostgreSQL also sends a NOTIFY on commit).
CREATE TABLE definition_stamps (
    kind TEXT PRIMARY KEY NOT NULL,
    stamp BIGINT NOT NULL
);
INSERT INTO definition_stamps (kind, stamp) VALUES
    ('SearchParameter', 0),
    ('Terminology', 0),
    ('Conformance', 0),
    ('Consent', 0);

-- History is read newest first by lastUpdated, ties by seq
-- (fhir-server/src/store/write_clock.rs): one index for system history
-- and `_since` polling, one per type.
CREATE INDEX resource_versions_updated ON resource_versions (last_updated, seq);
CREATE INDEX resource_versions_type_updated ON resource_versions (resource_type, last_updated, seq);

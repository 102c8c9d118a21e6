-- Bulk Data $export jobs (`store/bulk_jobs.rs`): kept in the database so
-- that any node answers a status request, and a job whose node died (its
-- lease ran out) is taken over by another node or the restarted one.
-- `spec` is the kick-off's parameters as the server understood them (JSON),
-- `manifest` the completion manifest (JSON); times are milliseconds since
-- the Unix epoch except `transaction_time` (a FHIR instant).
CREATE TABLE bulk_export_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT,
    request TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    transaction_time TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    lease_holder TEXT,
    lease_until_ms BIGINT NOT NULL,
    progress TEXT,
    manifest TEXT,
    error TEXT
);
CREATE INDEX bulk_export_jobs_runnable ON bulk_export_jobs (state, lease_until_ms);

-- Every version of every resource. `seq` is a global, ever-growing position
-- that history paging uses as its cursor (offsets would shift under writes).
CREATE TABLE resource_versions (
    seq BIGSERIAL PRIMARY KEY,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    deleted BOOLEAN NOT NULL,
    method TEXT NOT NULL,
    body BYTEA,
    UNIQUE (resource_type, resource_id, version)
);
CREATE INDEX resource_versions_type_seq ON resource_versions (resource_type, seq);

-- The current version of each resource: the row writers guard with
-- `WHERE version = expected`, so no update is lost.
CREATE TABLE resources (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    deleted BOOLEAN NOT NULL,
    PRIMARY KEY (resource_type, resource_id)
);

-- Search index: one table per search-parameter type (search.html#ptypes),
-- rows for the current version of each resource only, written in the same
-- transaction as the resource (fhir-server/src/store/index_rows.rs).
-- `grp` ties the components of one composite value together (0 otherwise).
-- Value columns compare byte-wise (PostgreSQL: COLLATE "C"), so prefix
-- matches are index range scans and ordering is the same on both backends;
-- type and id columns keep the default collation of `resources`, which
-- they are compared with.

CREATE TABLE idx_string (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    normalized TEXT COLLATE "C" NOT NULL,
    exact TEXT COLLATE "C" NOT NULL
);
CREATE INDEX idx_string_value ON idx_string (resource_type, param, normalized);
CREATE INDEX idx_string_res ON idx_string (resource_type, resource_id);

CREATE TABLE idx_token (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    system TEXT COLLATE "C",
    code TEXT COLLATE "C",
    text TEXT COLLATE "C",
    type_system TEXT COLLATE "C",
    type_code TEXT COLLATE "C"
);
CREATE INDEX idx_token_value ON idx_token (resource_type, param, code, system);
CREATE INDEX idx_token_res ON idx_token (resource_type, resource_id);

CREATE TABLE idx_reference (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    target_type TEXT,
    target_id TEXT,
    target_version TEXT,
    url TEXT COLLATE "C",
    url_version TEXT COLLATE "C",
    identifier_system TEXT COLLATE "C",
    identifier_value TEXT COLLATE "C"
);
CREATE INDEX idx_reference_target ON idx_reference (resource_type, param, target_id, target_type);
CREATE INDEX idx_reference_url ON idx_reference (resource_type, param, url);
CREATE INDEX idx_reference_identifier ON idx_reference (resource_type, param, identifier_value);
CREATE INDEX idx_reference_res ON idx_reference (resource_type, resource_id);
CREATE INDEX idx_reference_pointee ON idx_reference (target_id, target_type);

CREATE TABLE idx_date (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    lo BIGINT NOT NULL,
    hi BIGINT NOT NULL
);
CREATE INDEX idx_date_value ON idx_date (resource_type, param, lo, hi);
CREATE INDEX idx_date_res ON idx_date (resource_type, resource_id);

CREATE TABLE idx_number (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    lo DOUBLE PRECISION NOT NULL,
    hi DOUBLE PRECISION NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (resource_type, param, lo, hi);
CREATE INDEX idx_number_res ON idx_number (resource_type, resource_id);

CREATE TABLE idx_quantity (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    lo DOUBLE PRECISION NOT NULL,
    hi DOUBLE PRECISION NOT NULL,
    system TEXT COLLATE "C",
    code TEXT COLLATE "C",
    unit TEXT COLLATE "C",
    canonical_code TEXT COLLATE "C",
    canonical_lo DOUBLE PRECISION,
    canonical_hi DOUBLE PRECISION
);
CREATE INDEX idx_quantity_value ON idx_quantity (resource_type, param, lo, hi);
CREATE INDEX idx_quantity_canonical ON idx_quantity (resource_type, param, canonical_code, canonical_lo);
CREATE INDEX idx_quantity_res ON idx_quantity (resource_type, resource_id);

CREATE TABLE idx_uri (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    param TEXT NOT NULL,
    grp INTEGER NOT NULL,
    uri TEXT COLLATE "C" NOT NULL
);
CREATE INDEX idx_uri_value ON idx_uri (resource_type, param, uri);
CREATE INDEX idx_uri_res ON idx_uri (resource_type, resource_id);

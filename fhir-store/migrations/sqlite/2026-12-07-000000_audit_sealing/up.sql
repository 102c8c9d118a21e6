-- Audit records are written unsealed in the transaction of the request
-- they record, and chained after commit (audit/sealer.rs): one row here
-- per record still to seal, with the MAC the server computed over it
-- (so the sealer never chains a row slipped into the database), in the
-- order they were written.
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id TEXT NOT NULL UNIQUE,
    mac TEXT NOT NULL,
    recorded TEXT NOT NULL
);
-- The head of the audit chain: one row, updated by every sealing batch,
-- whose row lock orders the sealers of every server process.
CREATE TABLE audit_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

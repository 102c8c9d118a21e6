-- Indexes the EXPLAIN test (fhir-server/src/store/explain_tests.rs) showed
-- missing: conditions the planner (fhir-server/src/search/sql.rs) writes
-- that no index of 2026-11-26-000000_search_index could serve.

-- Dates: `gt`, `eb` and the bound `ge` adds compare `hi`, which the
-- (lo, hi) index cannot range over.
CREATE INDEX idx_date_hi ON idx_date (resource_type, param, hi);

-- Numbers and quantities without a UCUM unit compare `value`.
CREATE INDEX idx_number_plain ON idx_number (resource_type, param, value);
CREATE INDEX idx_quantity_plain ON idx_quantity (resource_type, param, value);

-- Quantities with a UCUM unit compare the canonical value, the middle of
-- (canonical_lo, canonical_hi), written exactly as in sql.rs so that both
-- planners match the expression.
CREATE INDEX idx_quantity_canonical_value ON idx_quantity
    (resource_type, param, canonical_code, ((canonical_lo + canonical_hi) / 2));

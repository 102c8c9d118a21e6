DROP INDEX idx_quantity_canonical_value;
DROP INDEX idx_quantity_plain;
DROP INDEX idx_number_plain;
DROP INDEX idx_date_hi;

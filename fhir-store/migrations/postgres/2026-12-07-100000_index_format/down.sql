DROP INDEX idx_quantity_key;
DROP INDEX idx_number_key;
ALTER TABLE idx_quantity DROP COLUMN value_key;
ALTER TABLE idx_number DROP COLUMN value_key;
DROP TABLE index_format;

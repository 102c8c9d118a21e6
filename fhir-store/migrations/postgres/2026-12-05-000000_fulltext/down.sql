DROP TABLE idx_fulltext;

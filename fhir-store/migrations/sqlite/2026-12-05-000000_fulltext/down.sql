DROP TABLE idx_fulltext;
DROP TABLE idx_fulltext_doc;

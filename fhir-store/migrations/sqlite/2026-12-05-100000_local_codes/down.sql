DROP TABLE local_code_unmapped;

DROP TABLE definition_stamps;

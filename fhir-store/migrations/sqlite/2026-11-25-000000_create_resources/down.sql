DROP TABLE resources;
DROP TABLE resource_versions;

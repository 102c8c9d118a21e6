DROP TABLE bulk_export_jobs;

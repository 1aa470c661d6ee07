-- TEST STAND-IN: what upstream's initial-registry.sql does on a new cluster: Harbor's database
-- "registry" (UTF8) with the migration tool's bookkeeping table, empty.
CREATE DATABASE registry ENCODING 'UTF8';
\connect registry
CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);

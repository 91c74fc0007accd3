-- Run once, as a PostgreSQL superuser: psql -v ON_ERROR_STOP=1 -f deploy/postgresql/roles.sql
-- Two roles: the owner runs the migrations and owns every table; the app role, which the
-- running service logs in as, may read and write data but not change the schema, and may only
-- append to the audit log and its checkpoints (see grants.sql).
-- Set the passwords afterwards with \password kongressval_owner and \password kongressval_app
-- (or use peer authentication for local service users and no passwords at all).
CREATE ROLE kongressval_owner LOGIN;
CREATE ROLE kongressval_app LOGIN;
CREATE DATABASE kongressval OWNER kongressval_owner;
-- In the new database, only the owner may create objects (PostgreSQL 15 already has it so).
\connect kongressval
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE kongressval FROM PUBLIC;
GRANT CONNECT ON DATABASE kongressval TO kongressval_app;

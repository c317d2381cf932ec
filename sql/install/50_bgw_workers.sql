-- ff_engine install script: background workers.
CREATE FUNCTION ff._wake_launcher() RETURNS boolean
    AS 'MODULE_PATHNAME', 'ff_wake_launcher_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._wake_launcher() IS
    'Internal: asks the launcher to start this database''s engine worker once the transaction commits';

-- Serve this database at once when the library is preloaded.
SELECT ff._wake_launcher();

-- The job registry (issue 22, src/bgw_jobs.c): every background job is
-- declared once in C, and its setting, its ff.scanner_state row, its SQL
-- function, ff.run_scanner and ff.scanner_status agree with the table.  A
-- job added to the table without its setting, state row or function fails
-- here.
BEGIN;
\ir helpers.psql

SELECT cmp_ok((SELECT count(*)::int FROM ff._jobs() WHERE setting IS NOT NULL), '>=', 18, 'the registry holds every scanner');
SELECT is((SELECT count(DISTINCT name)::int FROM ff._jobs()), (SELECT count(*)::int FROM ff._jobs()), 'job names are unique');
SELECT is((SELECT string_agg(name, ' ' ORDER BY name) FROM ff._jobs() WHERE setting IS NULL),
          'completion_dispatch flow_cancel_dispatch', 'the jobs without a setting: the completion and flow-cancel dispatchers');
SELECT is((SELECT string_agg(name, ' ' ORDER BY name) FROM ff._jobs() WHERE setting IS NULL AND NOT at_commit), NULL,
          'a job without a setting runs as commits wake the worker');

-- settings: one per scanner, its default and unit from the table
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j
           WHERE j.setting IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_settings s WHERE s.name = j.setting)), NULL,
          'every scanner has its setting');
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j JOIN pg_settings s ON s.name = j.setting
           WHERE s.boot_val::bigint <> j.default_interval_ms OR s.unit <> 'ms' OR s.context <> 'sighup'
              OR s.min_val::int <> 100 OR s.short_desc <> j.description), NULL,
          'its default, unit, context, floor and help text are the table''s');
SELECT is((SELECT string_agg(s.name, ' ') FROM pg_settings s
           WHERE s.name LIKE 'ff\_engine.%\_interval' AND NOT EXISTS (SELECT 1 FROM ff._jobs() j WHERE j.setting = s.name)), NULL,
          'no interval setting without its job');
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j WHERE j.setting IS NOT NULL
           AND ff.scanner_interval_ms(j.name) IS DISTINCT FROM j.interval_ms), NULL, 'every scanner''s interval agrees');

-- state rows: one per scanner, none for anything else
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j WHERE j.setting IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ff.scanner_state s WHERE s.scanner = j.name)), NULL, 'every scanner has its state row');
SELECT is((SELECT string_agg(s.scanner, ' ') FROM ff.scanner_state s
           WHERE NOT EXISTS (SELECT 1 FROM ff._jobs() j WHERE j.name = s.scanner AND j.setting IS NOT NULL)), NULL,
          'no state row without its scanner');
SELECT is((SELECT count(*)::int FROM ff.scanner_state WHERE last_error_sqlstate IS NOT NULL OR last_error IS NOT NULL
           OR last_error_at IS NOT NULL), 0, 'no failed batch recorded on a fresh install');

-- SQL functions: each job's batch is fn(batch_size integer) -> jsonb, and
-- the table's batch size is the function's default (a manual call does
-- what the worker does)
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j WHERE NOT EXISTS (
             SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace AND 'ff.' || p.proname = j.sql_function
               AND p.pronargs >= 1 AND p.proargtypes[0] = 'int4'::regtype AND p.prorettype = 'jsonb'::regtype
               AND p.pronargs - p.pronargdefaults <= 1)), NULL,
          'every job''s SQL function exists, taking the batch size');
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j JOIN pg_proc p
             ON p.pronamespace = 'ff'::regnamespace AND 'ff.' || p.proname = j.sql_function AND p.pronargs >= 1
           WHERE pg_get_function_arg_default(p.oid, 1) IS DISTINCT FROM j.batch_size::text), NULL,
          'and its default batch size is the table''s');

-- ff.run_scanner dispatches through the table
SELECT t.at(1000000000000);
SELECT is((SELECT string_agg(j.name, ' ') FROM ff._jobs() j
           WHERE j.setting IS NOT NULL AND (ff.run_scanner(j.name) ->> 'ok')::boolean IS NOT TRUE), NULL,
          'run_scanner runs every scanner of the table');
SELECT is((SELECT string_agg(s.scanner, ' ') FROM ff.scanner_state s
           WHERE s.runs <> 1 OR s.next_run_at <> 1000000000000 + ff.scanner_interval_ms(s.scanner)), NULL,
          '... recording each run and its next one');
SELECT throws_ok($$SELECT ff.run_scanner('completion_dispatch')$$, '22023', NULL,
                 'a job without an interval is not a scanner');
SELECT throws_ok($$SELECT ff.run_scanner(NULL)$$, '22023', NULL, 'nor is NULL');
CREATE FUNCTION t.hint_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END $$;
SELECT is(t.hint_of($$SELECT ff.run_scanner('nope')$$),
          'Scanners: ' || (SELECT string_agg(name, ', ') FROM (SELECT name FROM ff._jobs() WHERE setting IS NOT NULL) j) || '.',
          'an unknown scanner''s HINT lists the table''s scanners');

-- a scanner whose row is missing (a job added by a newer library) gets it
-- on its first run, and the status view lists it meanwhile
DELETE FROM ff.scanner_state WHERE scanner = 'delayed';
SELECT is((SELECT runs FROM ff.scanner_status WHERE scanner = 'delayed'), 0::bigint,
          'scanner_status lists a scanner without a state row');
SELECT is(ff.run_scanner('delayed') ->> 'ok', 'true', 'it runs without its row');
SELECT is((SELECT runs || ':' || cycle FROM ff.scanner_state WHERE scanner = 'delayed'), '1:1', 'and its row is made');
SELECT is((SELECT count(*)::int FROM ff.scanner_status), (SELECT count(*)::int FROM ff._jobs() WHERE setting IS NOT NULL),
          'scanner_status: one row per scanner');
DELETE FROM ff.scanner_state WHERE scanner = 'unblock';
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(ff.run_scanners()) r WHERE r ->> 'scanner' = 'unblock'), 1,
          'run_scanners runs a scanner without a state row');
SELECT * FROM finish();
ROLLBACK;

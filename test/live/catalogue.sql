-- The catalogue of ff_engine in the current database, one line per fact,
-- for comparing a fresh install with an upgraded one (test/live/upgrade.sh).
-- Columns are compared by name (ALTER TABLE ADD COLUMN appends, a fresh
-- CREATE TABLE places them where the piece does).
SELECT line FROM (
SELECT 'function ' || p.oid::regprocedure::text || ' returns ' || pg_get_function_result(p.oid)
       || ' args(' || pg_get_function_arguments(p.oid) || ') ' || l.lanname || ' kind=' || p.prokind::text
       || ' volatile=' || p.provolatile::text || ' strict=' || p.proisstrict || ' secdef=' || p.prosecdef
       || ' config=' || coalesce(p.proconfig::text, '') || ' acl=' || coalesce(p.proacl::text, 'default')
       || ' body=' || md5(coalesce(p.prosrc, '') || coalesce(p.probin, '')) AS line
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.pronamespace = 'ff'::regnamespace
UNION ALL
SELECT 'comment function ' || p.oid::regprocedure::text || ': ' || coalesce(obj_description(p.oid, 'pg_proc'), '(none)')
FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace
UNION ALL
SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text || ' options=' || coalesce(c.reloptions::text, '')
       || ' acl=' || coalesce(c.relacl::text, 'default') || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '(none)')
FROM pg_class c WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'c')
UNION ALL
SELECT 'column ' || c.oid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
       || CASE WHEN c.relkind = 'v' THEN ' #' || a.attnum ELSE '' END
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind IN ('r', 'v', 'c')
UNION ALL
SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ': ' || pg_get_constraintdef(c.oid)
FROM pg_constraint c WHERE c.connamespace = 'ff'::regnamespace AND c.conrelid <> 0
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = 'ff'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'ff'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'view ' || c.oid::regclass::text || ' ' || md5(pg_get_viewdef(c.oid)) FROM pg_class c
WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT 'type ' || t.oid::regtype::text || ' enum ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
FROM pg_type t WHERE t.typnamespace = 'ff'::regnamespace AND t.typtype = 'e'
UNION ALL
SELECT 'extension member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
FROM pg_depend d WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ff_engine')
UNION ALL
SELECT 'dumped ' || x.cfg::regclass::text || ' where ' || coalesce(x.cond, '')
FROM pg_extension e, unnest(e.extconfig, e.extcondition) x(cfg, cond) WHERE e.extname = 'ff_engine'
UNION ALL
SELECT 'scanner ' || s.scanner FROM ff.scanner_state s
UNION ALL
SELECT 'schema acl ' || coalesce(n.nspacl::text, 'default') FROM pg_namespace n WHERE n.nspname = 'ff'
) x ORDER BY line;

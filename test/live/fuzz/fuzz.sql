-- The fuzz driver (issue 10): calls ff.* functions with random and
-- adversarial arguments, each call in its own subtransaction, and records
-- what came back.  A call may return a value or raise a clean ERROR; an
-- internal error (SQLSTATE class XX), a jsonb result that is not an
-- envelope, or a crashed backend is a finding.
CREATE SCHEMA IF NOT EXISTS fuzz;
CREATE TABLE IF NOT EXISTS fuzz.finding (fn text, args text, problem text);
CREATE TABLE IF NOT EXISTS fuzz.tally (outcome text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE IF NOT EXISTS fuzz.called (fn text PRIMARY KEY, n bigint NOT NULL);

-- Values worth trying, by type.
CREATE OR REPLACE FUNCTION fuzz.pick(typ text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ids text[] := ARRAY(SELECT id FROM ff.executions ORDER BY random() LIMIT 3);
    wps text[] := ARRAY(SELECT waitpoint_id::text FROM ff.waitpoint ORDER BY random() LIMIT 2);
    r int := (random() * 100)::int;
BEGIN
    IF r < 8 THEN RETURN 'NULL'; END IF;
    CASE typ
    WHEN 'text', 'name' THEN
        RETURN quote_literal((ARRAY['', 'x', 'default', 'operator_override', 'waiting_for_signal', 'fail', 'all',
            repeat('a', 300), repeat('z', 100000), '{fp:0}:garbage', '{fp:9999}:00000000-0000-4000-8000-000000000001',
            '{fp:-1}:00000000-0000-4000-8000-000000000001', ''';DROP TABLE ff.execution;--', E'tab\there', E'nl\nx',
            'ünïcødé', '__operator_only__', 'k1:' || repeat('0', 40), 'a=b', 'acme.key', 'start', 'end', '0-0',
            '{fp:0}:' || gen_random_uuid(), coalesce(ids[1], 'x'), coalesce(ids[2], 'y'), coalesce(ids[3], 'z'),
            'lease_holder', 'delayed', 'json-merge-patch', 'stdout', 'durable', 'summary', 'best_effort'])[1 + (random() * 34)::int % 34]);
    WHEN 'bigint', 'numeric', 'double precision' THEN
        RETURN (ARRAY['0', '1', '-1', '9223372036854775807', '-9223372036854775808', '1000', '30000', '86400000',
            (ff.now_ms())::text, (ff.now_ms() + 60000)::text, (ff.now_ms() - 3600000)::text, '2147483648',
            ((random() * 1e6)::bigint)::text])[1 + (random() * 12)::int] ||
            CASE typ WHEN 'numeric' THEN '::numeric' WHEN 'double precision' THEN '::float8' ELSE '::bigint' END;
    WHEN 'integer', 'smallint' THEN
        RETURN (ARRAY['0', '1', '-1', '2147483647', '-2147483648', '5', '100', '1000', '10001', '255', '256'])[1 + (random() * 10)::int]
            || CASE typ WHEN 'smallint' THEN '::smallint' ELSE '::integer' END;
    WHEN 'boolean' THEN RETURN (ARRAY['true', 'false'])[1 + (random())::int];
    WHEN 'uuid' THEN
        RETURN quote_literal((ARRAY[gen_random_uuid()::text, '00000000-0000-0000-0000-000000000000',
            coalesce(wps[1], gen_random_uuid()::text), coalesce(split_part(ids[1], ':', 2), gen_random_uuid()::text)])[1 + (random() * 3)::int]) || '::uuid';
    WHEN 'bytea' THEN
        RETURN (ARRAY['''''::bytea', '''\x00ff80c3''::bytea', 'convert_to(repeat(''x'', 70000), ''UTF8'')',
            'convert_to(repeat(''x'', 2000000), ''UTF8'')', '''\x7b7d''::bytea'])[1 + (random() * 4)::int];
    WHEN 'jsonb' THEN
        RETURN (ARRAY['''{}''::jsonb', '''[]''::jsonb', '''"s"''::jsonb', '''null''::jsonb', '''1''::jsonb',
            '''{"required_signal_names": ["a"]}''::jsonb', '''{"composite": true, "tree": {"kind": "AllOf", "members": [{"kind": "Count", "n": 2, "waitpoints": ["a"]}]}}''::jsonb',
            '''{"v": 1, "composite": true, "tree": {"kind": "Count", "n": -1, "waitpoints": [1, null]}}''::jsonb',
            'repeat(''['', 5000)::text || repeat('']'', 5000)', '''{"a": {"b": {"c": null}}}''::jsonb',
            '''{"required_signal_names": "x", "signal_match_mode": 5}''::jsonb'])[1 + (random() * 10)::int]
            || CASE WHEN random() < 0.1 THEN '::jsonb' ELSE '' END;
    WHEN 'text[]' THEN
        RETURN (ARRAY['''{}''::text[]', '''{a,b}''::text[]', '''{NULL}''::text[]', '''{{a,b},{c,d}}''::text[]',
            'ARRAY(SELECT ''d'' || g FROM generate_series(1, 100) g)', '''{"",","}''::text[]',
            'ARRAY[' || quote_literal(coalesce(ids[1], 'x')) || ']'])[1 + (random() * 6)::int];
    WHEN 'bigint[]' THEN
        RETURN (ARRAY['''{}''::bigint[]', '''{1,2}''::bigint[]', '''{-1}''::bigint[]', '''{NULL}''::bigint[]',
            '''{9223372036854775807}''::bigint[]', 'ARRAY(SELECT g::bigint FROM generate_series(1, 100) g)'])[1 + (random() * 5)::int];
    WHEN 'uuid[]' THEN
        RETURN (ARRAY['''{}''::uuid[]', 'ARRAY[gen_random_uuid()]', 'ARRAY[NULL::uuid]', 'ARRAY[gen_random_uuid(), gen_random_uuid()]'])[1 + (random() * 3)::int];
    WHEN 'bytea[]' THEN
        RETURN (ARRAY['''{}''::bytea[]', 'ARRAY[''\x00''::bytea]', 'ARRAY[NULL::bytea]'])[1 + (random() * 2)::int];
    ELSE
        RETURN 'NULL';
    END CASE;
END $$;

-- n random calls, each as one of roles (NULL: the caller, a superuser);
-- returns how many there were.
CREATE OR REPLACE FUNCTION fuzz.run(n integer, roles text[] DEFAULT '{NULL}') RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    f record;
    args text;
    q text;
    res text;
    state text;
    outcome text;
    who text;
BEGIN
    FOR i IN 1..n LOOP
        IF i % 50 = 1 THEN
            -- keep live targets around: waiting and claimed executions
            PERFORM ff.create_execution(ff.execution_id('default')) FROM generate_series(1, 3);
            PERFORM ff.claim_next('default', 'fz', 'fz-1', max_count => 2);
        END IF;
        SELECT p.oid, p.proname, p.prorettype::regtype::text AS rettype,
               ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) t) AS types
          INTO f
          FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
         WHERE s.nspname = 'ff' AND p.prokind = 'f'
           AND p.proname NOT IN ('tail_attempt_stream', 'run_scanners')   -- they may wait; covered elsewhere
           AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[]) t WHERE format_type(t, NULL) LIKE 'ff.%')
         ORDER BY random() LIMIT 1;
        SELECT string_agg(fuzz.pick(t), ', ') INTO args FROM unnest(f.types) t;
        q := format('SELECT ff.%I(%s)::text', f.proname, coalesce(args, ''));
        who := roles[1 + floor(random() * cardinality(roles))::int];
        BEGIN
            -- the role holds for this subtransaction only (an error rolls it back with it)
            IF who IS NOT NULL THEN EXECUTE format('SET LOCAL ROLE %I', who); END IF;
            EXECUTE q INTO res;
            IF who IS NOT NULL THEN RESET ROLE; END IF;
            outcome := 'returned';
            IF f.rettype = 'jsonb' AND res IS NOT NULL
               AND NOT (jsonb_typeof(res::jsonb) = 'object' AND (res::jsonb) ? 'ok'
                        AND jsonb_typeof(res::jsonb -> 'ok') = 'boolean') THEN
                INSERT INTO fuzz.finding VALUES (f.proname, left(args, 500), 'not an envelope: ' || left(res, 200));
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, res = MESSAGE_TEXT;
            outcome := 'error ' || state;
            IF state LIKE 'XX%' OR state IN ('P0001', 'P0004', '20000', '23502', '42P01', '42703', '42804') THEN
                INSERT INTO fuzz.finding VALUES (f.proname, left(args, 500), state || ': ' || left(res, 300));
            END IF;
        END;
        INSERT INTO fuzz.tally AS t VALUES (CASE WHEN outcome = 'error 42501' THEN outcome || ' (' || coalesce(who, 'superuser') || ')' ELSE outcome END, 1) ON CONFLICT ON CONSTRAINT tally_pkey DO UPDATE SET n = t.n + 1;
        INSERT INTO fuzz.called AS c VALUES (f.proname, 1) ON CONFLICT ON CONSTRAINT called_pkey DO UPDATE SET n = c.n + 1;
    END LOOP;
    RETURN n;
END $$;

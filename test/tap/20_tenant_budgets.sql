-- Tenancy of budgets, quotas, the worker registry and list_expired_leases
-- (issue 20): a worker bound to namespace a neither reads nor touches b's
-- budgets, quotas or workers, cannot register in b, cannot choose the time,
-- cannot register for longer than ff_engine.max_worker_ttl, and learns no
-- lease id from list_expired_leases.  b's own calls keep working.
BEGIN;
\ir helpers.psql

GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE ROLE tb_a LOGIN IN ROLE ff_submitter, ff_worker;
CREATE ROLE tb_b LOGIN IN ROLE ff_submitter, ff_worker;
CREATE ROLE tb_boss LOGIN IN ROLE ff_admin;
SELECT ff.grant_namespace('tb_a', 'a');
SELECT ff.grant_namespace('tb_b', 'b');
-- a DBA may hand single admin functions to a tenant: they stay tenant-scoped
GRANT EXECUTE ON FUNCTION ff.create_budget(uuid, text[], bigint[], bigint[], bigint, text, text, text, text, text, bigint, text),
    ff.create_quota_policy(uuid, bigint, bigint, bigint, bigint, bigint, text), ff.reset_budget(uuid, bigint),
    ff.release_budget(uuid, text), ff.check_admission_and_record(uuid, text, bigint, bigint, bigint, text, bigint, bigint),
    ff.release_admission(uuid, text), ff.set_execution_admission(text, uuid[], uuid) TO tb_a;

-- budgets and quotas: A and QA of a, B and QB of b, G and QG global
CREATE FUNCTION t.bud(k text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE k WHEN 'A' THEN '00000000-0000-4000-b000-0000000000a1' WHEN 'B' THEN '00000000-0000-4000-b000-0000000000b1'
                  WHEN 'G' THEN '00000000-0000-4000-b000-000000000061' ELSE '00000000-0000-4000-b000-0000000000ff' END::uuid
$$;
CREATE FUNCTION t.quo(k text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE k WHEN 'A' THEN '00000000-0000-4000-c000-0000000000a1' WHEN 'B' THEN '00000000-0000-4000-c000-0000000000b1'
                  WHEN 'G' THEN '00000000-0000-4000-c000-000000000061' ELSE '00000000-0000-4000-c000-0000000000ff' END::uuid
$$;
CREATE FUNCTION t.used(k text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((SELECT value FROM ff.budget_usage WHERE budget_id = t.bud(k) AND dimension = 'tokens'), 0)
$$;
-- in ns b, partition 1 (t.id is partition 0)
CREATE FUNCTION t.bx(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('{fp:1}:00000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))
$$;

SELECT is(ff.create_budget(t.bud('A'), '{tokens}', '{100}', '{0}', namespace => 'a')->>'status', 'OK', 'a budget of namespace a');
SELECT ff.create_budget(t.bud('B'), '{tokens}', '{100}', '{0}', namespace => 'b');
SELECT ff.create_budget(t.bud('G'), '{tokens}', '{100}', '{0}');
SELECT is((SELECT array_agg(coalesce(namespace, '-') ORDER BY budget_id) FROM ff.budget), ARRAY['-', 'a', 'b'], 'namespaces stored; NULL is global');
SELECT ff.create_quota_policy(t.quo('A'), 60, 0, 1, namespace => 'a');
SELECT ff.create_quota_policy(t.quo('B'), 60, 0, 1, namespace => 'b');
SELECT ff.create_quota_policy(t.quo('G'), 60, 0, 1);
SELECT throws_ok($$SELECT ff.create_budget(gen_random_uuid(), namespace => '')$$, '22023', NULL, 'an empty namespace is misuse');
SELECT throws_ok(format($$SELECT ff.create_budget(gen_random_uuid(), namespace => %L)$$, repeat('n', 257)), '22001', NULL,
                 'a namespace over 256 bytes is misuse');
SELECT ff.create_execution(t.id(1), namespace => 'a', lane_id => 'ta');
SELECT ff.create_execution(t.bx(2), namespace => 'b', lane_id => 'tb');

-- usage
SELECT is(t.as_role('tb_a', $$SELECT ff.report_usage_and_check(t.bud('B'), '{tokens}', '{100}') ->> 'error'$$), 'budget_not_found',
          'a''s worker cannot report usage to b''s budget');
SELECT is(t.as_role('tb_a', format($$SELECT ff.record_spend(t.bud('B'), %L, '{tokens}', '{100}') ->> 'error'$$, t.id(1))), 'budget_not_found',
          'nor record spend on it');
SELECT is(t.used('B'), 0::bigint, 'b''s budget is untouched');
SELECT is(t.as_role('tb_a', $$SELECT ff.report_usage_and_check(t.bud('G'), '{tokens}', '{100}') ->> 'error'$$), 'budget_not_found',
          'a global budget is not found by a tenant');
SELECT is(t.used('G'), 0::bigint, 'and is untouched');
SELECT is(t.as_role('tb_b', format($$SELECT ff.record_spend(t.bud('B'), %L, '{tokens}', '{40}') ->> 'status'$$, t.bx(2))), 'OK',
          'b spends on its budget');
SELECT is(t.as_role('tb_a', $$SELECT ff.report_usage_and_check(t.bud('A'), '{tokens}', '{30}') ->> 'status'$$), 'OK', 'a on its own');
SELECT is(ARRAY[t.used('A'), t.used('B')], ARRAY[30, 40]::bigint[], 'each budget has its own tenant''s usage only');
SELECT is(t.as_role('tb_a', $$SELECT ff.report_usage_and_check(t.bud('A'), '{tokens}', '{1}', now_ms => 99999999999999) ->> 'status'$$),
          'ERROR 42501', 'a worker cannot choose the time of a report');
SELECT is(t.as_role('tb_boss', $$SELECT ff.report_usage_and_check(t.bud('A'), '{tokens}', '{1}', now_ms => ff.now_ms()) ->> 'status'$$),
          'OK', 'an admin can');
-- release and reset (admin functions handed to a)
SELECT is(t.as_role('tb_a', format($$SELECT ff.release_budget(t.bud('B'), %L) ->> 'result'$$, t.bx(2))), 'noop', 'a cannot release b''s spend');
SELECT is(t.as_role('tb_a', $$SELECT ff.reset_budget(t.bud('B')) ->> 'error'$$), 'budget_not_found', 'nor reset b''s budget');
SELECT is(t.used('B'), 40::bigint, 'b''s usage stays');
SELECT is(t.as_role('tb_a', $$SELECT ff.reset_budget(t.bud('A')) ->> 'status'$$), 'OK', 'a resets its own');
-- reads
SELECT is(t.as_role('tb_a', $$SELECT ff.get_budget_status(t.bud('B')) ->> 'error'$$), 'budget_not_found', 'a cannot read b''s budget');
SELECT is(t.as_role('tb_a', $$SELECT ff.get_budget_status(t.bud('G')) ->> 'error'$$), 'budget_not_found', 'nor a global one');
SELECT is(t.as_role('tb_b', $$SELECT (ff.get_budget_status(t.bud('B')) -> 'usage' ->> 'tokens') || ' ' || (ff.get_budget_status(t.bud('B')) ->> 'namespace')$$),
          '40 b', 'b reads its own, with its namespace');
SELECT is(t.as_role('tb_a', $$SELECT string_agg(budget_id::text, ',') FROM ff.budget_status$$), t.bud('A')::text, 'a''s budget_status lists its own');
SELECT is(t.as_role('tb_b', $$SELECT string_agg(budget_id::text, ',') FROM ff.budget_status$$), t.bud('B')::text, 'b''s its own');
SELECT is(t.as_role('tb_boss', $$SELECT count(*)::text FROM ff.budget_status$$), '3', 'the admin sees every budget');
SELECT is(t.as_role('tb_a', $$SELECT string_agg(quota_policy_id::text, ',') FROM ff.quota_status$$), t.quo('A')::text, 'a''s quota_status lists its own');
SELECT is(t.as_role('tb_boss', $$SELECT count(*)::text FROM ff.quota_status$$), '3', 'the admin sees every quota');
-- leaky-view probes: a cheap function in the reader's WHERE sees only the reader's rows
CREATE TABLE t.leaked (v text);
GRANT ALL ON t.leaked TO PUBLIC;
CREATE FUNCTION t.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN INSERT INTO t.leaked VALUES (v); RETURN false; END $$;
SELECT t.as_role('tb_a', $$SELECT count(*) FROM ff.budget_status WHERE t.leak(budget_id::text || ':' || usage)$$);
SELECT t.as_role('tb_a', $$SELECT count(*) FROM ff.quota_status WHERE t.leak(quota_policy_id::text)$$);
SELECT is((SELECT count(*)::int FROM t.leaked WHERE v LIKE t.bud('B')::text || '%' OR v LIKE t.bud('G')::text || '%'
           OR v = t.quo('B')::text OR v = t.quo('G')::text), 0, 'security barriers: a function in a''s WHERE never sees b''s or global rows');
SELECT is((SELECT count(*)::int FROM t.leaked), 2, 'it saw a''s');

-- quotas (admin functions handed to a)
SELECT ff.check_admission_and_record(t.quo('B'), t.bx(2), 60, 0, 1);
SELECT is(t.as_role('tb_a', format($$SELECT ff.check_admission_and_record(t.quo('B'), %L, 60, 0, 1) ->> 'error'$$, t.id(1))),
          'quota_policy_not_found', 'a cannot take an admission of b''s quota');
SELECT is(t.as_role('tb_a', format($$SELECT ff.check_admission_and_record(t.quo('X'), %L, 60, 0, 1) ->> 'error'$$, t.id(1))),
          'quota_policy_not_found', 'nor of an undefined one (the same answer)');
SELECT is(t.as_role('tb_a', format($$SELECT ff.release_admission(t.quo('B'), %L) ->> 'status'$$, t.bx(2))), 'OK', 'a''s release on b''s quota answers as for any id');
SELECT is((SELECT count(*)::int FROM ff.quota_admission WHERE quota_policy_id = t.quo('B')), 1, 'but b''s admission stays');
SELECT is((SELECT count(*)::int FROM ff.quota_slot WHERE quota_policy_id = t.quo('B') AND free_at > ff.now_ms()), 1, 'and so does its slot');
SELECT is(t.as_role('tb_a', format($$SELECT ff.check_admission_and_record(t.quo('A'), %L, 60, 0, 1) ->> 'status'$$, t.id(1))),
          'ADMITTED', 'a admits on its own quota');
-- creating
SELECT is(t.as_role('tb_a', $$SELECT ff.create_budget(gen_random_uuid(), namespace => 'b') ->> 'status'$$), 'ERROR 42501', 'a cannot create a budget in b');
SELECT is(t.as_role('tb_a', $$SELECT ff.create_budget(gen_random_uuid()) ->> 'status'$$), 'ERROR 42501', 'nor a global one');
SELECT is(t.as_role('tb_a', $$SELECT ff.create_quota_policy(gen_random_uuid(), 60, 1, 0, namespace => 'b') ->> 'status'$$), 'ERROR 42501',
          'nor a quota in b');
SELECT is(t.as_role('tb_a', $$SELECT ff.create_budget(gen_random_uuid(), namespace => 'a') ->> 'status'$$), 'OK', 'but in a');

-- attaching: only budgets and quotas of the execution's namespace (or global, by the unrestricted)
SELECT is(t.as_role('tb_a', format($$SELECT ff.create_execution(%L, namespace => 'a', policy_json => %L)::text$$,
          t.id(3), jsonb_build_object('budget_ids', jsonb_build_array(t.bud('B'))))),
          jsonb_build_object('ok', false, 'error', 'invalid_budget_scope', 'detail', 'budget_id ' || t.bud('B'))::text,
          'a cannot attach b''s budget at create');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(3))), 0, 'nothing created');
SELECT is(t.as_role('tb_a', format($$SELECT ff.create_execution(%L, namespace => 'a', policy_json => %L) ->> 'error'$$,
          t.id(3), jsonb_build_object('budget_ids', jsonb_build_array(t.bud('A'), t.bud('G'))))), 'invalid_budget_scope',
          'nor a global one (not found for it)');
SELECT is(t.as_role('tb_a', format($$SELECT ff.create_execution(%L, namespace => 'a', policy_json => %L) ->> 'error'$$,
          t.id(3), jsonb_build_object('budget_ids', jsonb_build_array(t.bud('X'))))), 'invalid_budget_scope',
          'nor an undefined one (the same answer)');
SELECT is(t.as_role('tb_a', format($$SELECT ff.create_execution(%L, namespace => 'a', lane_id => 'ta', policy_json => %L) ->> 'status'$$,
          t.id(3), jsonb_build_object('budget_ids', jsonb_build_array(t.bud('A'))))), 'OK', 'its own budget: attached');
SELECT is(ff.create_execution(t.id(4), namespace => 'a', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.bud('B')))::text) ->> 'error',
          'invalid_budget_scope', 'an admin cannot attach b''s budget to a''s execution either');
SELECT is(ff.create_execution(t.id(4), namespace => 'a', lane_id => 'ta',
          policy_json => jsonb_build_object('budget_ids', jsonb_build_array(t.bud('G'), t.bud('X')))::text) ->> 'status',
          'OK', 'an admin attaches global and undefined ids');
SELECT is(t.as_role('tb_a', format($$SELECT ff.set_execution_admission(%L, ARRAY[t.bud('B')]) ->> 'error'$$, t.id(1))),
          'invalid_budget_scope', 'set_execution_admission: not b''s budget');
SELECT is(t.as_role('tb_a', format($$SELECT ff.set_execution_admission(%L, quota_policy_id => t.quo('B'))::text$$, t.id(1))),
          jsonb_build_object('ok', false, 'error', 'invalid_budget_scope', 'detail', 'quota_policy_id ' || t.quo('B'))::text,
          'nor b''s quota');
SELECT is(ff.set_execution_admission(t.id(1), NULL, t.quo('B')) ->> 'error', 'invalid_budget_scope', 'nor by an admin');
SELECT is(((t.row(t.id(1))).budget_ids, (t.row(t.id(1))).quota_policy_id)::text, '(,)', 'nothing attached');
SELECT is(t.as_role('tb_a', format($$SELECT ff.set_execution_admission(%L, ARRAY[t.bud('A')], t.quo('A')) ->> 'status'$$, t.id(1))),
          'OK', 'its own budget and quota: attached');
SELECT is(ff.set_execution_admission(t.id(1), ARRAY[t.bud('A'), t.bud('G')], t.quo('G')) ->> 'status', 'OK', 'an admin adds global ones');
-- a budget or quota of another namespace that got attached anyway (an id
-- attached before it was defined) governs nothing: b's exhausted budget and
-- full quota do not block a's execution, and their figures do not leak
SELECT ff.report_usage_and_check(t.bud('B'), '{tokens}', '{60}');
UPDATE ff.execution SET budget_ids = t.bud('B')::text, quota_policy_id = t.quo('B') WHERE execution_id = t.exec_uuid(t.id(3));
SELECT is(t.as_role('tb_a', $$SELECT string_agg(claim ->> 'execution_id', ',' ORDER BY claim ->> 'execution_id') FROM ff.claim_next('ta', 'wa', 'wa-1', max_count => 10)$$),
          t.id(1) || ',' || t.id(3) || ',' || t.id(4), 'b''s budget and quota do not block a''s claim');
SELECT is((SELECT count(*)::int FROM ff.quota_admission WHERE quota_policy_id = t.quo('B')), 1, 'nor does the claim take an admission of b''s quota');
SELECT ff.create_execution(t.id(5), namespace => 'a', lane_id => 'tu');
SELECT ff.block_execution_for_admission(t.id(5), 'waiting_for_budget', 'test');
UPDATE ff.execution SET budget_ids = t.bud('B')::text WHERE execution_id = t.exec_uuid(t.id(5));
SELECT ff.scan_unblock();
SELECT is((t.row(t.id(5))).public_state::text, 'waiting', 'the unblock scanner does not hold a''s execution on b''s budget');

-- the worker registry
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wa', 'pool', namespace => 'a') ->> 'result'$$), 'registered', 'a registers in a');
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wx', 'pool', namespace => 'b') ->> 'result'$$), 'ERROR 42501', 'not in b');
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wx', 'pool') ->> 'result'$$), 'ERROR 42501', 'nor in default');
SELECT throws_ok($$SELECT ff.register_worker('wl', 'pool', lanes => array_fill('l'::text, ARRAY[1025]), namespace => 'a')$$, '54000', NULL,
                 'a registration names at most 1024 lanes');
SELECT is(t.as_role('tb_b', $$SELECT ff.register_worker('wb', 'pool', capabilities => '{gpu}', namespace => 'b') ->> 'result'$$), 'registered',
          'b registers in b');
SELECT (SELECT expires_at FROM ff.worker WHERE worker_instance_id = 'wb') AS wb_exp \gset
SELECT t.at(1000000001000);
SELECT is(t.as_role('tb_a', $$SELECT ff.heartbeat_worker('wb', 'b') ->> 'result'$$), 'not_registered', 'a cannot heartbeat b''s worker');
SELECT is((SELECT expires_at FROM ff.worker WHERE worker_instance_id = 'wb'), :'wb_exp'::bigint, 'its expiry is unchanged');
SELECT is(t.as_role('tb_a', $$SELECT ff.mark_worker_dead('wb', 'b') ->> 'result'$$), 'not_registered', 'a cannot kill b''s worker');
SELECT is((SELECT count(*)::int FROM ff.worker WHERE worker_instance_id = 'wb'), 1, 'it is still registered');
SELECT is(t.as_role('tb_a', $$SELECT count(*)::text FROM ff.list_workers('b')$$), '0', 'a lists none of b''s workers');
SELECT is(t.as_role('tb_b', $$SELECT string_agg(worker_instance_id, ',') FROM ff.list_workers('b')$$), 'wb', 'b lists its own');
SELECT is(t.as_role('tb_b', $$SELECT ff.heartbeat_worker('wb', 'b') ->> 'result'$$), 'refreshed', 'b heartbeats its own');
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wa', 'pool', namespace => 'a', now_ms => 99999999999999) ->> 'result'$$),
          'ERROR 42501', 'a worker cannot choose the registration time');
SELECT is(t.as_role('tb_a', $$SELECT ff.heartbeat_worker('wa', 'a', now_ms => 99999999999999) ->> 'result'$$), 'ERROR 42501', 'nor the heartbeat time');
SELECT is(t.as_role('tb_a', $$SELECT ff.mark_worker_dead('wa', 'a', now_ms => 0) ->> 'result'$$), 'ERROR 42501', 'nor the time of its death');
SELECT is(t.as_role('tb_boss', $$SELECT ff.register_worker('wboss', 'pool', namespace => 'a', now_ms => ff.now_ms()) ->> 'result'$$),
          'registered', 'an admin may pass now_ms');
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wa2', 'pool', namespace => 'a', ttl_ms => 3600001) ->> 'result'$$), 'ERROR 22023',
          'ttl_ms is at most ff_engine.max_worker_ttl (1 h by default)');
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wa2', 'pool', namespace => 'a', ttl_ms => 3600000) ->> 'result'$$), 'registered',
          'up to it');
SELECT throws_ok($$SELECT ff.register_worker('wa3', 'pool', ttl_ms => 9223372036854775807)$$, '22023', NULL, 'for an admin too: no worker forever');
SET LOCAL ff_engine.max_worker_ttl = '10s';
SELECT is(t.as_role('tb_a', $$SELECT ff.register_worker('wa3', 'pool', namespace => 'a', ttl_ms => 10001) ->> 'result'$$), 'ERROR 22023',
          'the bound follows the setting');
SELECT is(t.as_role('tb_a', $$SELECT ff.heartbeat_worker('wa2', 'a') ->> 'ttl_ms'$$), '10000',
          'a registration made under a higher bound is extended by the current one');
SELECT is((SELECT expires_at - ff.now_ms() FROM ff.worker WHERE worker_instance_id = 'wa2'), 10000::bigint, 'its expiry');
RESET ff_engine.max_worker_ttl;

-- list_expired_leases: the caller's namespaces only, lease ids to admins only
SELECT ff.create_execution(t.id(10), namespace => 'a', lane_id => 'lx');
SELECT ff.create_execution(t.bx(11), namespace => 'b', lane_id => 'lx');
SELECT t.claim(t.id(10), ttl => 1000);
SELECT t.claim(t.bx(11), ttl => 1000);
SELECT t.at(1000000010000);
SELECT is(t.as_role('tb_a', $$SELECT string_agg(execution_id || ' ' || coalesce(lease_id::text, '-'), ',') FROM ff.list_expired_leases()$$),
          t.id(10) || ' -', 'a lists its own expired lease, without the lease id');
SELECT is(t.as_role('tb_a', $$SELECT count(*)::text FROM ff.list_expired_leases(namespace => 'b')$$), '0', 'none of b''s, even when asked');
SELECT is(t.as_role('tb_b', $$SELECT string_agg(execution_id || ' ' || coalesce(lease_id::text, '-'), ',') FROM ff.list_expired_leases()$$),
          t.bx(11) || ' -', 'b its own');
SELECT is(t.as_role('tb_boss', $$SELECT string_agg(execution_id || ' ' || coalesce(lease_id::text, '-'), ',' ORDER BY execution_id) FROM ff.list_expired_leases()$$),
          t.id(10) || ' ' || (t.row(t.id(10))).current_lease_id || ',' || t.bx(11) || ' ' || (t.row(t.bx(11))).current_lease_id,
          'the admin lists every one, with lease ids');
SELECT t.invariants('tenant budgets');

SELECT * FROM finish();
ROLLBACK;

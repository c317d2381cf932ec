-- A first attempt held on the execution row (issue 21; behaviour/execution §2.5, §4.6):
-- every path that touches a held attempt or its lease must leave ff.attempt
-- and ff.lease_history exactly as rows would have.  Each scenario runs on a
-- pair: a held execution (plain claim) and its twin, claimed the same way
-- at the same clock but with an attempt policy ('{}'), which writes rows as
-- 0.1.0 did; the two must read the same, ids aside.
BEGIN;
\ir helpers.psql

-- twins (claimed with a policy, so never held) and every claim's identity
CREATE TABLE t.twin (id text PRIMARY KEY);
CREATE TABLE t.claims (id text, epoch bigint, lease_id uuid, attempt_id uuid);
CREATE FUNCTION t.rec(c jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO t.claims SELECT c->>'execution_id', (c->>'lease_epoch')::bigint, (c->>'lease_id')::uuid,
                                (c->>'attempt_id')::uuid WHERE (c->>'ok')::boolean;
    SELECT c
$$;
-- grant + claim (fresh or resumed), the twin with an attempt policy
CREATE FUNCTION t.pclaim(id text, w text DEFAULT 'w1', ttl bigint DEFAULT 30000, timeout bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE g jsonb; e ff.executions := t.row(id); c jsonb;
BEGIN
    g := ff.issue_claim_grant(id, w, w || '-1', e.lane_id, worker_capabilities_csv => 'gpu,cpu,ssd');
    IF NOT (g->>'ok')::boolean THEN RETURN g; END IF;
    IF e.attempt_state = 'attempt_interrupted' THEN
        c := ff.claim_resumed_execution(id, w, w || '-1', e.lane_id, lease_ttl_ms => ttl);
    ELSE
        c := ff.claim_execution(id, w, w || '-1', e.lane_id, lease_ttl_ms => ttl, attempt_timeout_ms => timeout,
                                attempt_policy_json => CASE WHEN EXISTS (SELECT 1 FROM t.twin WHERE twin.id = pclaim.id) THEN '{}' END);
    END IF;
    RETURN t.rec(c || jsonb_build_object('execution_id', id));
END $$;
-- a pair: n held, n + 500 its twin
CREATE FUNCTION t.pair(n integer, policy text DEFAULT NULL, lane text DEFAULT 'default') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ff.create_execution(t.id(n), lane_id => lane, policy_json => policy);
    PERFORM ff.create_execution(t.id(n + 500), lane_id => lane, policy_json => policy);
    INSERT INTO t.twin VALUES (t.id(n + 500));
END $$;
-- run a statement on both ($ID is the execution's id)
CREATE FUNCTION t.both(n integer, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
    EXECUTE 'SELECT ' || replace(q, '$ID', quote_literal(t.id(n))) INTO a;
    EXECUTE 'SELECT ' || replace(q, '$ID', quote_literal(t.id(n + 500))) INTO b;
    RETURN a || ' / ' || b;
END $$;
-- the attempts and lease history of an execution, ids reduced to their presence
CREATE FUNCTION t.att(id text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(concat_ws(':', a.attempt_index, a.attempt_type, a.attempt_state, 'c' || a.created_at,
        's' || a.started_at, 'e' || a.ended_at, 'ep' || a.lease_epoch, a.worker_id, a.worker_instance_id,
        'fr' || a.failure_reason, 'fc' || a.failure_category, 'su' || a.suspended_at, a.suspension_id,
        're' || a.resumed_at, 'rr' || a.retry_reason, 'pv' || a.previous_attempt_index, 'rp' || a.replay_reason,
        a.replay_requested_by, 'rf' || a.replayed_from_attempt_index, 'rc' || a.reclaim_reason,
        'u' || a.last_usage_report_seq, 'L' || (a.lease_id IS NOT NULL), 'A' || (a.attempt_id IS NOT NULL)),
        ' | ' ORDER BY a.attempt_index)
    FROM ff.attempt a WHERE a.execution_id = t.exec_uuid(id)
$$;
CREATE FUNCTION t.hist(id text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(concat_ws(':', h.seq, h.event, 'r' || h.reason, 'ep' || h.lease_epoch, 'a' || h.attempt_index,
        h.worker_id, h.worker_instance_id, 'd' || h.detail::text, 'ts' || h.ts, 'L' || (h.lease_id IS NOT NULL),
        'A' || (h.attempt_id IS NOT NULL)), ' | ' ORDER BY h.seq)
    FROM ff.lease_history h WHERE h.execution_id = t.exec_uuid(id)
$$;
-- rows whose lease / attempt ids are not the ones the claim of that epoch returned
CREATE FUNCTION t.wrong_ids(id text) RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM ff.lease_history h LEFT JOIN t.claims c ON c.id = $1 AND c.epoch = h.lease_epoch
            WHERE h.execution_id = t.exec_uuid($1) AND h.lease_id IS NOT NULL
              AND (c.lease_id IS DISTINCT FROM h.lease_id OR c.attempt_id IS DISTINCT FROM h.attempt_id))
         + (SELECT count(*) FROM ff.attempt a LEFT JOIN t.claims c ON c.id = $1 AND c.epoch = a.lease_epoch
            WHERE a.execution_id = t.exec_uuid($1)
              AND (c.lease_id IS DISTINCT FROM a.lease_id OR c.attempt_id IS DISTINCT FROM a.attempt_id))
$$;
-- the pair reads the same, its ids are right, and nothing is left held that should not be
CREATE FUNCTION t.same(n integer, what text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT is(t.att(t.id(n)), t.att(t.id(n + 500)), what || ': ff.attempt reads as rows would')
    UNION ALL
    SELECT is(t.hist(t.id(n)), t.hist(t.id(n + 500)), what || ': ff.lease_history reads as rows would')
    UNION ALL
    SELECT is(t.wrong_ids(t.id(n)) + t.wrong_ids(t.id(n + 500)), 0::bigint, what || ': lease and attempt ids are the claims''')
$$;
CREATE FUNCTION t.held(n integer) RETURNS boolean LANGUAGE sql AS $$
    SELECT held_attempt_seq IS NOT NULL FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(n))
$$;
CREATE FUNCTION t.rows(n integer) RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM ff.attempt_record WHERE execution_id = t.exec_uuid(t.id(n)))
         + (SELECT count(*) FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(n)))
$$;
CREATE FUNCTION t.tick(ms bigint DEFAULT 10) RETURNS void LANGUAGE sql AS $$ SELECT t.at(ff.now_ms() + ms) $$;

-- ---- complete ----
SELECT t.pair(1);
SELECT t.both(1, 't.pclaim($ID)::text');
SELECT ok(t.held(1) AND t.rows(1) = 0 AND NOT t.held(501), 'claim: the plain claim is held, its twin is not');
SELECT * FROM t.same(1, 'claimed');
SELECT t.tick(), t.both(1, 'ff.renew_lease(e.id, 0, e.current_attempt_id, e.current_lease_id, e.current_lease_epoch, 60000)::text FROM t.row($ID) e');
SELECT t.tick(), t.both(1, 'ff.update_progress(e.id, e.current_lease_id, e.current_lease_epoch, 50, ''half'')::text FROM t.row($ID) e');
SELECT ok(t.held(1) AND t.rows(1) = 0, 'renew and progress keep it held');
SELECT t.tick(), t.both(1, 't.complete($ID)::text');
SELECT ok(t.held(1) AND t.rows(1) = 0, 'complete keeps it held');
SELECT * FROM t.same(1, 'completed');

-- ---- replay of a held completion ----
SELECT t.tick(), t.both(1, 'ff.replay_execution($ID, ''ops'', ''again'')::text');
SELECT ok(NOT t.held(1), 'replay writes the held attempt out');
SELECT * FROM t.same(1, 'replayed');
SELECT t.tick(), t.both(1, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(1, 't.complete($ID)::text');
SELECT * FROM t.same(1, 'replayed, claimed and completed');

-- ---- fail: retry, then terminal ----
SELECT t.pair(2, '{"retry_policy": {"max_retries": 1, "backoff": {"type": "fixed", "delay_ms": 100}}}');
SELECT t.both(2, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(2, 't.fail($ID)::text');
SELECT * FROM t.same(2, 'failed, retry scheduled');
SELECT t.tick(200), t.both(2, 'ff.promote_delayed($ID)::text');
SELECT t.tick(), t.both(2, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(2, 't.fail($ID)::text');
SELECT * FROM t.same(2, 'retried and failed terminally');
SELECT t.pair(3, '{"retry_policy": {"max_retries": 0}}');
SELECT t.both(3, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(3, 't.fail($ID)::text');
SELECT * FROM t.same(3, 'failed terminally at once');

-- ---- cancel: active (operator, with the lease), waiting after a delay ----
SELECT t.pair(4);
SELECT t.both(4, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(4, 'ff.cancel_execution($ID, ''stop'')::text');
SELECT * FROM t.same(4, 'cancelled while active (operator)');
SELECT t.pair(5);
SELECT t.both(5, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(5, 'ff.cancel_execution(e.id, ''stop'', ''worker'', e.current_lease_id, e.current_lease_epoch)::text FROM t.row($ID) e');
SELECT * FROM t.same(5, 'cancelled while active (its lease)');
SELECT t.both(4, 'ff.cancel_execution($ID, ''again'')->>''error''');
SELECT * FROM t.same(4, 'a cancel after the end');
SELECT t.pair(6);
SELECT t.both(6, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(6, 't.complete($ID)::text');
SELECT is(t.both(6, 'ff.cancel_execution($ID, ''late'')->>''error'''), 'execution_not_active / execution_not_active', 'cancel after a held completion is refused');
SELECT ok(t.held(6), 'and leaves it held');
SELECT * FROM t.same(6, 'cancel after completion');

-- ---- delay, resumed claim, complete ----
SELECT t.pair(7);
SELECT t.both(7, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(7, 'ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, ff.now_ms() + 50)::text FROM t.row($ID) e');
SELECT * FROM t.same(7, 'delayed');
SELECT t.tick(100), t.both(7, 'ff.promote_delayed($ID)::text');
SELECT t.tick(), t.both(7, 't.pclaim($ID)::text');
SELECT * FROM t.same(7, 'resumed after the delay');
SELECT t.tick(), t.both(7, 't.complete($ID)::text');
SELECT * FROM t.same(7, 'completed after the delay');

-- ---- move to waiting children, then cancel ----
SELECT t.pair(8);
SELECT t.both(8, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(8, 'ff.move_to_waiting_children(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id)::text FROM t.row($ID) e');
SELECT * FROM t.same(8, 'waiting for children');
SELECT t.tick(), t.both(8, 'ff.cancel_execution($ID, ''x'')::text');
SELECT * FROM t.same(8, 'cancelled while waiting for children');

-- ---- lease expiry (scanner and lazy), reclaim (claim_next and grant) ----
SELECT t.pair(9, lane => 'lx');
SELECT t.both(9, 't.pclaim($ID, ttl => 100)::text');
SELECT t.tick(200), ff.scan_lease_expiry();
SELECT * FROM t.same(9, 'expired by the scanner');
SELECT t.tick(), count(t.rec(claim)) FROM ff.claim_next('lx', 'w2', 'w2-1', lease_ttl_ms => 100, max_count => 5, reclaim => true);
SELECT * FROM t.same(9, 'reclaimed by claim_next');
SELECT t.tick(), t.both(9, 't.complete($ID)::text');
SELECT * FROM t.same(9, 'completed after the reclaim');
SELECT t.pair(10);
SELECT t.both(10, 't.pclaim($ID, ttl => 100)::text');
SELECT t.tick(200);
SELECT is(t.both(10, 't.complete($ID)->>''error'''), 'lease_expired / lease_expired', 'a late complete marks the lease expired');
SELECT * FROM t.same(10, 'expired lazily by a late complete');
SELECT t.tick(), t.both(10, 'ff.issue_reclaim_grant($ID, ''w3'', ''w3-1'', ''default'')::text');
SELECT t.tick(), t.both(10, 't.rec(ff.reclaim_execution($ID, ''w3'', ''w3-1'', ''default'') || jsonb_build_object(''execution_id'', $ID))::text');
SELECT * FROM t.same(10, 'reclaimed by grant');
SELECT t.pair(11);
SELECT t.both(11, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(11, 'ff.revoke_lease($ID, NULL, ''ops'')::text');
SELECT * FROM t.same(11, 'revoked');
SELECT t.tick(), t.both(11, 'ff.issue_reclaim_grant($ID, ''w3'', ''w3-1'', ''default'')::text');
SELECT t.tick(), t.both(11, 't.rec(ff.reclaim_execution($ID, ''w3'', ''w3-1'', ''default'') || jsonb_build_object(''execution_id'', $ID))::text');
SELECT * FROM t.same(11, 'reclaimed after a revoke');
-- over the reclaim cap
SELECT t.pair(12, '{"max_reclaim_count": 0}');
SELECT t.both(12, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(12, 'ff.revoke_lease($ID)::text');
SELECT t.tick(), t.both(12, 'ff.issue_reclaim_grant($ID, ''w3'', ''w3-1'', ''default'')::text');
SELECT is(t.both(12, 'ff.reclaim_execution($ID, ''w3'', ''w3-1'', ''default'')->>''error'''), 'max_retries_exhausted / max_retries_exhausted', 'over the reclaim cap');
SELECT * FROM t.same(12, 'failed over the reclaim cap');

-- ---- attempt timeout, execution deadline ----
SELECT t.pair(13);
SELECT t.both(13, 't.pclaim($ID, timeout => 50)::text');
SELECT t.tick(100), ff.scan_attempt_timeouts();
SELECT is((t.row(t.id(13))).public_state::text, 'expired', 'attempt timeout expires it');
SELECT * FROM t.same(13, 'attempt timeout');
SELECT t.pair(14);
SELECT t.both(14, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(14, 'ff.expire_execution($ID, ''execution_deadline'')::text');
SELECT * FROM t.same(14, 'execution deadline');

-- ---- suspend, signal, resume ----
SELECT t.pair(15);
SELECT t.both(15, 't.pclaim($ID)::text');
CREATE TABLE t.wp (id text, wp uuid);
INSERT INTO t.wp SELECT t.id(n), gen_random_uuid() FROM unnest(ARRAY[15, 515]) n;
SELECT t.tick(), t.both(15, $$ff.suspend_execution(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
    gen_random_uuid(), (SELECT wp FROM t.wp WHERE wp.id = e.id), NULL, 'waiting_for_signal', '{"required_signal_names": ["go"]}')->>'status' FROM t.row($ID) e$$);
SELECT is(t.both(15, 'public_state::text FROM t.row($ID)'), 'suspended / suspended', 'suspended');
SELECT t.tick(), t.both(15, $$ff.deliver_signal($ID, w.wp, gen_random_uuid(), 'go', ff.read_waitpoint_token($ID, w.wp))->>'status' FROM t.wp w WHERE w.id = $ID$$);
SELECT t.tick(), t.both(15, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(15, 't.complete($ID)::text');
-- the suspension's id is random: compare without it
SELECT is(regexp_replace(t.att(t.id(15)), ':[0-9a-f-]{36}:', ':S:', 'g'), regexp_replace(t.att(t.id(515)), ':[0-9a-f-]{36}:', ':S:', 'g'),
          'suspended, resumed and completed: ff.attempt reads as rows would');
SELECT is(t.hist(t.id(15)), t.hist(t.id(515)), 'suspended, resumed and completed: ff.lease_history reads as rows would');
SELECT is(t.wrong_ids(t.id(15)) + t.wrong_ids(t.id(515)), 0::bigint, 'suspended, resumed and completed: ids');

-- ---- streams on attempt 0 ----
SELECT t.pair(16);
SELECT t.both(16, 't.pclaim($ID)::text');
SELECT t.both(16, $$ff.append_frame(e.id, 0, e.current_lease_id, e.current_lease_epoch, 'log', '\x6869')->>'status' FROM t.row($ID) e$$);
SELECT t.tick(), t.both(16, 't.complete($ID)::text');
SELECT is(t.both(16, $$jsonb_array_length(ff.read_attempt_stream($ID, 0)->'entries') || ':' || (ff.read_attempt_stream($ID, 0)->>'closed_reason')$$),
          '1:attempt_success / 1:attempt_success', 'a held attempt''s stream is read and closed as a row''s');
SELECT ok(t.held(16), 'a stream keeps it held');
SELECT * FROM t.same(16, 'stream');

-- ---- batches mixing held and non-held items ----
SELECT t.pair(17); SELECT t.pair(18, '{"retry_policy": {"max_retries": 0}}'); SELECT t.pair(19);
SELECT t.both(n, 't.pclaim($ID, ttl => 100)::text') FROM generate_series(17, 19) n;
SELECT t.tick(50), t.both(19, 't.renew($ID, 1000)::text');
SELECT t.tick(60);  -- 17 and 18 (and twins) expired, 19 alive
SELECT is(ff.complete_executions(array_agg(e.id ORDER BY e.id), array_agg(e.current_lease_id ORDER BY e.id),
          array_agg(e.current_lease_epoch ORDER BY e.id), array_agg(e.current_attempt_id ORDER BY e.id))->>'succeeded', '2',
          'complete_executions: the live pair completes, the expired ones are marked')
FROM ff.executions e WHERE e.id IN (t.id(17), t.id(517), t.id(19), t.id(519));
SELECT * FROM t.same(17, 'batch complete, expired in it');
SELECT * FROM t.same(19, 'batch complete');
SELECT t.pair(20, '{"retry_policy": {"max_retries": 0}}'); SELECT t.pair(21, '{"retry_policy": {"max_retries": 2}}');
SELECT t.both(n, 't.pclaim($ID)::text') FROM generate_series(20, 21) n;
SELECT t.tick();
SELECT is(ff.fail_executions(array_agg(e.id ORDER BY e.id), array_agg(e.current_lease_id ORDER BY e.id),
          array_agg(e.current_lease_epoch ORDER BY e.id), array_agg(e.current_attempt_id ORDER BY e.id),
          array_agg('bad'::text ORDER BY e.id), 'transient')->>'succeeded', '4', 'fail_executions: held and twins')
FROM ff.executions e WHERE e.id IN (t.id(20), t.id(520), t.id(21), t.id(521));
SELECT * FROM t.same(20, 'batch fail, terminal');
SELECT * FROM t.same(21, 'batch fail, retry');
-- claim_next batches hold every plain claim; a reclaim batch writes them out
SELECT ff.create_execution(t.id(n), lane_id => 'cn') FROM generate_series(30, 33) n;
SELECT count(t.rec(claim)) FROM ff.claim_next('cn', 'w', 'w-1', lease_ttl_ms => 100, max_count => 4);
SELECT is((SELECT count(*)::int FROM ff.execution WHERE lane_id = 'cn' AND held_attempt_seq IS NOT NULL), 4, 'claim_next: a batch of plain claims is held');
SELECT is((SELECT sum(t.rows(n))::int FROM generate_series(30, 33) n), 0, 'claim_next: and writes no attempt or lease row');
SELECT t.tick(200);
SELECT t.complete(t.id(30));
SELECT count(t.rec(claim)) FROM ff.claim_next('cn', 'w2', 'w2-1', max_count => 4, reclaim => true);
SELECT is((SELECT array_agg(t.att(t.id(n)) ORDER BY n) FROM generate_series(31, 33) n),
          (SELECT array_agg(t.att(t.id(31))) FROM generate_series(31, 33) n), 'claim_next reclaim: the three read alike');
SELECT is(t.hist(t.id(31)), concat_ws(' | ', '1:acquired:ep1:a0:w:w-1:ts1000000001250:Ltrue:Atrue',
          '2:expired:ep1:a0:w:w-1:ts1000000001450:Ltrue:Atrue',
          '3:reclaimed:rlease_expired:ep2:a1:w2:w2-1:d{"old_lease_epoch": 1, "old_attempt_index": 0}:ts1000000001450:Ltrue:Atrue'),
          'claim_next reclaim: the history of a held lease taken over');
SELECT is(t.wrong_ids(t.id(31)) + t.wrong_ids(t.id(32)) + t.wrong_ids(t.id(33)), 0::bigint, 'claim_next reclaim: ids');



-- ---- metrics: a held claim and completion count once each ----
SELECT t.pair(40, lane => 'lm'); SELECT t.pair(41, lane => 'lm');
SELECT t.both(n, 't.pclaim($ID)::text') FROM generate_series(40, 41) n;
SELECT t.tick(), t.both(40, 't.complete($ID)::text');
SELECT is((SELECT claims_1h || '/' || completions_1h || '/' || active_leases FROM ff.lane_metrics WHERE lane_id = 'lm'),
          '4/2/2', 'lane_metrics: held and written claims and completions count once each');
SELECT t.tick(), t.both(40, 'ff.replay_execution($ID)::text');
SELECT is((SELECT claims_1h || '/' || completions_1h FROM ff.lane_metrics WHERE lane_id = 'lm'),
          '4/2', 'lane_metrics: a replay writing the held attempt out counts nothing twice');

-- ---- retention: a held completion purges to nothing ----
SELECT t.pair(42);
SELECT t.both(42, 't.pclaim($ID)::text');
SELECT t.tick(), t.both(42, 't.complete($ID)::text');
SELECT t.both(42, 'ff.purge_execution($ID)::text');
SELECT is((SELECT count(*)::int FROM ff.attempt WHERE execution_id IN (t.exec_uuid(t.id(42)), t.exec_uuid(t.id(542))))
          + (SELECT count(*)::int FROM ff.lease_history WHERE execution_id IN (t.exec_uuid(t.id(42)), t.exec_uuid(t.id(542)))), 0,
          'purge: nothing of a held or written attempt is left');

-- ---- flows: a held upstream's completion resolves its edge; a held sibling is cancelled ----
SELECT ff.create_flow('f2700000-0000-4000-8000-000000000001');
SELECT t.member('f2700000-0000-4000-8000-000000000001', 'up1'), t.member('f2700000-0000-4000-8000-000000000001', 'up2'),
       t.member('f2700000-0000-4000-8000-000000000001', 'down');
SELECT ff.set_edge_group_policy('f2700000-0000-4000-8000-000000000001', t.m('down'), 'any_of', 'cancel_remaining', NULL);
SELECT ff.add_dependency('f2700000-0000-4000-8000-000000000001', t.m(u), t.m('down')) FROM unnest(ARRAY['up1', 'up2']) u;
SELECT t.claim(t.m('up1')), t.claim(t.m('up2'));
SELECT ok((SELECT bool_and(held_attempt_seq IS NOT NULL) FROM ff.execution WHERE execution_id IN (t.exec_uuid(t.m('up1')), t.exec_uuid(t.m('up2')))),
          'flow: both upstreams are held');
SELECT t.tick(), t.complete(t.m('up1'));
SELECT t.dispatch();
SELECT t.tick(), ff.scan_edge_cancel_dispatch(1000);
SELECT is(t.st('down') || '/' || t.st('up1') || '/' || t.st('up2'), 'waiting/completed/cancelled',
          'flow: the held completion satisfied the edge, the held sibling was cancelled');
SELECT is(t.att(t.m('up2')), '0:initial:ended_cancelled:c' || (t.row(t.m('up2'))).started_at || ':s' || (t.row(t.m('up2'))).started_at
          || ':e' || (t.row(t.m('up2'))).completed_at || ':ep1:w1:w1-1:fr' || (SELECT failure_reason FROM ff.attempt_record WHERE execution_id = t.exec_uuid(t.m('up2')))
          || ':u0:Ltrue:Atrue', 'flow: the cancelled sibling''s attempt is written out, ended cancelled');
SELECT is((SELECT array_agg(event || ':' || reason ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.m('up2')) AND event <> 'acquired'),
          ARRAY['released:cancelled'], 'flow: and its lease released as cancelled');
SELECT ok((SELECT held_attempt_seq IS NOT NULL FROM ff.execution WHERE execution_id = t.exec_uuid(t.m('up1'))), 'flow: the completed upstream stays held');

-- ---- read surfaces: the held columns are storage, never shown ----
SELECT is((SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'ff.executions'::regclass AND attname ~ '^held_'), 0,
          'ff.executions shows no held_* column');
SELECT ok(NOT (ff.describe_execution(t.id(1))::text ~ 'held') AND NOT (ff.read_execution_info(t.id(1))::text ~ 'held'),
          'describe_execution / read_execution_info show nothing held');

-- ---- the consistency check sees a held attempt where none can be ----
SELECT t.pair(43);
SELECT is((SELECT count(*)::int FROM ff.consistency_violations WHERE problem ~ 'held'), 0, 'no held violation so far');
UPDATE ff.execution SET held_attempt_seq = 1 WHERE execution_id = t.exec_uuid(t.id(43));
SELECT is((SELECT count(*)::int FROM ff.consistency_violations WHERE problem ~ 'held'), 1, 'a held attempt on an unclaimed execution is a violation');
UPDATE ff.execution SET held_attempt_seq = NULL WHERE execution_id = t.exec_uuid(t.id(43));


-- ---- a pending waitpoint keeps it held; a lease past its expiry, not yet marked, is consistent ----
SELECT t.pair(44);
SELECT t.both(44, 't.pclaim($ID, ttl => 100)::text');
SELECT t.both(44, $$ff.create_pending_waitpoint(e.id, 0, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id,
    gen_random_uuid(), NULL, ff.now_ms() + 60000)->>'status' FROM t.row($ID) e$$);
SELECT ok(t.held(44), 'a pending waitpoint keeps it held');
SELECT t.tick(500);
SELECT is((SELECT count(*)::int FROM ff.consistency_violations WHERE problem ~ 'held'), 0, 'a held lease past its expiry, not yet marked, is no violation');
SELECT t.tick(), t.both(44, 'ff.cancel_execution($ID, ''x'')::text');
SELECT * FROM t.same(44, 'cancelled with a pending waitpoint and an unmarked expired lease');

-- ---- the dashboard's reads (ff_reader): held attempts and events, as rows read, never a lease id ----
CREATE FUNCTION t.dash(id text) RETURNS text LANGUAGE sql AS $$
    SELECT (SELECT string_agg(concat_ws(':', attempt_index, attempt_type, attempt_state, created_at, started_at, ended_at,
                                        lease_epoch, worker_id, worker_instance_id), ' | ') FROM ff.list_attempts(id))
           || ' // ' || (SELECT string_agg(concat_ws(':', seq, event, lease_epoch, attempt_index, worker_id, worker_instance_id, reason, ts), ' | ')
                         FROM ff.read_lease_history(id))
$$;
GRANT USAGE ON SCHEMA t TO ff_reader;
SELECT is(t.as_role('ff_reader', format('SELECT t.dash(%L)', t.id(n))), t.as_role('ff_reader', format('SELECT t.dash(%L)', t.id(n + 500))),
          format('list_attempts / read_lease_history of pair %s read alike for ff_reader', n))
FROM unnest(ARRAY[1, 6, 9, 15, 16, 44]) n;
SELECT is(t.as_role('ff_reader', format('SELECT t.dash(%L)', t.id(6))),
          '0:initial:ended_success:' || e.started_at || ':' || e.started_at || ':' || e.completed_at || ':1:w1:w1-1 // 2:released:1:0:w1:w1-1:completed:'
          || e.completed_at || ' | 1:acquired:1:0:w1:w1-1:' || e.started_at, 'a reader sees a held completion''s attempt and events')
FROM ff.execution e WHERE e.execution_id = t.exec_uuid(t.id(6));
SELECT is((SELECT sum(claims)::int || '/' || sum(completions)::int FROM ff.lane_throughput(60) WHERE lane_id = 'lm'), '4/2',
          'lane_throughput: held and written claims and completions count once each');

-- ---- (lease_log, not held) an end whose lease has no row of its own, in a batch ----
-- A single complete gives it an event row (04_lease); in a batch the end is
-- deferred, and its set form inserts the ends that matched no row (it used
-- to report a row it had not touched, and the end was lost).
SELECT ff.create_execution(t.id(n)) FROM generate_series(50, 51) n;
SELECT ff.issue_grant_and_claim(t.id(n), 'w1', 'w1-1', 'default') FROM generate_series(50, 51) n;
UPDATE ff.lease_log SET lease_epoch = 0 WHERE execution_id IN (t.exec_uuid(t.id(50)), t.exec_uuid(t.id(51)));
SELECT ff.complete_executions(array_agg(e.id ORDER BY e.id), array_agg(e.current_lease_id ORDER BY e.id),
          array_agg(e.current_lease_epoch ORDER BY e.id), array_agg(e.current_attempt_id ORDER BY e.id))->>'succeeded'
FROM ff.executions e WHERE e.id IN (t.id(50), t.id(51));
SELECT is((SELECT array_agg(event ORDER BY seq) FROM ff.lease_history WHERE execution_id = t.exec_uuid(t.id(50))),
          ARRAY['acquired', 'released'], 'batch: an end whose lease has no row of its own gets an event row, as one complete does');
SELECT is((SELECT string_agg(event || ':' || reason || ':' || lease_epoch || ':' || attempt_index || ':' || worker_instance_id
                             || ':' || (lease_id = e.current_lease_id OR e.current_lease_id IS NULL), ',')
           FROM ff.lease_history h JOIN ff.execution e USING (partition, execution_id)
           WHERE h.execution_id = t.exec_uuid(t.id(51)) AND h.event = 'released'), 'released:completed:1:0:w1-1:true',
          'batch: and that row carries the lease');
SELECT is((SELECT count(*)::int FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(51)) AND event = 'released'
           AND lease_id = (SELECT lease_id FROM ff.lease_log WHERE execution_id = t.exec_uuid(t.id(51)) AND event = 'acquired')), 1,
          'batch: the same lease as the acquisition');

SELECT t.invariants('held attempts');
SELECT * FROM finish();
ROLLBACK;

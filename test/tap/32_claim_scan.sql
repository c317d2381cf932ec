-- ff.claim_next's candidates found without a statement (issue 21;
-- src/exec_core_lock.c): the lane's partial index walked in claim order,
-- each execution checked against the claim's filters before its row lock,
-- and locked with SKIP LOCKED.  An execution passed over by a filter is
-- never locked; the reclaim sets keep their own order; a missing index is
-- a clear error that changes nothing.
BEGIN;
\ir helpers.psql

SELECT t.at(1000000000000);
GRANT USAGE ON SCHEMA t TO PUBLIC;

-- whether this transaction holds a lock on (or wrote) the execution's row
-- version as it is now: its xmax is this transaction's
CREATE FUNCTION t.locked_here(id text) RETURNS boolean LANGUAGE sql AS $$
    SELECT e.xmax::text = pg_current_xact_id()::xid::text
    FROM ff.execution e
    WHERE e.partition = (ff.parse_execution_id(id)).partition AND e.execution_id = t.exec_uuid(id)
$$;
CREATE FUNCTION t.claimed(lane text, n integer DEFAULT 10, caps text[] DEFAULT '{}', reclaim boolean DEFAULT false)
RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(c.claim->>'execution_id' ORDER BY c.ord), '{}')
    FROM ff.claim_next(lane, 'w', 'w-1', caps, max_count => n, reclaim => reclaim) WITH ORDINALITY c(claim, input_payload, ord)
$$;

-- 1. claim order: priority first, then age, then id; the limit is honoured
SELECT ff.create_execution(t.id(1), lane_id => 'order', priority => 1);
SELECT t.at(1000000000001);
SELECT ff.create_execution(t.id(2), lane_id => 'order', priority => 5);
SELECT t.at(1000000000002);
SELECT ff.create_execution(t.id(3), lane_id => 'order', priority => 5);
SELECT ff.create_execution(t.id(4), lane_id => 'order', priority => 1);
SELECT ff.create_execution(t.id(5), lane_id => 'other', priority => 9);
SELECT is(t.claimed('order', 3), ARRAY[t.id(2), t.id(3), t.id(1)], 'best first: priority, then created_at; limit 3');
SELECT is(t.claimed('order', 3), ARRAY[t.id(4)], 'the rest of the lane; no other lane''s work');
SELECT is(t.claimed('order', 3), '{}'::text[], 'an empty lane claims nothing');

-- 2. the payload comes with each claim, also one stored out of line
SELECT ff.create_execution(t.id(10), lane_id => 'payload', input_payload => '\x0102'::bytea);
SELECT ff.create_execution(t.id(11), lane_id => 'payload', input_payload => convert_to(repeat(md5(random()::text), 10000), 'UTF8'));
SELECT ff.create_execution(t.id(12), lane_id => 'payload');
SELECT is((SELECT array_agg(coalesce(md5(c.input_payload), 'null') ORDER BY c.claim->>'execution_id')
           FROM ff.claim_next('payload', 'w', 'w-1', max_count => 3) c),
          (SELECT array_agg(coalesce(md5(d.payload), 'null') ORDER BY d.execution_id)
           FROM ff.execution_data d WHERE d.execution_id IN (t.exec_uuid(t.id(10)), t.exec_uuid(t.id(11)), t.exec_uuid(t.id(12)))),
          'each claim carries its own payload (inline, out of line, none)');

-- 3. each filter passes an execution over without locking it
SELECT ff.create_execution(t.id(20), lane_id => 'filters', priority => 9,
    policy_json => '{"routing_requirements": {"required_capabilities": ["gpu"]}}');
SELECT ff.create_execution(t.id(22), lane_id => 'filters', priority => 7);
SELECT ff.create_execution(t.id(21), lane_id => 'filters', priority => 8);
SELECT ff.issue_claim_grant(t.id(21), 'someone-else', 'se-1', 'filters', grant_ttl_ms => 60000) ->> 'status';
SELECT ff.create_execution(t.id(23), lane_id => 'filters', priority => 1);
SELECT is(t.claimed('filters', 1), ARRAY[t.id(22)],
          'a missing capability and another worker''s live grant pass the better executions over');
SELECT ok(NOT t.locked_here(t.id(20)), 'the execution lacking a capability was not locked');
SELECT is(t.claimed('filters', 5, ARRAY['gpu']), ARRAY[t.id(20), t.id(23)],
          'with the capability it is taken; the reserved one still passed over');
SELECT is((SELECT public_state::text FROM ff.executions WHERE id = t.id(21)), 'waiting', 'the reserved execution is untouched');
SELECT t.at(1000000060003);
SELECT is(t.claimed('filters', 5), ARRAY[t.id(21)], 'an expired grant reserves nothing');

-- a concurrency key at its limit: passed over, unlocked; another key goes on
SELECT ff.create_execution(t.id(30), lane_id => 'keys', priority => 9, policy_json => '{"concurrency": {"key": "k"}}');
SELECT ff.create_execution(t.id(31), lane_id => 'keys', priority => 8, policy_json => '{"concurrency": {"key": "k"}}');
SELECT ff.create_execution(t.id(32), lane_id => 'keys', priority => 1, policy_json => '{"concurrency": {"key": "j"}}');
SELECT is(t.claimed('keys', 1), ARRAY[t.id(30)], 'the key''s first execution');
SELECT is(t.claimed('keys', 5), ARRAY[t.id(32)], 'the full key''s next is passed over; the other key''s is taken');
SELECT ok(NOT t.locked_here(t.id(31)), 'the full key''s execution was not locked');

-- a namespace-bound worker sees only its namespaces' work
SELECT ff.create_execution(t.id(40), 'ns_a', 'tenants', priority => 9);
SELECT ff.create_execution(t.id(41), 'ns_b', 'tenants', priority => 1);
CREATE ROLE t_scan_worker;
GRANT ff_worker TO t_scan_worker;
SELECT ff.grant_namespace('t_scan_worker', 'ns_b');
SELECT is(t.as_role('t_scan_worker', $$SELECT array_to_string(t.claimed('tenants', 5), ',')$$), t.id(41),
          'a worker bound to ns_b claims its execution, not ns_a''s better one');
SELECT ok(NOT t.locked_here(t.id(40)), 'the other namespace''s execution was not locked');

-- a flow member owed a cancel is not started
SELECT ff.create_flow('fa000000-0000-4000-8000-000000000001');
CREATE TEMP TABLE member AS SELECT ff.flow_member_execution_id('fa000000-0000-4000-8000-000000000001') AS id;
SELECT ff.create_execution((SELECT id FROM member), lane_id => 'flowlane', priority => 9);
SELECT ff.create_execution(t.id(51), lane_id => 'flowlane', priority => 1);
SELECT is(ff.add_execution_to_flow('fa000000-0000-4000-8000-000000000001', (SELECT id FROM member)) ->> 'status', 'OK',
          'a member of the flow');
SELECT ff.cancel_flow('fa000000-0000-4000-8000-000000000001', 'stop', 'cancel_all', grace_ms => 600000, wait => false) ->> 'status';
SELECT is(t.claimed('flowlane', 5), ARRAY[t.id(51)], 'the member owed a cancel is passed over');

-- 4. reclaim: the lane's lost leases first, then its expired ones, by expiry; not another lane's
SELECT ff.create_execution(t.id(60), lane_id => 'fleet');
SELECT ff.create_execution(t.id(61), lane_id => 'fleet');
SELECT ff.create_execution(t.id(62), lane_id => 'fleet');
SELECT ff.create_execution(t.id(63), lane_id => 'fleet_b');
SELECT t.claimed('fleet', 1, reclaim => false);
SELECT t.at(1000000070000);
SELECT t.claimed('fleet', 1, reclaim => false);
SELECT t.at(1000000070010);
SELECT t.claimed('fleet', 1, reclaim => false);
SELECT t.claimed('fleet_b', 1, reclaim => false);
SELECT ff.revoke_lease(t.id(62)) ->> 'status';
SELECT t.at(1000000200000);
SELECT is(t.claimed('fleet', 2, reclaim => true), ARRAY[t.id(62), t.id(60)],
          'reclaim: the revoked lease first, then the oldest expired one');
SELECT is(t.claimed('fleet', 5, reclaim => true), ARRAY[t.id(61)], 'then the next expired one, and no other lane''s');
SELECT is((SELECT ownership_state::text FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(63))), 'leased',
          'the other lane''s expired lease is untouched');

-- 5. the scan's index missing or renamed: a clear error, nothing claimed
SELECT ff.create_execution(t.id(70), lane_id => 'noindex');
SAVEPOINT gone;
DROP INDEX ff.execution_eligible_idx;
SELECT throws_ok($$SELECT ff.claim_next('noindex', 'w', 'w-1')$$, '55000',
                 'index ff.execution_eligible_idx is missing, not valid or not as installed', 'a claim without the eligible index: 55000');
ROLLBACK TO SAVEPOINT gone;
SAVEPOINT renamed;
ALTER INDEX ff.execution_lease_lost_idx RENAME TO execution_lease_lost_idx_old;
SELECT throws_ok($$SELECT ff.claim_next('noindex', 'w', 'w-1', reclaim => true)$$, '55000',
                 'index ff.execution_lease_lost_idx is missing, not valid or not as installed', 'a reclaim without the lost-lease index: 55000');
ROLLBACK TO SAVEPOINT renamed;
-- an index of the name but another order, or a narrower predicate, would
-- claim in the wrong order or miss work: not used
SAVEPOINT reordered;
DROP INDEX ff.execution_eligible_idx;
CREATE INDEX execution_eligible_idx ON ff.execution (lane_id, created_at, partition, execution_id)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now';
SELECT throws_ok($$SELECT ff.claim_next('noindex', 'w', 'w-1')$$, '55000', NULL,
                 'an eligible index without the priority: 55000');
ROLLBACK TO SAVEPOINT reordered;
SAVEPOINT narrowed;
DROP INDEX ff.execution_eligible_idx;
CREATE INDEX execution_eligible_idx ON ff.execution (lane_id, priority DESC, created_at, partition, execution_id)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now' AND priority > 100;
SELECT throws_ok($$SELECT ff.claim_next('noindex', 'w', 'w-1')$$, '55000', NULL,
                 'an eligible index with a narrower predicate: 55000');
ROLLBACK TO SAVEPOINT narrowed;
-- a column of the index renamed and another added under its name: the
-- index's own row unchanged, its definition no longer the installed one
-- (this backend verified the index with the claims above)
SAVEPOINT column_moved;
ALTER TABLE ff.execution RENAME COLUMN priority TO priority_old;
ALTER TABLE ff.execution ADD COLUMN priority bigint NOT NULL DEFAULT 0;
SELECT throws_ok($$SELECT ff.claim_next('noindex', 'w', 'w-1')$$, '55000', NULL,
                 'an eligible index over a renamed column, in the backend that verified it: 55000');
ROLLBACK TO SAVEPOINT column_moved;
SAVEPOINT recreated;
DROP INDEX ff.execution_eligible_idx;
SET LOCAL search_path = ff, public;
CREATE INDEX execution_eligible_idx ON execution (lane_id, priority DESC, created_at, partition, execution_id)
    WHERE lifecycle_phase = 'runnable' AND eligibility_state = 'eligible_now';
SELECT is(t.claimed('noindex', 1), ARRAY[t.id(70)], 'the index recreated as installed (another search_path) is walked');
ROLLBACK TO SAVEPOINT recreated;
SELECT is((SELECT public_state::text FROM ff.executions WHERE id = t.id(70)), 'waiting', 'the refused claims changed nothing');
SELECT is(t.claimed('noindex', 1), ARRAY[t.id(70)], 'with the index back the claim takes it');

-- 6. a batch probes each row's key: a grant that exists is still deleted by
-- a batch claim, a stream that exists is still closed by a batch complete
SELECT ff.create_execution(t.id(90), lane_id => 'batchprobe', priority => 9);
SELECT ff.create_execution(t.id(91), lane_id => 'batchprobe', priority => 8);
SELECT ff.create_execution(t.id(92), lane_id => 'batchprobe', priority => 7);
SELECT ff.issue_claim_grant(t.id(91), 'someone-else', 'se-1', 'batchprobe', grant_ttl_ms => 1000) ->> 'status';
SELECT t.at(1000000300000);
CREATE TEMP TABLE bp AS SELECT c.claim->>'execution_id' AS id, (c.claim->>'lease_id')::uuid AS lease,
    (c.claim->>'lease_epoch')::bigint AS epoch, (c.claim->>'attempt_id')::uuid AS attempt,
    (c.claim->>'attempt_index')::integer AS idx
    FROM ff.claim_next('batchprobe', 'w', 'w-1', max_count => 3) c;
SELECT is((SELECT count(*)::int FROM bp), 3, 'a batch claim of three, one with an expired grant');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = t.exec_uuid(t.id(91))), 0,
          'the expired grant is deleted by the batch claim');
SELECT is((SELECT ff.append_frame(id, idx, lease, epoch, 'event', '\x01') ->> 'status' FROM bp WHERE id = t.id(92)), 'OK',
          'a frame opens the stream of one of them');
SELECT is((ff.complete_executions(ARRAY(SELECT id FROM bp ORDER BY id), ARRAY(SELECT lease FROM bp ORDER BY id),
                                  ARRAY(SELECT epoch FROM bp ORDER BY id), ARRAY(SELECT attempt FROM bp ORDER BY id))) ->> 'succeeded',
          '3', 'the three completed as a batch');
SELECT isnt((SELECT closed_at FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(92))), NULL,
            'the open stream is closed by the batch complete');
-- a key that never held an entry is answered from its metapage, and looked
-- at again once the table gets its first row
SAVEPOINT unused_key;
TRUNCATE ff.claim_grant;
SELECT ff.create_execution(t.id(93 + i), lane_id => 'unusedkey', priority => 9 - i) FROM generate_series(0, 3) i;
SELECT is((SELECT count(*)::int FROM ff.claim_next('unusedkey', 'w', 'w-1', max_count => 2)), 2,
          'a batch claim while ff.claim_grant''s key never held an entry');
SELECT ff.issue_claim_grant(t.id(95), 'someone-else', 'se-1', 'unusedkey', grant_ttl_ms => 1000) ->> 'status';
SELECT t.at(1000000400000);
SELECT is((SELECT count(*)::int FROM ff.claim_next('unusedkey', 'w', 'w-1', max_count => 2)), 2,
          'a batch claim after its first grant was issued');
SELECT is((SELECT count(*)::int FROM ff.claim_grant WHERE execution_id = t.exec_uuid(t.id(95))), 0,
          'the first grant the table ever held is found and deleted by the batch claim');
ROLLBACK TO SAVEPOINT unused_key;

-- a batch's key probes are held until its writes are flushed; a batch that
-- fails after its first item probed a key leaves none held behind
SELECT ff.create_execution(t.id(95), lane_id => 'batchfail');
SELECT ff.create_execution(t.id(96), lane_id => 'batchfail');
CREATE TEMP TABLE bf AS SELECT c.claim->>'execution_id' AS id, (c.claim->>'lease_id')::uuid AS lease,
    (c.claim->>'lease_epoch')::bigint AS epoch, (c.claim->>'attempt_id')::uuid AS attempt,
    (c.claim->>'attempt_index')::integer AS idx
    FROM ff.claim_next('batchfail', 'w', 'w-1', max_count => 2) c;
CREATE FUNCTION t.fail_bf() RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.fail_executions(ARRAY(SELECT id FROM bf ORDER BY id), ARRAY(SELECT lease FROM bf ORDER BY id),
                              ARRAY(SELECT epoch FROM bf ORDER BY id), ARRAY(SELECT attempt FROM bf ORDER BY id),
                              failure_category => 'permanent')
$$;
SAVEPOINT bf_seq;
ALTER SEQUENCE ff.completion_event_event_id_seq RENAME TO completion_event_seq_moved;
SELECT throws_ok($$SELECT t.fail_bf()$$, '42P01', NULL,
                 'a batch fail whose first item probed its stream and then drew no event id fails whole');
ROLLBACK TO SAVEPOINT bf_seq;
SELECT is((SELECT ff.append_frame(id, idx, lease, epoch, 'event', '\x01') ->> 'status' FROM bf WHERE id = t.id(96)), 'OK',
          'a frame opens the stream of the second');
CREATE TEMP TABLE bf_out AS SELECT t.fail_bf() AS j;
SELECT is((SELECT j ->> 'succeeded' FROM bf_out), '2', 'the same batch then fails both');
-- the batch's envelope is assembled from its items' trees: it must be the
-- jsonb its text parses to (keys sorted at both levels) and answer lookups
SELECT ok((SELECT j = j::text::jsonb AND j @> '{"ok": true, "count": 2, "results": [{"ok": true}, {"ok": true}]}'
                  AND j -> 'results' -> 1 ->> 'execution_id' = t.id(96) FROM bf_out),
          'the batch envelope is well formed: equal to its text reparsed, contained, looked up by key');
SELECT isnt((SELECT closed_at FROM ff.stream_meta WHERE execution_id = t.exec_uuid(t.id(96))), NULL,
            'and closes the stream its new probe finds');

-- 7. relations kept by name per backend (ff_rel_lock) are looked up again
-- after a rename: the old table is never used under the name
SELECT ff.create_execution(t.id(80), lane_id => 'renamed');
SELECT ff.create_execution(t.id(81), lane_id => 'renamed');
SELECT ff.create_execution(t.id(82), lane_id => 'renamed');
SELECT is(t.claimed('renamed', 2), ARRAY[t.id(80), t.id(81)], 'a claim that probed ff.claim_grant');
SELECT is(t.complete(t.id(81)) ->> 'status', 'OK', 'a completion that drew an event id');
SAVEPOINT moved;
ALTER TABLE ff.claim_grant RENAME TO claim_grant_moved;
SELECT throws_ok($$SELECT ff.claim_next('renamed', 'w', 'w-1')$$, '42P01', NULL,
                 'after ff.claim_grant is renamed, a claim looks it up by name again and finds none');
ROLLBACK TO SAVEPOINT moved;
SAVEPOINT moved_seq;
ALTER SEQUENCE ff.completion_event_event_id_seq RENAME TO completion_event_seq_moved;
SELECT throws_ok($$SELECT t.complete(t.id(80))$$, '42P01', NULL,
                 'after the event sequence is renamed, a completion looks it up by name again and finds none');
ROLLBACK TO SAVEPOINT moved_seq;
SELECT is(t.complete(t.id(80)) ->> 'status', 'OK', 'with the names back the completion goes through');
SAVEPOINT schema_moved;
ALTER SCHEMA ff RENAME TO ff_moved;
CREATE SCHEMA ff;
SELECT t.as_role(current_user, $$SELECT count(*) FROM ff_moved.claim_next('renamed', 'w', 'w-1')$$) AS moved_state \gset
ROLLBACK TO SAVEPOINT schema_moved;
SELECT is(:'moved_state'::text, 'ERROR 42P01'::text,
          'after the schema is renamed and another named ff, a claim finds no ff tables (none of the old ones used)');

SELECT * FROM finish();
ROLLBACK;

-- Checklist items of the specs (doc/checklist.md) that no other
-- suite proved, or proved only in part.  Each check is labelled with its
-- spec and item number; doc/checklist.md maps every such item to its test.
BEGIN;
\ir helpers.psql

-- a fresh claimed execution n (grant + claim by w1)
CREATE FUNCTION t.new(n integer, policy text DEFAULT NULL, lane text DEFAULT 'default') RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ff.create_execution(t.id(n), lane_id => lane, policy_json => policy);
    PERFORM t.claim(t.id(n));
    RETURN t.id(n);
END $$;

-- flow members run to an outcome, edges by member name (as 11_flows)
CREATE FUNCTION t.run(name text, outcome text DEFAULT 'success') RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE id text := t.m(name);
BEGIN
    PERFORM ff.issue_grant_and_claim(id, 'w', 'w-1', 'flow');
    IF outcome = 'success' THEN RETURN t.complete(id, convert_to('result of ' || name, 'UTF8')); END IF;
    RETURN t.fail(id);
END $$;
CREATE FUNCTION t.edge(f uuid, up text, down text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.add_dependency(f, t.m(up), t.m(down))
$$;

-- ======================= execution =======================

-- execution #19: a claim on an active execution; on a runnable one that is
-- somehow still owned (injected, rolled back)
SELECT t.new(1001);
SELECT is(ff.claim_execution(t.id(1001), 'w2', 'w2-1', 'default')->>'error', 'execution_not_leaseable',
          'execution #19: claim on an active execution -> execution_not_leaseable');
SELECT ff.create_execution(t.id(1002));
SELECT ff.issue_claim_grant(t.id(1002), 'w2', 'w2-1', 'default');
SAVEPOINT owned19;
ALTER TABLE ff.execution DISABLE TRIGGER USER;
UPDATE ff.execution SET ownership_state = 'leased' WHERE execution_id = t.exec_uuid(t.id(1002));
SELECT ff.claim_execution(t.id(1002), 'w2', 'w2-1', 'default')->>'error' AS owned19 \gset
ROLLBACK TO SAVEPOINT owned19;
SELECT is(:'owned19'::text, 'lease_conflict', 'execution #19: claim on a runnable execution that is owned -> lease_conflict');

-- execution #30: the old holder after a reclaim
SELECT t.new(1003);
SELECT t.row(t.id(1003)) AS old30 \gset
SELECT t.at(1000000031000);
SELECT ff.scan_lease_expiry();
SELECT ff.issue_reclaim_grant(t.id(1003), 'w2', 'w2-1', 'default');
SELECT is(ff.reclaim_execution(t.id(1003), 'w2', 'w2-1', 'default')->>'status', 'OK', 'execution #30: reclaimed by w2');
SELECT is(ff.complete_execution(t.id(1003), (:'old30'::ff.executions).current_lease_id, (:'old30'::ff.executions).current_lease_epoch,
                                (:'old30'::ff.executions).current_attempt_id)->>'error', 'stale_lease',
          'execution #30: the old holder''s complete -> stale_lease');
SELECT is(ff.append_frame(t.id(1003), 0, (:'old30'::ff.executions).current_lease_id, (:'old30'::ff.executions).current_lease_epoch,
                          'stdout', 'late')->>'error', 'stale_owner_cannot_append',
          'execution #30: the old holder''s append -> stale_owner_cannot_append');
SELECT is((SELECT count(*)::int FROM ff.stream_frame WHERE execution_id = t.exec_uuid(t.id(1003))), 0, 'execution #30: no frame written');
SELECT t.at(1000000000000);

-- execution #35: operator-override complete with no fence
SELECT t.new(1004);
SELECT is(ff.complete_execution(t.id(1004), source => 'operator_override')->>'result', 'completed',
          'execution #35: override on a leased, unexpired execution -> completed');
SELECT t.new(1005);
SELECT t.at(1000000031000);
SELECT is(ff.complete_execution(t.id(1005), source => 'operator_override')->>'error', 'lease_expired',
          'execution #35: override on an expired lease -> lease_expired');
SELECT t.at(1000000000000);
SELECT t.new(1006);
SELECT ff.revoke_lease(t.id(1006));
SELECT is(ff.complete_execution(t.id(1006), source => 'operator_override')->>'error', 'lease_revoked',
          'execution #35: override on a revoked lease -> lease_revoked');
SELECT t.new(1007);
SELECT is(ff.complete_execution(t.id(1007))->>'error', 'fence_required', 'execution #35: no fence, no override -> fence_required');
SELECT is((t.row(t.id(1007))).public_state::text, 'active', 'execution #35: and it stays active');

-- execution #38: retry scheduling
SELECT ff.create_execution(t.id(1008), policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "fixed", "delay_ms": 5000}}}',
                           execution_deadline_at => 1000000900000);
SELECT t.claim(t.id(1008));
SELECT t.row(t.id(1008)) AS first38 \gset
SELECT t.fail(t.id(1008), 'flaky');
SELECT is(ARRAY[e.public_state::text, e.blocking_reason::text, e.attempt_state::text, coalesce(e.current_attempt_id::text, 'none'),
                e.delay_until::text, e.execution_deadline_at::text],
          ARRAY['delayed', 'waiting_for_retry_backoff', 'pending_retry_attempt', 'none', '1000000005000', '1000000900000'],
          'execution #38: delayed for the backoff, attempt cleared, deadline kept') FROM t.row(t.id(1008)) e;
SELECT t.at(1000000005000);
SELECT ff.scan_delayed();
SELECT is((t.row(t.id(1008))).public_state::text, 'waiting', 'execution #38: promoted at now + backoff');
SELECT t.claim(t.id(1008));
SELECT is((SELECT ARRAY[attempt_index::text, attempt_type::text, retry_reason, previous_attempt_index::text]
           FROM ff.attempt WHERE execution_id = t.exec_uuid(t.id(1008)) ORDER BY attempt_index DESC LIMIT 1),
          ARRAY['1', 'retry', 'flaky', '0'], 'execution #38: the next claim makes attempt 1, a retry, with its reason and predecessor');
SELECT t.at(1000000000000);

-- execution #47: waiting for children
SELECT ff.create_flow('fc470000-0000-4000-8000-000000000001');
SELECT ff.flow_member_execution_id('fc470000-0000-4000-8000-000000000001') AS p47 \gset
SELECT ff.flow_member_execution_id('fc470000-0000-4000-8000-000000000001') AS c47 \gset
SELECT ff.create_execution(:'p47', lane_id => 'c47');
SELECT ff.create_execution(:'c47', lane_id => 'c47');
SELECT ff.add_execution_to_flow('fc470000-0000-4000-8000-000000000001', :'p47');
SELECT ff.add_execution_to_flow('fc470000-0000-4000-8000-000000000001', :'c47');
SELECT t.claim(:'p47');
SELECT is(ff.move_to_waiting_children(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id)->>'status', 'OK',
          'execution #47: move_to_waiting_children') FROM t.row(:'p47') e;
SELECT is((t.row(:'p47')).public_state::text, 'waiting_children', 'execution #47: public state waiting_children');
SELECT is(ff.add_dependency('fc470000-0000-4000-8000-000000000001', :'c47', :'p47')->>'status', 'OK', 'execution #47: a dependency on the child');
SELECT is((t.row(:'p47')).public_state::text, 'waiting_children', 'execution #47: not promoted while a dependency is unresolved');
SELECT ff.issue_grant_and_claim(:'c47', 'w', 'w-1', 'c47');
SELECT t.complete(:'c47');
SELECT t.dispatch();
SELECT is((t.row(:'p47')).public_state::text, 'waiting', 'execution #47: promoted once both counters are zero');

-- execution #66: tags
SELECT ff.create_execution(t.id(1009));
SELECT t.snapshot() AS snap66 \gset
SELECT is(ff.set_execution_tags(t.id(1009), 'a.x')->>'error', 'invalid_input', 'execution #66: odd argument count -> invalid_input');
SELECT is(ff.set_execution_tags(t.id(1009), k, 'v')->>'error', 'invalid_tag_key', 'execution #66: key ' || k || ' -> invalid_tag_key')
FROM unnest(ARRAY['Cairn.x', 'cairn', 'cairn.', 'cairn..x', '1a.b']) k;
SELECT is(t.snapshot(), :'snap66'::text, 'execution #66: nothing written by refused tags');
SELECT t.at(1000000000777);
SELECT is(ff.set_execution_tags(t.id(1009), 'cairn.task_id', '1', 'a.x', '2', 'app.sub.field', '3')->>'count', '3',
          'execution #66: valid keys accepted, the pair count returned');
SELECT is((t.row(t.id(1009))).last_mutation_at, 1000000000777::bigint, 'execution #66: last_mutation_at bumped');
SELECT ff.cancel_execution(t.id(1009), 'stop');
SELECT is(ff.set_execution_tags(t.id(1009), 'a.y', 'after')->>'status', 'OK', 'execution #66: allowed on a terminal execution');
SELECT t.at(1000000000000);

-- execution #71: every scanner twice in a row: the second run changes nothing
SELECT ff.create_execution(t.id(1010), delay_until => 1000000001000);
SELECT t.new(1011);
SELECT ff.create_execution(t.id(1012), execution_deadline_at => 1000000002000);
SELECT t.at(1000000100000);
SELECT ff.run_scanners();
SELECT t.snapshot() AS scan71 \gset
SELECT ff.run_scanners();
SELECT is(t.snapshot(), :'scan71'::text, 'execution #71: a second run of every scanner changes nothing');
SELECT is(ARRAY[(t.row(t.id(1010))).public_state::text, (t.row(t.id(1011))).ownership_state::text, (t.row(t.id(1012))).public_state::text],
          ARRAY['waiting', 'lease_expired_reclaimable', 'expired'], 'execution #71: (the first run did the work)');
SELECT t.at(1000000000000);

-- ======================= flows =======================

-- flows #2: a flow's timestamps are the engine's clock; there is no caller
-- clock argument to pass (the reference's now_ms is not part of the API)
SELECT t.at(1000000000222);
SELECT ff.create_flow('fc020000-0000-4000-8000-000000000001');
SELECT is((SELECT created_at FROM ff.flow WHERE flow_id = 'fc020000-0000-4000-8000-000000000001'), 1000000000222::bigint,
          'flows #2: created_at is the engine clock');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'ff' AND p.proname = 'create_flow' AND 'now_ms' = ANY (p.proargnames)), 0,
          'flows #2: create_flow takes no caller clock');
SELECT t.at(1000000000000);

-- flows #4 / #5: refused adds change nothing of the flow or the execution
SELECT ff.create_flow('fc040000-0000-4000-8000-000000000001');
SELECT t.member('fc040000-0000-4000-8000-000000000001', 'f4a');
CREATE FUNCTION t.flowvec(f uuid) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('/', node_count, graph_revision, public_flow_state,
                     (SELECT count(*) FROM ff.execution e WHERE e.flow_id = f)) FROM ff.flow WHERE flow_id = f
$$;
SELECT t.flowvec('fc040000-0000-4000-8000-000000000001') AS vec4 \gset
SELECT ff.create_execution(t.id(1020));
SELECT is(ff.add_execution_to_flow('fc040000-0000-4000-8000-000000000001', t.id(1020))->>'error', 'partition_mismatch',
          'flows #4: a solo-minted id on another partition -> partition_mismatch');
SELECT is(t.flowvec('fc040000-0000-4000-8000-000000000001'), :'vec4'::text, 'flows #4: node_count, revision, members unchanged');
SELECT is((t.row(t.id(1020))).flow_id, NULL, 'flows #4: the execution is not stamped');
SELECT is(ff.add_execution_to_flow('fc040000-0000-4000-8000-000000000001', ff.flow_member_execution_id('fc040000-0000-4000-8000-000000000001'))->>'error',
          'execution_not_found', 'flows #5: a missing execution -> execution_not_found');
SELECT is(t.flowvec('fc040000-0000-4000-8000-000000000001'), :'vec4'::text, 'flows #5: and nothing changed');
SELECT ff.create_flow('fc050000-0000-4000-8000-000000000001');
SELECT ff.flow_member_execution_id('fc050000-0000-4000-8000-000000000001') AS m5 \gset
SELECT ff.create_execution(:'m5');
SELECT ff.cancel_flow('fc050000-0000-4000-8000-000000000001', 'stop');
SELECT t.flowvec('fc050000-0000-4000-8000-000000000001') AS vec5 \gset
SELECT is(ff.add_execution_to_flow('fc050000-0000-4000-8000-000000000001', :'m5')->>'error', 'flow_already_terminal',
          'flows #5: add to a cancelled flow -> flow_already_terminal');
SELECT is(t.flowvec('fc050000-0000-4000-8000-000000000001'), :'vec5'::text, 'flows #5: counts unchanged');
SELECT is((t.row(:'m5')).flow_id, NULL, 'flows #5: the execution is not stamped');

-- flows #7 / #8: a member of flow A added to flow B of the same partition;
-- a terminal execution may join
SELECT ff.create_flow('fc070000-0000-4000-8000-000000000001');
SELECT (SELECT format('fc07%s-0000-4000-8000-000000000002', lpad(to_hex(g), 4, '0'))::uuid FROM generate_series(1, 65535) g
        WHERE ff.flow_partition(format('fc07%s-0000-4000-8000-000000000002', lpad(to_hex(g), 4, '0'))::uuid)
            = ff.flow_partition('fc070000-0000-4000-8000-000000000001') LIMIT 1) AS flow7b \gset
SELECT ff.create_flow(:'flow7b');
SELECT t.member('fc070000-0000-4000-8000-000000000001', 'f7a');
SELECT t.flowvec(:'flow7b') AS vec7 \gset
SELECT is(ff.add_execution_to_flow(:'flow7b', t.m('f7a')) - 'execution_id',
          jsonb_build_object('ok', false, 'error', 'already_member_of_different_flow', 'detail', 'fc070000-0000-4000-8000-000000000001'),
          'flows #7: already_member_of_different_flow naming flow A');
SELECT is(t.flowvec(:'flow7b'), :'vec7'::text, 'flows #7: B''s counts unchanged');
SELECT ff.flow_member_execution_id(:'flow7b') AS done8 \gset
SELECT ff.create_execution(:'done8');
SELECT ff.cancel_execution(:'done8', 'finished before joining');
SELECT is(ff.add_execution_to_flow(:'flow7b', :'done8')->>'status', 'OK', 'flows #8: a terminal execution may join a flow');

-- flows #12: staging on a cancelled flow is refused before the revision is compared
SELECT ff.create_flow('fc120000-0000-4000-8000-000000000001');
SELECT t.member('fc120000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f12a', 'f12b']) n;
SELECT ff.cancel_flow('fc120000-0000-4000-8000-000000000001', 'stop', 'flow_only');
SELECT is(ff.stage_dependency_edge('fc120000-0000-4000-8000-000000000001', gen_random_uuid(), t.m('f12a'), t.m('f12b'), 999)->>'error',
          'flow_already_terminal', 'flows #12: a stale revision on a cancelled flow -> flow_already_terminal (not stale_graph_revision)');

-- flows #67: a chain of 60 members whose root fails: every member ends skipped
SELECT ff.create_flow('fc670000-0000-4000-8000-000000000001');
SELECT t.member('fc670000-0000-4000-8000-000000000001', 'c67_' || i) FROM generate_series(0, 59) i;
SELECT t.edge('fc670000-0000-4000-8000-000000000001', 'c67_' || i, 'c67_' || (i + 1)) FROM generate_series(0, 58) i;
SELECT t.run('c67_0', 'failed');
SELECT t.dispatch();
SELECT is((SELECT count(*)::int FROM t.names n JOIN ff.executions e ON e.id = n.id WHERE n.name LIKE 'c67\_%' AND e.public_state = 'skipped'), 59,
          'flows #67: all 59 members below the failed root of a 60-deep chain are skipped');
SELECT is((SELECT count(*)::int FROM ff.dependency d JOIN t.names n ON d.downstream_execution_id = t.exec_uuid(n.id)
           WHERE n.name LIKE 'c67\_%' AND d.state = 'unsatisfied'), 0, 'flows #67: no edge left unresolved');
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE processed_at IS NULL), 0, 'flows #67: no completion left undispatched');

-- flows #68: grace_ms
SELECT ff.create_flow('fc680000-0000-4000-8000-000000000001');
SELECT t.member('fc680000-0000-4000-8000-000000000001', 'f68');
SELECT throws_ok($$SELECT ff.cancel_flow('fc680000-0000-4000-8000-000000000001', grace_ms => '1.5')$$, '22P02', NULL,
                 'flows #68: 1.5 cannot be passed (grace_ms is bigint: PostgreSQL refuses it before the call)');
SELECT throws_ok($$SELECT ff.cancel_flow('fc680000-0000-4000-8000-000000000001', grace_ms => 'abc')$$, '22P02', NULL,
                 'flows #68: "abc" cannot be passed either');
SELECT is(ff.cancel_flow('fc680000-0000-4000-8000-000000000001', grace_ms => -1)->>'error', 'invalid_grace_ms', 'flows #68: -1 -> invalid_grace_ms');
SELECT is(ff.cancel_flow('fc680000-0000-4000-8000-000000000001', 'x', wait => false)->>'status', 'OK', 'flows #68: omitted grace accepted');
SELECT is((SELECT cancel_due_at - cancelled_at FROM ff.flow WHERE flow_id = 'fc680000-0000-4000-8000-000000000001'), 30000::bigint,
          'flows #68: omitted -> due now + 30 000');
SELECT ff.create_flow('fc680000-0000-4000-8000-000000000002');
SELECT t.member('fc680000-0000-4000-8000-000000000002', 'f68b');
SELECT is(ff.cancel_flow('fc680000-0000-4000-8000-000000000002', 'x', grace_ms => 0, wait => false)->>'status', 'OK', 'flows #68: 0 accepted');

-- flows #73: the wait posture cancels every member in the caller's
-- transaction; a member whose cancel fails makes the whole call fail with
-- nothing written (no PartiallyCancelled: see doc/decisions.md)
SELECT ff.create_flow('fc730000-0000-4000-8000-000000000001');
SELECT t.member('fc730000-0000-4000-8000-000000000001', 'f73_' || i) FROM generate_series(1, 3) i;
SELECT t.run('f73_3');
CREATE FUNCTION t.refuse_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.public_state = 'cancelled' AND NEW.execution_id = t.exec_uuid(t.m('f73_2')) THEN
        RAISE EXCEPTION 'planted failure' USING ERRCODE = '55P03';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_cancel BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse_cancel();
SELECT t.snapshot() AS snap73 \gset
SELECT throws_ok($$SELECT ff.cancel_flow('fc730000-0000-4000-8000-000000000001', 'stop')$$, '55P03', NULL,
                 'flows #73: a member''s cancel fails -> the call fails');
SELECT is(t.snapshot(), :'snap73'::text, 'flows #73: nothing written (the first member is not left cancelled)');
SELECT is((SELECT public_flow_state FROM ff.flow WHERE flow_id = 'fc730000-0000-4000-8000-000000000001'), 'open', 'flows #73: the flow stays open');
DROP TRIGGER refuse_cancel ON ff.execution;
SELECT is(ff.cancel_flow('fc730000-0000-4000-8000-000000000001', 'stop') - 'members',
          '{"ok": true, "result": "cancelled", "status": "OK", "members_owed": 0, "members_cancelled": 2, "cancellation_policy": "cancel_all"}',
          'flows #73: the retry cancels the live members, the finished one is left as it is');
SELECT is(ARRAY[t.st('f73_1'), t.st('f73_2'), t.st('f73_3')], ARRAY['cancelled', 'cancelled', 'completed'], 'flows #73: all terminal on return');

-- flows #27: apply to a child stamped with another flow (the stamp injected
-- between stage and apply, rolled back)
SELECT ff.create_flow('fc270000-0000-4000-8000-000000000001');
SELECT t.member('fc270000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f27a', 'f27b']) n;
SELECT ff.stage_dependency_edge('fc270000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000027', t.m('f27a'), t.m('f27b'),
       (SELECT graph_revision FROM ff.flow WHERE flow_id = 'fc270000-0000-4000-8000-000000000001'))->>'graph_revision' AS rev27 \gset
SAVEPOINT other27;
ALTER TABLE ff.execution DISABLE TRIGGER USER;
UPDATE ff.execution SET flow_id = 'fc270000-0000-4000-8000-0000000000ff' WHERE execution_id = t.exec_uuid(t.m('f27b'));
SELECT ff.apply_dependency_to_child('fc270000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000027', t.m('f27b'), t.m('f27a'),
       :rev27)->>'error' AS apply27 \gset
ROLLBACK TO SAVEPOINT other27;
SELECT is(:'apply27'::text, 'execution_already_in_flow', 'flows #27: apply to a child stamped with another flow -> execution_already_in_flow');

-- flows #41: any_of whose three parents all fail: impossible after the
-- third (not before), the child skipped
SELECT ff.create_flow('fc410000-0000-4000-8000-000000000001');
SELECT t.member('fc410000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f41a', 'f41b', 'f41c', 'f41d']) n;
SELECT ff.set_edge_group_policy('fc410000-0000-4000-8000-000000000001', t.m('f41d'), 'any_of', 'cancel_remaining');
SELECT t.edge('fc410000-0000-4000-8000-000000000001', n, 'f41d') FROM unnest(ARRAY['f41a', 'f41b', 'f41c']) n;
SELECT t.run('f41a', 'failed'); SELECT t.dispatch();
SELECT t.run('f41b', 'failed'); SELECT t.dispatch();
SELECT is((SELECT failed || '/' || group_state FROM ff.edge_group WHERE downstream_execution_id = t.exec_uuid(t.m('f41d'))), '2/pending',
          'flows #41: two of three failed: still pending');
SELECT is(t.st('f41d'), 'waiting_children', 'flows #41: the child still waits');
SELECT t.run('f41c', 'failed'); SELECT t.dispatch();
SELECT is((SELECT failed || '/' || group_state FROM ff.edge_group WHERE downstream_execution_id = t.exec_uuid(t.m('f41d'))), '3/impossible',
          'flows #41: the third failure makes the group impossible');
SELECT is(t.st('f41d'), 'skipped', 'flows #41: the child is skipped');
SELECT is((SELECT count(*)::int FROM ff.pending_cancel_group g WHERE g.downstream_execution_id = t.exec_uuid(t.m('f41d'))), 1,
          'flows #41: with cancel_remaining the request is indexed ...');
SELECT is(ff.scan_edge_cancel_dispatch(50)->>'cancelled', '0', 'flows #41: ... with nothing in it to cancel');
SELECT is((SELECT count(*)::int FROM ff.pending_cancel_group g WHERE g.downstream_execution_id = t.exec_uuid(t.m('f41d'))), 0,
          'flows #41: and then drained');

-- flows #76: a deleted flow's backlog entry (its cancel_due_at) goes with
-- its pending-cancel set: nothing is left for the reconciler, and the
-- members are no longer held back as owed a cancel
SELECT ff.create_flow('fc760000-0000-4000-8000-000000000001');
SELECT t.member('fc760000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f76a', 'f76b']) n;
SELECT ff.cancel_flow('fc760000-0000-4000-8000-000000000001', 'stop', wait => false);
SELECT is((SELECT count(*)::int FROM ff.flow_pending_cancel WHERE flow_id = 'fc760000-0000-4000-8000-000000000001'), 2,
          'flows #76: (two members owed a cancel, the flow in the backlog)');
SELECT is(ff.claim_execution(t.m('f76a'), 'w', 'w-1', 'flow')->>'error', 'execution_not_eligible', 'flows #76: (an owed member is not claimable)');
DELETE FROM ff.flow WHERE flow_id = 'fc760000-0000-4000-8000-000000000001';
SELECT is((SELECT count(*)::int FROM ff.flow_pending_cancel WHERE flow_id = 'fc760000-0000-4000-8000-000000000001'), 0,
          'flows #76: deleting the flow removes its pending set with its backlog entry');
SELECT t.at(1000000031000);
SELECT ff.scan_flow_cancels();
SELECT is(ARRAY[t.st('f76a'), t.st('f76b')], ARRAY['waiting', 'waiting'], 'flows #76: the reconciler past the grace cancels nothing');
SELECT is(t.claim(t.m('f76a'))->>'status', 'OK', 'flows #76: the members are claimable again');
SELECT t.at(1000000000000);

-- flows #21: the policy may be set after staging, not after an apply
SELECT ff.create_flow('fc210000-0000-4000-8000-000000000001');
SELECT t.member('fc210000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f21a', 'f21b']) n;
SELECT ff.stage_dependency_edge('fc210000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000021', t.m('f21a'), t.m('f21b'),
       (SELECT graph_revision FROM ff.flow WHERE flow_id = 'fc210000-0000-4000-8000-000000000001'));
SELECT is(ff.set_edge_group_policy('fc210000-0000-4000-8000-000000000001', t.m('f21b'), 'any_of', 'let_run')->>'result', 'set',
          'flows #21: staged, not applied: the policy may be set');
SELECT ff.apply_dependency_to_child('fc210000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000021', t.m('f21b'), t.m('f21a'));
SELECT is(ff.set_edge_group_policy('fc210000-0000-4000-8000-000000000001', t.m('f21b'), 'all_of') - 'detail',
          '{"ok": false, "error": "invalid_input"}', 'flows #21: after the apply -> invalid_input');
SELECT ok(ff.set_edge_group_policy('fc210000-0000-4000-8000-000000000001', t.m('f21b'), 'quorum', 'cancel_remaining', 1)->>'detail'
          LIKE 'edge_group_policy_already_fixed%', 'flows #21: (any variant) edge_group_policy_already_fixed');
SELECT is((SELECT policy_variant || '/' || on_satisfied || '/' || k || '/' || n FROM ff.edge_groups WHERE downstream_execution_id = t.m('f21b')),
          'any_of/let_run/1/1', 'flows #21: the policy set before the apply is kept');

-- flows #28: an apply to an active child counts the dependency and leaves
-- it active; the child's own success and its upstream's later success
-- promote nothing
SELECT ff.create_flow('fc280000-0000-4000-8000-000000000001');
SELECT t.member('fc280000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f28up', 'f28kid']) n;
SELECT ff.issue_grant_and_claim(t.m('f28kid'), 'w', 'w-1', 'flow');
SELECT t.edge('fc280000-0000-4000-8000-000000000001', 'f28up', 'f28kid');
SELECT is(ARRAY[t.st('f28kid'), (SELECT state FROM ff.dependency WHERE downstream_execution_id = t.exec_uuid(t.m('f28kid'))),
                (SELECT unsatisfied_required_count::text FROM ff.dependency_meta WHERE execution_id = t.exec_uuid(t.m('f28kid')))],
          ARRAY['active', 'unsatisfied', '1'], 'flows #28: the dependency recorded and counted, the child left active');
SELECT is(t.complete(t.m('f28kid'))->>'status', 'OK', 'flows #28: the child completes with its dependency unresolved');
SELECT t.dispatch();
SELECT t.row(t.m('f28kid')) AS kid28 \gset
SELECT is((:'kid28'::ff.executions).public_state::text, 'completed', 'flows #28: its own success leaves it completed');
SELECT t.run('f28up');
SELECT t.dispatch();
SELECT is(t.row(t.m('f28kid')), :'kid28'::ff.executions, 'flows #28: its upstream''s later success changes nothing of it');

-- flows #35: data passing: the result is copied (data_injected); no result:
-- payload unchanged, detail ""; a terminal child: no copy
CREATE FUNCTION t.member_p(f uuid, name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE id text := ff.flow_member_execution_id(f);
BEGIN
    PERFORM ff.create_execution(id, lane_id => 'flow', input_payload => convert_to('original', 'UTF8'));
    PERFORM ff.add_execution_to_flow(f, id);
    INSERT INTO t.names VALUES (name, id);
    RETURN id;
END $$;
CREATE FUNCTION t.payload(name text) RETURNS text LANGUAGE sql AS $$
    SELECT convert_from((ff.read_execution_context(t.m(name))).input_payload, 'UTF8')
$$;
SELECT ff.create_flow('fc350000-0000-4000-8000-000000000001');
SELECT t.member_p('fc350000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f35u1', 'f35u2', 'f35u3', 'f35k1', 'f35k2', 'f35k3']) n;
SELECT ff.add_dependency('fc350000-0000-4000-8000-000000000001', t.m('f35u' || i), t.m('f35k' || i), data_passing_ref => 'result')->>'edge_id'
  FROM generate_series(1, 3) i;
CREATE FUNCTION t.resolve35(i integer) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.resolve_dependency('fc350000-0000-4000-8000-000000000001', e.edge_id) - 'status' - 'ok'
    FROM ff.flow_edges e WHERE e.upstream_execution_id = t.m('f35u' || i)
$$;
SELECT t.run('f35u1');
SELECT is(t.resolve35(1), '{"result": "satisfied", "detail": "data_injected"}', 'flows #35: upstream with a result -> detail data_injected');
SELECT is(t.payload('f35k1'), 'result of f35u1', 'flows #35: the child''s payload is the upstream''s result');
SELECT ff.issue_grant_and_claim(t.m('f35u2'), 'w', 'w-1', 'flow');
SELECT t.complete(t.m('f35u2'));
SELECT is(t.resolve35(2), '{"result": "satisfied", "detail": ""}', 'flows #35: upstream with no result -> detail ""');
SELECT is(t.payload('f35k2'), 'original', 'flows #35: and the payload unchanged');
SELECT ff.cancel_execution(t.m('f35k3'), 'gone');
SELECT t.run('f35u3');
SELECT is(t.resolve35(3)->>'detail', '', 'flows #35: a terminal child: no copy (detail "")');
SELECT is(t.payload('f35k3'), 'original', 'flows #35: its payload unchanged');
SELECT t.dispatch();

-- flows #44: a skipped upstream counts as skipped under any_of and quorum,
-- as failed under all_of
SELECT ff.create_flow('fc440000-0000-4000-8000-000000000001');
SELECT t.member('fc440000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f44x', 'f44s', 'f44y', 'f44any', 'f44q', 'f44all']) n;
SELECT ff.set_edge_group_policy('fc440000-0000-4000-8000-000000000001', t.m('f44any'), 'any_of', 'let_run');
SELECT ff.set_edge_group_policy('fc440000-0000-4000-8000-000000000001', t.m('f44q'), 'quorum', 'let_run', 1);
SELECT t.edge('fc440000-0000-4000-8000-000000000001', 'f44x', 'f44s');
SELECT t.edge('fc440000-0000-4000-8000-000000000001', u, d) FROM unnest(ARRAY['f44s', 'f44y']) u, unnest(ARRAY['f44any', 'f44q', 'f44all']) d;
SELECT t.run('f44x', 'failed');
SELECT t.dispatch();
SELECT is(t.st('f44s'), 'skipped', 'flows #44: (the upstream is skipped)');
SELECT is((SELECT array_agg(n.name || ':' || g.skipped || '/' || g.failed || '/' || g.group_state ORDER BY n.name)
           FROM ff.edge_groups g JOIN t.names n ON n.id = g.downstream_execution_id WHERE n.name IN ('f44any', 'f44q', 'f44all')),
          ARRAY['f44all:0/1/impossible', 'f44any:1/0/pending', 'f44q:1/0/pending'],
          'flows #44: skipped/failed counters: any_of and quorum count it skipped, all_of failed');

-- flows #66: the skip cascade A -> B -> C (all_of), D = quorum(1) of C and
-- E counts one skipped; done by the dispatcher alone, no reconciler
SELECT ff.create_flow('fc660000-0000-4000-8000-000000000001');
SELECT t.member('fc660000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f66a', 'f66b', 'f66c', 'f66d', 'f66e']) n;
SELECT ff.set_edge_group_policy('fc660000-0000-4000-8000-000000000001', t.m('f66d'), 'quorum', 'let_run', 1);
SELECT t.edge('fc660000-0000-4000-8000-000000000001', u, d) FROM (VALUES ('f66a', 'f66b'), ('f66b', 'f66c'), ('f66c', 'f66d'), ('f66e', 'f66d')) v(u, d);
SELECT t.run('f66a', 'failed');
SELECT t.dispatch();
SELECT is(ARRAY[t.st('f66b'), t.st('f66c'), t.st('f66d')], ARRAY['skipped', 'skipped', 'waiting_children'],
          'flows #66: B and C skipped, D still waits for E');
SELECT is((SELECT skipped || '/' || failed || '/' || succeeded || '/' || group_state FROM ff.edge_groups WHERE downstream_execution_id = t.m('f66d')),
          '1/0/0/pending', 'flows #66: D counts one skipped');
SELECT is((SELECT count(*)::int FROM ff.completion_event e JOIN t.names n ON t.exec_uuid(n.id) = e.execution_id
           WHERE n.name LIKE 'f66%' AND e.processed_at IS NULL), 0, 'flows #66: every completion of the cascade dispatched');
SELECT t.run('f66e');
SELECT t.dispatch();
SELECT is(t.st('f66d'), 'waiting', 'flows #66: E''s success releases D: the chain finishes with no reconciler');

-- flows #81: replay of a completed member makes it eligible; its resolved
-- downstream edges are not resolved again, a fired any_of not re-fired
SELECT ff.create_flow('fc810000-0000-4000-8000-000000000001');
SELECT t.member('fc810000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f81a', 'f81b', 'f81any', 'f81kid']) n;
SELECT ff.set_edge_group_policy('fc810000-0000-4000-8000-000000000001', t.m('f81any'), 'any_of', 'cancel_remaining');
SELECT t.edge('fc810000-0000-4000-8000-000000000001', u, d) FROM (VALUES ('f81a', 'f81any'), ('f81b', 'f81any'), ('f81a', 'f81kid')) v(u, d);
SELECT t.run('f81a');
SELECT t.dispatch();
CREATE FUNCTION t.state81() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('|',
        (SELECT string_agg(g::text, ',' ORDER BY g::text) FROM ff.edge_group g JOIN t.names n ON t.exec_uuid(n.id) = g.downstream_execution_id
         WHERE n.name IN ('f81any', 'f81kid')),
        (SELECT string_agg(d::text, ',' ORDER BY d::text) FROM ff.dependency d JOIN t.names n ON t.exec_uuid(n.id) = d.downstream_execution_id
         WHERE n.name IN ('f81any', 'f81kid')),
        (SELECT count(*) FROM ff.pending_cancel_group p WHERE p.downstream_execution_id = t.exec_uuid(t.m('f81any'))),
        (SELECT string_agg(e::text, ',' ORDER BY e::text) FROM ff.execution e JOIN t.names n ON t.exec_uuid(n.id) = e.execution_id
         WHERE n.name IN ('f81any', 'f81kid')))
$$;
SELECT is(ARRAY[t.st('f81any'), t.st('f81kid')], ARRAY['waiting', 'waiting'], 'flows #81: (both downstreams released by A)');
SELECT t.state81() AS before81 \gset
SELECT is(ff.replay_execution(t.m('f81a'))->>'status', 'OK', 'flows #81: replay of the completed upstream');
SELECT is(ARRAY[e.public_state::text, e.eligibility_state::text], ARRAY['waiting', 'eligible_now'], 'flows #81: it is eligible again')
  FROM t.row(t.m('f81a')) e;
SELECT t.run('f81a');
SELECT t.dispatch();
SELECT is(t.state81(), :'before81'::text,
          'flows #81: its second success resolves nothing again: groups, edges, the sibling-cancel request and both downstreams unchanged');

-- flows #83: the summary of one failed and the rest completed; of all
-- skipped (a root has no inbound edge to skip it: its skip is injected)
SELECT ff.create_flow('fc830000-0000-4000-8000-000000000001');
SELECT t.member('fc830000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['f83a', 'f83b', 'f83c']) n;
SELECT t.run('f83a', 'failed'), t.run('f83b'), t.run('f83c');
SELECT ff.create_flow('fc830000-0000-4000-8000-000000000002');
SELECT t.member('fc830000-0000-4000-8000-000000000002', n) FROM unnest(ARRAY['f83r', 'f83s']) n;
SELECT t.edge('fc830000-0000-4000-8000-000000000002', 'f83r', 'f83s');
SELECT ff.resolve_dependency('fc830000-0000-4000-8000-000000000002', e.edge_id, 'failed') FROM ff.flow_edges e WHERE e.downstream_execution_id = t.m('f83s');
SAVEPOINT skip83;
ALTER TABLE ff.execution DISABLE TRIGGER USER;
UPDATE ff.execution SET lifecycle_phase = 'terminal', terminal_outcome = 'skipped', public_state = 'skipped', eligibility_state = 'not_applicable',
       blocking_reason = 'none', attempt_state = 'none'
 WHERE execution_id = t.exec_uuid(t.m('f83r'));
SELECT ff.project_flows(1000);
SELECT (SELECT public_flow_state FROM ff.flow_summary WHERE flow_id = 'fc830000-0000-4000-8000-000000000002') AS skipped83 \gset
ROLLBACK TO SAVEPOINT skip83;
SELECT ff.project_flows(1000);
SELECT is((SELECT public_flow_state || '/' || members_failed || '/' || members_completed FROM ff.flow_summary
           WHERE flow_id = 'fc830000-0000-4000-8000-000000000001'), 'failed/1/2', 'flows #83: one failed, the rest completed -> failed');
SELECT is(:'skipped83'::text, 'completed', 'flows #83: all skipped -> completed');

-- flows #87: list_flows in uuid byte order, each page strictly after its cursor
SELECT ff.flow_partition('fc870000-0000-4000-8000-000000000001') AS p87 \gset
SELECT ff.create_flow(f) FROM (SELECT format('fc87%s-0000-4000-8000-000000000001', lpad(to_hex(g), 4, '0'))::uuid f
                               FROM generate_series(1, 65535) g) x
 WHERE ff.flow_partition(f) = :p87 LIMIT 5;
CREATE FUNCTION t.pages87(p smallint, size integer) RETURNS uuid[] LANGUAGE plpgsql AS $$
DECLARE got uuid[] := '{}'; r jsonb; cur uuid := NULL;
BEGIN
    LOOP
        r := ff.list_flows(p, cur, size);
        got := got || ARRAY(SELECT (x->>'flow_id')::uuid FROM jsonb_array_elements(r->'flows') x);
        EXIT WHEN r->>'next_cursor' IS NULL;
        cur := (r->>'next_cursor')::uuid;
    END LOOP;
    RETURN got;
END $$;
SELECT cmp_ok((SELECT count(*)::int FROM ff.flow WHERE partition = :p87), '>=', 5, 'flows #87: (at least five flows in the partition)');
SELECT is(t.pages87(:p87::smallint, 1000), ARRAY(SELECT flow_id FROM ff.flow WHERE partition = :p87 ORDER BY uuid_send(flow_id)),
          'flows #87: one page lists every flow of the partition in uuid byte order');
SELECT is(t.pages87(:p87::smallint, 2), t.pages87(:p87::smallint, 1000), 'flows #87: pages of two chained by next_cursor: each flow once, in order');
SELECT is((SELECT (ff.list_flows(:p87::smallint, f, 1)->'flows'->0->>'flow_id')::uuid
           FROM (SELECT flow_id f FROM ff.flow WHERE partition = :p87 ORDER BY flow_id LIMIT 1 OFFSET 1) x),
          (SELECT flow_id FROM ff.flow WHERE partition = :p87 ORDER BY flow_id LIMIT 1 OFFSET 2), 'flows #87: a page starts strictly after its cursor');

-- ======================= budgets =======================

-- budgets #57 / #72: a budget read that fails at claim time fails the claim
-- (an ERROR: the caller's transaction rolls back, nothing granted, no block
-- written) -- fail-closed.  The failure is planted by hiding the budget
-- table in a savepoint.
SELECT ff.create_budget('00000000-0000-4000-b000-000000005701', '{tokens}', '{10}', '{0}');
SELECT ff.create_execution(t.id(1030), lane_id => 'b57');
SELECT ff.set_execution_admission(t.id(1030), ARRAY['00000000-0000-4000-b000-000000005701']::uuid[]);
SELECT t.snapshot() AS snap57 \gset
SAVEPOINT fail57;
ALTER TABLE ff.budget RENAME TO budget_hidden;
SELECT t.as_role('postgres', $$SELECT count(*)::text FROM ff.claim_next('b57', 'w', 'w-1')$$) AS claim57 \gset
SELECT t.snapshot() AS after57 \gset
ROLLBACK TO SAVEPOINT fail57;
SELECT is(:'claim57'::text, 'ERROR 42P01', 'budgets #57: the budget read fails -> the claim fails (an error, not a grant)');
SELECT is(:'after57'::text, :'snap57'::text, 'budgets #57 / #72: nothing granted, no block written: the execution stays as it was (fail-closed)');
SELECT is((SELECT count(*)::int FROM ff.claim_next('b57', 'w', 'w-1')), 1, 'budgets #72: with the read working again the claim admits it');

-- budgets #66: unblock of a lane-state (paused_by_policy) or a dependency
-- block -> execution_not_eligible, nothing written
SELECT ff.create_execution(t.id(1040), lane_id => 'b66');
SELECT ff.block_execution_for_admission(t.id(1040), 'paused_by_policy');
SELECT ff.create_flow('fc660000-0000-4000-8000-0000000000b6');
SELECT t.member('fc660000-0000-4000-8000-0000000000b6', n) FROM unnest(ARRAY['b66up', 'b66kid']) n;
SELECT t.edge('fc660000-0000-4000-8000-0000000000b6', 'b66up', 'b66kid');
SELECT is(ARRAY[(t.row(t.id(1040))).eligibility_state::text, (t.row(t.m('b66kid'))).eligibility_state::text],
          ARRAY['blocked_by_lane_state', 'blocked_by_dependencies'], 'budgets #66: (one lane-state block, one dependency block)');
SELECT t.snapshot() AS snap66b \gset
SELECT is(ff.unblock_execution(t.id(1040))->>'error', 'execution_not_eligible', 'budgets #66: unblock of blocked_by_lane_state -> execution_not_eligible');
SELECT is(ff.unblock_execution(t.id(1040), expected_blocking_reason => 'paused_by_policy')->>'error', 'execution_not_eligible',
          'budgets #66: even naming its reason');
SELECT is(ff.unblock_execution(t.m('b66kid'))->>'error', 'execution_not_eligible', 'budgets #66: unblock of blocked_by_dependencies -> execution_not_eligible');
SELECT is(t.snapshot(), :'snap66b'::text, 'budgets #66: nothing written');

-- budgets #95: every failure result (other than the three commit-and-report
-- cases of behaviour/execution §0.4: HARD_BREACH bookkeeping, 15_budgets item 8; the admission
-- window trim, items 40-42; the unblock scan's trim) leaves no writes: each
-- refused budget, quota and admission call against a fingerprint of every
-- budget, quota and execution table
CREATE FUNCTION t.bsnap() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|', t.snapshot(),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.budget x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.budget_limit x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.budget_usage x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.budget_usage_by_exec x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.budget_usage_dedup x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.quota_policy x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.quota_slot x),
        (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM ff.quota_admission x)))
$$;
-- the call's error (or ERROR sqlstate), and whether anything was written
CREATE FUNCTION t.atomic95(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE before text := t.bsnap(); r text;
BEGIN
    r := t.as_role('postgres', 'SELECT (' || q || ')::text');
    RETURN CASE WHEN r LIKE 'ERROR%' THEN r ELSE r::jsonb->>'error' END
        || CASE WHEN t.bsnap() = before THEN ', nothing written' ELSE ', WRITTEN' END;
END $$;
SELECT ff.create_budget('00000000-0000-4000-b000-000000009501', '{tokens,cost}', '{100,50}', '{80,0}');
SELECT ff.report_usage_and_check('00000000-0000-4000-b000-000000009501', '{tokens}', '{10}');
SELECT ff.create_quota_policy('00000000-0000-4000-c000-000000009501', 60, 1, 1);
SELECT ff.create_execution(t.id(1095));
SELECT ff.create_execution(t.id(1096));
SELECT t.claim(t.id(1096));
SELECT is(t.atomic95(q), e, 'budgets #95: ' || q || ' -> ' || e)
FROM (VALUES
    ($$ff.report_usage_and_check('00000000-0000-4000-b000-0000000095ff', '{tokens}', '{1}')$$, 'budget_not_found, nothing written'),
    ($$ff.report_usage_and_check('00000000-0000-4000-b000-000000009501', '{tokens}', '{1,2}')$$, 'ERROR 2202E, nothing written'),
    ($$ff.report_usage_and_check('00000000-0000-4000-b000-000000009501', '{tokens}', '{-5}')$$, 'ERROR 22023, nothing written'),
    ($$ff.report_usage_and_check('00000000-0000-4000-b000-000000009501', '{cost,tokens,tokens}', '{1,1,1}')$$, 'ERROR 22023, nothing written'),
    ($$ff.record_spend('00000000-0000-4000-b000-0000000095ff', t.id(1095), '{tokens}', '{1}')$$, 'budget_not_found, nothing written'),
    ($$ff.record_spend('00000000-0000-4000-b000-000000009501', t.id(1095), '{cost,tokens}', '{1}')$$, 'ERROR 2202E, nothing written'),
    ($$ff.reset_budget('00000000-0000-4000-b000-0000000095ff')$$, 'budget_not_found, nothing written'),
    ($$ff.create_budget('00000000-0000-4000-b000-000000009502', '{a,b}', '{1}', '{0}')$$, 'ERROR 2202E, nothing written'),
    ($$ff.create_budget('00000000-0000-4000-b000-000000009502', '{a}', '{-1}', '{0}')$$, 'ERROR 22023, nothing written'),
    ($$ff.create_quota_policy('00000000-0000-4000-c000-000000009502', 60, -1, 1)$$, 'ERROR 22023, nothing written'),
    ($$ff.set_execution_admission(t.id(1099), ARRAY['00000000-0000-4000-b000-000000009501']::uuid[])$$, 'execution_not_found, nothing written'),
    ($$ff.block_execution_for_admission(t.id(1095), 'made_up')$$, 'invalid_blocking_reason, nothing written'),
    ($$ff.block_execution_for_admission(t.id(1096), 'waiting_for_budget')$$, 'execution_not_eligible, nothing written'),
    ($$ff.block_execution_for_admission(t.id(1099), 'waiting_for_budget')$$, 'execution_not_found, nothing written'),
    ($$ff.unblock_execution(t.id(1095))$$, 'execution_not_eligible, nothing written'),
    ($$ff.unblock_execution(t.id(1099))$$, 'execution_not_found, nothing written')
) v(q, e);

SELECT t.invariants('checklist suite');
SELECT * FROM finish();
ROLLBACK;

-- Flows, edges, edge groups, dependency resolution: behaviour/flows §3-§6, checklist.
BEGIN;
-- these checks read the event rows of executions outside flows too
SET LOCAL ff_engine.completion_events = 'all';
\ir helpers.psql

-- run a member to an outcome
CREATE FUNCTION t.run(name text, outcome text DEFAULT 'success') RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE id text := t.m(name);
BEGIN
    IF outcome = 'cancelled' THEN RETURN ff.cancel_execution(id, 'test'); END IF;
    PERFORM ff.issue_grant_and_claim(id, 'w', 'w-1', 'flow');
    IF outcome = 'success' THEN RETURN t.complete(id, convert_to('result of ' || name, 'UTF8')); END IF;
    IF outcome = 'success_void' THEN RETURN t.complete(id); END IF;
    IF outcome = 'failed' THEN RETURN t.fail(id); END IF;
    IF outcome = 'expired' THEN RETURN ff.expire_execution(id); END IF;
    RAISE EXCEPTION 'unknown outcome %', outcome;
END $$;
CREATE FUNCTION t.edge(f uuid, up text, down text, ref text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.add_dependency(f, t.m(up), t.m(down), data_passing_ref => ref)
$$;

-- ---- flows and membership (1-9) ----
SELECT is(ff.create_flow('f1000000-0000-4000-8000-000000000001', 'dag') - 'partition',
          '{"ok": true, "status": "OK", "flow_id": "f1000000-0000-4000-8000-000000000001"}', '1. create_flow');
SELECT is((ff.create_flow('f1000000-0000-4000-8000-000000000001', 'other', 'ns2'))->>'status', 'ALREADY_SATISFIED', 'second create -> ALREADY_SATISFIED');
SELECT is((SELECT flow_kind || '/' || namespace || '/' || graph_revision || '/' || node_count || '/' || public_flow_state
           FROM ff.flows WHERE flow_id = 'f1000000-0000-4000-8000-000000000001'), 'dag/default/0/0/open', 'stored kind and namespace unchanged');
SELECT is((ff.create_flow('f1000000-0000-4000-8000-000000000001'))->>'partition',
          (ff.crc16(decode('f1000000000040008000000000000001', 'hex')) % 256)::text, '3. flow partition = crc16(uuid bytes) mod 256');
SELECT ff.create_execution(t.id(1));
SELECT is(ff.add_execution_to_flow('f1000000-0000-4000-8000-000000000001', t.id(1))->>'error', 'partition_mismatch', '4. a solo id on another partition');
SELECT is(ff.add_execution_to_flow('f1000000-0000-4000-8000-0000000000ff', ff.flow_member_execution_id('f1000000-0000-4000-8000-0000000000ff'))->>'error',
          'flow_not_found', '5. missing flow');
SELECT is(ff.add_execution_to_flow('f1000000-0000-4000-8000-000000000001', ff.flow_member_execution_id('f1000000-0000-4000-8000-000000000001'))->>'error',
          'execution_not_found', '5. missing execution');
SELECT t.member('f1000000-0000-4000-8000-000000000001', 'a');
SELECT is(ff.describe_flow('f1000000-0000-4000-8000-000000000001')->>'node_count', '1', '6. node_count 1');
SELECT is(ff.describe_flow('f1000000-0000-4000-8000-000000000001')->>'graph_revision', '1', '6. revision +1');
SELECT is((t.row(t.m('a'))).flow_id, 'f1000000-0000-4000-8000-000000000001'::uuid, '6. flow_id stamped');
SELECT is(ff.add_execution_to_flow('f1000000-0000-4000-8000-000000000001', t.m('a')) - 'execution_id',
          '{"ok": true, "status": "ALREADY_SATISFIED", "node_count": 1}', '6. again -> ALREADY_SATISFIED');
SELECT ff.create_flow('f1000000-0000-4000-8000-000000000002');
SELECT is(ff.add_execution_to_flow('f1000000-0000-4000-8000-000000000002', t.m('a')),
          ('{"ok": false, "error": "partition_mismatch", "flow_partition": ' || ff.flow_partition('f1000000-0000-4000-8000-000000000002')
          || ', "execution_partition": ' || ff.flow_partition('f1000000-0000-4000-8000-000000000001') || '}')::jsonb, 'another flow''s partition -> partition_mismatch');

-- ---- staging and cycles (10-18) ----
SELECT t.member('f1000000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['b', 'c', 'd']) n;
SELECT is(ff.stage_dependency_edge('f1000000-0000-4000-8000-0000000000ff', gen_random_uuid(), t.m('a'), t.m('a'), 0)->>'error',
          'self_referencing_edge', '10. self edge, even on a missing flow');
SELECT is(ff.stage_dependency_edge('f1000000-0000-4000-8000-000000000001', gen_random_uuid(), t.m('a'), t.m('b'), 0)->>'error',
          'stale_graph_revision', '11. stale revision');
SELECT is((ff.stage_dependency_edge('f1000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001', t.m('a'), t.m('b'), 4)) - 'edge_id',
          '{"ok": true, "status": "OK", "graph_revision": 5}', '11. current revision -> revision + 1');
SELECT is(ff.describe_flow('f1000000-0000-4000-8000-000000000001')->>'edge_count', '1', '11. edge_count +1');
SELECT ff.apply_dependency_to_child('f1000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001', t.m('b'), t.m('a'), 5);
SELECT is(ff.stage_dependency_edge('f1000000-0000-4000-8000-000000000001', gen_random_uuid(), t.m('a'), t.id(1), 5)->>'error',
          'execution_not_in_flow', '13. a non-member');
SELECT t.edge('f1000000-0000-4000-8000-000000000001', 'b', 'c');
SELECT is(t.edge('f1000000-0000-4000-8000-000000000001', 'c', 'a')->>'error', 'cycle_detected', '14. c -> a closes a loop');
SELECT is(t.edge('f1000000-0000-4000-8000-000000000001', 'a', 'c')->>'status', 'OK', '14. a -> c (transitive) is fine');
SELECT is(ff.stage_dependency_edge('f1000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001', t.m('a'), t.m('d'),
          (ff.describe_flow('f1000000-0000-4000-8000-000000000001')->>'graph_revision')::bigint)->>'error', 'dependency_already_exists', '16. reused edge id');
SELECT (ff.describe_flow('f1000000-0000-4000-8000-000000000001')->>'graph_revision')::bigint AS rev \gset
SELECT t.member('f1000000-0000-4000-8000-000000000001', 'e');
SELECT is(ff.stage_dependency_edge('f1000000-0000-4000-8000-000000000001', gen_random_uuid(), t.m('a'), t.m('d'), :rev)->>'error',
          'stale_graph_revision', '17. adding a member invalidates an in-flight stage');
SELECT is(t.edge('f1000000-0000-4000-8000-000000000001', 'a', 'c')->>'status', 'OK', '18. a duplicate pair under a new edge id is accepted');

-- the 1000-node cycle-check cap (15)
SELECT ff.create_flow('f1000000-0000-4000-8000-000000000003');
DO $$
DECLARE f uuid := 'f1000000-0000-4000-8000-000000000003'; i int;
BEGIN
    PERFORM t.member(f, 'big' || g) FROM generate_series(0, 1001) g;
    FOR i IN 1..999 LOOP PERFORM t.edge(f, 'big' || i, 'big' || (i + 1)); END LOOP;
END $$;
SELECT is(t.edge('f1000000-0000-4000-8000-000000000003', 'big0', 'big1')->>'status', 'OK', '15. 1000 nodes reachable from the downstream: fine');
SELECT is(t.edge('f1000000-0000-4000-8000-000000000003', 'big1001', 'big0')->>'error', 'cycle_detected', '15. 1001 reachable: refused as a cycle');

-- ---- edge-group policy (19-23) ----
SELECT ff.create_flow('f2000000-0000-4000-8000-000000000001');
SELECT t.member('f2000000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['q', 'u1', 'u2', 'u3', 'u4', 'u5']) n;
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('q'), 'quorum', 'cancel_remaining', 0)->>'detail',
          'quorum k must be >= 1', '19. quorum k=0');
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('q'), 'quorum', 'cancel_remaining', 3)->>'result', 'set', '19. k=3 set');
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('q'), 'quorum', 'let_run', 5)->>'result', 'already_set', '19. same variant again');
SELECT is((SELECT k || '/' || on_satisfied FROM ff.edge_groups WHERE downstream_execution_id = t.m('q')), '3/cancel_remaining', '19. first k and on_satisfied win');
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('u5'), 'any_of')->>'detail',
          'on_satisfied required for any_of/quorum: cancel_remaining | let_run', '20. any_of without on_satisfied');
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('u5'), 'sometimes')->>'detail',
          'unsupported_policy_variant: sometimes', 'unknown variant');
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('q'), 'any_of', 'let_run')->>'result', 'set', '22. variant changed while n = 0');
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('q'), 'quorum', 'cancel_remaining', 3)->>'result', 'set', '22. and back');
SELECT t.edge('f2000000-0000-4000-8000-000000000001', 'u' || i, 'q') FROM generate_series(1, 5) i;
SELECT is(ff.set_edge_group_policy('f2000000-0000-4000-8000-000000000001', t.m('q'), 'all_of')->>'detail',
          'edge_group_policy_already_fixed: dependencies already staged', '21. after an applied edge the policy is fixed');

-- ---- apply (23-29) ----
SELECT is((SELECT policy_variant || '/' || n FROM ff.edge_groups WHERE downstream_execution_id = t.m('b')), 'all_of/1', '23. no policy: all_of, n = 1');
SELECT is(ARRAY[e.public_state::text, e.eligibility_state::text, e.blocking_reason::text, e.blocking_detail],
          ARRAY['waiting_children', 'blocked_by_dependencies', 'waiting_for_children', '1 dep(s) unresolved incl e0000000-0000-4000-8000-000000000001'],
          '24. the child is blocked') FROM t.row(t.m('b')) e;
SELECT is(ff.apply_dependency_to_child('f1000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001', t.m('b'), t.m('a')) - 'status',
          '{"ok": true, "result": "already_applied"}', '25. applying again -> already_applied');
SELECT is((SELECT n FROM ff.edge_groups WHERE downstream_execution_id = t.m('c')), 3, '26. c has three applied edges (b, a, a)');
SELECT is(ff.apply_dependency_to_child('f1000000-0000-4000-8000-000000000001', gen_random_uuid(), t.m('b'), t.m('a'))->>'error',
          'invalid_dependency', 'apply of an edge never staged -> invalid_dependency (behaviour/flows §C.6)');
SELECT t.member('f1000000-0000-4000-8000-000000000001', 'active_child');
SELECT ff.issue_grant_and_claim(t.m('active_child'), 'w', 'w-1', 'flow');
SELECT is((t.edge('f1000000-0000-4000-8000-000000000001', 'd', 'active_child'))->>'unresolved', '1', '28. apply to an active child counts');
SELECT is(t.st('active_child'), 'active', '28. but leaves it active');
SELECT ff.create_execution(ff.flow_member_execution_id('f1000000-0000-4000-8000-000000000001')) AS x \gset
SELECT t.member('f1000000-0000-4000-8000-000000000001', 'delayed_child', NULL);
UPDATE ff.execution SET eligibility_state = 'not_eligible_until_time', blocking_reason = 'waiting_for_delay', public_state = 'delayed',
       delay_until = 9999999999999 WHERE execution_id = (ff.parse_execution_id(t.m('delayed_child'))).execution_uuid;
SELECT t.edge('f1000000-0000-4000-8000-000000000001', 'd', 'delayed_child');
SELECT is(ARRAY[e.public_state::text, e.delay_until::text], ARRAY['waiting_children', NULL], '29. a delayed child is blocked and out of DELAYED')
  FROM t.row(t.m('delayed_child')) e;
SELECT t.invariants('building the graph');

-- ---- all_of resolution (30-38) ----
SELECT ff.create_flow('f3000000-0000-4000-8000-000000000001');
SELECT t.member('f3000000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['p1', 'p2', 'kid']) n;
SELECT t.edge('f3000000-0000-4000-8000-000000000001', 'p1', 'kid', 'result');
SELECT t.edge('f3000000-0000-4000-8000-000000000001', 'p2', 'kid', 'result');
SELECT t.run('p1');
SELECT is(t.dispatch(), 1, 'one completion dispatched');
SELECT is(t.st('kid'), 'waiting_children', '30. first success: the child is still blocked');
SELECT is((SELECT unsatisfied_required_count FROM ff.dependency_meta WHERE execution_id = (ff.parse_execution_id(t.m('kid'))).execution_uuid), 1, '30. count 1');
SELECT is(convert_from((ff.read_execution_context(t.m('kid'))).input_payload, 'UTF8'), 'result of p1', '35. data passed on the satisfied edge');
SELECT t.run('p2');
SELECT t.dispatch();
SELECT is(ARRAY[e.public_state::text, e.attempt_state::text], ARRAY['waiting', 'pending_first_attempt'], '30. second success: eligible') FROM t.row(t.m('kid')) e;
SELECT is((SELECT group_state || '/' || succeeded FROM ff.edge_groups WHERE downstream_execution_id = t.m('kid')), 'satisfied/2', '30. group satisfied, 2 succeeded');
SELECT is(convert_from((ff.read_execution_context(t.m('kid'))).input_payload, 'UTF8'), 'result of p2', '36. the last resolved data-passing edge wins');
SELECT is(ff.issue_grant_and_claim(t.m('kid'), 'w', 'w-2', 'flow')->>'status', 'OK', 'the promoted child is claimable');
-- 33/34
SELECT is(ff.resolve_dependency('f3000000-0000-4000-8000-000000000001', e.edge_id)->>'result', 'already_resolved', '33. re-resolving -> already_resolved')
  FROM ff.flow_edges e WHERE e.downstream_execution_id = t.m('kid') LIMIT 1;
SELECT is(ff.resolve_dependency('f3000000-0000-4000-8000-000000000001', gen_random_uuid(), 'success')->>'error', 'invalid_dependency', '34. unknown edge -> invalid_dependency');

SELECT ff.create_flow('f3000000-0000-4000-8000-000000000002');
SELECT t.member('f3000000-0000-4000-8000-000000000002', n) FROM unnest(ARRAY['ok1', 'bad', 'skipme', 'grand']) n;
SELECT t.edge('f3000000-0000-4000-8000-000000000002', 'ok1', 'skipme');
SELECT t.edge('f3000000-0000-4000-8000-000000000002', 'bad', 'skipme');
SELECT t.edge('f3000000-0000-4000-8000-000000000002', 'skipme', 'grand');
SELECT t.run('bad', 'failed');
SELECT t.dispatch();
SELECT is(ARRAY[e.public_state::text, e.terminal_outcome::text, e.attempt_state::text], ARRAY['skipped', 'skipped', 'none'],
          '31/38. one failure skips the child; a child that never ran has attempt_state none') FROM t.row(t.m('skipme')) e;
SELECT is((SELECT group_state || '/' || failed FROM ff.edge_groups WHERE downstream_execution_id = t.m('skipme')), 'impossible/1', '31. group impossible, failed 1');
SELECT is((SELECT outcome::text FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.m('skipme'))).execution_uuid), 'skipped', '31. a skipped completion');
SELECT is(t.st('grand'), 'skipped', '66. the skip cascades to the grandchild in the same dispatch');
SELECT t.run('ok1');
SELECT t.dispatch();
SELECT is((SELECT group_state FROM ff.edge_groups WHERE downstream_execution_id = t.m('skipme')), 'impossible', '32. a later success keeps the group impossible');
SELECT is(t.st('skipme'), 'skipped', '32. and the child skipped');

-- 37: skipping an active child
SELECT ff.create_flow('f3000000-0000-4000-8000-000000000003');
SELECT t.member('f3000000-0000-4000-8000-000000000003', n) FROM unnest(ARRAY['up', 'busy']) n;
SELECT ff.issue_grant_and_claim(t.m('busy'), 'w', 'w-1', 'flow');
SELECT t.row(t.m('busy')) AS busy \gset
INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, created_at)
    VALUES ((:'busy'::ff.executions).partition, (:'busy'::ff.executions).execution_id, 0, 1);
SELECT t.edge('f3000000-0000-4000-8000-000000000003', 'up', 'busy');
SELECT t.run('up', 'cancelled');
SELECT t.dispatch();
SELECT is(ARRAY[e.public_state::text, e.attempt_state::text, e.ownership_state::text, e.current_lease_id::text],
          ARRAY['skipped', 'attempt_terminal', 'unowned', NULL], '37. an active child is skipped, its lease released') FROM t.row(t.m('busy')) e;
SELECT is((SELECT attempt_state::text || '/' || failure_reason FROM ff.attempt WHERE execution_id = (:'busy'::ff.executions).execution_id),
          'ended_cancelled/dependency_impossible', '37. its attempt ended dependency_impossible');
SELECT is((SELECT closed_reason FROM ff.stream_meta WHERE execution_id = (:'busy'::ff.executions).execution_id), 'dependency_impossible', '37. stream closed');
SELECT is((ff.complete_execution(t.m('busy'), (:'busy'::ff.executions).current_lease_id, 1, (:'busy'::ff.executions).current_attempt_id))->>'terminal_outcome',
          'skipped', '37. its complete -> execution_not_active with outcome skipped');
SELECT t.invariants('all_of');

-- ---- any_of / quorum (39-48) ----
SELECT ff.create_flow('f4000000-0000-4000-8000-000000000001');
SELECT t.member('f4000000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['any', 'r1', 'r2', 'r3', 'lr', 's1', 's2', 's3']) n;
SELECT ff.set_edge_group_policy('f4000000-0000-4000-8000-000000000001', t.m('any'), 'any_of', 'cancel_remaining');
SELECT t.edge('f4000000-0000-4000-8000-000000000001', 'r' || i, 'any') FROM generate_series(1, 3) i;
SELECT ff.issue_grant_and_claim(t.m('r2'), 'w', 'w-1', 'flow');
SELECT t.run('r1');
SELECT t.dispatch();
SELECT is(t.st('any'), 'waiting', '39. first success: eligible');
SELECT is((SELECT group_state || '/' || cancel_siblings_pending || '/' || cancel_siblings_reason FROM ff.edge_groups WHERE downstream_execution_id = t.m('any')),
          'satisfied/true/sibling_quorum_satisfied', '39. satisfied, flagged with the reason');
SELECT isnt((SELECT satisfied_at FROM ff.edge_group WHERE downstream_execution_id = (ff.parse_execution_id(t.m('any'))).execution_uuid), NULL, '39. satisfied_at set');
SELECT is((SELECT array_agg(s ORDER BY s) FROM (SELECT ff.format_execution_id(partition, m) s FROM ff.edge_group, unnest(cancel_siblings_members) m
           WHERE downstream_execution_id = (ff.parse_execution_id(t.m('any'))).execution_uuid) x),
          (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[t.m('r2'), t.m('r3')]) x), '39/60. siblings = the two still running, not the winner');
SELECT is((SELECT count(*)::int FROM ff.pending_cancel_group WHERE downstream_execution_id = (ff.parse_execution_id(t.m('any'))).execution_uuid), 1,
          '39. the group is in PENDING_CANCEL_GROUPS');
SELECT t.run('r3', 'failed');
SELECT t.dispatch();
SELECT is(ff.resolve_dependency('f4000000-0000-4000-8000-000000000001', e.edge_id)->>'result', 'already_resolved', '46. a resolved edge stays resolved')
  FROM ff.flow_edges e WHERE e.downstream_execution_id = t.m('any') AND e.upstream_execution_id = t.m('r3');
SELECT is((SELECT group_state || '/' || succeeded || '/' || failed FROM ff.edge_groups WHERE downstream_execution_id = t.m('any')), 'satisfied/1/1',
          '46. once fired: counters move, the state does not');
SELECT is((SELECT count(*)::int FROM ff.pending_cancel_group WHERE downstream_execution_id = (ff.parse_execution_id(t.m('any'))).execution_uuid), 1, '46. no second tuple');
-- 40 let_run
SELECT ff.set_edge_group_policy('f4000000-0000-4000-8000-000000000001', t.m('lr'), 'any_of', 'let_run');
SELECT t.edge('f4000000-0000-4000-8000-000000000001', 's' || i, 'lr') FROM generate_series(1, 3) i;
SELECT t.run('s1');
SELECT t.dispatch();
SELECT is(ARRAY[t.st('lr'), (SELECT cancel_siblings_pending::text FROM ff.edge_groups WHERE downstream_execution_id = t.m('lr'))],
          ARRAY['waiting', 'false'], '40. let_run: eligible, never flagged');
SELECT is((SELECT count(*)::int FROM ff.pending_cancel_group WHERE downstream_execution_id = (ff.parse_execution_id(t.m('lr'))).execution_uuid), 0, '40. no tuple');
SELECT t.run('s2'), t.run('s3', 'failed');
SELECT t.dispatch();
SELECT is((SELECT succeeded || '/' || failed || '/' || group_state FROM ff.edge_groups WHERE downstream_execution_id = t.m('lr')), '2/1/satisfied', '40. stragglers counted, already fired');

-- 41-45 quorum
SELECT ff.create_flow('f4000000-0000-4000-8000-000000000002');
SELECT t.member('f4000000-0000-4000-8000-000000000002', n) FROM unnest(ARRAY['q3', 'v1', 'v2', 'v3', 'v4', 'v5', 'qi', 'w1', 'w2', 'w3', 'w4', 'w5', 'kn', 'x1', 'all', 'y1', 'y2']) n;
SELECT ff.set_edge_group_policy('f4000000-0000-4000-8000-000000000002', t.m('q3'), 'quorum', 'cancel_remaining', 3);
SELECT t.edge('f4000000-0000-4000-8000-000000000002', 'v' || i, 'q3') FROM generate_series(1, 5) i;
SELECT t.run('v1'), t.run('v2', 'failed'), t.run('v3');
SELECT t.dispatch();
SELECT is(t.st('q3'), 'waiting_children', '42. S,F,S: still pending');
SELECT t.run('v4');
SELECT t.dispatch();
SELECT is(t.st('q3'), 'waiting', '42. the third success satisfies quorum 3 of 5');
SELECT is((SELECT array_agg(ff.format_execution_id(partition, m)) FROM ff.edge_group, unnest(cancel_siblings_members) m
           WHERE downstream_execution_id = (ff.parse_execution_id(t.m('q3'))).execution_uuid), ARRAY[t.m('v5')], '42. v5 is the sibling to cancel');
SELECT is((SELECT count(*)::int FROM ff.dependency WHERE downstream_execution_id = (ff.parse_execution_id(t.m('q3'))).execution_uuid AND state = 'unsatisfied'),
          1, '48. the unresolved edge stays unresolved after promotion');
SELECT ff.set_edge_group_policy('f4000000-0000-4000-8000-000000000002', t.m('qi'), 'quorum', 'cancel_remaining', 3);
SELECT t.edge('f4000000-0000-4000-8000-000000000002', 'w' || i, 'qi') FROM generate_series(1, 5) i;
SELECT t.run('w1', 'failed'), t.run('w2', 'expired'), t.run('w3', 'cancelled');
SELECT t.dispatch();
SELECT is(t.st('qi'), 'skipped', '43. F,F,F of 5 with k=3: impossible, the child skipped');
SELECT is((SELECT group_state || '/' || cancel_siblings_reason FROM ff.edge_groups WHERE downstream_execution_id = t.m('qi')),
          'impossible/sibling_quorum_impossible', '43. reason sibling_quorum_impossible');
SELECT ff.set_edge_group_policy('f4000000-0000-4000-8000-000000000002', t.m('kn'), 'quorum', 'let_run', 2);
SELECT t.edge('f4000000-0000-4000-8000-000000000002', 'x1', 'kn');
SELECT t.run('x1');
SELECT t.dispatch();
SELECT is(t.st('kn'), 'skipped', '45. k > n: the first resolution, even a success, makes it impossible');
-- 44: skipped outcomes count as skipped under any_of/quorum, as failed under all_of
SELECT ff.set_edge_group_policy('f4000000-0000-4000-8000-000000000002', t.m('all'), 'any_of', 'let_run');
SELECT t.edge('f4000000-0000-4000-8000-000000000002', 'kn', 'all');
SELECT t.edge('f4000000-0000-4000-8000-000000000002', 'y1', 'all');
SELECT ff.resolve_dependency('f4000000-0000-4000-8000-000000000002', e.edge_id) FROM ff.flow_edges e WHERE e.downstream_execution_id = t.m('all') AND e.upstream_execution_id = t.m('kn');
SELECT is((SELECT skipped || '/' || failed FROM ff.edge_groups WHERE downstream_execution_id = t.m('all')), '1/0', '44. a skipped upstream counts as skipped');
-- 47: a forced double count
UPDATE ff.edge_group SET succeeded = 5 WHERE downstream_execution_id = (ff.parse_execution_id(t.m('all'))).execution_uuid;
SELECT t.run('y1');
SELECT is(ff.resolve_dependency('f4000000-0000-4000-8000-000000000002', e.edge_id)->>'error', 'invariant_violation', '47. counters beyond n -> invariant_violation')
  FROM ff.flow_edges e WHERE e.downstream_execution_id = t.m('all') AND e.upstream_execution_id = t.m('y1');
SELECT is(t.st('all'), 'waiting_children', '47. the child is untouched');
UPDATE ff.edge_group SET succeeded = 0 WHERE downstream_execution_id = (ff.parse_execution_id(t.m('all'))).execution_uuid;
SELECT t.dispatch();

-- ---- completions (61-67) ----
SELECT ff.create_flow('f5000000-0000-4000-8000-000000000001');
SELECT t.member('f5000000-0000-4000-8000-000000000001', 'c' || i) FROM generate_series(1, 6) i;
SELECT t.run('c1'), t.run('c2', 'failed'), t.run('c3', 'cancelled'), t.run('c4', 'expired');
SELECT is((SELECT array_agg(e.outcome::text ORDER BY e.event_id) FROM ff.completion_event e
           WHERE e.flow_id = 'f5000000-0000-4000-8000-000000000001'), ARRAY['success', 'failed', 'cancelled', 'expired'],
          '61. one completion per terminal transition, with the flow id');
SELECT ff.create_execution(t.id(500));
SELECT ff.issue_grant_and_claim(t.id(500), 'w', 'w-1', 'default'), t.complete(t.id(500));
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.id(500))).execution_uuid AND flow_id IS NULL), 1,
          '61. a solo execution''s completion has no flow id');
SELECT ff.execution_id() AS solo \gset
SELECT ff.create_execution(t.m('c5')) ;
UPDATE ff.execution_data SET policy = '{"retry_policy": {"max_retries": 1}}' WHERE execution_id = (ff.parse_execution_id(t.m('c5'))).execution_uuid;
SELECT ff.issue_grant_and_claim(t.m('c5'), 'w', 'w-1', 'flow'), t.fail(t.m('c5'));
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE execution_id = (ff.parse_execution_id(t.m('c5'))).execution_uuid), 0, '62. a retry-scheduled fail publishes nothing');
SELECT t.dispatch();
-- 64/65
SELECT ff.create_flow('f5000000-0000-4000-8000-000000000002');
SELECT t.member('f5000000-0000-4000-8000-000000000002', n) FROM unnest(ARRAY['rp', 'rc']) n;
SELECT t.edge('f5000000-0000-4000-8000-000000000002', 'rp', 'rc');
SELECT t.run('rp', 'failed');
SELECT ff.replay_execution(t.m('rp'));
SELECT t.dispatch();
SELECT is(t.st('rc'), 'waiting_children', '65. an event for an execution replayed since resolves nothing');
SELECT t.run('rp');
SELECT t.dispatch();
SELECT is(t.st('rc'), 'waiting', '65. its next completion resolves the edge');
UPDATE ff.completion_event SET processed_at = NULL WHERE execution_id = (ff.parse_execution_id(t.m('rp'))).execution_uuid;
SELECT t.row(t.m('rc')) AS rc_before \gset
SELECT t.dispatch();
SELECT is(t.row(t.m('rc')), :'rc_before'::ff.executions, '64. processing the same completions again changes nothing');

-- 63: lost notifications / undispatched events are reconciled by the data
SELECT ff.create_flow('f5000000-0000-4000-8000-000000000003');
SELECT t.member('f5000000-0000-4000-8000-000000000003', n) FROM unnest(ARRAY['lp', 'lc']) n;
SELECT t.edge('f5000000-0000-4000-8000-000000000003', 'lp', 'lc');
SELECT t.run('lp');
UPDATE ff.completion_event SET processed_at = 1 WHERE processed_at IS NULL;
SELECT is(t.dispatch(), 0, 'the event is lost (marked processed without resolution)');
SELECT is(t.st('lc'), 'waiting_children', 'the child still waits');
SELECT is((ff.scan_dependencies())->>'processed', '1', '63. the dependency reconciler finds the ripe child');
SELECT is(t.st('lc'), 'waiting', '63. and promotes it');

-- 67: a chain of 20 whose root fails: one dispatch call skips them all
SELECT ff.create_flow('f5000000-0000-4000-8000-000000000004');
SELECT t.member('f5000000-0000-4000-8000-000000000004', 'ch' || i) FROM generate_series(0, 20) i;
SELECT t.edge('f5000000-0000-4000-8000-000000000004', 'ch' || i, 'ch' || (i + 1)) FROM generate_series(0, 19) i;
DO $$ BEGIN FOR i IN 0..9 LOOP PERFORM t.run('ch' || i); PERFORM t.dispatch(); END LOOP; END $$;
SELECT t.run('ch10', 'failed');
SELECT is((ff.dispatch_completions(1000))->>'processed', '11', '67. one call: the failure and ten skips');
SELECT is((SELECT count(*)::int FROM t.names n JOIN ff.executions e ON e.id = n.id WHERE n.name ~ '^ch(1[1-9]|20)$' AND e.public_state = 'skipped'), 10,
          '67. every member below the failure is skipped');
SELECT is(t.st('ch9'), 'completed', 'members above it are untouched');

-- a diamond: a -> b, a -> c, b -> d, c -> d
SELECT ff.create_flow('f6000000-0000-4000-8000-000000000001');
SELECT t.member('f6000000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['da', 'db', 'dc', 'dd']) n;
SELECT t.edge('f6000000-0000-4000-8000-000000000001', x, y) FROM (VALUES ('da', 'db'), ('da', 'dc'), ('db', 'dd'), ('dc', 'dd')) v(x, y);
SELECT t.run('da'); SELECT t.dispatch();
SELECT is(ARRAY[t.st('db'), t.st('dc'), t.st('dd')], ARRAY['waiting', 'waiting', 'waiting_children'], 'diamond: both middles released');
SELECT t.run('db'); SELECT t.dispatch();
SELECT is(t.st('dd'), 'waiting_children', 'diamond: the join waits for both');
SELECT t.run('dc'); SELECT t.dispatch();
SELECT is(t.st('dd'), 'waiting', 'diamond: the join released once');

-- fan-out 1000
SELECT ff.create_flow('f6000000-0000-4000-8000-000000000002');
SELECT t.member('f6000000-0000-4000-8000-000000000002', 'root');
SELECT t.member('f6000000-0000-4000-8000-000000000002', 'fan' || i) FROM generate_series(1, 1000) i;
SELECT t.edge('f6000000-0000-4000-8000-000000000002', 'root', 'fan' || i) FROM generate_series(1, 1000) i;
SELECT t.run('root'); SELECT t.dispatch();
SELECT is((SELECT count(*)::int FROM t.names n JOIN ff.executions e ON e.id = n.id WHERE n.name LIKE 'fan%' AND e.public_state = 'waiting'), 1000,
          'fan-out: 1000 children released by one completion');

-- fan-in quorum 3-of-5 with let_run
SELECT ff.create_flow('f6000000-0000-4000-8000-000000000003');
SELECT t.member('f6000000-0000-4000-8000-000000000003', n) FROM unnest(ARRAY['fi', 'g1', 'g2', 'g3', 'g4', 'g5']) n;
SELECT ff.set_edge_group_policy('f6000000-0000-4000-8000-000000000003', t.m('fi'), 'quorum', 'let_run', 3);
SELECT t.edge('f6000000-0000-4000-8000-000000000003', 'g' || i, 'fi') FROM generate_series(1, 5) i;
SELECT t.run('g1'), t.run('g2'); SELECT t.dispatch();
SELECT is(t.st('fi'), 'waiting_children', 'fan-in 3 of 5: two are not enough');
SELECT t.run('g5'); SELECT t.dispatch();
SELECT is(t.st('fi'), 'waiting', 'fan-in 3 of 5: the third releases it');

-- ---- cancel flow (68-77) ----
SELECT ff.create_flow('f7000000-0000-4000-8000-000000000001');
SELECT t.member('f7000000-0000-4000-8000-000000000001', 'k' || i) FROM generate_series(1, 3) i;
SELECT is(ff.cancel_flow('f7000000-0000-4000-8000-000000000001', grace_ms => -1), '{"ok": false, "error": "invalid_grace_ms"}', '68. negative grace');
SELECT is(ff.cancel_flow('f7000000-0000-4000-8000-0000000000ff')->>'error', 'flow_not_found', '69. missing flow');
SELECT ff.issue_grant_and_claim(t.m('k1'), 'w', 'w-1', 'flow');
SELECT is((ff.cancel_flow('f7000000-0000-4000-8000-000000000001', 'no longer needed', 'cancel_all', wait => false)) - 'members',
          '{"ok": true, "result": "cancellation_scheduled", "status": "OK", "members_owed": 3, "members_cancelled": 0, "cancellation_policy": "cancel_all"}',
          '70. cancel_all without waiting: members owed a cancel');
SELECT is((SELECT public_flow_state || '/' || cancel_reason || '/' || cancellation_policy || '/' || (cancel_due_at - cancelled_at)
           FROM ff.flow WHERE flow_id = 'f7000000-0000-4000-8000-000000000001'), 'cancelled/no longer needed/cancel_all/30000', '70. stored; due after the 30 s grace');
SELECT is((SELECT count(*)::int FROM ff.flow_pending_cancel WHERE flow_id = 'f7000000-0000-4000-8000-000000000001'), 3, '70. three pending');
SELECT is((SELECT in_flow_index FROM ff.flow WHERE flow_id = 'f7000000-0000-4000-8000-000000000001'), true, '70. still in FLOW_INDEX');
SELECT is((ff.scan_flow_cancels())->>'processed', '0', '75. nothing before the grace');
SELECT t.at(1000000030000);
SELECT is((ff.scan_flow_cancels())->>'processed', '3', '75. after the grace the members are cancelled');
SELECT is((SELECT array_agg(e.public_state::text || ':' || e.cancellation_reason || ':' || e.cancelled_by) FROM t.names n JOIN ff.executions e ON e.id = n.id WHERE n.name IN ('k1', 'k2', 'k3')),
          array_fill('cancelled:no longer needed:operator_override'::text, ARRAY[3]), '75. with the stored reason');
SELECT is((SELECT cancel_due_at FROM ff.flow WHERE flow_id = 'f7000000-0000-4000-8000-000000000001'), NULL, '74. nothing owed: out of the backlog');
SELECT is((ff.cancel_flow('f7000000-0000-4000-8000-000000000001', 'again', 'flow_only')) - 'members',
          '{"ok": true, "status": "ALREADY_SATISFIED", "cancel_reason": "no longer needed", "cancellation_policy": "cancel_all"}', '69. cancel twice: the stored policy and reason');
SELECT is(t.edge('f7000000-0000-4000-8000-000000000001', 'k1', 'k2')->>'error', 'flow_already_terminal', '77. no edges on a cancelled flow');
SELECT is(ff.add_execution_to_flow('f7000000-0000-4000-8000-000000000001', ff.flow_member_execution_id('f7000000-0000-4000-8000-000000000001'))->>'error',
          'flow_already_terminal', '77. no members on a cancelled flow');
SELECT ff.create_flow('f7000000-0000-4000-8000-000000000002');
SELECT t.member('f7000000-0000-4000-8000-000000000002', 'fo' || i) FROM generate_series(1, 2) i;
SELECT ff.cancel_flow('f7000000-0000-4000-8000-000000000002', 'x', 'flow_only');
SELECT is(ARRAY[t.st('fo1'), t.st('fo2')], ARRAY['waiting', 'waiting'], '71. flow_only touches no member');
SELECT ff.create_flow('f7000000-0000-4000-8000-000000000003');
SELECT t.member('f7000000-0000-4000-8000-000000000003', 'cp' || i) FROM generate_series(1, 2) i;
SELECT ff.issue_grant_and_claim(t.m('cp1'), 'w', 'w-1', 'flow');
SELECT is((ff.cancel_flow('f7000000-0000-4000-8000-000000000003', 'x', 'cancel_pending'))->>'members_cancelled', '1', '72. cancel_pending: runnable members only');
SELECT is(ARRAY[t.st('cp1'), t.st('cp2')], ARRAY['active', 'cancelled'], '72. the running one drains');
SELECT ff.create_flow('f7000000-0000-4000-8000-000000000004');
SELECT t.member('f7000000-0000-4000-8000-000000000004', 'wt' || i) FROM generate_series(1, 3) i;
SELECT t.run('wt3');
SELECT is((ff.cancel_flow('f7000000-0000-4000-8000-000000000004', 'stop'))->>'members_cancelled', '2', '73. waiting: live members cancelled now, the finished one left');
SELECT is(ARRAY[t.st('wt1'), t.st('wt2'), t.st('wt3')], ARRAY['cancelled', 'cancelled', 'completed'], '73. all terminal on return');

-- ---- projector and reads (83-87) ----
SELECT ff.create_flow('f8000000-0000-4000-8000-000000000001');
SELECT t.member('f8000000-0000-4000-8000-000000000001', 'pj' || i) FROM generate_series(1, 3) i;
SELECT ff.issue_grant_and_claim(t.m('pj1'), 'w', 'w-1', 'flow');
SELECT ff.create_flow('f8000000-0000-4000-8000-000000000002');
SELECT ff.project_flows(1000);
SELECT is((SELECT public_flow_state || '/' || total_members || '/' || members_active || '/' || members_waiting FROM ff.flow_summary
           WHERE flow_id = 'f8000000-0000-4000-8000-000000000001'), 'running/3/1/2', '83. one active, two waiting: running');
SELECT is((SELECT count(*)::int FROM ff.flow_summary WHERE flow_id = 'f8000000-0000-4000-8000-000000000002'), 0, '84. an empty flow has no summary');
SELECT t.complete(t.m('pj1')), t.run('pj2'), t.run('pj3');
SELECT ff.project_flows(1000);
SELECT is((SELECT public_flow_state FROM ff.flow_summary WHERE flow_id = 'f8000000-0000-4000-8000-000000000001'), 'completed', '83. all completed');
SELECT is((SELECT in_flow_index::text || '/' || public_flow_state FROM ff.flow WHERE flow_id = 'f8000000-0000-4000-8000-000000000001'), 'false/open',
          '83/85. it leaves FLOW_INDEX; the core state is not changed');
SELECT ff.add_execution_to_flow('f8000000-0000-4000-8000-000000000001', t.member('f8000000-0000-4000-8000-000000000002', 'late'));
SELECT is((SELECT in_flow_index FROM ff.flow WHERE flow_id = 'f8000000-0000-4000-8000-000000000001'), false, 'a member of another partition is refused, nothing changes');
SELECT t.member('f8000000-0000-4000-8000-000000000001', 'pj4');
SELECT is((SELECT in_flow_index FROM ff.flow WHERE flow_id = 'f8000000-0000-4000-8000-000000000001'), true, '9. adding a member puts a retired flow back into FLOW_INDEX');
SELECT ff.project_flows(1000);
SELECT is((SELECT public_flow_state FROM ff.flow_summary WHERE flow_id = 'f7000000-0000-4000-8000-000000000001'), 'failed', '83. all cancelled: failed');
SELECT is((SELECT public_flow_state FROM ff.flow_summary WHERE flow_id = 'f5000000-0000-4000-8000-000000000004'), 'failed', '83. one failed, the rest skipped: failed');
SELECT is(jsonb_array_length(ff.describe_flow('f4000000-0000-4000-8000-000000000002')->'edge_groups'), 4, '86. one edge group per member with inbound edges');
SELECT is((SELECT min(running) FROM ff.edge_groups), 0, '86. running is never negative');
SELECT is((ff.list_flows(ff.flow_partition('f1000000-0000-4000-8000-000000000001'), page_limit => 1))->'flows'->0->>'flow_id',
          (SELECT flow_id::text FROM ff.flow WHERE partition = ff.flow_partition('f1000000-0000-4000-8000-000000000001') ORDER BY flow_id LIMIT 1), '87. list_flows by uuid order');
SELECT is(ff.describe_flow('f1000000-0000-4000-8000-0000000000ff'), '{"ok": false, "error": "flow_not_found"}', 'describe of a missing flow');
SELECT is((SELECT count(*)::int FROM ff.list_edges('f3000000-0000-4000-8000-000000000001', t.m('kid'), 'incoming')), 2, 'list_edges incoming');
SELECT is(ff.describe_edge('f1000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001')->>'upstream_execution_id', t.m('a'), 'describe_edge');

-- ---- replay (79-82, execution checklist 55) ----
SELECT ff.create_flow('f9000000-0000-4000-8000-000000000001');
SELECT t.member('f9000000-0000-4000-8000-000000000001', n) FROM unnest(ARRAY['rf1', 'rf2', 'rs']) n;
SELECT t.edge('f9000000-0000-4000-8000-000000000001', 'rf1', 'rs');
SELECT t.edge('f9000000-0000-4000-8000-000000000001', 'rf2', 'rs');
SELECT t.run('rf1', 'failed'), t.run('rf2', 'failed');
SELECT t.dispatch();
SELECT is(t.st('rs'), 'skipped', 'the child was skipped');
SELECT is(ff.replay_execution(t.m('rs')) - 'replay_count', '{"ok": true, "status": "OK", "unsatisfied_dependencies": 2}',
          '55. replay of a skipped member with 2 impossible edges returns 2');
SELECT is(ARRAY[e.public_state::text, e.blocking_detail, e.attempt_state::text], ARRAY['waiting_children', '2 dep(s) unsatisfied after replay', 'pending_replay_attempt'],
          '55/79. waiting_children with its edges reset') FROM t.row(t.m('rs')) e;
SELECT is((SELECT detail->>'replay_type' FROM ff.lease_history WHERE execution_id = (ff.parse_execution_id(t.m('rs'))).execution_uuid ORDER BY seq DESC LIMIT 1),
          'skipped_flow_member', 'history replay_initiated skipped_flow_member');
SELECT is((SELECT group_state FROM ff.edge_groups WHERE downstream_execution_id = t.m('rs')), 'pending', 'the group is reset');
SELECT t.dispatch();
SELECT is(t.st('rs'), 'skipped', '79. its upstreams still failed: skipped again at once, no reconciler needed');
SELECT ff.replay_execution(t.m('rf1')), ff.replay_execution(t.m('rf2'));
SELECT t.run('rf1'), t.run('rf2');
SELECT t.dispatch();
SELECT is(t.st('rs'), 'skipped', '81. replaying upstreams does not re-evaluate a resolved downstream');
SELECT ff.replay_execution(t.m('rs'));
SELECT t.dispatch();
SELECT is(t.st('rs'), 'waiting', '80. upstreams replayed and succeeded, then the child replayed: promoted');
SELECT is((SELECT n || '/' || succeeded || '/' || failed || '/' || group_state FROM ff.edge_groups WHERE downstream_execution_id = t.m('rs')),
          '2/2/0/satisfied', '80. the group recounted from its edges');
-- 82: an any_of member skipped because every upstream failed, then replayed
SELECT ff.create_flow('f9000000-0000-4000-8000-000000000002');
SELECT t.member('f9000000-0000-4000-8000-000000000002', n) FROM unnest(ARRAY['af1', 'af2', 'as']) n;
SELECT ff.set_edge_group_policy('f9000000-0000-4000-8000-000000000002', t.m('as'), 'any_of', 'let_run');
SELECT t.edge('f9000000-0000-4000-8000-000000000002', 'af1', 'as');
SELECT t.edge('f9000000-0000-4000-8000-000000000002', 'af2', 'as');
SELECT t.run('af1', 'failed'), t.run('af2', 'failed');
SELECT t.dispatch();
SELECT is(t.st('as'), 'skipped', 'any_of: every upstream failed, skipped');
SELECT ff.replay_execution(t.m('af2'));
SELECT t.run('af2');
SELECT ff.replay_execution(t.m('as'));
SELECT t.dispatch();
SELECT is(t.st('as'), 'waiting', '82. a replayed any_of member is re-resolved from a reset group and released (behaviour/flows §C.11)');

-- tags
SELECT is(ff.set_flow_tags('f1000000-0000-4000-8000-000000000001', 'app.owner', 'me')->>'count', '1', 'flow tags');
SELECT is(ff.set_flow_tags('f1000000-0000-4000-8000-000000000001', 'Bad', 'x')->>'error', 'invalid_tag_key', 'bad flow tag key');
SELECT is(ff.set_flow_tags('f1000000-0000-4000-8000-0000000000ff', 'a.b', 'x')->>'error', 'flow_not_found', 'tags on a missing flow');

-- bad input raises
SELECT throws_ok($$SELECT ff.create_flow(NULL)$$, '22004', NULL, 'NULL flow id');
SELECT throws_ok($$SELECT ff.add_execution_to_flow('f1000000-0000-4000-8000-000000000001', 'x')$$, '22P02', NULL, 'malformed member id');
SELECT throws_ok($$SELECT ff.cancel_flow('f1000000-0000-4000-8000-000000000001', 'x', 'cancel_some')$$, '22023', NULL, 'unknown cancellation policy');
SELECT throws_ok($$SELECT ff.stage_dependency_edge('f1000000-0000-4000-8000-000000000001', gen_random_uuid(), t.m('a'), t.m('b'), -1)$$, '22023', NULL, 'negative revision');
SELECT throws_ok($$SELECT ff.resolve_dependency('f1000000-0000-4000-8000-000000000001', gen_random_uuid(), 'none')$$, '22023', NULL, 'none is not an outcome');
SELECT throws_ok($$SELECT ff.list_edges('f1000000-0000-4000-8000-000000000001', t.m('a'), 'sideways')$$, '22023', NULL, 'unknown direction');

-- a completion event whose dispatch fails (issue 22): recorded in
-- ff.scanner_item_failure by its execution with SQLSTATE, message and
-- detail, waiting 1 s (by time: the dispatcher runs at every commit); the
-- other events go on; a later success deletes the row
SELECT t.at(1900000000000);
SELECT ff.create_flow('f9000000-0000-4000-8000-0000000000e1'), ff.create_flow('f9000000-0000-4000-8000-0000000000e2');
SELECT t.member('f9000000-0000-4000-8000-0000000000e1', n) FROM unnest(ARRAY['xa', 'xd']) n;
SELECT t.member('f9000000-0000-4000-8000-0000000000e2', n) FROM unnest(ARRAY['ya', 'yd']) n;
SELECT t.edge('f9000000-0000-4000-8000-0000000000e1', 'xa', 'xd'), t.edge('f9000000-0000-4000-8000-0000000000e2', 'ya', 'yd');
CREATE FUNCTION t.refuse_xd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = (ff.parse_execution_id(t.m('xd'))).execution_uuid THEN
        RAISE EXCEPTION 'downstream refuses' USING ERRCODE = 'FFX21', DETAIL = 'xd';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_xd BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse_xd();
SELECT t.run('xa'), t.run('ya');
SET LOCAL client_min_messages = error;
SELECT is(ff.dispatch_completions(100) - 'resolved', '{"ok": true, "status": "OK", "processed": 1, "errors": 1, "more": false}',
          'dispatch: the failing event is an error, the other one dispatched');
SELECT is(t.st('xd') || '/' || t.st('yd'), 'waiting_children/waiting', 'dispatch: the failing event''s edge unresolved, the other resolved');
SELECT is((SELECT ARRAY[scanner, item_id::text, sqlstate, message, detail, failures::text, skip_until_at::text] FROM ff.scanner_item_failure),
          ARRAY['completion_dispatch', (ff.parse_execution_id(t.m('xa'))).execution_uuid::text, 'FFX21', 'downstream refuses', 'xd', '1', '1900000001000'],
          'dispatch: recorded by the event''s execution, waiting 1 s');
SELECT is((SELECT failing || '/' || dispatch_failures FROM ff.dispatcher_status), '1/1', 'dispatcher_status counts it');
SELECT is(ff.dispatch_completions(100) ->> 'processed', '0', 'dispatch: not retried before its time');
SELECT t.at(1900000001000);
SELECT is(ff.dispatch_completions(100) ->> 'errors', '1', 'dispatch: retried after 1 s, failing again');
SELECT is((SELECT failures || '/' || skip_until_at FROM ff.scanner_item_failure), '2/1900000002000', 'dispatch: its second failure');
DROP TRIGGER refuse_xd ON ff.execution;
SELECT t.at(1900000002000);
SELECT is(ff.dispatch_completions(100) - 'resolved', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "more": false}',
          'dispatch: dispatched once it can be');
SELECT is(t.st('xd') || '/' || (SELECT count(*) FROM ff.scanner_item_failure), 'waiting/0', 'dispatch: the edge resolved, the row deleted');
RESET client_min_messages;

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;

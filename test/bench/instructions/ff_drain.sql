-- The drain loop counted by instructions.sh: k = 1, claim one and complete
-- it (two commits per job); k = 100, claim 100 and complete them (two
-- commits per 100 jobs), as drain/per_item.pgbench and drain/batched.pgbench.
CREATE PROCEDURE public.bench_drain(n int, k int, lane text) LANGUAGE plpgsql AS $$
DECLARE ids text[]; lids uuid[]; eps bigint[]; aids uuid[]; r jsonb;
BEGIN
  FOR i IN 1 .. n / k LOOP
    IF k = 1 THEN
      SELECT claim INTO r FROM ff.claim_next(lane, 'bench', 'bench-1');
      COMMIT;
      PERFORM ff.complete_execution(r->>'execution_id', (r->>'lease_id')::uuid,
                                    (r->>'lease_epoch')::bigint, (r->>'attempt_id')::uuid);
      COMMIT;
    ELSE
      SELECT array_agg(claim->>'execution_id'), array_agg((claim->>'lease_id')::uuid),
             array_agg((claim->>'lease_epoch')::bigint), array_agg((claim->>'attempt_id')::uuid)
        INTO ids, lids, eps, aids FROM ff.claim_next(lane, 'bench', 'bench-1', max_count => k);
      COMMIT;
      PERFORM ff.complete_executions(ids, lids, eps, aids);
      COMMIT;
    END IF;
  END LOOP;
END $$;

-- The same loop over the lease-queue floor (../shared/peers/sqlq/lease_*):
-- its claim and complete statements, as lease_claim_complete.pgbench and
-- lease_batched.pgbench run them.
CREATE PROCEDURE public.bench_drain(n int, k int, lane text) LANGUAGE plpgsql AS $$
DECLARE jid bigint; lid uuid; ep int; ids bigint[]; lids uuid[]; eps int[];
BEGIN
  FOR i IN 1 .. n / k LOOP
    IF k = 1 THEN
      UPDATE lq SET state = 1, epoch = epoch + 1, lease_id = gen_random_uuid(),
             lease_until = now() + interval '30 s', attempt = attempt + 1
      WHERE id = (SELECT id FROM lq WHERE lq.lane = bench_drain.lane AND state = 0
                  ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id, lease_id, epoch INTO jid, lid, ep;
      COMMIT;
      WITH u AS (UPDATE lq SET state = 2, lease_id = NULL, lease_until = NULL, result = '\x'
                 WHERE id = jid AND lease_id = lid AND epoch = ep RETURNING id, attempt, epoch)
      INSERT INTO lq_history (job_id, attempt, epoch, outcome) SELECT id, attempt, epoch, 2 FROM u;
      COMMIT;
    ELSE
      WITH c AS (UPDATE lq SET state = 1, epoch = epoch + 1, lease_id = gen_random_uuid(),
                        lease_until = now() + interval '30 s', attempt = attempt + 1
                 WHERE id IN (SELECT id FROM lq WHERE lq.lane = bench_drain.lane AND state = 0
                              ORDER BY priority DESC, id LIMIT k FOR UPDATE SKIP LOCKED)
                 RETURNING id, lease_id, epoch)
      SELECT array_agg(id), array_agg(lease_id), array_agg(epoch) INTO ids, lids, eps FROM c;
      COMMIT;
      WITH u AS (UPDATE lq SET state = 2, lease_id = NULL, lease_until = NULL, result = '\x'
                 FROM unnest(ids, lids, eps) AS x(id, lid, ep)
                 WHERE lq.id = x.id AND lq.lease_id = x.lid AND lq.epoch = x.ep
                 RETURNING lq.id, lq.attempt, lq.epoch)
      INSERT INTO lq_history (job_id, attempt, epoch, outcome) SELECT id, attempt, epoch, 2 FROM u;
      COMMIT;
    END IF;
  END LOOP;
END $$;

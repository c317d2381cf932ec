-- finish_lane(lane): claims and completes everything claimable on a lane,
-- returns how many completed.  Created in the databases of the live scripts
-- that run a fixture's executions to their end (dump_restore.sh, upgrade.sh).
CREATE FUNCTION finish_lane(lane text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE c jsonb; done integer := 0; r jsonb;
BEGIN
    FOR c IN SELECT x.claim FROM ff.claim_next(lane, 'w2', 'w2-1', max_count => 100) x LOOP
        r := ff.complete_execution(c ->> 'execution_id', (c ->> 'lease_id')::uuid, (c ->> 'lease_epoch')::bigint,
                                   (c ->> 'attempt_id')::uuid);
        IF (r ->> 'ok')::boolean THEN done := done + 1; END IF;
    END LOOP;
    RETURN done;
END $$;

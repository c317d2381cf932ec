#!/usr/bin/env bash
# Several servers (issue 25): ff_engine on four shards behind the
# ff_engine_router extension (PL/Proxy), five throwaway clusters on local
# ports.  Sourced by test/run.sh (run_live) after its cluster has started
# (so the extensions are built and installed); prints TAP lines.
# doc/scale-out.md is what it checks.
set -u
source "$FF_ROOT/test/live/tap.sh"
echo "1..33"
SO_T0=$(date +%s)

SO_DIR=$(mktemp -d /tmp/ff_scaleout.XXXXXX)
chown postgres:postgres "$SO_DIR" 2>/dev/null || true
SO_PORTS=()
# five free ports (a port is taken when its socket file exists)
p=$((PGPORT + 101))
while [ ${#SO_PORTS[@]} -lt 5 ]; do
  [ -e "/tmp/.s.PGSQL.$p" ] || SO_PORTS+=("$p")
  p=$((p + 1))
done
R=${SO_PORTS[0]}
S=("${SO_PORTS[1]}" "${SO_PORTS[2]}" "${SO_PORTS[3]}" "${SO_PORTS[4]}")

so_stop() {
  local d
  for d in "$SO_DIR"/c*; do
    [ -d "$d" ] && as_postgres $PGBIN/pg_ctl -D "$d" -m immediate -w stop >/dev/null 2>&1
  done
  rm -rf "$SO_DIR"
}
trap 'so_stop; stop_cluster' EXIT

# one initdb, copied five times; small and fast
as_postgres $PGBIN/initdb -D "$SO_DIR/tmpl" -U postgres -A trust --no-sync >/dev/null
cat >> "$SO_DIR/tmpl/postgresql.conf" <<CONF
unix_socket_directories = '/tmp'
listen_addresses = ''
shared_buffers = 16MB
max_connections = 40
max_worker_processes = 8
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
ff_engine.enabled = off
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
CONF
for i in 0 1 2 3 4; do
  cp -a "$SO_DIR/tmpl" "$SO_DIR/c$i"
  echo "port = ${SO_PORTS[$i]}" >> "$SO_DIR/c$i/postgresql.conf"
  [ "$i" -gt 0 ] && echo "shared_preload_libraries = 'ff_engine'" >> "$SO_DIR/c$i/postgresql.conf"
done
rm -rf "$SO_DIR/tmpl"
for i in 0 1 2 3 4; do
  as_postgres $PGBIN/pg_ctl -D "$SO_DIR/c$i" -l "$SO_DIR/c$i/server.log" -w start >/dev/null || echo "# cluster $i did not start"
done

rt() { psql -X -q -At -v ON_ERROR_STOP=1 -p "$R" -d postgres -c "$1" 2>&1; }
rtq() { psql -X -q -At -v ON_ERROR_STOP=1 -p "$R" -d postgres -c "$1" 2>/dev/null; }
sh() { psql -X -q -At -v ON_ERROR_STOP=1 -p "${S[$1]}" -d postgres -c "$2" 2>&1; }
# the same query on every shard, one answer per line
each() { local i; for i in 0 1 2 3; do sh "$i" "$1"; done; }

for i in 0 1 2 3; do sh "$i" "CREATE EXTENSION ff_engine" >/dev/null; done
rt "CREATE EXTENSION ff_engine_router CASCADE" >/dev/null
rt "INSERT INTO ffr.shard VALUES (0, 'host=/tmp port=${S[0]} dbname=postgres'), (1, 'host=/tmp port=${S[1]} dbname=postgres'),
    (2, 'host=/tmp port=${S[2]} dbname=postgres'), (3, 'host=/tmp port=${S[3]} dbname=postgres')" >/dev/null
check "the router is installed with four shards" "$(rt "SELECT ffr.nshards()")" "4"

# ---- the shared partition vector: the router places ids as the engine does ----
check "the router computes the shared partition vector (test/vectors/partition.sql)" \
  "$(psql -X -q -At -p "$R" -d postgres -f "$FF_ROOT/test/vectors/partition.sql" -c "
     SELECT count(*) FROM partition_vector v
     WHERE CASE v.kind WHEN 'lane' THEN ff.crc16(convert_to(v.input, 'UTF8')) <> v.crc16 OR ff.solo_partition(v.input) <> v.p256
                       ELSE ffr.uuid_crc16(v.input::uuid) <> v.crc16 OR ff.flow_partition(v.input::uuid) <> v.p256
                            OR ff.budget_partition(v.input::uuid) <> v.p32 OR ff.quota_partition(v.input::uuid) <> v.p32 END" 2>&1)" "0"

# ---- every engine function has a rule, and a proxy of the same signature ----
sh 0 "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || pg_get_function_result(p.oid)
      FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace AND p.proname NOT LIKE '\_%' ORDER BY 1" > "$SO_DIR/shard.fn"
rt "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || pg_get_function_result(p.oid)
    FROM pg_proc p WHERE p.pronamespace = 'ff'::regnamespace ORDER BY 1" > "$SO_DIR/router.fn"
rt "SELECT proname FROM ffr.route ORDER BY 1" > "$SO_DIR/rules"
rt "SELECT proname FROM ffr.route WHERE kind = 'shard' ORDER BY 1" > "$SO_DIR/shardonly"
unruled=$(sed 's/(.*//' "$SO_DIR/shard.fn" | sort -u | comm -23 - "$SO_DIR/rules" | tr '\n' ' ')
check "every ff.* function of a shard has a routing rule (router/rules.tsv)" "$unruled" ""
unproxied=$(grep -v -F -x -f "$SO_DIR/router.fn" "$SO_DIR/shard.fn" | awk -F'(' 'NR==FNR{skip[$1]=1; next} !skip[$1]' "$SO_DIR/shardonly" - | tr '\n' ';')
check "every routed function has a router function with the shard's arguments and result" "$unproxied" ""

undocumented=$(while read -r f; do grep -q "| \`ff.$f\` |" "$FF_ROOT/doc/scale-out.md" || printf '%s ' "$f"; done < "$SO_DIR/rules")
check "every rule is in doc/scale-out.md's routing table" "$undocumented" ""
check "gather, sum and any routes answer from every shard" \
  "$(rt "SELECT (SELECT count(*) FROM ff.list_expired_leases()) || '.' || (SELECT count(*) FROM ff.list_suspended()) || '.' ||
             (ff.scan_lease_expiry() ->> 'ok') || '.' || jsonb_typeof(ff.run_scanners()) || '.' || (ff.lane_channel('x') IS NOT NULL)")" "0.0.true.array.true"
# ---- global administration goes to ALL, and repeats ----
check "partition config through the router reaches every shard" \
  "$(rt "SELECT ff.set_partition_config(256, 32, 32)")/$(rt "SELECT ff.set_partition_config(256, 32, 32)")/$(each "SELECT num_flow_partitions || '.' || num_budget_partitions FROM ff.partition_config" | sort -u)" \
  "t/t/256.32"
rt "SELECT ff.rotate_waitpoint_hmac_secret('so1', repeat('ab', 32))" >/dev/null
check "HMAC rotation through the router: the same current key on every shard" \
  "$(each "SELECT kid || ':' || md5(secret) FROM ff.waitpoint_hmac_key WHERE is_current" | sort -u | wc -l)/$(sh 2 "SELECT kid FROM ff.waitpoint_hmac_key WHERE is_current")" "1/so1"
# a token minted on shard 0 (a pending waitpoint of an execution there) verifies under shard 3's key
WP=00000000-0000-4000-a000-0000000005a1
tok=$(rt "WITH e AS (SELECT ff.format_execution_id(0::smallint, gen_random_uuid()) AS id),
              c AS (SELECT e.id, ff.create_execution(e.id, lane_id => 'tok') FROM e),
              k AS (SELECT ff.claim_next('tok', 'so-w', 'so-w-t') x FROM c),
              w AS (SELECT ff.create_pending_waitpoint((k.x).claim, '$WP', 'tk', ff.now_ms() + 3600000) FROM k)
         SELECT ff.read_waitpoint_token(c.id, '$WP') FROM c, w")
msg=$(sh 0 "SELECT waitpoint_id || '|' || waitpoint_key || '|' || created_at FROM ff.waitpoint WHERE waitpoint_id = '$WP'")
check "a waitpoint token minted on shard 0 verifies under shard 3's key" \
  "$(sh 3 "SELECT kid || ':' || ff._hmac_sha1_hex(secret, convert_to('$msg', 'UTF8')) FROM ff.waitpoint_hmac_key WHERE kid = split_part('$tok', ':', 1)")/${tok%%:*}" "$tok/so1"
rt "SELECT ff.register_worker('so-w-1', 'so-w', ARRAY['l0'], ttl_ms => 3600000)" >/dev/null
check "the worker registry is written on every shard; list_workers merges it" \
  "$(each "SELECT count(*) FROM ff.worker WHERE worker_instance_id = 'so-w-1'" | tr -d '\n')/$(rt "SELECT count(*) FROM ff.list_workers()")" "1111/1"

# ---- lanes: one lane per shard for the workload (a lane's solo executions share a partition) ----
mapfile -t LANES < <(rt "SELECT DISTINCT ON (ffr.shard_of_partition(ff.solo_partition(l))) l
    FROM (SELECT 'lane-' || g AS l FROM generate_series(1, 100) g) x ORDER BY ffr.shard_of_partition(ff.solo_partition(l)), l")
check "four lanes, one on each shard" "${#LANES[@]}" "4"
while [ ${#LANES[@]} -lt 4 ]; do LANES+=("none"); done

# ---- a small workload through the router ----
rt "CREATE TABLE so_ids AS SELECT l AS lane, ff.execution_id(l) AS id FROM unnest(ARRAY['${LANES[0]}','${LANES[1]}','${LANES[2]}','${LANES[3]}']) l, generate_series(1, 5)" >/dev/null
check "create through the router: 20 created" \
  "$(rt "SELECT count(*) FROM so_ids, ff.create_execution(id, lane_id => lane, input_payload => 'job') r WHERE r ->> 'status' = 'OK'")" "20"
check "each execution is on its partition's shard and nowhere else" \
  "$(for i in 0 1 2 3; do sh "$i" "SELECT count(*) FILTER (WHERE partition & 3 = $i) || '.' || count(*) FILTER (WHERE partition & 3 <> $i) FROM ff.execution WHERE lane_id <> 'tok'"; done | tr '\n' ' ')" \
  "5.0 5.0 5.0 5.0 "
check "claim through the router (each lane's shard) and complete through the router" \
  "$(rt "SELECT count(*) FROM unnest(ARRAY['${LANES[0]}','${LANES[1]}','${LANES[2]}','${LANES[3]}']) l,
         ff.claim_next(l, 'so-w', 'so-w-1', max_count => 10) c, ff.complete_execution(c.claim, 'done') r WHERE (r ->> 'ok')::boolean")" "20"
check "read models through the router: states and results" \
  "$(rt "SELECT count(*) FILTER (WHERE ff.read_execution_state(id) ->> 'public_state' = 'completed'
                                AND ff.get_execution_result(id) = 'done') FROM so_ids")" "20"
check "bulk create through the router is split by shard, items back in input order" \
  "$(rt "WITH ids AS (SELECT array_agg(ff.execution_id(l) ORDER BY g) a FROM unnest(ARRAY['${LANES[0]}','${LANES[1]}','${LANES[2]}','${LANES[3]}']) WITH ORDINALITY AS x(l, g))
         SELECT (r ->> 'count') || '.' || (r ->> 'succeeded') || '.' || (SELECT bool_and(e ->> 'execution_id' = ids.a[i])::text
                 FROM jsonb_array_elements(r -> 'results') WITH ORDINALITY AS y(e, i))
         FROM ids, ff.create_executions(ids.a, 'bulk') r")" "4.4.true"

# ---- a DAG: two parents in an any_of group with cancel_remaining, on the flow's partition ----
F=f0000000-0000-4000-8000-0000000005f1
rt "CREATE TABLE so_dag AS SELECT x AS name, ff.flow_member_execution_id('$F') AS id FROM unnest(ARRAY['a', 'b', 'child']) x" >/dev/null
rt "SELECT ff.create_flow('$F', 'dag')" >/dev/null
rt "SELECT ff.create_execution(id, lane_id => 'dag-' || name), ff.add_execution_to_flow('$F', id) FROM so_dag ORDER BY name" >/dev/null
check "any_of + cancel_remaining set through the router" \
  "$(rt "SELECT ff.set_edge_group_policy('$F', (SELECT id FROM so_dag WHERE name = 'child'), 'any_of', 'cancel_remaining') ->> 'result'")" "set"
rt "SELECT ff.add_dependency('$F', (SELECT id FROM so_dag WHERE name = x), (SELECT id FROM so_dag WHERE name = 'child')) FROM unnest(ARRAY['a', 'b']) x" >/dev/null
# a wins: claimed and completed through the router
rt "SELECT ff.complete_execution(c.claim, 'a-won') FROM ff.claim_next('dag-a', 'so-w', 'so-w-1') c" >/dev/null
for k in 1 2 3 4 5; do
  rt "SELECT ff.dispatch_completions(), ff.scan_edge_cancel_dispatch(), ff.dispatch_flow_cancels(), ff.scan_edge_cancel_reconcile()" >/dev/null
done
check "the DAG: the child runs, the losing parent is cancelled, all on the flow's shard" \
  "$(rt "SELECT string_agg(name || '=' || (ff.read_execution_state(id) ->> 'public_state'), ' ' ORDER BY name) FROM so_dag")/$(rt "SELECT count(DISTINCT ffr.shard_of_execution(id)) FROM so_dag")" \
  "a=completed b=cancelled child=waiting/1"

check "partition, composite-row and OUT-parameter routes: list_executions, list_edges, read_execution_context" \
  "$(rt "SELECT (SELECT ff.list_executions(ff.flow_partition('$F')) -> 'executions' @> to_jsonb(ARRAY[(SELECT id FROM so_dag WHERE name = 'child')]))
             || '.' || (SELECT count(*) FROM ff.list_edges('$F', (SELECT id FROM so_dag WHERE name = 'child'), 'incoming') e
                        WHERE e.dependency_state IS NOT NULL)
             || '.' || (SELECT encode(c.input_payload, 'escape') FROM so_ids, ff.read_execution_context(id) c LIMIT 1)")" "true.2.job"
# ---- budgets: admission never crosses a shard ----
check "attaching a budget of another shard is refused (0A000), nothing written" \
  "$(rt "DO \$\$ DECLARE b uuid; e text := (SELECT id FROM so_ids LIMIT 1); BEGIN
           LOOP b := gen_random_uuid(); EXIT WHEN ffr.shard_of_partition(ffr.partition_of_budget(b)) <> ffr.shard_of_execution(e); END LOOP;
           PERFORM ff.create_budget(b, '{tokens}', '{10}', '{8}');
           BEGIN PERFORM ff.set_execution_admission(e, ARRAY[b]); RAISE EXCEPTION 'not refused';
           EXCEPTION WHEN feature_not_supported THEN RAISE NOTICE 'refused'; END; END \$\$" 2>&1 | grep -c refused)" "1"
check "a charge's route is its budget's or quota's partition, refusing (0A000) an execution on another shard" \
  "$(rt "DO \$\$ DECLARE b uuid; e text := (SELECT id FROM so_ids LIMIT 1); BEGIN
           LOOP b := gen_random_uuid(); EXIT WHEN ffr.shard_of_partition(ffr.partition_of_budget(b)) <> ffr.shard_of_execution(e); END LOOP;
           IF ffr.route_budget_charge(b, NULL) <> ffr.partition_of_budget(b) OR ffr.route_quota_charge(b, NULL) <> ffr.partition_of_quota(b) THEN
             RAISE EXCEPTION 'wrong partition'; END IF;
           BEGIN PERFORM ffr.route_budget_charge(b, e); RAISE EXCEPTION 'not refused';
           EXCEPTION WHEN feature_not_supported THEN RAISE NOTICE 'refused budget'; END;
           LOOP b := gen_random_uuid(); EXIT WHEN ffr.shard_of_partition(ffr.partition_of_quota(b)) <> ffr.shard_of_execution(e); END LOOP;
           BEGIN PERFORM ffr.route_quota_charge(b, e); RAISE EXCEPTION 'not refused';
           EXCEPTION WHEN feature_not_supported THEN RAISE NOTICE 'refused quota'; END; END \$\$" 2>&1 | grep -c refused)" "2"
check "a co-located budget (ffr.colocated_budget_id) is accepted and charged" \
  "$(rt "WITH e AS (SELECT ff.execution_id('${LANES[2]}') AS id), b AS (SELECT ffr.colocated_budget_id(e.id) AS id FROM e),
         c AS (SELECT ff.create_budget(b.id, '{tokens}', '{10}', '{8}') FROM b),
         x AS (SELECT ff.create_execution(e.id, lane_id => 'budgeted', policy_json => jsonb_build_object('budget_ids', jsonb_build_array(b.id))::text) r FROM e, b, c)
         SELECT x.r ->> 'status' FROM x")" "OK"

# ---- drain: 4 000 executions, workers on the shards directly (two per shard) ----
rt "SELECT ff.create_executions(ARRAY(SELECT ff.execution_id(l) FROM generate_series(1, 250)), l)
    FROM unnest(ARRAY['${LANES[0]}','${LANES[1]}','${LANES[2]}','${LANES[3]}']) l, generate_series(1, 4)" >/dev/null
cat > "$SO_DIR/worker.sql" <<'SQL'
DO $$
DECLARE lane text := current_setting('so.lane'); fences jsonb[]; done integer := 0; r jsonb;
BEGIN
    LOOP
        fences := ARRAY(SELECT c.claim FROM ff.claim_next(lane, 'so-drain', current_setting('so.wid'), max_count => 50) c);
        EXIT WHEN cardinality(fences) = 0;
        r := ff.complete_executions(fences);
        done := done + (r ->> 'succeeded')::integer;
        COMMIT;
    END LOOP;
    RAISE NOTICE 'completed %', done;
END $$;
SQL
for i in 0 1 2 3; do
  for w in a b; do
    PGOPTIONS="-c so.lane=${LANES[$i]} -c so.wid=so-$i-$w" psql -X -q -p "${S[$i]}" -d postgres -f "$SO_DIR/worker.sql" > "$SO_DIR/w$i$w.log" 2>&1 &
  done
done
wait
check "drain: the workers completed 4 000 between them" \
  "$(cat "$SO_DIR"/w*.log | sed -n 's/.*completed \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')" "4000"
check "drain: every one completed exactly once (one attempt each), on its own shard" \
  "$(for i in 0 1 2 3; do sh "$i" "SELECT count(*) FILTER (WHERE e.public_state <> 'completed') || '.' ||
        (SELECT count(*) FROM ff.attempt a WHERE a.partition & 3 <> $i) || '.' ||
        (SELECT count(*) - count(DISTINCT (partition, execution_id)) FROM ff.attempt)
        FROM ff.executions e WHERE e.lane_id = '${LANES[$i]}'"; done | sort -u | tr '\n' ' ')" "0.0.0 "

# ---- every row of every table on the shard owning its partition ----
misplaced=0
for i in 0 1 2 3; do
  q=$(sh "$i" "SELECT string_agg(format('SELECT count(*) FROM %s WHERE partition & 3 <> $i', c.oid::regclass), ' UNION ALL ')
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'partition'
             WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'r' AND c.relname NOT LIKE 'worker%'")
  misplaced=$((misplaced + $(sh "$i" "SELECT COALESCE(sum(count), 0) FROM ($q) x")))
done
check "no row of any partitioned table lives off its partition's shard" "$misplaced" "0"

# ---- one shard stops hard; the others keep working; it recovers ----
as_postgres $PGBIN/pg_ctl -D "$SO_DIR/c3" -m immediate -w stop >/dev/null 2>&1
check "with shard 2 down, the other shards' lanes create, claim and complete through the router" \
  "$(rtq "WITH c AS (SELECT l, ff.create_execution(ff.execution_id(l), lane_id => l) FROM unnest(ARRAY['${LANES[0]}','${LANES[1]}','${LANES[3]}']) l)
         SELECT count(*) FROM c, ff.claim_next(c.l, 'so-w', 'so-w-2') x, ff.complete_execution(x.claim) r WHERE (r ->> 'ok')::boolean")" "3"
check "a call owned by the stopped shard fails with an error (not half done)" \
  "$(rt "SELECT ff.create_execution(ff.execution_id('${LANES[2]}'), lane_id => '${LANES[2]}')" | grep -c ERROR)" "1"
as_postgres $PGBIN/pg_ctl -D "$SO_DIR/c3" -l "$SO_DIR/c3/server.log" -w start >/dev/null
check "shard 2 recovers: no consistency violation, its lane works again" \
  "$(sh 2 "SELECT count(*) FROM ff.consistency_violations")/$(rt "SELECT ff.create_execution(ff.execution_id('${LANES[2]}'), lane_id => '${LANES[2]}') ->> 'status'")" "0/OK"
check "no consistency violation on any shard" "$(each "SELECT count(*) FROM ff.consistency_violations" | sort -u)" "0"

# ---- moving from 2 shards to 4 with logical replication, under a workload ----
# Database mv on clusters 1..4: shards 0 and 1 hold the work, 2 and 3 are new.
# Shard 0 gives partitions p % 4 = 2 to shard 2, shard 1 gives p % 4 = 3 to shard 3.
mv() { psql -X -q -At -v ON_ERROR_STOP=1 -p "${S[$1]}" -d mv -c "$2" 2>&1; }
rmv() { psql -X -q -At -v ON_ERROR_STOP=1 -p "$R" -d mv -c "$1" 2>&1; }
rt "CREATE DATABASE mv" >/dev/null
for i in 0 1 2 3; do sh "$i" "CREATE DATABASE mv" >/dev/null; mv "$i" "CREATE EXTENSION ff_engine" >/dev/null; done
rmv "CREATE EXTENSION ff_engine_router CASCADE" >/dev/null
rmv "INSERT INTO ffr.shard VALUES (0, 'host=/tmp port=${S[0]} dbname=mv'), (1, 'host=/tmp port=${S[1]} dbname=mv')" >/dev/null
rmv "CREATE TABLE mv_ids (id text PRIMARY KEY, lane text NOT NULL)" >/dev/null
# eight lanes, two on each partition class mod 4
MVL=$(rmv "SELECT string_agg(quote_literal(l), ',') FROM (SELECT l, row_number() OVER (PARTITION BY ff.solo_partition(l) % 4 ORDER BY l) AS k
          FROM (SELECT 'mv-' || g AS l FROM generate_series(1, 200) g) x) y WHERE k <= 2")
cat > "$SO_DIR/mv_load.sql" <<SQL
DO \$\$
DECLARE l text; id text;
BEGIN
    FOR i IN 1 .. 40 LOOP
        FOREACH l IN ARRAY ARRAY[$MVL] LOOP
            id := ff.execution_id(l);
            PERFORM ff.create_execution(id, lane_id => l);
            INSERT INTO mv_ids VALUES (id, l);
        END LOOP;
        -- finish some of it as it goes: states of every kind move
        PERFORM ff.complete_execution(c.claim) FROM unnest(ARRAY[$MVL]) l2, ff.claim_next(l2, 'mv-w', 'mv-w-1') c WHERE i % 2 = 0;
        COMMIT;
    END LOOP;
END \$\$;
SQL
psql -X -q -p "$R" -d mv -f "$SO_DIR/mv_load.sql" > "$SO_DIR/mv_load1.log" 2>&1
# the tables to move: every ff table with a partition column but the worker registry
MVT="SELECT c.oid::regclass AS t FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'partition'
     WHERE c.relnamespace = 'ff'::regnamespace AND c.relkind = 'r' AND c.relname NOT LIKE 'worker%'"
mv 0 "DO \$\$ BEGIN EXECUTE (SELECT 'CREATE PUBLICATION mv_out FOR TABLE ' || string_agg(format('%s WHERE (partition %% 4 = 2)', t), ', ') FROM ($MVT) x); END \$\$" >/dev/null
mv 1 "DO \$\$ BEGIN EXECUTE (SELECT 'CREATE PUBLICATION mv_out FOR TABLE ' || string_agg(format('%s WHERE (partition %% 4 = 3)', t), ', ') FROM ($MVT) x); END \$\$" >/dev/null
# the workload keeps running while the new shards copy and follow
psql -X -q -p "$R" -d mv -f "$SO_DIR/mv_load.sql" > "$SO_DIR/mv_load2.log" 2>&1 &
mvpid=$!
mv 2 "CREATE SUBSCRIPTION mv_in CONNECTION 'host=/tmp port=${S[0]} dbname=mv' PUBLICATION mv_out" >/dev/null
mv 3 "CREATE SUBSCRIPTION mv_in CONNECTION 'host=/tmp port=${S[1]} dbname=mv' PUBLICATION mv_out" >/dev/null
wait $mvpid
# cut-over: no traffic now; wait until both new shards hold exactly what they are to own
mvsum() { psql -X -q -At -p "${S[$1]}" -d mv -c "SELECT md5(string_agg(e::text, ',' ORDER BY e.partition, e.execution_id)) FROM ff.execution e WHERE e.partition % 4 = $2" 2>&1; }
caught=no
for t in $(seq 1 150); do
  if [ "$(mv 2 "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")$(mv 3 "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = "00" ] &&
     [ "$(mvsum 0 2)" = "$(mvsum 2 2)" ] && [ "$(mvsum 1 3)" = "$(mvsum 3 3)" ]; then caught=yes; break; fi
  sleep 0.1
done
check "2 -> 4: the new shards caught up with the moving partitions under the workload" "$caught" "yes"
for pair in "0 2" "1 3"; do
  read -r mv_from mv_to <<< "$pair"
  # identity sequences do not travel with logical replication
  mv "$mv_to" "SELECT setval(pg_get_serial_sequence(t, 'event_id'), GREATEST(1, $(mv "$mv_from" "SELECT COALESCE(max(event_id), 1) FROM ff.completion_event") + 1000000))
           FROM unnest(ARRAY['ff.completion_event']) t" >/dev/null
  mv "$mv_to" "SELECT setval(pg_get_serial_sequence('ff.signal_event', 'event_id'), GREATEST(1, $(mv "$mv_from" "SELECT COALESCE(max(event_id), 1) FROM ff.signal_event") + 1000000))" >/dev/null
  mv "$mv_to" "DROP SUBSCRIPTION mv_in" >/dev/null
  mv "$mv_from" "DROP PUBLICATION mv_out" >/dev/null
done
rmv "INSERT INTO ffr.shard VALUES (2, 'host=/tmp port=${S[2]} dbname=mv'), (3, 'host=/tmp port=${S[3]} dbname=mv')" >/dev/null
# the old shards drop what they gave away (no triggers: the rows go as a whole)
for pair in "0 2" "1 3"; do
  read -r mv_from mv_to <<< "$pair"
  mv "$mv_from" "SET session_replication_role = replica; DO \$\$ DECLARE t regclass; BEGIN
           FOR t IN $MVT LOOP EXECUTE format('DELETE FROM %s WHERE partition %% 4 = $mv_to', t); END LOOP; END \$\$" >/dev/null
done
# after the cut-over: finish everything through the four-shard router
psql -X -q -p "$R" -d mv -c "DO \$\$ DECLARE k integer; BEGIN LOOP
      SELECT count(*) INTO k FROM unnest(ARRAY[$MVL]) l, ff.claim_next(l, 'mv-w', 'mv-w-2', max_count => 50) c, ff.complete_execution(c.claim) r;
      EXIT WHEN k = 0; END LOOP; END \$\$" >/dev/null 2>&1
total=$(rmv "SELECT count(*) FROM mv_ids")
found=$(for i in 0 1 2 3; do mv "$i" "SELECT count(*) FROM ff.execution"; done | awk '{s += $1} END {print s + 0}')
check "2 -> 4: every execution created ($total) exists exactly once over the four shards" "$found" "$total"
check "2 -> 4: all completed, one attempt each, each on the shard owning its partition" \
  "$(for i in 0 1 2 3; do mv "$i" "SELECT count(*) FILTER (WHERE e.public_state <> 'completed') || '.' ||
        (SELECT count(*) FROM ff.attempt a WHERE a.partition & 3 <> $i) || '.' ||
        (SELECT count(*) - count(DISTINCT (partition, execution_id)) FROM ff.attempt) || '.' ||
        count(*) FILTER (WHERE e.partition & 3 <> $i) FROM ff.executions e"; done | sort -u | tr '\n' ' ')" "0.0.0.0 "
check "2 -> 4: no consistency violation on any shard" \
  "$(for i in 0 1 2 3; do mv "$i" "SELECT count(*) FROM ff.consistency_violations"; done | sort -u | tr '\n' ' ')" "0 "
echo "# scale-out suite: $(( $(date +%s) - SO_T0 )) s"
trap stop_cluster EXIT
so_stop

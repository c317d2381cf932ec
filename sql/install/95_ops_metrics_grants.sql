-- ff_engine install script: who reads the metrics (after 90_core_roles, which
-- makes the roles and every function SECURITY DEFINER).  Readers get them:
-- a reader bound to namespaces sees only its namespaces' lanes and
-- completion backlog; the scanners' figures are engine-wide.
GRANT EXECUTE ON FUNCTION ff.metrics() TO ff_reader;
GRANT SELECT ON ff.lane_metrics, ff.dispatcher_status TO ff_reader;
-- the dashboard's reads (62_ops_dashboard_reads.sql): through the caller's
-- namespaces, never a lease id
GRANT EXECUTE ON FUNCTION ff.list_attempts(text, integer), ff.read_lease_history(text, integer),
    ff.read_stream_last(text, integer, integer), ff.lane_throughput(integer) TO ff_reader;

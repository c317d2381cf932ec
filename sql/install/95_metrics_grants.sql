-- ff_engine install script: who reads the metrics (after 90_roles, which
-- makes the roles and every function SECURITY DEFINER).  Readers get them:
-- a reader bound to namespaces sees only its namespaces' lanes and
-- completion backlog; the scanners' figures are engine-wide.
GRANT EXECUTE ON FUNCTION ff.metrics() TO ff_reader;
GRANT SELECT ON ff.lane_metrics, ff.dispatcher_status TO ff_reader;

/*-------------------------------------------------------------------------
 *
 * susp_condition.c
 *	  The resume-condition language (behaviour/suspension §3): parsing and
 *	  validating a condition in matcher or composite form before any write
 *	  (behaviour/suspension §3.1-§3.4), a waitpoint's fresh condition record, and evaluating one
 *	  signal against it (behaviour/suspension §3.2, §3.3.2; composite progress is kept as tokens
 *	  in ff.suspension_token).  Used by suspend (susp_ops.c) and signal
 *	  delivery (susp_signal.c); calls nothing else of the subsystem.
 *
 * IDENTIFICATION
 *	  src/susp_condition.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core_spi.h"
#include "core_validate.h"
#include "susp_condition.h"

#define FF_MAX_COMPOSITE_DEPTH		4

void
ff_susp_invalid(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid suspension: %s", detail)));
}

/* Signal-side strings: at most 256 bytes (behaviour/suspension §1.1). */
void
ff_check_signal_text(const char *s, const char *name)
{
	ff_check_max_len(s, FF_MAX_ID_BYTES, name);
}

/* ---- jsonb tree access ---- */

static int
array_len(JsonbContainer *a)
{
	return (a != NULL && JsonContainerIsArray(a)) ? JsonContainerSize(a) : -1;
}

static JsonbContainer *
array_object(JsonbContainer *a, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(a, i);

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

static char *
array_string(JsonbContainer *a, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(a, i);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static JsonbContainer *
get_array(JsonbContainer *c, const char *key)
{
	JsonbValue	buf,
			   *v = ff_jsonb_get(c, key, &buf);

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

static bool
key_present(JsonbContainer *c, const char *key)
{
	JsonbValue	buf,
			   *v = ff_jsonb_get(c, key, &buf);

	return v != NULL && v->type != jbvNull;
}

static char *
child_path(const char *path, int i)
{
	return path[0] ? psprintf("%s.members[%d]", path, i) : psprintf("members[%d]", i);
}

/* A node's matcher (behaviour/suspension §3.3.2 step 2): absent, Wildcard or kind-less accept. */
static bool
matcher_accepts(JsonbContainer *node, const char *name)
{
	JsonbContainer *m = ff_jsonb_get_object(node, "matcher");
	char	   *kind;

	if (m == NULL)
		return true;
	kind = ff_jsonb_get_string(m, "kind");
	if (kind == NULL || strcmp(kind, "Wildcard") == 0)
		return true;
	if (strcmp(kind, "ByName") == 0)
	{
		char	   *n = ff_jsonb_get_string(m, "name");

		return n != NULL && strcmp(n, name) == 0;
	}
	return false;
}

/* ---- condition parsing and validation (behaviour/suspension §3.1-§3.4), before any write ---- */
static void
validate_matcher_object(JsonbContainer *node)
{
	JsonbContainer *m = ff_jsonb_get_object(node, "matcher");
	char	   *kind;

	if (m == NULL)
	{
		if (key_present(node, "matcher"))
			ff_susp_invalid("a composite matcher must be an object or null");
		return;
	}
	kind = ff_jsonb_get_string(m, "kind");
	if (kind != NULL && strcmp(kind, "ByName") == 0)
	{
		char	   *n = ff_jsonb_get_string(m, "name");

		if (n == NULL || n[0] == '\0')
			ff_susp_invalid("resume_condition: empty signal name");
	}
	else if (kind != NULL && strcmp(kind, "Wildcard") != 0)
		ff_susp_invalid(psprintf("unknown matcher kind \"%s\"", kind));
}

static void
validate_node(JsonbContainer *node, int depth, Condition *cond)
{
	char	   *kind = ff_jsonb_get_string(node, "kind");

	if (kind == NULL)
		ff_susp_invalid("composite node without a kind");
	if (strcmp(kind, "AllOf") == 0 || strcmp(kind, "Count") == 0)
	{
		if (depth > FF_MAX_COMPOSITE_DEPTH)
			ff_susp_invalid(psprintf("composite depth exceeds %d", FF_MAX_COMPOSITE_DEPTH));
	}
	if (strcmp(kind, "AllOf") == 0)
	{
		JsonbContainer *members = get_array(node, "members");
		int			n = array_len(members),
					i;

		if (n <= 0)
			ff_susp_invalid("allof_empty_members");
		for (i = 0; i < n; i++)
		{
			JsonbContainer *m = array_object(members, i);

			CHECK_FOR_INTERRUPTS();
			if (m == NULL)
				ff_susp_invalid("an AllOf member must be a node object");
			validate_node(m, depth + 1, cond);
		}
	}
	else if (strcmp(kind, "Count") == 0)
	{
		double		n;
		char	   *ck = ff_jsonb_get_string(node, "count_kind");
		JsonbContainer *wps = get_array(node, "waitpoints");
		int			nw = array_len(wps),
					i;

		if (!ff_jsonb_get_number(node, "n", &n) || n != floor(n) || n < 1)
			ff_susp_invalid("count_n_zero");
		if (ck != NULL && strcmp(ck, "DistinctWaitpoints") != 0 &&
			strcmp(ck, "DistinctSignals") != 0 && strcmp(ck, "DistinctSources") != 0)
			ff_susp_invalid(psprintf("unknown count_kind \"%s\"", ck));
		if (nw <= 0)
			ff_susp_invalid("count_waitpoints_empty");
		if ((ck == NULL || strcmp(ck, "DistinctWaitpoints") == 0) && n > nw)
			ff_susp_invalid("count_exceeds_waitpoint_set");
		for (i = 0; i < nw; i++)
		{
			char	   *k = array_string(wps, i);

			CHECK_FOR_INTERRUPTS();
			if (k == NULL)
				ff_susp_invalid("Count waitpoints must be strings");
			cond->keys = lappend(cond->keys, k);
		}
		validate_matcher_object(node);
	}
	else if (strcmp(kind, "Single") == 0)
	{
		char	   *k = ff_jsonb_get_string(node, "waitpoint_key");

		if (k == NULL)
			ff_susp_invalid("a Single node needs a waitpoint_key");
		cond->keys = lappend(cond->keys, k);
		validate_matcher_object(node);
	}
	else if (strcmp(kind, "NeverBySignal") != 0)
		ff_susp_invalid(psprintf("unknown composite node kind \"%s\"", kind));
}

void
ff_condition_parse(Jsonb *json, bool has_timeout, Condition *cond)
{
	JsonbContainer *root = &json->root;
	char	   *ctype;
	JsonbValue	buf,
			   *v;

	memset(cond, 0, sizeof(*cond));
	if (!JB_ROOT_IS_OBJECT(json))
		ff_susp_invalid("resume_condition must be a JSON object");
	ctype = ff_jsonb_get_string(root, "condition_type");
	v = ff_jsonb_get(root, "composite", &buf);
	cond->composite = (v != NULL && v->type == jbvBool && v->val.boolean) ||
		(ctype != NULL && strcmp(ctype, "composite") == 0);
	if (cond->composite)
	{
		JsonbContainer *tree = ff_jsonb_get_object(root, "tree");
		char	   *kind;
		double		ver;

		if (key_present(root, "v") && (!ff_jsonb_get_number(root, "v", &ver) || ver != 1))
			ff_susp_invalid("composite version v must be 1");
		if (tree == NULL)
			ff_susp_invalid("a composite condition needs a tree object");
		kind = ff_jsonb_get_string(tree, "kind");
		if (kind == NULL || (strcmp(kind, "AllOf") != 0 && strcmp(kind, "Count") != 0))
			ff_susp_invalid("the composite root must be AllOf or Count");
		validate_node(tree, 1, cond);
		v = ff_jsonb_get(root, "tree", &buf);
		cond->tree = JsonbValueToJsonb(v);
		return;
	}
	else
	{
		JsonbContainer *names = get_array(root, "required_signal_names");
		int			n = array_len(names),
					i;
		double		min = 1;

		if (names == NULL && key_present(root, "required_signal_names"))
			ff_susp_invalid("required_signal_names must be an array of strings");
		cond->match_mode = ff_jsonb_get_string(root, "signal_match_mode");
		if (cond->match_mode == NULL)
		{
			if (key_present(root, "signal_match_mode"))
				ff_susp_invalid("signal_match_mode must be a string");
			cond->match_mode = "any";
		}
		if (key_present(root, "minimum_signal_count") &&
			(!ff_jsonb_get_number(root, "minimum_signal_count", &min) || min != floor(min) ||
			 min < 1 || min > 1000000))
			ff_susp_invalid("minimum_signal_count must be a positive integer");
		cond->min_count = (int64) min;
		if (n <= 0)
		{
			cond->nnames = 1;
			cond->names = palloc(sizeof(char *));
			cond->names[0] = "";
		}
		else
		{
			if (n > 1000)
				ff_susp_invalid("more than 1000 required_signal_names");
			cond->nnames = n;
			cond->names = palloc(n * sizeof(char *));
			for (i = 0; i < n; i++)
			{
				cond->names[i] = array_string(names, i);
				if (cond->names[i] == NULL)
					ff_susp_invalid("required_signal_names must be an array of strings");
				if (cond->names[i][0] == '\0')
					ff_susp_invalid("resume_condition: empty signal name");
				ff_check_signal_text(cond->names[i], "signal name");
			}
			if (n == 1 && strcmp(cond->names[0], "__timeout_only__") == 0 && !has_timeout)
				ff_susp_invalid("timeout_only_without_deadline");
		}
		cond->single_key = ff_jsonb_get_string(root, "waitpoint_key");
	}
}

/* Whether a composite condition references this waitpoint key. */
bool
ff_condition_references(const Condition *cond, const char *key)
{
	ListCell   *lc;

	foreach(lc, cond->keys)
		if (strcmp((char *) lfirst(lc), key) == 0)
		return true;
	return false;
}

/* A fresh condition record from the parsed condition. */
void
ff_condition_init(Waitpoint *w, const Condition *cond)
{
	int			i;

	w->cond_kind = cond->composite ? "composite" : "matcher";
	w->match_mode = cond->composite ? "composite" : cond->match_mode;
	w->min_count = cond->composite ? 1 : cond->min_count;
	w->nmatchers = cond->composite ? 0 : cond->nnames;
	w->names = palloc(Max(w->nmatchers, 1) * sizeof(char *));
	w->sig_ids = palloc0(Max(w->nmatchers, 1) * sizeof(pg_uuid_t));
	w->sig_set = palloc0(Max(w->nmatchers, 1) * sizeof(bool));
	for (i = 0; i < w->nmatchers; i++)
		w->names[i] = cond->names[i];
	w->satisfied_count = 0;
	w->cond_closed = false;
}

/* ---- evaluation (behaviour/suspension §3.2, §3.3.2) ---- */

/* Matcher form: the first unsatisfied matcher taking the name, at most one. */
static const char *
matcher_eval(Waitpoint *w, const Signal *s, bool *satisfied)
{
	int			i;
	int64		need;

	*satisfied = false;
	for (i = 0; i < w->nmatchers; i++)
	{
		if (w->sig_set[i])
			continue;
		if (w->names[i][0] == '\0' || strcmp(w->names[i], s->name) == 0)
			break;
	}
	if (i == w->nmatchers)
		return "no_op";
	w->sig_set[i] = true;
	w->sig_ids[i] = s->id;
	w->satisfied_count++;
	need = strcmp(w->match_mode, "all") == 0 ? w->nmatchers : w->min_count;
	*satisfied = w->satisfied_count >= need;
	return *satisfied ? "resume_condition_satisfied" : "appended_to_waitpoint";
}

/* Composite: the tokens the signal earns at each candidate node. */
static void
collect_tokens(JsonbContainer *node, const char *path, const Waitpoint *w,
			   const Signal *s, int *candidates, List **tokens)
{
	char	   *kind = ff_jsonb_get_string(node, "kind");

	if (kind == NULL)
		return;
	if (strcmp(kind, "AllOf") == 0)
	{
		JsonbContainer *members = get_array(node, "members");
		int			n = array_len(members),
					i;

		for (i = 0; i < n; i++)
		{
			JsonbContainer *m = array_object(members, i);

			if (m)
				collect_tokens(m, child_path(path, i), w, s, candidates, tokens);
		}
	}
	else if (strcmp(kind, "Single") == 0)
	{
		char	   *k = ff_jsonb_get_string(node, "waitpoint_key");

		if (k == NULL || strcmp(k, w->key) != 0)
			return;
		(*candidates)++;
		if (matcher_accepts(node, s->name))
			*tokens = lappend(*tokens, psprintf("%s|leaf", path));
	}
	else if (strcmp(kind, "Count") == 0)
	{
		JsonbContainer *wps = get_array(node, "waitpoints");
		int			n = array_len(wps),
					i;
		bool		listed = false;
		char	   *ck;

		for (i = 0; i < n && !listed; i++)
		{
			char	   *k = array_string(wps, i);

			listed = (k != NULL && strcmp(k, w->key) == 0);
		}
		if (!listed)
			return;
		(*candidates)++;
		if (!matcher_accepts(node, s->name))
			return;
		ck = ff_jsonb_get_string(node, "count_kind");
		if (ck != NULL && strcmp(ck, "DistinctSignals") == 0)
			*tokens = lappend(*tokens, psprintf("%s|sig:%s", path, s->id_text));
		else if (ck != NULL && strcmp(ck, "DistinctSources") == 0)
			*tokens = lappend(*tokens, psprintf("%s|src:%s:%s", path, s->source_type,
												s->source_identity));
		else
			*tokens = lappend(*tokens, psprintf("%s|wp:%s", path, w->id_text));
	}
}

static int
cmp_token(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The first of the sorted tokens >= key (ntoks when none). */
static int
tokens_lower_bound(char **toks, int ntoks, const char *key)
{
	int			lo = 0,
				hi = ntoks;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (strcmp(toks[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Whether a node is satisfied by the suspension's tokens (per-node scope).
 * toks is sorted (strcmp): a node's tokens share the prefix "<path>|", so
 * each node looks only at its own, and a signal costs about the size of
 * the tree, not the tree times the tokens.
 */
static bool
node_satisfied(JsonbContainer *node, const char *path, char **toks, int ntoks)
{
	char	   *kind = ff_jsonb_get_string(node, "kind");
	int			i;

	CHECK_FOR_INTERRUPTS();
	if (kind == NULL)
		return false;
	if (strcmp(kind, "AllOf") == 0)
	{
		JsonbContainer *members = get_array(node, "members");
		int			n = array_len(members);

		for (i = 0; i < n; i++)
		{
			JsonbContainer *m = array_object(members, i);

			if (m == NULL || !node_satisfied(m, child_path(path, i), toks, ntoks))
				return false;
		}
		return n > 0;
	}
	if (strcmp(kind, "Single") == 0)
	{
		char	   *leaf = psprintf("%s|leaf", path);

		i = tokens_lower_bound(toks, ntoks, leaf);
		return i < ntoks && strcmp(toks[i], leaf) == 0;
	}
	if (strcmp(kind, "Count") == 0)
	{
		char	   *prefix = psprintf("%s|", path);
		size_t		plen = strlen(prefix);
		double		need = 1;
		int			have = 0;

		(void) ff_jsonb_get_number(node, "n", &need);
		for (i = tokens_lower_bound(toks, ntoks, prefix);
			 i < ntoks && strncmp(toks[i], prefix, plen) == 0; i++)
			if (strchr(toks[i] + plen, '|') == NULL && strcmp(toks[i] + plen, "leaf") != 0)
				have++;
		return have >= need;
	}
	return false;					/* NeverBySignal */
}

static FFPlan plan_token_add = {
	"INSERT INTO ff.suspension_token (partition, execution_id, token, signal_id) "
	"SELECT $1, $2, t, $4 FROM pg_catalog.unnest($3::text[]) t ON CONFLICT DO NOTHING",
	4, {INT2OID, UUIDOID, TEXTARRAYOID, UUIDOID}
};
static FFPlan plan_tokens = {
	"SELECT token FROM ff.suspension_token WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

static const char *
composite_eval(ExecCore *c, Waitpoint *w, Jsonb *tree, const Signal *s, bool *satisfied)
{
	List	   *tokens = NIL;
	int			candidates = 0;
	Datum		v[4];
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0,
				ntoks;
	char	  **toks;

	*satisfied = false;
	collect_tokens(&tree->root, "", w, s, &candidates, &tokens);
	if (candidates == 0)
		return "signal_ignored_not_in_condition";
	if (tokens == NIL)
		return "signal_ignored_matcher_failed";
	elems = palloc(list_length(tokens) * sizeof(Datum));
	foreach(lc, tokens)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
	v[3] = UUIDPGetDatum(&s->id);
	if (ff_plan_exec(&plan_token_add, v, NULL, 0) == 0)
		return "appended_to_waitpoint_duplicate";
	ntoks = (int) ff_plan_exec(&plan_tokens, v, NULL, 0);
	toks = palloc(Max(ntoks, 1) * sizeof(char *));
	for (i = 0; i < ntoks; i++)
		toks[i] = ff_col_text(i, 1);
	qsort(toks, ntoks, sizeof(char *), cmp_token);
	*satisfied = node_satisfied(&tree->root, "", toks, ntoks);
	return *satisfied ? "resume_condition_satisfied" : "appended_to_waitpoint";
}

/*
 * ff_condition_eval
 *		Evaluate one signal against a waitpoint's condition; returns the
 *		observed effect.  Matcher progress is left in *w for the caller to
 *		store; composite progress is written to ff.suspension_token.
 */
const char *
ff_condition_eval(ExecCore *c, Waitpoint *w, Jsonb *tree, const Signal *s, bool *satisfied)
{
	if (strcmp(w->cond_kind, "composite") == 0)
		return composite_eval(c, w, tree, s, satisfied);
	return matcher_eval(w, s, satisfied);
}

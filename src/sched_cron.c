/*-------------------------------------------------------------------------
 *
 * sched_cron.c
 *	  Cron expressions of recurring schedules: the parser and the next
 *	  fire time in an IANA time zone.
 *
 *	  Grammar: five fields (minute hour day-of-month month day-of-week) or
 *	  six with a leading seconds field; each field a comma list of `*`,
 *	  `?` (= `*`), a value, a range `a-b`, each with an optional `/step`
 *	  (`a/step` runs from a to the field's end).  Months take jan..dec,
 *	  days of the week sun..sat (0 and 7 are Sunday), case-insensitive.
 *	  Aliases: @yearly @annually @monthly @weekly @daily @midnight @hourly.
 *	  Day rule (Vixie cron): when both day fields are restricted (do not
 *	  start with `*` or `?`), a day matches if EITHER matches; otherwise
 *	  both must (the unrestricted one matches every day).
 *
 *	  Time zones (PostgreSQL's tz machinery, pg_tzset): matching is on the
 *	  zone's wall clock.  Decisions: a wall time skipped by a spring-forward
 *	  gap fires once, at the first instant after the gap (several skipped
 *	  slots of one gap coalesce into that one firing); a wall time repeated
 *	  by a fall-back fires once, at its first occurrence.
 *	  The search looks at most FF_CRON_HORIZON_YEARS ahead (enough for
 *	  29 February across a non-leap century year).
 *
 * IDENTIFICATION
 *	  src/sched_cron.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"

#include "core_clock.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_cron_next_fire_sql);
PG_FUNCTION_INFO_V1(ff_cron_check_sql);
PG_FUNCTION_INFO_V1(ff_cron_count_sql);
PG_FUNCTION_INFO_V1(ff_cron_last_sql);
PG_FUNCTION_INFO_V1(ff_policy_problem_sql);

#define FF_CRON_HORIZON_YEARS 9
/* engine times a schedule accepts: 1970 .. 9990 (the horizon stays in range) */
#define FF_CRON_MAX_MS INT64CONST(253086000000000)

typedef struct CronSpec
{
	uint64		sec;
	uint64		min;
	uint32		hour;
	uint32		dom;			/* bits 1..31 */
	uint32		mon;			/* bits 1..12 */
	uint32		dow;			/* bits 0..6 */
	bool		dom_star;
	bool		dow_star;
} CronSpec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
"aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

#define CRON_ERROR(...) \
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
					errmsg("invalid cron expression \"%s\": " __VA_ARGS__), \
					errhint("Five fields (minute hour day-of-month month day-of-week), an optional leading seconds field, or @yearly, @monthly, @weekly, @daily, @hourly.")))

/* A value of a field: a number or (months, days of the week) a name. */
static int
parse_value(const char *expr, const char **p, int lo, int hi, const char *const *names,
			const char *field)
{
	const char *s = *p;
	int			v = 0;

	if (isdigit((unsigned char) *s))
	{
		int			digits = 0;

		while (isdigit((unsigned char) *s))
		{
			if (++digits > 4)
				CRON_ERROR("a %s value is too long", expr, field);
			v = v * 10 + (*s++ - '0');
		}
	}
	else if (names != NULL && isalpha((unsigned char) *s))
	{
		int			i;

		for (i = 0; names[i] != NULL; i++)
			if (pg_strncasecmp(s, names[i], 3) == 0 && !isalpha((unsigned char) s[3]))
				break;
		if (names[i] == NULL)
			CRON_ERROR("unknown %s name", expr, field);
		v = i + (names == month_names ? 1 : 0);
		s += 3;
	}
	else
		CRON_ERROR("a %s value expected", expr, field);
	if (v < lo || v > hi)
		CRON_ERROR("%s value %d is outside %d-%d", expr, field, v, lo, hi);
	*p = s;
	return v;
}

/* One field (a comma list) into its bit set; *star when it starts with * or ?. */
static uint64
parse_field(const char *expr, const char *f, int lo, int hi, const char *const *names,
			const char *field, bool *star)
{
	uint64		bits = 0;
	const char *p = f;

	if (star)
		*star = (*f == '*' || *f == '?');
	for (;;)
	{
		int			a,
					b,
					step = 1,
					v;

		if (*p == '*' || *p == '?')
		{
			a = lo;
			b = hi;
			p++;
		}
		else
		{
			a = parse_value(expr, &p, lo, hi, names, field);
			b = a;
			if (*p == '-')
			{
				p++;
				b = parse_value(expr, &p, lo, hi, names, field);
				if (b < a)
					CRON_ERROR("%s range %d-%d runs backwards", expr, field, a, b);
			}
			else if (*p == '/')
				b = hi;
		}
		if (*p == '/')
		{
			p++;
			if (!isdigit((unsigned char) *p))
				CRON_ERROR("a %s step must be a positive number", expr, field);
			step = parse_value(expr, &p, 0, 9999, NULL, field);
			if (step <= 0 || step > hi - lo + 1)
				CRON_ERROR("%s step %d is outside 1-%d", expr, field, step, hi - lo + 1);
		}
		for (v = a; v <= b; v += step)
			bits |= UINT64CONST(1) << v;
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p != '\0')
			CRON_ERROR("unexpected \"%c\" in the %s field", expr, *p, field);
		return bits;
	}
}

/* Parses expr into spec; raises 22023 when it is not a valid expression. */
static void
cron_parse(const char *expr, CronSpec *spec)
{
	const char *e = expr;
	char	   *copy;
	char	   *fields[7];
	int			n = 0;
	char	   *tok,
			   *save;
	uint64		dow;

	if (strlen(expr) > 1024)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a cron expression is at most 1024 bytes")));
	while (isspace((unsigned char) *e))
		e++;
	if (*e == '@')
	{
		if (pg_strcasecmp(e, "@yearly") == 0 || pg_strcasecmp(e, "@annually") == 0)
			e = "0 0 1 1 *";
		else if (pg_strcasecmp(e, "@monthly") == 0)
			e = "0 0 1 * *";
		else if (pg_strcasecmp(e, "@weekly") == 0)
			e = "0 0 * * 0";
		else if (pg_strcasecmp(e, "@daily") == 0 || pg_strcasecmp(e, "@midnight") == 0)
			e = "0 0 * * *";
		else if (pg_strcasecmp(e, "@hourly") == 0)
			e = "0 * * * *";
		else
			CRON_ERROR("unknown alias", expr);
	}
	copy = pstrdup(e);
	for (tok = strtok_r(copy, " \t\n\r", &save); tok != NULL; tok = strtok_r(NULL, " \t\n\r", &save))
	{
		if (n == 6)
			CRON_ERROR("more than six fields", expr);
		fields[n++] = tok;
	}
	if (n < 5)
		CRON_ERROR("five or six fields expected, got %d", expr, n);
	if (n == 6)
		spec->sec = parse_field(expr, fields[0], 0, 59, NULL, "second", NULL);
	else
		spec->sec = UINT64CONST(1);
	spec->min = parse_field(expr, fields[n - 5], 0, 59, NULL, "minute", NULL);
	spec->hour = (uint32) parse_field(expr, fields[n - 4], 0, 23, NULL, "hour", NULL);
	spec->dom = (uint32) parse_field(expr, fields[n - 3], 1, 31, NULL, "day-of-month", &spec->dom_star);
	spec->mon = (uint32) parse_field(expr, fields[n - 2], 1, 12, month_names, "month", NULL);
	dow = parse_field(expr, fields[n - 1], 0, 7, dow_names, "day-of-week", &spec->dow_star);
	if (dow & (UINT64CONST(1) << 7))
		dow |= 1;				/* 7 is Sunday too */
	spec->dow = (uint32) (dow & 0x7F);
}

/* The zone by name; 22023 when PostgreSQL does not know it. */
static pg_tz *
zone_by_name(const char *name)
{
	pg_tz	   *tz = NULL;

	if (name != NULL && name[0] != '\0' && strlen(name) <= 255)
		tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", name ? name : ""),
				 errhint("Name an IANA time zone, e.g. UTC or Europe/Paris (see pg_timezone_names).")));
	return tz;
}

/* ---- civil calendar on "local seconds" (wall time as if it were UTC) ---- */

static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64 z, int64 *y, int *m, int *d)
{
	int64		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64 y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

static bool
day_matches(const CronSpec *s, int64 days, int d)
{
	int			wd = (int) (((days + 4) % 7 + 7) % 7);	/* 1970-01-01 was a Thursday */
	bool		dm = (s->dom >> d) & 1;
	bool		wm = (s->dow >> wd) & 1;

	if (!s->dom_star && !s->dow_star)
		return dm || wm;
	return dm && wm;
}

/*
 * next_wall
 *		The first matching wall time >= from (local seconds), or false
 *		beyond the horizon.  Each step skips the whole unit that fails.
 */
static bool
next_wall(const CronSpec *s, int64 from, int64 *out)
{
	int64		days = from >= 0 ? from / 86400 : (from - 86399) / 86400;
	int64		rem = from - days * 86400;
	int64		y,
				limit;
	int			m,
				d,
				H = (int) (rem / 3600),
				M = (int) (rem % 3600 / 60),
				S = (int) (rem % 60);

	civil_from_days(days, &y, &m, &d);
	limit = y + FF_CRON_HORIZON_YEARS;
	for (;;)
	{
		/* normalise after an increment */
		if (S > 59)
			S = 0, M++;
		if (M > 59)
			M = 0, H++;
		if (H > 23)
			H = 0, d++;
		if (d > days_in_month(y, m))
			d = 1, m++;
		if (m > 12)
			m = 1, y++;
		if (y > limit)
			return false;
		if (!((s->mon >> m) & 1))
		{
			m++, d = 1, H = M = S = 0;
			continue;
		}
		if (!day_matches(s, days_from_civil(y, m, d), d))
		{
			d++, H = M = S = 0;
			continue;
		}
		if (!((s->hour >> H) & 1))
		{
			H++, M = S = 0;
			continue;
		}
		if (!((s->min >> M) & 1))
		{
			M++, S = 0;
			continue;
		}
		if (!((s->sec >> S) & 1))
		{
			S++;
			continue;
		}
		*out = days_from_civil(y, m, d) * 86400 + H * 3600 + M * 60 + S;
		return true;
	}
}

/* The zone's UTC offset (seconds east) at instant t (Unix seconds). */
static int64
zone_offset(pg_tz *tz, int64 t)
{
	pg_time_t	pt = (pg_time_t) t;
	struct pg_tm *tm = pg_localtime(&pt, tz);

	return tm ? (int64) tm->tm_gmtoff : 0;
}

/*
 * resolve_wall
 *		The instant of wall time w: its first occurrence when a fall-back
 *		repeats it, the first instant after the gap when a spring-forward
 *		skips it.
 */
static int64
resolve_wall(pg_tz *tz, int64 w)
{
	int64		oa = zone_offset(tz, w - 86400),
				ob = zone_offset(tz, w + 86400);
	int64		s1 = w - oa,
				s2 = w - ob;
	bool		v1 = s1 + zone_offset(tz, s1) == w,
				v2 = s2 + zone_offset(tz, s2) == w;
	int64		lo,
				hi;

	if (v1 && v2)
		return Min(s1, s2);
	if (v1)
		return s1;
	if (v2)
		return s2;
	if (s1 == s2)
		return s1;
	/* a gap: the first instant whose wall time is past w */
	lo = Min(s1, s2);
	hi = Max(s1, s2);
	while (hi - lo > 1)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (mid + zone_offset(tz, mid) >= w)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* The first slot strictly after after_ms (ms), or -1 beyond the horizon. */
static int64
cron_next(const CronSpec *s, pg_tz *tz, int64 after_ms)
{
	int64		a = after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000;
	int64		w = a + zone_offset(tz, a);

	for (;;)
	{
		int64		t;

		CHECK_FOR_INTERRUPTS();
		if (!next_wall(s, w + 1, &w))
			return -1;
		t = resolve_wall(tz, w);
		/* a wall time whose first occurrence is already past */
		if (t * 1000 > after_ms)
			return t * 1000;
	}
}

static void
check_ms(int64 ms, const char *what)
{
	if (ms < 0 || ms > FF_CRON_MAX_MS)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s " INT64_FORMAT " is outside the range schedules accept (1970 to 9990)",
						what, ms)));
}

/* The parsed arguments (expression, zone) of the SQL functions below. */
static void
cron_args(FunctionCallInfo fcinfo, CronSpec *spec, pg_tz **tz)
{
	char	   *expr = ff_arg_text(fcinfo, 0, "expression");
	char	   *zone = PG_ARGISNULL(1) ? "UTC" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	cron_parse(expr, spec);
	*tz = zone_by_name(zone);
}

/*
 * ff.cron_next_fire(expression, time_zone DEFAULT 'UTC', after_ms DEFAULT
 *		now) -> bigint: the first slot after after_ms, NULL when none within
 *		the horizon.
 */
Datum
ff_cron_next_fire_sql(PG_FUNCTION_ARGS)
{
	CronSpec	spec;
	pg_tz	   *tz;
	int64		after = PG_ARGISNULL(2) ? ff_now_ms() : PG_GETARG_INT64(2);
	int64		t;

	cron_args(fcinfo, &spec, &tz);
	check_ms(after, "after_ms");
	t = cron_next(&spec, tz, after);
	if (t < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(t);
}

/*
 * ff._cron_check(expression, time_zone) -> text: the zone's canonical
 *		name; raises 22023 for a bad expression or zone.
 */
Datum
ff_cron_check_sql(PG_FUNCTION_ARGS)
{
	CronSpec	spec;
	pg_tz	   *tz;

	cron_args(fcinfo, &spec, &tz);
	PG_RETURN_TEXT_P(cstring_to_text(pg_get_timezone_name(tz)));
}

/*
 * ff._cron_count(expression, time_zone, after_ms, before_ms, cap) ->
 *		bigint: how many slots lie strictly between, counting at most cap.
 */
Datum
ff_cron_count_sql(PG_FUNCTION_ARGS)
{
	CronSpec	spec;
	pg_tz	   *tz;
	int64		t = PG_GETARG_INT64(2),
				before = PG_GETARG_INT64(3),
				n = 0;
	int32		cap = PG_GETARG_INT32(4);

	cron_args(fcinfo, &spec, &tz);
	check_ms(t, "after_ms");
	while (n < cap && (t = cron_next(&spec, tz, t)) >= 0 && t < before)
		n++;
	PG_RETURN_INT64(n);
}

/*
 * ff._cron_last(expression, time_zone, after_ms, upto_ms) -> bigint: the
 *		latest slot in (after_ms, upto_ms], NULL when none.  Bisection on
 *		x -> next(x) <= upto, which holds at after_ms and fails at upto.
 */
Datum
ff_cron_last_sql(PG_FUNCTION_ARGS)
{
	CronSpec	spec;
	pg_tz	   *tz;
	int64		lo = PG_GETARG_INT64(2),
				hi = PG_GETARG_INT64(3),
				t;

	cron_args(fcinfo, &spec, &tz);
	check_ms(lo, "after_ms");
	check_ms(hi, "upto_ms");
	t = cron_next(&spec, tz, lo);
	if (t < 0 || t > hi)
		PG_RETURN_NULL();
	while (hi - lo > 1)
	{
		int64		mid = lo + (hi - lo) / 2,
					n = cron_next(&spec, tz, mid);

		if (n >= 0 && n <= PG_GETARG_INT64(3))
			lo = mid;
		else
			hi = mid;
	}
	PG_RETURN_INT64(cron_next(&spec, tz, lo));
}

/*
 * ff._policy_problem(policy_json) -> text: NULL for a policy that
 *		create_execution accepts, else its error code and detail, so a
 *		schedule's template is checked when it is written.
 */
Datum
ff_policy_problem_sql(PG_FUNCTION_ARGS)
{
	char	   *ptext = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *policy;
	CapSet		caps;
	const char *detail = NULL;
	const char *err;

	ff_check_json_text(ptext, "policy_json");
	err = ff_validate_policy(ptext, &policy, &caps, &detail);
	if (err == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s%s%s", err, detail ? ": " : "", detail ? detail : "")));
}

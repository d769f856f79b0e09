/*-------------------------------------------------------------------------
 *
 * personal_data.c
 *	  Module entry point: settings, the label provider, hook installation.
 *
 * Nothing else lives here; each concern has its own file (label.c,
 * policy_cache.c, ...).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/seclabel.h"
#include "fmgr.h"
#include "miscadmin.h"
#include <limits.h>

#include "utils/guc.h"
#include "utils/plancache.h"

#include "personal_data.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* personal_data.purpose: why this session processes personal data */
char	   *pd_purpose = NULL;

/* personal_data.enforce: superusers may switch enforcement off */
bool		pd_enforce = true;

/* personal_data.minor_age: below this age a guardian must consent */
int			pd_minor_age = 16;

/* personal_data.record_provisions: record what third parties receive */
bool		pd_record_provisions = false;

/* personal_data.request_id: the request a session's changes answer */
char	   *pd_request_id = NULL;

/* personal_data.response_period: when a data subject's request falls due */
int			pd_response_period_s = 30 * 86400;

/*
 * True when the library was loaded by shared_preload_libraries.  Enforcement
 * must see every query of every backend from its first statement, which only
 * preloading guarantees; loaded any other way (CREATE EXTENSION loads it to
 * check the C functions) the module refuses to work rather than enforce
 * half of the time.
 */
bool		pd_preloaded = false;

/*
 * A purpose is an identifier-like name; unknown purposes are accepted here
 * (checking the catalog is not possible when ALTER ROLE ... SET values are
 * applied at login) and simply match nothing.
 */
static bool
check_purpose(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!pd_valid_purpose_name(*newval))
	{
		GUC_check_errdetail("Purpose names start with a lower-case letter and contain only lower-case letters, digits and underscores, at most %d characters.",
							PD_MAX_NAME_LEN);
		return false;
	}
	return true;
}

/*
 * Most plans of registered tables are the same whatever the purpose: the
 * columns a statement uses are checked against the purpose each time it
 * runs (pd_executor_check_perms).  Those whose shape depends on it -- masked
 * columns, a third party's row filter, see pd_planner -- must not be reused
 * under another purpose.  An application that states the purpose of each
 * transaction keeps its prepared plans unless it uses such tables.  The
 * cached column verdicts are recomputed either way.
 */
static void
assign_purpose(const char *newval, void *extra)
{
	if (pd_purpose == NULL || strcmp(pd_purpose, newval) != 0)
	{
		if (pd_purpose_dependent_plans)
		{
			ResetPlanCache();
			pd_purpose_dependent_plans = false;
		}
		pd_policy_changed_locally();
	}
}

static void
assign_enforce(bool newval, void *extra)
{
	if (newval != pd_enforce)
	{
		ResetPlanCache();
		pd_policy_changed_locally();
		pd_audit_settings_touched = true;
	}
}

static void
assign_audit(int newval, void *extra)
{
	if (newval != pd_audit_level)
	{
		/* recipients' plans depend on it (see pd_planner) */
		ResetPlanCache();
		pd_audit_settings_touched = true;
	}
}

/* empty, or the id of a request: digits only */
static bool
check_request_id(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("A request id is the number open_request() returned.");
		return false;
	}
	return true;
}

static void
assign_request_id(const char *newval, void *extra)
{
	/* logged at the next statement boundary (audit.c) */
	pd_audit_settings_touched = true;
}

/* ISO 3166-1 alpha-2, upper case, or empty (unknown) */
static bool
check_home_country(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strlen(v) == 2 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z')
		return true;
	GUC_check_errdetail("The home country is an ISO 3166-1 alpha-2 code in upper case, such as JP.");
	return false;
}

static const struct config_enum_entry audit_options[] = {
	{"off", PD_AUDIT_OFF, false},
	{"denied", PD_AUDIT_DENIED, false},
	{"all", PD_AUDIT_ALL, false},
	{NULL, 0, false}
};

static const struct config_enum_entry audit_queue_full_options[] = {
	{"block", PD_AUDIT_QUEUE_FULL_BLOCK, false},
	{"error", PD_AUDIT_QUEUE_FULL_ERROR, false},
	{NULL, 0, false}
};

static void
assign_minor_age(int newval, void *extra)
{
	if (newval != pd_minor_age)
		ResetPlanCache();
}

static void
assign_enforce_related(bool newval, void *extra)
{
	if (newval != pd_record_provisions)
		ResetPlanCache();
}

static void
define_settings(void)
{
	DefineCustomStringVariable("personal_data.purpose",
							   "Purpose for which this session processes personal data.",
							   "Empty means no purpose: labelled columns cannot be used.",
							   &pd_purpose,
							   "",
							   PGC_USERSET,
							   0,
							   check_purpose, assign_purpose, NULL);

	DefineCustomBoolVariable("personal_data.enforce",
							 "Enforces purpose limitation and disclosure rules.",
							 "Only superusers may switch it off.",
							 &pd_enforce,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, assign_enforce, NULL);

	DefineCustomIntVariable("personal_data.minor_age",
							"Age below which a guardian's consent is required.",
							NULL,
							&pd_minor_age,
							16, 0, 150,
							PGC_SUSET,
							0,
							NULL, assign_minor_age, NULL);

	DefineCustomBoolVariable("personal_data.record_provisions",
							 "Records which subjects' rows each statement of a third party received.",
							 "personal_data.last_provisions() shows the last statement's. Recording runs in the leader only, so it keeps third parties' scans from running in parallel.",
							 &pd_record_provisions,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, assign_enforce_related, NULL);

	DefineCustomEnumVariable("personal_data.audit",
							 "What the access log records: off, denied (refusals only) or all.",
							 "Provisions to recipients are recorded unless off. Switching it is itself logged.",
							 &pd_audit_level,
							 PD_AUDIT_ALL,
							 audit_options,
							 PGC_SUSET,
							 0,
							 NULL, assign_audit, NULL);

	DefineCustomBoolVariable("personal_data.audit_sync",
							 "Makes each statement wait until its audit entries are committed.",
							 NULL,
							 &pd_audit_sync,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("personal_data.audit_queue_full",
							 "What a statement does when the audit queue is full: block (wait for the writer) or error (fail before running).",
							 NULL,
							 &pd_audit_queue_full,
							 PD_AUDIT_QUEUE_FULL_BLOCK,
							 audit_queue_full_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.audit_flush_interval",
							"Longest time audit entries wait in shared memory before the writer commits them.",
							"A crash loses at most the entries of this interval (none with personal_data.audit_sync).",
							&pd_audit_flush_interval_ms,
							200, 10, 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.audit_retention",
							"Age after which audit entries are removed (0: kept forever).",
							"A checkpoint keeps the hash chain verifiable.",
							&pd_audit_retention_s,
							0, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.purge_naptime",
							"Time between runs of the purge worker.",
							NULL,
							&pd_purge_naptime_s,
							60, 1, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.purge_batch_size",
							"Rows the purge worker examines per transaction (about).",
							NULL,
							&pd_purge_batch_size,
							10000, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.purge_delay",
							"Rest of the purge worker after each batch that deleted or anonymized rows (its throttle).",
							"It rests this long, or twice as long as the batch took if that is longer; 0: no rest.",
							&pd_purge_delay_ms,
							10, 0, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.purge_statement_timeout",
							"Longest time a statement of the purge worker may run.",
							"The table's code (triggers, constraints) runs in the purge's statements: one that "
							"waits or loops longer is canceled, and the table is purged next round.  A database "
							"is served at most ten times this long per round.",
							&pd_purge_statement_timeout_ms,
							60000, 100, INT_MAX / 20,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personal_data.response_period",
							"Time within which a data subject's request is to be answered.",
							"open_request() sets a request's due date this long after it was received.",
							&pd_response_period_s,
							30 * 86400, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("personal_data.request_id",
							   "The data subject's request the session's changes answer.",
							   "Set while correcting or adding data on a request: the access log records it.",
							   &pd_request_id,
							   "",
							   PGC_USERSET,
							   0,
							   check_request_id, assign_request_id, NULL);

	DefineCustomStringVariable("personal_data.home_country",
							   "ISO 3166-1 alpha-2 code of the controller's country.",
							   "Provisions to recipients in another country are recorded as cross-border.",
							   &pd_home_country,
							   "",
							   PGC_SUSET,
							   0,
							   check_home_country, NULL, NULL);

}

void
_PG_init(void)
{
	define_settings();

	if (process_shared_preload_libraries_in_progress)
	{
		/* shared memory is sized at startup: only a preloaded library can ask */
		DefineCustomIntVariable("personal_data.audit_queue_size",
								"Shared memory for audit entries waiting to be written, per database.",
								NULL,
								&pd_audit_queue_size_kb,
								1024, 64, 1024 * 1024,
								PGC_POSTMASTER,
								GUC_UNIT_KB,
								NULL, NULL, NULL);
	}
	/* after every setting is defined: reserving drops unknown placeholders */
	MarkGUCPrefixReserved("personal_data");

	if (!process_shared_preload_libraries_in_progress)
		return;
	pd_preloaded = true;

	/*
	 * The provider is needed even in binary upgrade: pg_upgrade restores the
	 * labels with SECURITY LABEL, which fails for an unregistered provider.
	 */
	register_label_provider(PD_PROVIDER, pd_object_relabel);

	if (IsBinaryUpgrade)
		return;

	pd_install_ddl_guard();
	pd_install_enforcement();
	pd_install_audit();
	pd_register_purge_launcher();
}

/*
 * Every C entry point calls this first, so that an extension created in a
 * server without preloading fails loudly instead of enforcing nothing.
 */
void
pd_require_preloaded(void)
{
	if (!pd_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("personal_data must be loaded via shared_preload_libraries"),
				 errdetail("Without preloading, the privacy policy cannot be enforced on every query."),
				 errhint("Add personal_data to shared_preload_libraries in postgresql.conf and restart the server.")));
}

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
 * Plans of registered tables are built for one purpose (masked columns, row
 * filters): a new purpose, or enforcement switched, must not reuse them.
 */
static void
assign_purpose(const char *newval, void *extra)
{
	if (pd_purpose == NULL || strcmp(pd_purpose, newval) != 0)
	{
		ResetPlanCache();
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
	}
}

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

	MarkGUCPrefixReserved("personal_data");
}

void
_PG_init(void)
{
	define_settings();

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

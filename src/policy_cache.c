/*-------------------------------------------------------------------------
 *
 * policy_cache.c
 *	  Per-backend cache of the policy: table and column rules (from labels),
 *	  purposes, purpose grants and recipients (from the extension's tables).
 *
 * This is the only place that reads policy.  Enforcement asks it once per
 * relation per query, so a lookup must be a hash probe: rules are loaded on
 * first use and kept until an invalidation says they changed.
 *
 *	 - Table rules are invalidated by relcache invalidations of the table:
 *	   the label provider queues one whenever a label changes, and DDL on the
 *	   table sends its own.  A partition borrows its root's rules, and an
 *	   inheritance child without labels its nearest registered ancestor's;
 *	   a label change invalidates every inheritor of the table.
 *	 - Purposes, grants and recipients are invalidated by a relcache
 *	   invalidation of their catalog table, which a statement trigger on each
 *	   of them queues (_policy_changed), and by any change to schemas (which
 *	   is how CREATE/DROP EXTENSION are noticed).
 *
 * Invalidations are transactional: other sessions see a change at their
 * first statement after it commits.  Callbacks only mark entries stale; the
 * memory is freed by the next lookup, never under a caller's feet.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_seclabel.h"
#include "catalog/pg_statistic_ext.h"
#include "utils/fmgroids.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "personal_data.h"

PG_FUNCTION_INFO_V1(pd_policy_changed);
PG_FUNCTION_INFO_V1(pd_column_access);
PG_FUNCTION_INFO_V1(pd_session_policy);
PG_FUNCTION_INFO_V1(pd_cache_stats);
PG_FUNCTION_INFO_V1(pd_require_preloaded_sql);
PG_FUNCTION_INFO_V1(pd_table_is_registered_sql);
PG_FUNCTION_INFO_V1(pd_statistics_object_is_registered_sql);

static bool cache_initialized = false;
static MemoryContext policy_cache_context = NULL;

/* table rules, keyed by relation OID; negative entries included */
static HTAB *table_rules_hash = NULL;

/* entries whose root_relid differs from relid (partitions) */
static int	borrowed_rules_count = 0;

/* purposes, grants and recipients, rebuilt together */
static bool catalog_valid = false;
static MemoryContext catalog_context = NULL;
static HTAB *purpose_hash = NULL;
static HTAB *recipient_hash = NULL;
static bool extension_installed = false;
static Oid	purposes_relid = InvalidOid;
static Oid	grants_relid = InvalidOid;
static Oid	recipients_relid = InvalidOid;
static Oid	legal_bases_relid = InvalidOid;

/*
 * The last answer of pd_lookup_recipient(), which enforcement asks for every
 * statement: role memberships and superuser status change it too.
 */
static bool recipient_memo_valid = false;
static Oid	recipient_memo_roleid = InvalidOid;
static PdRecipient *recipient_memo = NULL;

uint64		pd_policy_generation = 1;

/* counts inspected by tests through personal_data.cache_stats() */
static int64 stat_table_loads = 0;
static int64 stat_catalog_loads = 0;
static int64 stat_invalidations = 0;

/* the registered tables (pd_registered_tables), valid until any relcache invalidation */
static List *registered_relids = NIL;
static bool registered_relids_valid = false;

static void
mark_all_tables_stale(void)
{
	HASH_SEQ_STATUS status;
	PdTableRules *entry;

	hash_seq_init(&status, table_rules_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/*
 * Relcache invalidation: the relation's rules, and those borrowed from it by
 * partitions, are stale; if it is one of our catalog tables, so are the
 * purposes, grants and recipients.  InvalidOid means "everything".
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	PdTableRules *entry;

	stat_invalidations++;
	pd_policy_generation++;
	/* a table labelled or unlabelled is invalidated: the list is read again */
	registered_relids_valid = false;
	if (!OidIsValid(relid))
	{
		mark_all_tables_stale();
		catalog_valid = false;
		return;
	}
	if (relid == purposes_relid || relid == grants_relid ||
		relid == recipients_relid)
		catalog_valid = false;

	entry = hash_search(table_rules_hash, &relid, HASH_FIND, NULL);
	if (entry)
		entry->valid = false;

	if (borrowed_rules_count > 0)
	{
		HASH_SEQ_STATUS status;

		/*
		 * Any ancestor's labels may be those a borrowed entry follows (a
		 * partitioned table in between, labelled or not): which relations
		 * are ancestors cannot be looked up here, so every borrowed entry is
		 * reloaded.
		 */
		hash_seq_init(&status, table_rules_hash);
		while ((entry = hash_seq_search(&status)) != NULL)
		{
			if (entry->root_relid != entry->relid)
				entry->valid = false;
		}
	}
}

/*
 * Role memberships or attributes changed: who acts for whom may have too,
 * and with it what plans mask and filter.  (Marking plans invalid is all
 * ResetPlanCache does: safe in a callback.)
 */
static void
role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	recipient_memo_valid = false;
	pd_policy_generation++;
	ResetPlanCache();
}

/* A schema was created, dropped or renamed: the extension may have come or gone. */
static void
namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	stat_invalidations++;
	pd_policy_generation++;
	catalog_valid = false;
}

/*
 * Policy changed by another session must count from this session's next
 * statement, even inside a transaction that already holds its locks (and so
 * would not process invalidations by itself).  Reading the invalidation
 * queue costs little when it is empty; once per top-level statement suffices.
 */
static void
accept_invalidations_once_per_statement(void)
{
	static TimestampTz last_statement_start = 0;
	static LocalTransactionId last_lxid = InvalidLocalTransactionId;
	TimestampTz statement_start = GetCurrentStatementStartTimestamp();

	if (statement_start == last_statement_start && MyProc->lxid == last_lxid)
		return;
	last_statement_start = statement_start;
	last_lxid = MyProc->lxid;
	AcceptInvalidationMessages();
}

static void
cache_init(void)
{
	HASHCTL		ctl;

	if (cache_initialized)
	{
		accept_invalidations_once_per_statement();
		return;
	}

	policy_cache_context = AllocSetContextCreate(CacheMemoryContext,
												 "personal_data policy cache",
												 ALLOCSET_DEFAULT_SIZES);
	catalog_context = AllocSetContextCreate(policy_cache_context,
											"personal_data policy catalog",
											ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PdTableRules);
	ctl.hcxt = policy_cache_context;
	table_rules_hash = hash_create("personal_data table rules", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, role_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, role_callback, (Datum) 0);
	cache_initialized = true;
}

/* Resolve a label's column name in relation relid; InvalidAttrNumber if gone. */
static AttrNumber
resolve_column(Oid relid, const char *colname)
{
	AttrNumber	attnum;

	if (colname == NULL)
		return InvalidAttrNumber;
	attnum = get_attnum(relid, colname);
	return attnum > 0 ? attnum : InvalidAttrNumber;
}

/*
 * Fill entry from the labels of entry->rules_relid, resolving column names
 * in entry->relid.  Runs in the entry's own memory context.
 */
static void
load_table_rules(PdTableRules *entry)
{
	List	   *labels = pd_relation_labels(entry->rules_relid);
	PdRawLabel *table_label = NULL;
	PdTableLabel tl;
	MemoryContext oldcxt;
	ListCell   *lc;
	int			n = 0;

	stat_table_loads++;
	foreach(lc, labels)
	{
		PdRawLabel *raw = lfirst(lc);

		if (raw->subid == 0)
			table_label = raw;
	}
	if (table_label == NULL)
		return;

	entry->context = AllocSetContextCreate(policy_cache_context,
										   "personal_data table rules",
										   ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(entry->context);

	pd_parse_table_label(table_label->label, &tl);
	entry->subject_attnum = resolve_column(entry->relid, tl.subject);
	entry->collected_at_attnum = resolve_column(entry->relid, tl.collected_at);
	entry->birthdate_attnum = resolve_column(entry->relid, tl.birthdate);
	entry->department = tl.department ? pstrdup(tl.department) : NULL;
	entry->has_retention = tl.has_retention;
	entry->retention = tl.retention;
	entry->on_expiry = tl.on_expiry;

	entry->columns = palloc0(sizeof(PdColumnRule) * list_length(labels));
	foreach(lc, labels)
	{
		PdRawLabel *raw = lfirst(lc);
		PdColumnRule *rule = &entry->columns[n];
		PdColumnLabel cl;
		ListCell   *lc2;
		int			i = 0;

		if (raw->subid <= 0)
			continue;
		if (entry->rules_relid == entry->relid)
			rule->attnum = raw->subid;
		else
		{
			char	   *attname = get_attname(entry->rules_relid, raw->subid, true);

			rule->attnum = resolve_column(entry->relid, attname);
			if (rule->attnum == InvalidAttrNumber)
				continue;
		}
		pd_parse_column_label(raw->label, &cl);
		rule->on_denied = cl.on_denied;
		rule->npurposes = list_length(cl.purposes);
		rule->purposes = palloc(sizeof(char *) * rule->npurposes);
		foreach(lc2, cl.purposes)
			rule->purposes[i++] = pstrdup(lfirst(lc2));
		n++;
	}
	entry->ncolumns = n;
	entry->registered = true;

	MemoryContextSwitchTo(oldcxt);
}

/*
 * The nearest registered ancestor of an inheritance child, searching
 * parents in inheritance order, or InvalidOid.  Label changes invalidate
 * every inheritor of the labelled table, so the answer cannot go stale.
 */
static Oid
registered_inheritance_ancestor(Oid relid, int depth)
{
	Relation	inherits;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *parents = NIL;
	ListCell   *lc;
	Oid			result = InvalidOid;

	check_stack_depth();
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	inherits = table_open(InheritsRelationId, AccessShareLock);
	scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true,
							  NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		parents = lappend_oid(parents,
							  ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);

	foreach(lc, parents)
	{
		Oid			parent = lfirst_oid(lc);

		if (pd_get_label(parent, 0) != NULL)
			return parent;
	}
	foreach(lc, parents)
	{
		result = registered_inheritance_ancestor(lfirst_oid(lc), depth + 1);
		if (OidIsValid(result))
			break;
	}
	return result;
}

/*
 * The rules that govern relation relid: never NULL; check ->registered.
 * One hash probe when cached.
 */
PdTableRules *
pd_table_rules(Oid relid)
{
	PdTableRules *entry;
	bool		found;
	Oid			rules_relid = relid;
	int64		invalidations_before;

	cache_init();
	entry = hash_search(table_rules_hash, &relid, HASH_ENTER, &found);
	if (found && entry->valid)
		return entry;

	if (found)
	{
		if (entry->context)
			MemoryContextDelete(entry->context);
		if (entry->root_relid != entry->relid)
			borrowed_rules_count--;
	}
	memset(entry, 0, sizeof(*entry));
	entry->relid = relid;
	entry->rules_relid = relid;
	entry->root_relid = relid;

	/*
	 * Anything that can process invalidations (the catalog lookups below)
	 * may find this entry: keep it a stale negative entry until loaded, so
	 * that an error half-way leaves nothing half-built behind.
	 */
	invalidations_before = stat_invalidations;

	/*
	 * A partition follows the labels of the topmost registered table of its
	 * partition tree: the root's, or, under an unregistered root, those of a
	 * registered partitioned table in between, or else its own (set before
	 * it was attached): data must not leave the policy by being attached to
	 * an unregistered tree, and a tree has one policy.  The entry depends on
	 * the labels of every ancestor (see relcache_callback).
	 */
	if (get_rel_relispartition(relid))
	{
		ListCell   *ac;

		entry->root_relid = llast_oid(get_partition_ancestors(relid));
		borrowed_rules_count++;
		foreach(ac, get_partition_ancestors(relid))
		{
			/* parent first, root last: the last labelled one wins */
			if (pd_get_label(lfirst_oid(ac), 0) != NULL)
				rules_relid = lfirst_oid(ac);
		}
	}
	else if (pd_get_label(relid, 0) == NULL && has_superclass(relid))
	{
		/*
		 * An inheritance child without labels of its own holds rows of its
		 * registered ancestor's kind: querying it directly must not escape
		 * the ancestor's policy.
		 */
		Oid			ancestor = registered_inheritance_ancestor(relid, 0);

		if (OidIsValid(ancestor))
		{
			entry->root_relid = ancestor;
			borrowed_rules_count++;
			rules_relid = ancestor;
		}
	}
	entry->rules_relid = rules_relid;

	load_table_rules(entry);

	/* a concurrent change seen during the load: reload at the next lookup */
	entry->valid = (stat_invalidations == invalidations_before);
	return entry;
}

/* A column of the catalog table we read, by name (versions may add columns). */
static AttrNumber
catalog_attnum(Oid relid, const char *colname)
{
	AttrNumber	attnum = get_attnum(relid, colname);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of personal_data catalog table \"%s\" is missing",
			 colname, get_rel_name(relid));
	return attnum;
}

typedef void (*catalog_row_callback) (Relation rel, HeapTuple tuple);

/*
 * Read every row of one catalog table with the latest snapshot, so that a
 * change committed before this statement (or made earlier in this
 * transaction) is seen.
 */
static void
scan_catalog_table(Oid relid, catalog_row_callback callback)
{
	Relation	rel = table_open(relid, AccessShareLock);

	/* no new snapshot may be taken in parallel mode (a worker, or its leader) */
	Snapshot	snapshot = RegisterSnapshot(IsInParallelMode() ?
											GetCatalogSnapshot(relid) :
											GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot,
										  0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		callback(rel, tuple);
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

static char *
tuple_text(Relation rel, HeapTuple tuple, const char *colname)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, catalog_attnum(RelationGetRelid(rel), colname),
								 RelationGetDescr(rel), &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static Datum
tuple_datum(Relation rel, HeapTuple tuple, const char *colname, bool *isnull)
{
	return heap_getattr(tuple, catalog_attnum(RelationGetRelid(rel), colname),
						RelationGetDescr(rel), isnull);
}

static void
load_purpose_row(Relation rel, HeapTuple tuple)
{
	char	   *name = tuple_text(rel, tuple, "name");
	PdPurpose  *purpose;
	bool		found;
	bool		isnull;
	Datum		d;

	if (name == NULL || strlen(name) >= NAMEDATALEN)
		return;
	purpose = hash_search(purpose_hash, name, HASH_ENTER, &found);
	purpose->category = tuple_text(rel, tuple, "category");
	d = tuple_datum(rel, tuple, "disclosed", &isnull);
	purpose->disclosed = !isnull && DatumGetBool(d);
	d = tuple_datum(rel, tuple, "retention", &isnull);
	purpose->has_retention = !isnull;
	if (!isnull)
		purpose->retention = *DatumGetIntervalP(d);
	purpose->ngrantees = 0;
	purpose->grantees = NULL;
}

static void
load_grant_row(Relation rel, HeapTuple tuple)
{
	char	   *name = tuple_text(rel, tuple, "purpose");
	bool		isnull;
	Datum		role = tuple_datum(rel, tuple, "role", &isnull);
	PdPurpose  *purpose;

	if (name == NULL || isnull || strlen(name) >= NAMEDATALEN)
		return;
	purpose = hash_search(purpose_hash, name, HASH_FIND, NULL);
	if (purpose == NULL)
		return;
	if (purpose->grantees == NULL)
		purpose->grantees = palloc(sizeof(Oid) * 8);
	else if (purpose->ngrantees % 8 == 0)
		purpose->grantees = repalloc(purpose->grantees,
									 sizeof(Oid) * (purpose->ngrantees + 8));
	purpose->grantees[purpose->ngrantees++] = DatumGetObjectId(role);
}

static void
load_recipient_row(Relation rel, HeapTuple tuple)
{
	bool		isnull;
	Oid			roleid = DatumGetObjectId(tuple_datum(rel, tuple, "role", &isnull));
	char	   *kind = tuple_text(rel, tuple, "kind");
	PdRecipient *recipient;

	if (isnull || kind == NULL)
		return;
	recipient = hash_search(recipient_hash, &roleid, HASH_ENTER, NULL);
	recipient->kind = strcmp(kind, "entrustee") == 0 ?
		PD_RECIPIENT_ENTRUSTEE : PD_RECIPIENT_THIRD_PARTY;
	recipient->organization = tuple_text(rel, tuple, "organization");
	recipient->country = tuple_text(rel, tuple, "country");
}

/* (Re)build the purposes, grants and recipients if an invalidation came. */
static void
ensure_catalog_loaded(void)
{
	HASHCTL		ctl;
	Oid			namespace;
	MemoryContext oldcxt;
	int64		invalidations_before;

	cache_init();
	if (catalog_valid)
		return;

	stat_catalog_loads++;
	invalidations_before = stat_invalidations;
	recipient_memo_valid = false;
	MemoryContextReset(catalog_context);
	purpose_hash = NULL;
	recipient_hash = NULL;
	extension_installed = false;
	purposes_relid = grants_relid = recipients_relid = legal_bases_relid = InvalidOid;

	oldcxt = MemoryContextSwitchTo(catalog_context);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(PdPurpose);
	ctl.hcxt = catalog_context;
	purpose_hash = hash_create("personal_data purposes", 32, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PdRecipient);
	ctl.hcxt = catalog_context;
	recipient_hash = hash_create("personal_data recipients", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	namespace = get_namespace_oid(PD_SCHEMA, true);
	if (OidIsValid(namespace))
	{
		purposes_relid = get_relname_relid("purposes", namespace);
		grants_relid = get_relname_relid("purpose_grants", namespace);
		recipients_relid = get_relname_relid("recipients", namespace);
		legal_bases_relid = get_relname_relid("legal_bases", namespace);
	}
	if (OidIsValid(purposes_relid) && OidIsValid(grants_relid) &&
		OidIsValid(recipients_relid))
	{
		scan_catalog_table(purposes_relid, load_purpose_row);
		scan_catalog_table(grants_relid, load_grant_row);
		scan_catalog_table(recipients_relid, load_recipient_row);
		extension_installed = true;
	}

	MemoryContextSwitchTo(oldcxt);
	catalog_valid = (stat_invalidations == invalidations_before);
}

/* Is CREATE EXTENSION personal_data done in this database? */
bool
pd_extension_installed(void)
{
	ensure_catalog_loaded();
	return extension_installed;
}

/* The purpose of that name, or NULL if it is not defined. */
PdPurpose *
pd_lookup_purpose(const char *name)
{
	if (name == NULL || strlen(name) >= NAMEDATALEN)
		return NULL;
	ensure_catalog_loaded();
	return hash_search(purpose_hash, name, HASH_FIND, NULL);
}

/*
 * May roleid process data for purpose?  Grants follow role membership the
 * way privileges do (has_privs_of_role, which has its own cache).
 */
bool
pd_role_has_purpose(Oid roleid, const char *purpose_name)
{
	PdPurpose  *purpose = pd_lookup_purpose(purpose_name);
	int			i;

	if (purpose == NULL)
		return false;
	/* superusers may use every defined purpose; says so rather than by accident */
	if (superuser_arg(roleid))
		return true;
	for (i = 0; i < purpose->ngrantees; i++)
	{
		if (has_privs_of_role(roleid, purpose->grantees[i]))
			return true;
	}
	return false;
}

/*
 * The recipient roleid acts as, or NULL for an internal role.  A role with
 * the privileges of a recipient role (a member that inherits them) acts as
 * that recipient, otherwise logging in as a member would escape the
 * recipient's rules; a NOINHERIT member is itself until it SETs ROLE, just
 * as for privileges.  Among several, a third party wins over an entrustee,
 * being the more restricted.
 */
PdRecipient *
pd_lookup_recipient(Oid roleid)
{
	PdRecipient *recipient;
	PdRecipient *best = NULL;
	HASH_SEQ_STATUS status;

	/*
	 * has_privs_of_role() holds for a superuser and every role: superusers
	 * are never recipients (register_recipient() refuses them too).
	 */
	if (superuser_arg(roleid))
		return NULL;
	ensure_catalog_loaded();
	if (recipient_memo_valid && recipient_memo_roleid == roleid)
		return recipient_memo;
	recipient = hash_search(recipient_hash, &roleid, HASH_FIND, NULL);
	if (recipient)
	{
		best = recipient;
		goto done;
	}

	hash_seq_init(&status, recipient_hash);
	while ((recipient = hash_seq_search(&status)) != NULL)
	{
		if (!has_privs_of_role(roleid, recipient->roleid))
			continue;
		if (best == NULL || (best->kind == PD_RECIPIENT_ENTRUSTEE &&
							 recipient->kind == PD_RECIPIENT_THIRD_PARTY))
			best = recipient;
	}
done:
	recipient_memo_roleid = roleid;
	recipient_memo = best;
	recipient_memo_valid = true;
	return best;
}

/*
 * The recipient a session acts for: that of its role (GetOuterUserId, the
 * login or SET ROLE), or else that of its login.  A recipient that SETs ROLE
 * to a role that is no recipient -- a group role holding privileges on the
 * tables, say -- is still the recipient: its other memberships never widen
 * what it receives.  (SET ROLE to a superuser role leaves it exempt, as any
 * superuser is.)
 */
PdRecipient *
pd_session_recipient(Oid roleid)
{
	PdRecipient *recipient = pd_lookup_recipient(roleid);
	Oid			login = GetSessionUserId();

	if (recipient == NULL && login != roleid && !superuser_arg(roleid))
		recipient = pd_lookup_recipient(login);
	return recipient;
}

/* Is purpose among the column's purposes? */
bool
pd_column_allows(const PdColumnRule *rule, const char *purpose)
{
	int			i;

	if (purpose == NULL || purpose[0] == '\0')
		return false;
	for (i = 0; i < rule->npurposes; i++)
	{
		if (strcmp(rule->purposes[i], purpose) == 0)
			return true;
	}
	return false;
}

/*
 * Statement trigger on purposes, purpose_grants and recipients: tell every
 * backend (at commit) to reload them.
 */
Datum
pd_policy_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	pd_require_preloaded();
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_policy_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * The role whose grants count for roleid: the recipient role it acts for,
 * or itself.  Acting for an entrustee, a role's other memberships must not
 * widen what the entrustee was entrusted with.
 */
Oid
pd_grantee_for(Oid roleid)
{
	PdRecipient *recipient = pd_session_recipient(roleid);

	return recipient ? recipient->roleid : roleid;
}

/*
 * May roleid use the column under purpose?  The judgement enforcement makes
 * (superusers are exempt before it is asked): the purpose must be listed by
 * the column and granted to the grantee.
 */
bool
pd_may_use_column(Oid roleid, const char *purpose, const PdColumnRule *rule)
{
	return pd_column_allows(rule, purpose) &&
		pd_role_has_purpose(pd_grantee_for(roleid), purpose);
}

static bool
session_may_use(const PdColumnRule *rule)
{
	Oid			roleid = GetOuterUserId();

	if (superuser_arg(roleid))
		return true;
	return pd_may_use_column(roleid, pd_purpose, rule);
}

/*
 * personal_data.column_access(rel regclass): the labelled columns of rel and
 * whether this session may use them, answered from the cache.
 */
Datum
pd_column_access(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	PdTableRules *rules;
	int			i;

	pd_require_preloaded();
	InitMaterializedSRF(fcinfo, 0);
	rules = pd_table_rules(relid);
	if (!rules->registered)
		return (Datum) 0;

	for (i = 0; i < rules->ncolumns; i++)
	{
		PdColumnRule *rule = &rules->columns[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		Datum	   *purposes = palloc(sizeof(Datum) * rule->npurposes);
		int			j;

		for (j = 0; j < rule->npurposes; j++)
			purposes[j] = CStringGetTextDatum(rule->purposes[j]);
		values[0] = DirectFunctionCall1(namein,
										CStringGetDatum(get_attname(relid, rule->attnum, false)));
		values[1] = PointerGetDatum(construct_array(purposes, rule->npurposes,
													TEXTOID, -1, false,
													TYPALIGN_INT));
		values[2] = CStringGetTextDatum(rule->on_denied == PD_ON_DENIED_ERROR ?
										"error" : "null");
		values[3] = BoolGetDatum(session_may_use(rule));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * personal_data.session_policy(): who this session is for the policy --
 * role, purpose and whether it is defined and granted, recipient kind.
 */
Datum
pd_session_policy(PG_FUNCTION_ARGS)
{
	Oid			roleid = GetOuterUserId();
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	PdRecipient *recipient;
	bool		has_purpose = pd_purpose && pd_purpose[0] != '\0';

	pd_require_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	recipient = pd_session_recipient(roleid);
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(roleid, false)));
	values[1] = BoolGetDatum(superuser_arg(roleid));
	nulls[2] = !has_purpose;
	values[2] = has_purpose ? CStringGetTextDatum(pd_purpose) : (Datum) 0;
	values[3] = BoolGetDatum(has_purpose && pd_lookup_purpose(pd_purpose) != NULL);
	values[4] = BoolGetDatum(has_purpose && pd_role_has_purpose(pd_grantee_for(roleid), pd_purpose));
	nulls[5] = nulls[6] = nulls[7] = (recipient == NULL);
	if (recipient)
	{
		values[5] = CStringGetTextDatum(recipient->kind == PD_RECIPIENT_ENTRUSTEE ?
										"entrustee" : "third_party");
		values[6] = CStringGetTextDatum(recipient->organization);
		nulls[7] = (recipient->country == NULL);
		if (recipient->country)
			values[7] = CStringGetTextDatum(recipient->country);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													   values, nulls)));
}

/*
 * personal_data.cache_stats(): how often this backend loaded policy, so that
 * tests can show that repeated queries do not reload it.
 */
Datum
pd_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	pd_require_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(stat_table_loads);
	values[1] = Int64GetDatum(stat_catalog_loads);
	values[2] = Int64GetDatum(stat_invalidations);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													   values, nulls)));
}

/*
 * personal_data._require_preloaded(): called first by the policy functions
 * and the label views, so that nothing of the policy is read or written by a
 * server that could not enforce it.
 */
Datum
pd_require_preloaded_sql(PG_FUNCTION_ARGS)
{
	pd_require_preloaded();
	PG_RETURN_VOID();
}

/*
 * The policy catalog tables whose changes invalidate enforced plans: the
 * planner adds them to a plan's dependencies.
 */
List *
pd_policy_catalog_relids(void)
{
	/*
	 * Built once per set of catalog OIDs (they change only with CREATE or
	 * DROP EXTENSION): every plan of a registered table asks for it, and
	 * list_concat copies the cells, so the list is never handed out.
	 */
	static List *relids = NIL;
	static Oid	built_for[4];
	Oid			current[4];
	int			i;

	ensure_catalog_loaded();
	current[0] = purposes_relid;
	current[1] = grants_relid;
	current[2] = recipients_relid;
	current[3] = legal_bases_relid;
	if (relids != NIL && memcmp(current, built_for, sizeof(current)) == 0)
		return relids;

	list_free(relids);
	relids = NIL;
	for (i = 0; i < (int) lengthof(current); i++)
	{
		if (OidIsValid(current[i]))
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			relids = lappend_oid(relids, current[i]);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	memcpy(built_for, current, sizeof(current));
	return relids;
}

/*
 * personal_data._table_is_registered(oid): is the table under the policy?
 * One cache probe; used to hide statistics of registered tables.
 */
Datum
pd_table_is_registered_sql(PG_FUNCTION_ARGS)
{
	pd_require_preloaded();
	PG_RETURN_BOOL(pd_table_rules(PG_GETARG_OID(0))->registered);
}

/*
 * personal_data._statistics_object_is_registered(oid): is the extended
 * statistics object on a registered table?
 */
Datum
pd_statistics_object_is_registered_sql(PG_FUNCTION_ARGS)
{
	HeapTuple	tuple;
	Oid			relid;

	pd_require_preloaded();
	tuple = SearchSysCache1(STATEXTOID, PG_GETARG_DATUM(0));
	if (!HeapTupleIsValid(tuple))
		PG_RETURN_BOOL(false);
	relid = ((Form_pg_statistic_ext) GETSTRUCT(tuple))->stxrelid;
	ReleaseSysCache(tuple);
	PG_RETURN_BOOL(pd_table_rules(relid)->registered);
}

/* State of a search of legal_bases for a recipient and purpose. */
typedef struct BasisSearch
{
	Oid			recipient;
	const char *purpose;
	TimestampTz now;
	bool		blanket;		/* found one for every subject */
	bool		per_subject;	/* found one for a given subject */
} BasisSearch;

static BasisSearch *basis_search = NULL;

static void
check_basis_row(Relation rel, HeapTuple tuple)
{
	bool		isnull;
	bool		no_subject;
	Datum		d;
	char	   *purpose;

	d = tuple_datum(rel, tuple, "recipient", &isnull);
	if (isnull || DatumGetObjectId(d) != basis_search->recipient)
		return;
	purpose = tuple_text(rel, tuple, "purpose");
	if (purpose && (basis_search->purpose == NULL ||
					strcmp(purpose, basis_search->purpose) != 0))
		return;
	d = tuple_datum(rel, tuple, "valid_until", &isnull);
	if (!isnull && DatumGetTimestampTz(d) <= basis_search->now)
		return;
	tuple_datum(rel, tuple, "subject", &no_subject);
	if (no_subject)
		basis_search->blanket = true;
	else
		basis_search->per_subject = true;
}

/*
 * Which legal bases does recipient have, now, for purpose (or every
 * purpose): one covering every subject?  one for some subject?  Asked when a
 * third party's query is planned, to leave out of its row filter what cannot
 * match; legal_bases is a dependency of such plans, so a basis added later
 * replans them, and a basis that expires is checked by the filter itself.
 */
void
pd_legal_bases_present(Oid recipient, const char *purpose,
					   bool *blanket, bool *per_subject)
{
	BasisSearch search = {recipient, purpose,
	GetCurrentTransactionStartTimestamp(), false, false};

	ensure_catalog_loaded();
	if (OidIsValid(legal_bases_relid))
	{
		basis_search = &search;
		scan_catalog_table(legal_bases_relid, check_basis_row);
		basis_search = NULL;
	}
	*blanket = search.blanket;
	*per_subject = search.per_subject;
}

/* The session's purpose or enforcement settings changed. */
void
pd_policy_changed_locally(void)
{
	pd_policy_generation++;
}

/*
 * The registered tables (those with a personal_data table label), in OID
 * order: one scan of pg_seclabel, then cached until a relcache invalidation
 * (labelling a table invalidates it).  The list is the caller's copy.
 */
List *
pd_registered_tables(void)
{
	if (!registered_relids_valid)
	{
		Relation	seclabel;
		SysScanDesc scan;
		HeapTuple	tuple;
		List	   *relids = NIL;
		MemoryContext oldcxt;

		cache_init();
		seclabel = table_open(SecLabelRelationId, AccessShareLock);
		/* an invalidation from here on makes the next call read again */
		registered_relids_valid = true;
		scan = systable_beginscan(seclabel, InvalidOid, false, NULL, 0, NULL);
		while ((tuple = systable_getnext(scan)) != NULL)
		{
			FormData_pg_seclabel *form = (FormData_pg_seclabel *) GETSTRUCT(tuple);
			bool		isnull;
			Datum		provider;

			if (form->classoid != RelationRelationId || form->objsubid != 0)
				continue;
			provider = heap_getattr(tuple, Anum_pg_seclabel_provider,
									RelationGetDescr(seclabel), &isnull);
			if (isnull || strcmp(TextDatumGetCString(provider), PD_PROVIDER) != 0)
				continue;
			relids = lappend_oid(relids, form->objoid);
		}
		systable_endscan(scan);
		table_close(seclabel, AccessShareLock);
		list_sort(relids, list_oid_cmp);

		oldcxt = MemoryContextSwitchTo(CacheMemoryContext);
		list_free(registered_relids);
		registered_relids = list_copy(relids);
		MemoryContextSwitchTo(oldcxt);
		list_free(relids);
	}
	return list_copy(registered_relids);
}

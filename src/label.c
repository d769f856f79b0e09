/*-------------------------------------------------------------------------
 *
 * label.c
 *	  The personal_data security-label provider: label grammar, validation,
 *	  and reading labels back from pg_seclabel.
 *
 * Table and column rules are stored as security labels so that pg_dump and
 * pg_upgrade carry them with the tables.  The grammar (DESIGN.md §2):
 *
 *	 table:  subject=<column>[;collected_at=<column>][;birthdate=<column>]
 *			 [;department=<name>][;retention=<interval>]
 *			 [;on_expiry=delete|anonymize]
 *	 column: purposes=<purpose>[,<purpose>...][;on_denied=error|null]
 *
 * The same validation serves raw SECURITY LABEL statements and the policy
 * functions (which issue SECURITY LABEL themselves), so nothing reaches the
 * catalog that the functions would have refused -- with one deliberate
 * exception: an undefined purpose or department is only a WARNING, because
 * pg_restore replays labels before it loads the extension's catalog tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "access/stratnum.h"
#include "catalog/pg_seclabel.h"
#include "catalog/pg_type.h"
#include "commands/seclabel.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "personal_data.h"

PG_FUNCTION_INFO_V1(pd_parse_table_label_sql);
PG_FUNCTION_INFO_V1(pd_parse_column_label_sql);

/* One key=value item of a label. */
typedef struct LabelItem
{
	char	   *key;
	char	   *value;
} LabelItem;

#define TABLE_KEYS	"subject, collected_at, birthdate, department, retention and on_expiry"
#define COLUMN_KEYS "purposes and on_denied"

static void
label_error(const char *label, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid personal_data label \"%s\"", label),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Split a label into key=value items.  No white space is trimmed: column
 * names are matched exactly as PostgreSQL stores them.
 */
static List *
split_label(const char *label)
{
	List	   *items = NIL;
	char	   *copy = pstrdup(label);
	char	   *item = copy;

	if (label[0] == '\0')
		label_error(label, "The label is empty.",
					"Use NULL to remove a label.");

	for (;;)
	{
		char	   *end = strchr(item, ';');
		char	   *eq;
		LabelItem  *li;
		ListCell   *lc;

		if (end)
			*end = '\0';
		eq = strchr(item, '=');
		if (eq == NULL || eq == item)
			label_error(label,
						psprintf("Item \"%s\" is not of the form key=value.", item),
						NULL);
		*eq = '\0';
		if (eq[1] == '\0')
			label_error(label,
						psprintf("Key \"%s\" has an empty value.", item),
						NULL);
		foreach(lc, items)
		{
			if (strcmp(((LabelItem *) lfirst(lc))->key, item) == 0)
				label_error(label,
							psprintf("Key \"%s\" appears more than once.", item),
							NULL);
		}
		li = palloc(sizeof(LabelItem));
		li->key = item;
		li->value = eq + 1;
		items = lappend(items, li);
		if (!end)
			break;
		item = end + 1;
	}
	return items;
}

bool
pd_valid_purpose_name(const char *name)
{
	const char *p;

	if (name[0] < 'a' || name[0] > 'z')
		return false;
	if (strlen(name) > PD_MAX_NAME_LEN)
		return false;
	for (p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

/* Reports which part of a label an interval_in error came from. */
static void
retention_error_context(void *arg)
{
	errcontext("retention in personal_data label \"%s\"", (const char *) arg);
}

static Interval
parse_retention(const char *label, const char *value)
{
	ErrorContextCallback callback;
	Interval   *result;
	Interval	zero = {0};

	callback.callback = retention_error_context;
	callback.arg = unconstify(char *, label);
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	result = DatumGetIntervalP(DirectFunctionCall3(interval_in,
												   CStringGetDatum(value),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	error_context_stack = callback.previous;

	if (DatumGetInt32(DirectFunctionCall2(interval_cmp,
										  IntervalPGetDatum(result),
										  IntervalPGetDatum(&zero))) <= 0)
		label_error(label,
					psprintf("Retention \"%s\" is not a positive interval.", value),
					NULL);
	return *result;
}

/*
 * Parse a table label; syntax errors are raised.  Column existence is
 * checked separately, against a relation.
 */
void
pd_parse_table_label(const char *label, PdTableLabel *out)
{
	ListCell   *lc;

	memset(out, 0, sizeof(*out));
	out->on_expiry = PD_ON_EXPIRY_DELETE;

	foreach(lc, split_label(label))
	{
		LabelItem  *li = lfirst(lc);

		if (strcmp(li->key, "subject") == 0)
			out->subject = li->value;
		else if (strcmp(li->key, "collected_at") == 0)
			out->collected_at = li->value;
		else if (strcmp(li->key, "birthdate") == 0)
			out->birthdate = li->value;
		else if (strcmp(li->key, "department") == 0)
			out->department = li->value;
		else if (strcmp(li->key, "retention") == 0)
		{
			out->has_retention = true;
			out->retention = parse_retention(label, li->value);
		}
		else if (strcmp(li->key, "on_expiry") == 0)
		{
			if (strcmp(li->value, "delete") == 0)
				out->on_expiry = PD_ON_EXPIRY_DELETE;
			else if (strcmp(li->value, "anonymize") == 0)
				out->on_expiry = PD_ON_EXPIRY_ANONYMIZE;
			else
				label_error(label,
							psprintf("on_expiry must be delete or anonymize, not \"%s\".", li->value),
							NULL);
		}
		else
			label_error(label,
						psprintf("Unknown key \"%s\"; table labels accept " TABLE_KEYS ".", li->key),
						strcmp(li->key, "purposes") == 0 || strcmp(li->key, "on_denied") == 0 ?
						"Purposes are labels of columns: use SECURITY LABEL ... ON COLUMN, or personal_data.label_column()." : NULL);
	}

	if (out->subject == NULL)
		label_error(label, "A table label must name its subject column with subject=<column>.",
					NULL);
	if (out->has_retention && out->collected_at == NULL)
		label_error(label, "A retention needs a collected_at column to count from.",
					NULL);
}

/* Parse a column label; syntax errors are raised. */
void
pd_parse_column_label(const char *label, PdColumnLabel *out)
{
	ListCell   *lc;
	bool		have_purposes = false;

	memset(out, 0, sizeof(*out));
	out->on_denied = PD_ON_DENIED_ERROR;

	foreach(lc, split_label(label))
	{
		LabelItem  *li = lfirst(lc);

		if (strcmp(li->key, "purposes") == 0)
		{
			char	   *purpose = li->value;

			have_purposes = true;
			for (;;)
			{
				char	   *comma = strchr(purpose, ',');
				ListCell   *lc2;

				if (comma)
					*comma = '\0';
				if (!pd_valid_purpose_name(purpose))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_NAME),
							 errmsg("invalid purpose name \"%s\" in personal_data label \"%s\"",
									purpose, label),
							 errdetail("Purpose names start with a lower-case letter and contain only lower-case letters, digits and underscores, at most %d characters.",
									   PD_MAX_NAME_LEN)));
				foreach(lc2, out->purposes)
				{
					if (strcmp(lfirst(lc2), purpose) == 0)
						label_error(label,
									psprintf("Purpose \"%s\" is listed more than once.", purpose),
									NULL);
				}
				out->purposes = lappend(out->purposes, purpose);
				if (!comma)
					break;
				purpose = comma + 1;
			}
		}
		else if (strcmp(li->key, "on_denied") == 0)
		{
			if (strcmp(li->value, "error") == 0)
				out->on_denied = PD_ON_DENIED_ERROR;
			else if (strcmp(li->value, "null") == 0)
				out->on_denied = PD_ON_DENIED_NULL;
			else
				label_error(label,
							psprintf("on_denied must be error or null, not \"%s\".", li->value),
							NULL);
		}
		else
			label_error(label,
						psprintf("Unknown key \"%s\"; column labels accept " COLUMN_KEYS ".", li->key),
						strcmp(li->key, "subject") == 0 ?
						"The subject column is named in the table's label: use SECURITY LABEL ... ON TABLE, or personal_data.register_table()." : NULL);
	}

	if (!have_purposes)
		label_error(label, "A column label must list its purposes with purposes=<purpose>[,<purpose>...].",
					NULL);
}

/* The personal_data label of a table (subid 0) or one of its columns. */
char *
pd_get_label(Oid relid, int32 subid)
{
	ObjectAddress object;

	ObjectAddressSubSet(object, RelationRelationId, relid, subid);
	return GetSecurityLabel(&object, PD_PROVIDER);
}

/*
 * All personal_data labels of one relation (table and columns), as a List of
 * PdRawLabel, read with one index scan of pg_seclabel.
 */
List *
pd_relation_labels(Oid relid)
{
	List	   *result = NIL;
	Relation	seclabel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&keys[0], Anum_pg_seclabel_objoid,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_seclabel_classoid,
				BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));

	seclabel = table_open(SecLabelRelationId, AccessShareLock);
	scan = systable_beginscan(seclabel, SecLabelObjectIndexId, true,
							  NULL, 2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		FormData_pg_seclabel *form = (FormData_pg_seclabel *) GETSTRUCT(tuple);
		bool		isnull;
		Datum		provider;
		Datum		label;
		PdRawLabel *raw;

		provider = heap_getattr(tuple, Anum_pg_seclabel_provider,
								RelationGetDescr(seclabel), &isnull);
		if (isnull || strcmp(TextDatumGetCString(provider), PD_PROVIDER) != 0)
			continue;
		label = heap_getattr(tuple, Anum_pg_seclabel_label,
							 RelationGetDescr(seclabel), &isnull);
		if (isnull)
			continue;
		raw = palloc(sizeof(PdRawLabel));
		raw->subid = form->objsubid;
		raw->label = TextDatumGetCString(label);
		result = lappend(result, raw);
	}
	systable_endscan(scan);
	table_close(seclabel, AccessShareLock);
	return result;
}

static bool
has_column_labels(Oid relid)
{
	ListCell   *lc;

	foreach(lc, pd_relation_labels(relid))
	{
		if (((PdRawLabel *) lfirst(lc))->subid != 0)
			return true;
	}
	return false;
}

/* Is the type (or the domain's base type) one of date, timestamp, timestamptz? */
static bool
is_date_type(Oid typid)
{
	typid = getBaseType(typid);
	return typid == DATEOID || typid == TIMESTAMPOID || typid == TIMESTAMPTZOID;
}

/*
 * Check that the column a table label names exists, and for date roles that
 * it holds a date.
 */
static void
check_label_column(Oid relid, const char *role, const char *colname,
				   bool must_be_date)
{
	AttrNumber	attnum = get_attnum(relid, colname);
	Oid			atttype;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, get_rel_name(relid)),
				 errdetail("The personal_data label names it as the %s column.", role)));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("system column \"%s\" cannot be the %s column", colname, role)));
	atttype = get_atttype(relid, attnum);
	if (must_be_date && !is_date_type(atttype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s column \"%s\" of relation \"%s\" must be of type date, timestamp or timestamp with time zone",
						role, colname, get_rel_name(relid)),
				 errdetail("Column \"%s\" has type %s.", colname,
						   format_type_be(atttype))));
}

/* Does the department exist?  Not a hot path: SPI is fine here. */
static bool
department_exists(const char *department)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		exists;

	values[0] = CStringGetTextDatum(department);
	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM personal_data.departments WHERE department OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up department \"%s\"", department);
	exists = SPI_processed > 0;
	SPI_finish();
	return exists;
}

/*
 * An ancestor of relid through plain inheritance (not partitioning) that is
 * not registered, or InvalidOid.  Queries of such a parent would reach the
 * registered child's rows outside the policy.
 */
Oid
pd_unregistered_ancestor(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Oid			parent = ((Form_pg_inherits) GETSTRUCT(tup))->inhparent;

		if (!pd_table_rules(parent)->registered)
			found = parent;
		else
			found = pd_unregistered_ancestor(parent);
	}
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);
	return found;
}

static void
check_relation_kind(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	Oid			namespace = get_rel_namespace(relid);

	if (IsCatalogNamespace(namespace) || IsToastNamespace(namespace) ||
		namespace == get_namespace_oid(PD_SCHEMA, true))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot set a personal_data label on \"%s\"", get_rel_name(relid)),
				 errdetail("System catalogs and the personal_data extension's own tables are not under the policy.")));

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("personal_data labels can be set on tables and partitioned tables only.")));
	if (!get_rel_relispartition(relid) && has_superclass(relid))
	{
		Oid			parent = pd_unregistered_ancestor(relid);

		if (OidIsValid(parent))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot put \"%s\" under personal_data policy: it inherits from \"%s\", which is not",
							get_rel_name(relid), get_rel_name(parent)),
					 errdetail("Queries of the parent would read and write its rows outside the policy."),
					 errhint("Register \"%s\" first, or ALTER TABLE ... NO INHERIT.", get_rel_name(parent))));
	}
	if (get_rel_relispartition(relid))
	{
		Oid			root = llast_oid(get_partition_ancestors(relid));

		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot set a personal_data label on partition \"%s\"",
						get_rel_name(relid)),
				 errdetail("The labels of a partitioned table apply to all its partitions."),
				 errhint("Label the partitioned table \"%s\" instead.",
						 get_rel_name(root))));
	}
}

static void
check_table_label(Oid relid, const PdTableLabel *tl)
{
	check_label_column(relid, "subject", tl->subject, false);
	if (tl->collected_at)
		check_label_column(relid, "collected_at", tl->collected_at, true);
	if (tl->birthdate)
		check_label_column(relid, "birthdate", tl->birthdate, true);
	if (tl->department && !department_exists(tl->department))
		ereport(WARNING,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("department \"%s\" is not defined", tl->department),
				 errdetail("The table has no personal-information manager until it is."),
				 errhint("Define it with personal_data.assign_manager().")));
}

/*
 * Why the table label no longer fits the relation (after DDL), or NULL if it
 * still does.  The ALTER TABLE guard uses it to refuse changes that would
 * leave the policy naming a missing or mistyped column.
 */
char *
pd_table_label_problem(Oid relid, const PdTableLabel *tl)
{
	const char *roles[3] = {"subject", "collected_at", "birthdate"};
	const char *names[3] = {tl->subject, tl->collected_at, tl->birthdate};
	int			i;

	for (i = 0; i < 3; i++)
	{
		AttrNumber	attnum;

		if (names[i] == NULL)
			continue;
		attnum = get_attnum(relid, names[i]);
		if (attnum <= 0)
			return psprintf("The label names column \"%s\" as the %s column, and it no longer exists.",
							names[i], roles[i]);
		if (i > 0 && !is_date_type(get_atttype(relid, attnum)))
			return psprintf("The label names column \"%s\" as the %s column, and it would no longer be of type date, timestamp or timestamp with time zone.",
							names[i], roles[i]);
	}
	return NULL;
}

/* The stored form of a table label, in the order register_table() writes. */
char *
pd_format_table_label(const PdTableLabel *tl)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "subject=%s", tl->subject);
	if (tl->collected_at)
		appendStringInfo(&buf, ";collected_at=%s", tl->collected_at);
	if (tl->birthdate)
		appendStringInfo(&buf, ";birthdate=%s", tl->birthdate);
	if (tl->department)
		appendStringInfo(&buf, ";department=%s", tl->department);
	if (tl->has_retention)
	{
		/* one spelling, whatever the session's IntervalStyle */
		int			saved_style = IntervalStyle;

		IntervalStyle = INTSTYLE_POSTGRES;
		appendStringInfo(&buf, ";retention=%s",
						 DatumGetCString(DirectFunctionCall1(interval_out,
															 IntervalPGetDatum(&tl->retention))));
		IntervalStyle = saved_style;
	}
	if (tl->on_expiry == PD_ON_EXPIRY_ANONYMIZE)
		appendStringInfoString(&buf, ";on_expiry=anonymize");
	return buf.data;
}

static void
check_column_label(Oid relid, int32 subid, const PdColumnLabel *cl)
{
	ListCell   *lc;

	if (subid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot set a personal_data label on a system column")));
	if (pd_get_label(relid, 0) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not registered with personal_data",
						get_rel_name(relid)),
				 errhint("Register it first with personal_data.register_table().")));
	foreach(lc, cl->purposes)
	{
		const char *purpose = lfirst(lc);

		if (pd_lookup_purpose(purpose) == NULL)
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("purpose \"%s\" is not defined", purpose),
					 errdetail("Column \"%s\" of relation \"%s\" matches no purpose until it is defined.",
							   get_attname(relid, subid, false), get_rel_name(relid)),
					 errhint("Define it with personal_data.define_purpose().")));
	}
}

/*
 * The label provider's hook: validates syntax first, privileges second, then
 * the label against the relation and the policy catalog, like sepgsql does.
 * A label change reaches every backend's policy cache through a relcache
 * invalidation of the table, sent when the transaction commits.
 */
void
pd_object_relabel(const ObjectAddress *object, const char *seclabel)
{
	PdTableLabel tl;
	PdColumnLabel cl;

	if (object->classId != RelationRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("personal_data labels can only be set on tables and their columns")));

	if (seclabel != NULL)
	{
		if (object->objectSubId == 0)
			pd_parse_table_label(seclabel, &tl);
		else
			pd_parse_column_label(seclabel, &cl);
	}

	/*
	 * Table owners may not relabel: applications often own their tables, and
	 * the labels are what restricts them.  The policy functions run as the
	 * extension's owner.
	 */
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set personal_data labels"),
				 errdetail("Only superusers may set personal_data labels directly."),
				 errhint("Use the personal_data policy functions, such as register_table() and label_column().")));

	/* pg_upgrade replays labels already validated in the old cluster */
	if (IsBinaryUpgrade)
		return;

	/*
	 * Removing a label is always possible, so that labels a partition had
	 * before it was attached can be cleared.
	 */
	if (seclabel == NULL)
	{
		if (object->objectSubId == 0 && has_column_labels(object->objectId))
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot remove the personal_data label of table \"%s\" while its columns are labelled",
							get_rel_name(object->objectId)),
					 errhint("Use personal_data.unregister_table(), which removes the column labels too.")));
	}
	else
	{
		check_relation_kind(object->objectId);
		if (!pd_extension_installed())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"personal_data\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION personal_data first.")));
		if (object->objectSubId == 0)
			check_table_label(object->objectId, &tl);
		else
			check_column_label(object->objectId, object->objectSubId, &cl);
	}

	pd_invalidate_with_inheritors(object->objectId);
}

/*
 * Tell every backend that relid's labels changed: its inheritors (which may
 * borrow them) too.
 */
void
pd_invalidate_with_inheritors(Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		CacheInvalidateRelcacheByRelid(lfirst_oid(lc));
}

static Datum
name_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? DirectFunctionCall1(namein, CStringGetDatum(s)) : (Datum) 0;
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * personal_data._parse_table_label(label text): the label's parts, for the
 * registered_tables view.
 */
Datum
pd_parse_table_label_sql(PG_FUNCTION_ARGS)
{
	char	   *label = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PdTableLabel tl;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6];

	pd_require_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	pd_parse_table_label(label, &tl);

	values[0] = name_or_null(tl.subject, &nulls[0]);
	values[1] = name_or_null(tl.collected_at, &nulls[1]);
	values[2] = name_or_null(tl.birthdate, &nulls[2]);
	values[3] = text_or_null(tl.department, &nulls[3]);
	nulls[4] = !tl.has_retention;
	values[4] = tl.has_retention ? IntervalPGetDatum(&tl.retention) : (Datum) 0;
	values[5] = CStringGetTextDatum(tl.on_expiry == PD_ON_EXPIRY_DELETE ? "delete" : "anonymize");
	nulls[5] = false;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													   values, nulls)));
}

/*
 * personal_data._parse_column_label(label text): purposes and on_denied,
 * for the labelled_columns view.
 */
Datum
pd_parse_column_label_sql(PG_FUNCTION_ARGS)
{
	char	   *label = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PdColumnLabel cl;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	Datum	   *purposes;
	ListCell   *lc;
	int			i = 0;

	pd_require_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	pd_parse_column_label(label, &cl);

	purposes = palloc(sizeof(Datum) * list_length(cl.purposes));
	foreach(lc, cl.purposes)
		purposes[i++] = CStringGetTextDatum(lfirst(lc));
	values[0] = PointerGetDatum(construct_array(purposes, i, TEXTOID, -1,
												false, TYPALIGN_INT));
	values[1] = CStringGetTextDatum(cl.on_denied == PD_ON_DENIED_ERROR ? "error" : "null");

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													   values, nulls)));
}

/*-------------------------------------------------------------------------
 *
 * subject.c
 *	  What the data-subject functions (subject_data, erase_subject; see
 *	  sql/personal_data--0.4--0.5.sql) do on every call, from the policy
 *	  cache rather than the catalogs, with plans kept for the session: they
 *	  cost what the subject's rows cost.
 *
 * Each registered table is read as its owner (purge.c, pd_run_as_owner):
 * the tables of one owner in one statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/ruleutils.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "personal_data.h"

PG_FUNCTION_INFO_V1(pd_subject_tables);
PG_FUNCTION_INFO_V1(pd_subject_document);
PG_FUNCTION_INFO_V1(pd_erase_rows);

/* A registered table as the subject functions see it. */
typedef struct SubjectTable
{
	Oid			relid;
	Oid			owner;
	char	   *name;			/* schema-qualified, quoted as needed */
	char	   *subject_column;
	Oid			subject_type;
	int32		subject_typmod;
	char	   *equality;		/* OPERATOR(s.=), or NULL */
	char	   *collation;		/* " COLLATE x" of the subject column, or "" */
	bool		only;			/* not partitioned: ONLY (inheritance children are registered apart) */
	List	   *disclosed;		/* column names */
	List	   *labelled;
	PdOnExpiry	on_expiry;
	/* _cascade_condition for a delete and an anonymization, once asked (NULL: none) */
	bool		cascades_known[2];
	char	   *cascades[2];
	/* the registered tables a deletion of its rows cascades into, once asked */
	bool		targets_known;
	List	   *targets;		/* relids */
} SubjectTable;

/* the registered tables (not partitions), in name order */
static int
subject_table_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((SubjectTable *) lfirst(a))->name, ((SubjectTable *) lfirst(b))->name);
}

static List *build_subject_tables(void);

/*
 * The registered tables, as the subject functions see them: built once,
 * then reused until the policy cache sees an invalidation (a label, a
 * purpose, a table changed).
 */
static MemoryContext subject_tables_context = NULL;
static List *subject_tables_cached = NIL;
static uint64 subject_tables_generation = 0;

static List *
subject_tables(void)
{
	uint64		generation = pd_policy_generation;
	MemoryContext oldcxt;

	if (subject_tables_context != NULL && subject_tables_generation == generation)
		return subject_tables_cached;
	if (subject_tables_context == NULL)
		subject_tables_context = AllocSetContextCreate(CacheMemoryContext, "personal_data subject tables",
													   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(subject_tables_context);
	subject_tables_cached = NIL;
	subject_tables_generation = 0;
	oldcxt = MemoryContextSwitchTo(subject_tables_context);
	PG_TRY();
	{
		subject_tables_cached = build_subject_tables();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	/* an invalidation while building: built again next time */
	subject_tables_generation = generation;
	return subject_tables_cached;
}

/*
 * The registered tables, and the inheritance children that follow their
 * labels (not registered themselves: the purge purges them under their
 * ancestor's rules, and enforcement governs them), as candidates.
 */
static List *
subject_candidates(void)
{
	List	   *relids = list_copy(pd_registered_tables());
	ListCell   *lc;

	foreach(lc, pd_registered_tables())
	{
		Oid			relid = lfirst_oid(lc);
		ListCell   *cc;

		if (get_rel_relkind(relid) != RELKIND_RELATION || !has_subclass(relid))
			continue;
		foreach(cc, find_all_inheritors(relid, NoLock, NULL))
		{
			Oid			child = lfirst_oid(cc);

			if (child != relid && get_rel_relkind(child) == RELKIND_RELATION &&
				!get_rel_relispartition(child) && !list_member_oid(relids, child) &&
				pd_table_rules(child)->rules_relid == relid)
				relids = lappend_oid(relids, child);
		}
	}
	return relids;
}

static List *
build_subject_tables(void)
{
	List	   *result = NIL;
	List	   *relids = subject_candidates();
	List	   *registered = pd_registered_tables();
	ListCell   *lc;

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		PdTableRules *rules = pd_table_rules(relid);
		/* a child follows its ancestor's rules */
		bool		child = !list_member_oid(registered, relid);
		SubjectTable *t;
		AttrNumber	subject_attnum;
		int			ncolumns;
		AttrNumber *attnums;
		List	  **purposes;
		Oid			collation;
		HeapTuple	tup;

		if (!rules->registered || (rules->rules_relid != relid && !child) ||
			rules->subject_attnum == InvalidAttrNumber)
			continue;			/* a partition, or a label naming no column */
		t = palloc0(sizeof(SubjectTable));
		t->relid = relid;
		/* the entry lasts until the next catalog access: copied first */
		t->on_expiry = rules->on_expiry;
		subject_attnum = rules->subject_attnum;
		ncolumns = rules->ncolumns;
		attnums = palloc(Max(ncolumns, 1) * sizeof(AttrNumber));
		purposes = palloc(Max(ncolumns, 1) * sizeof(List *));
		for (int i = 0; i < ncolumns; i++)
		{
			attnums[i] = rules->columns[i].attnum;
			purposes[i] = NIL;
			for (int j = 0; j < rules->columns[i].npurposes; j++)
				purposes[i] = lappend(purposes[i], pstrdup(rules->columns[i].purposes[j]));
		}
		for (int i = 0; i < ncolumns; i++)
		{
			bool		is_disclosed = false;
			ListCell   *pc;
			char	   *attname = get_attname(relid, attnums[i], false);

			foreach(pc, purposes[i])
			{
				PdPurpose  *purpose = pd_lookup_purpose(lfirst(pc));

				if (purpose != NULL && purpose->disclosed)
					is_disclosed = true;
			}
			t->labelled = lappend(t->labelled, attname);
			if (is_disclosed)
				t->disclosed = lappend(t->disclosed, attname);
		}
		t->subject_column = get_attname(relid, subject_attnum, false);
		get_atttypetypmodcoll(relid, subject_attnum, &t->subject_type, &t->subject_typmod, &collation);
		t->equality = pd_equality_operator_sql(t->subject_type);
		/* holds compare as the column does (a nondeterministic collation too) */
		t->collation = OidIsValid(collation) ?
			psprintf(" COLLATE %s", generate_collation_name(collation)) : "";
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tup))
			continue;			/* dropped meanwhile */
		t->owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		t->only = ((Form_pg_class) GETSTRUCT(tup))->relkind != RELKIND_PARTITIONED_TABLE;
		ReleaseSysCache(tup);
		/* schema-qualified whatever the search_path: a name for SQL and for the document */
		t->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											 get_rel_name(relid));
		result = lappend(result, t);
	}
	list_sort(result, subject_table_cmp);
	return result;
}

static Datum
name_array(List *names)
{
	Datum	   *elems;
	int			n = list_length(names);
	int			i = 0;
	ListCell   *lc;

	elems = palloc(Max(n, 1) * sizeof(Datum));
	foreach(lc, names)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * _subject_tables(): per registered table, in name order -- relation,
 * subject_column, subject_type (as SQL), disclosed_columns (the labelled
 * columns with a disclosed purpose, in column order; NULL if none),
 * labelled_columns (all of them; NULL if none), on_expiry, subject_equality
 * (the subject type's equality operator as SQL, NULL if it has none).
 */
Datum
pd_subject_tables(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, subject_tables())
	{
		SubjectTable *t = lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = ObjectIdGetDatum(t->relid);
		values[1] = CStringGetTextDatum(t->subject_column);
		values[2] = CStringGetTextDatum(format_type_with_typemod(t->subject_type, t->subject_typmod));
		values[3] = name_array(t->disclosed);
		nulls[3] = t->disclosed == NIL;
		values[4] = name_array(t->labelled);
		nulls[4] = t->labelled == NIL;
		values[5] = CStringGetTextDatum(t->on_expiry == PD_ON_EXPIRY_DELETE ? "delete" : "anonymize");
		values[6] = t->equality ? CStringGetTextDatum(t->equality) : (Datum) 0;
		nulls[6] = t->equality == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* SQL: is pd_row the subject's ($1, text)?  (_subject_condition in SQL) */
static void
append_subject_condition(StringInfo buf, SubjectTable *t)
{
	char	   *type = format_type_with_typemod(t->subject_type, t->subject_typmod);

	if (t->equality == NULL)
		/* no equality: as the type writes its values */
		appendStringInfo(buf, "pd_row.%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY"
						 " (personal_data._canonical_holds(ARRAY[$1], NULL::%s))",
						 quote_identifier(t->subject_column), type);
	else if (t->subject_type == TEXTOID || t->subject_type == VARCHAROID)
		/* every text is a value of these: no need to try */
		appendStringInfo(buf, "pd_row.%s %s $1", quote_identifier(t->subject_column), t->equality);
	else if (type_is_array(getBaseType(t->subject_type)))
		/* there is no array of an array type: a set */
		appendStringInfo(buf, "pd_row.%s %s ANY (SELECT personal_data._typed_holds_set(ARRAY[$1], NULL::%s))",
						 quote_identifier(t->subject_column), t->equality, type);
	else
		appendStringInfo(buf, "pd_row.%s %s ANY (personal_data._typed_holds(ARRAY[$1], NULL::%s))",
						 quote_identifier(t->subject_column), t->equality, type);
}

/*
 * A recipient reads a subject's rows only as the policy lets it, each
 * provision recorded: not through these functions, which read every row.
 */
static void
refuse_recipients(void)
{
	if (pd_session_recipient(GetOuterUserId()) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a recipient of personal data cannot use the data-subject functions"),
				 errdetail("Role \"%s\" is registered as a recipient.",
						   GetUserNameFromId(GetOuterUserId(), false))));
}

static void
check_may_act_as(SubjectTable *t)
{
	if (!has_privs_of_role(GetUserId(), t->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run statements as the owner of table \"%s\"", t->name)));
}

/*
 * _subject_document(subject text) RETURNS jsonb: {table: [rows]} of the
 * tables holding rows of subject, each row its subject column and the
 * labelled columns of a disclosed purpose.  One statement per table owner,
 * its plan kept.
 */
Datum
pd_subject_document(PG_FUNCTION_ARGS)
{
	List	   *tables = subject_tables();
	Jsonb	   *document = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1] = {' '};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	refuse_recipients();
	values[0] = PG_GETARG_DATUM(0);

	while (tables != NIL)
	{
		SubjectTable *first = linitial(tables);
		List	   *rest = NIL;
		ListCell   *lc;
		StringInfoData sql;
		bool		any = false;
		Datum		result;
		bool		isnull;
		Oid			result_type;

		/* the tables of first's owner, in one statement */
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT pg_catalog.jsonb_object_agg(k, v) FROM (VALUES ");
		foreach(lc, tables)
		{
			SubjectTable *t = lfirst(lc);
			ListCell   *cc;

			if (t->owner != first->owner)
			{
				rest = lappend(rest, t);
				continue;
			}
			if (t->disclosed == NIL)
				continue;		/* only undisclosed (entrusted) data */
			check_may_act_as(t);
			appendStringInfo(&sql, "%s(%s, (SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)) FROM (SELECT pd_row.%s",
							 any ? ", " : "", quote_literal_cstr(t->name),
							 quote_identifier(t->subject_column));
			foreach(cc, t->disclosed)
				appendStringInfo(&sql, ", pd_row.%s", quote_identifier(lfirst(cc)));
			appendStringInfo(&sql, " FROM %s%s AS pd_row WHERE ", t->only ? "ONLY " : "", t->name);
			append_subject_condition(&sql, t);
			appendStringInfoString(&sql, ") x))");
			any = true;
		}
		appendStringInfoString(&sql, ") s(k, v) WHERE v IS NOT NULL");
		tables = rest;
		if (!any)
			continue;
		(void) pd_run_as_owner(first->owner, sql.data, 1, types, values, nulls, true, false,
							   &result, &isnull, &result_type);
		if (isnull)
			continue;
		document = document == NULL ? DatumGetJsonbP(result) :
			DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(document), result));
	}
	if (document == NULL)
		PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	PG_RETURN_JSONB_P(document);
}

/* A table to erase, and the tables it references (its group of one). */
typedef struct OwnerGroup
{
	Oid			owner;
	List	   *tables;			/* SubjectTable * */
	List	   *references;		/* relids the group's tables reference */
} OwnerGroup;

static List *cascade_targets(SubjectTable *t);

static List *
owner_groups(List *tables)
{
	List	   *groups = NIL;
	ListCell   *lc;

	foreach(lc, tables)
	{
		SubjectTable *t = lfirst(lc);
		/*
		 * A statement per table: the access log records each DELETE or
		 * UPDATE with its rows, and the statement stays small however many
		 * tables an owner has.
		 */
		OwnerGroup *group = palloc0(sizeof(OwnerGroup));
		Relation	rel;
		ListCell   *fc;

		group->owner = t->owner;
		groups = lappend(groups, group);
		group->tables = lappend(group->tables, t);
		/* the foreign keys of the table, from the relcache */
		rel = table_open(t->relid, AccessShareLock);
		foreach(fc, RelationGetFKeyList(rel))
			group->references = lappend_oid(group->references,
											((ForeignKeyCacheInfo *) lfirst(fc))->confrelid);
		table_close(rel, AccessShareLock);
	}

	/*
	 * A table whose deletions cascade into another registered table, through
	 * tables in between too, comes after it: that table's rows of the
	 * subject are erased (and counted) by their own statement, not by the
	 * cascade.
	 */
	foreach(lc, groups)
	{
		OwnerGroup *group = lfirst(lc);
		SubjectTable *t = linitial(group->tables);
		ListCell   *tc;

		foreach(tc, cascade_targets(t))
		{
			ListCell   *oc;

			foreach(oc, groups)
			{
				OwnerGroup *other = lfirst(oc);

				if (other != group &&
					((SubjectTable *) linitial(other->tables))->relid == lfirst_oid(tc))
					other->references = lappend_oid(other->references, t->relid);
			}
		}
	}
	return groups;
}

/*
 * The groups in an order that respects the foreign keys between owners: a
 * group whose tables reference another group's comes first (in one group's
 * statement, the checks come at its end, when all its deletes are done).
 * A cycle: the rest in their order.
 */
static List *
erasure_order(List *groups)
{
	List	   *ordered = NIL;

	while (groups != NIL)
	{
		OwnerGroup *next = NULL;
		ListCell   *gc;

		foreach(gc, groups)
		{
			OwnerGroup *g = lfirst(gc);
			bool		referenced = false;
			ListCell   *oc;

			/* does a remaining group reference one of g's tables? */
			foreach(oc, groups)
			{
				OwnerGroup *other = lfirst(oc);
				ListCell   *tc;

				if (other == g)
					continue;
				foreach(tc, g->tables)
				{
					if (list_member_oid(other->references, ((SubjectTable *) lfirst(tc))->relid))
						referenced = true;
				}
			}
			if (!referenced)
			{
				next = g;
				break;
			}
		}
		if (next == NULL)
			next = linitial(groups);
		ordered = lappend(ordered, next);
		groups = list_delete_ptr(groups, next);
	}
	return ordered;
}

/*
 * SQL true for a row of t (aliased pd_row) whose deletion (anonymization:
 * the nulling of its labelled columns) would cascade into a row of a
 * registered table, directly or through tables in between
 * (_cascade_condition, as the purge uses it); NULL if no cascade can.  Kept
 * with the table list, which any catalog change renews.
 */
static const char *
cascade_condition(SubjectTable *t, bool delete)
{
	int			kind = delete ? 0 : 1;
	Oid			types[2] = {REGCLASSOID, NAMEARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', 'n'};
	bool		isnull;
	Datum		result;

	if (t->cascades_known[kind])
		return t->cascades[kind];
	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = (Datum) 0;
	if (!delete)
	{
		Datum	   *names = palloc(Max(list_length(t->labelled), 1) * sizeof(Datum));
		int			n = 0;
		ListCell   *lc;

		foreach(lc, t->labelled)
			names[n++] = DirectFunctionCall1(namein, CStringGetDatum(lfirst(lc)));
		values[1] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
		nulls[1] = ' ';
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the subject's own registered rows ($1 of the erasing statements) do not keep a row */
	if (SPI_execute_with_args("SELECT personal_data._cascade_condition_tree($1, $2, '$1')",
							  2, types, values, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the cascades of %s", t->name);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	t->cascades[kind] = isnull ? NULL :
		MemoryContextStrdup(subject_tables_context, TextDatumGetCString(result));
	SPI_finish();
	t->cascades_known[kind] = true;
	return t->cascades[kind];
}

/*
 * The registered tables a deletion of t's rows, or a change of their keys, cascades into
 * (_cascade_targets), kept with the table list like its cascade condition.
 */
static List *
cascade_targets(SubjectTable *t)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(t->relid)};
	bool		isnull;
	Datum		result;

	if (t->targets_known)
		return t->targets;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* deletions, and changes of keys (an anonymization nulls labelled keys) */
	if (SPI_execute_with_args("SELECT personal_data._cascade_targets($1, 'd') OPERATOR(pg_catalog.||) personal_data._cascade_targets($1, 'u')",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the cascades of %s", t->name);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		ArrayType  *array = DatumGetArrayTypeP(result);
		Datum	   *elems;
		int			nelems;
		MemoryContext old = MemoryContextSwitchTo(subject_tables_context);

		deconstruct_array(array, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT, &elems, NULL, &nelems);
		for (int i = 0; i < nelems; i++)
			t->targets = lappend_oid(t->targets, DatumGetObjectId(elems[i]));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	t->targets_known = true;
	return t->targets;
}

/*
 * Runs a write of the erasure as t's owner, in a subtransaction: a foreign
 * key that refuses it (a row of another table, NO ACTION or RESTRICT,
 * references one of the rows), or a check its cascade fails (SET NULL into
 * a partition key: no partition for the row), rolls it back and sets
 * *refused, instead of failing the whole erasure.  Any other error is
 * raised.
 */
static uint64
write_refusable(SubjectTable *t, const char *sql, int nargs, Oid *types, Datum *values, char *nulls,
				bool *refused)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile uint64 n = 0;

	*refused = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		n = pd_run_as_owner(t->owner, sql, nargs, types, values, nulls, true, true, NULL, NULL, NULL);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		/* a check of the table's own (it names its constraint) is not a cascade's */
		if (edata->sqlerrcode != ERRCODE_FOREIGN_KEY_VIOLATION &&
			edata->sqlerrcode != ERRCODE_RESTRICT_VIOLATION &&
			(edata->sqlerrcode != ERRCODE_CHECK_VIOLATION || edata->constraint_name != NULL))
			ReThrowError(edata);
		FreeErrorData(edata);
		*refused = true;
		n = 0;
	}
	PG_END_TRY();
	return n;
}

/*
 * Waits for the transactions writing to the registered tables a write of
 * t's rows may cascade into, and keeps new ones out until this transaction
 * ends (_lock_cascade_targets): a reference being added, perhaps through a
 * table in between, is then seen by the statements that follow.
 */
static void
lock_cascade_targets(SubjectTable *t, bool delete)
{
	Oid			types[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(delete ? "d" : "u")};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT personal_data._lock_cascade_targets($1, $2)",
							  2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the tables %s cascades into", t->name);
	SPI_finish();
}

/*
 * Deletes or anonymizes the subject's rows in t as its owner; returns the
 * rows written, and in *kept those left because the write would cascade
 * into a registered table's row (another subject's: the subject's own were
 * erased before, tables that reference others first).  Such rows are locked
 * first and written by a later statement, whose snapshot sees what a
 * transaction adding a reference committed meanwhile (the purge does the
 * same, _purge_write).
 */
static uint64
erase_table_rows(SubjectTable *t, bool delete, Oid *types, Datum *values, char *nulls, uint64 *kept)
{
	StringInfoData sql;
	StringInfoData where;
	const char *cascade = cascade_condition(t, delete);
	ListCell   *cc;
	uint64		n;
	uint64		locked = 0;
	bool		refused;
	uint64		refused_rows = 0;

	*kept = 0;
	initStringInfo(&where);
	if (!delete)
	{
		bool		first = true;

		/* rows anonymized already are left alone */
		appendStringInfoString(&where, "NOT (");
		foreach(cc, t->labelled)
		{
			appendStringInfo(&where, "%spd_row.%s IS NULL", first ? "" : " AND ",
							 quote_identifier(lfirst(cc)));
			first = false;
		}
		appendStringInfoString(&where, ") AND ");
	}
	append_subject_condition(&where, t);

	if (cascade != NULL)
	{
		Datum		count;
		bool		isnull;
		Oid			count_type;

		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT count(*) FROM (SELECT FROM %s%s AS pd_row WHERE %s FOR UPDATE OF pd_row) pd_locked",
						 t->only ? "ONLY " : "", t->name, where.data);
		(void) pd_run_as_owner(t->owner, sql.data, 1, types, values, nulls, true, false,
							   &count, &isnull, &count_type);
		locked = isnull ? 0 : (uint64) DatumGetInt64(count);
		if (locked == 0)
			return 0;
		/* after the rows' locks (see _lock_cascade_targets) */
		lock_cascade_targets(t, delete);
		appendStringInfo(&where, " AND NOT %s", cascade);
	}

	initStringInfo(&sql);
	if (delete)
		appendStringInfo(&sql, "DELETE FROM %s%s AS pd_row WHERE %s", t->only ? "ONLY " : "", t->name, where.data);
	else
	{
		bool		first = true;

		appendStringInfo(&sql, "UPDATE %s%s AS pd_row SET ", t->only ? "ONLY " : "", t->name);
		foreach(cc, t->labelled)
		{
			appendStringInfo(&sql, "%s%s = NULL", first ? "" : ", ", quote_identifier(lfirst(cc)));
			first = false;
		}
		appendStringInfo(&sql, " WHERE %s", where.data);
	}
	n = write_refusable(t, sql.data, 1, types, values, nulls, &refused);
	if (refused)
	{
		/*
		 * Row by row: the rows a foreign key keeps are kept (and reported),
		 * the others written, as the purge does (_purge_write).
		 */
		StringInfoData rows;
		Datum		found;
		bool		isnull;
		Oid			found_type;

		initStringInfo(&rows);
		appendStringInfo(&rows, "SELECT pg_catalog.array_agg(pd_row.tableoid::pg_catalog.text OPERATOR(pg_catalog.||) ':'"
						 " OPERATOR(pg_catalog.||) pd_row.ctid::pg_catalog.text) FROM %s%s AS pd_row WHERE %s",
						 t->only ? "ONLY " : "", t->name, where.data);
		(void) pd_run_as_owner(t->owner, rows.data, 1, types, values, nulls, true, false,
							   &found, &isnull, &found_type);
		if (!isnull)
		{
			Datum	   *elems;
			int			nelems;
			Oid			row_types[4] = {types[0], types[1], OIDOID, TIDOID};
			Datum		row_values[4] = {values[0], values[1], 0, 0};
			char		row_nulls[4] = {nulls[0], nulls[1], ' ', ' '};

			/* the same conditions: the row may have changed since */
			appendStringInfoString(&sql, " AND pd_row.tableoid OPERATOR(pg_catalog.=) $3"
								   " AND pd_row.ctid OPERATOR(pg_catalog.=) $4");
			deconstruct_array(DatumGetArrayTypeP(found), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, NULL, &nelems);
			for (int i = 0; i < nelems; i++)
			{
				char	   *row = TextDatumGetCString(elems[i]);
				char	   *colon = strchr(row, ':');
				bool		row_refused;

				*colon = '\0';
				row_values[2] = ObjectIdGetDatum(atooid(row));
				row_values[3] = DirectFunctionCall1(tidin, CStringGetDatum(colon + 1));
				n += write_refusable(t, sql.data, 4, row_types, row_values, row_nulls, &row_refused);
				if (row_refused)
					refused_rows++;
			}
		}
	}
	if (cascade != NULL && locked > n)
		*kept = locked - n;
	else
		*kept = refused_rows;
	return n;
}

/*
 * _erase_rows(subject text, action text, holds text[]) RETURNS jsonb:
 * deletes or anonymizes (action, or each table's on_expiry when NULL) the
 * subject's rows in every registered table, as the tables' owners, one
 * statement per owner; {table: {deleted|anonymized: n}} of the tables where
 * rows changed.  Raises if a hold names the subject as one of the tables'
 * subject types says (citext: in any case); the caller has locked the holds.
 */
Datum
pd_erase_rows(PG_FUNCTION_ARGS)
{
	List	   *groups;
	StringInfoData counts;
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	char	   *action = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		have_holds = !PG_ARGISNULL(2);
	ListCell   *gc;
	int			ngroups;
	uint64	   *written;
	uint64	   *kept;
	bool	   *deletes;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	refuse_recipients();
	values[0] = PG_GETARG_DATUM(0);
	values[1] = have_holds ? PG_GETARG_DATUM(2) : (Datum) 0;
	nulls[1] = have_holds ? ' ' : 'n';
	groups = erasure_order(owner_groups(subject_tables()));

	/* held, as any of the tables' types says? */
	if (have_holds)
	{
		foreach(gc, groups)
		{
			OwnerGroup *g = lfirst(gc);
			StringInfoData sql;
			ListCell   *tc;
			Datum		held;
			bool		isnull;
			Oid			held_type;
			bool		any = false;

			initStringInfo(&sql);
			appendStringInfoString(&sql, "SELECT false");
			foreach(tc, g->tables)
			{
				SubjectTable *t = lfirst(tc);
				char	   *type = format_type_with_typemod(t->subject_type, t->subject_typmod);

				check_may_act_as(t);
				if (t->equality == NULL)
					appendStringInfo(&sql, " OR EXISTS (SELECT 1 FROM pg_catalog.unnest(personal_data._canonical_holds(ARRAY[$1], NULL::%s)) s,"
									 " pg_catalog.unnest(personal_data._canonical_holds($2, NULL::%s)) h WHERE s OPERATOR(pg_catalog.=) h)",
									 type, type);
				else
					appendStringInfo(&sql, " OR EXISTS (SELECT 1 FROM personal_data._typed_holds_set(ARRAY[$1], NULL::%s) s,"
									 " personal_data._typed_holds_set($2, NULL::%s) h WHERE s%s %s h%s)",
									 type, type, t->collation, t->equality, t->collation);
				any = true;
			}
			if (!any)
				continue;
			(void) pd_run_as_owner(g->owner, sql.data, 2, types, values, nulls, true, false,
								   &held, &isnull, &held_type);
			if (!isnull && DatumGetBool(held))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("subject \"%s\" is under a legal hold", TextDatumGetCString(values[0])),
						 errhint("Release the hold first (release_hold), if the law allows.")));
		}
	}

	/*
	 * A table per group (groups of one), those that reference others first.
	 * Rows kept because a cascade would reach a registered table's row may
	 * be freed by the erasure of a table later in the order (a reference
	 * through a table in between, which the order does not see): tables
	 * with kept rows are tried again while that frees some.
	 */
	ngroups = list_length(groups);
	written = palloc0(Max(ngroups, 1) * sizeof(uint64));
	kept = palloc0(Max(ngroups, 1) * sizeof(uint64));
	deletes = palloc0(Max(ngroups, 1) * sizeof(bool));
	for (int pass = 0; pass <= ngroups; pass++)
	{
		bool		freed = false;

		foreach(gc, groups)
		{
			OwnerGroup *g = lfirst(gc);
			SubjectTable *t = linitial(g->tables);
			int			i = foreach_current_index(gc);
			uint64		n;

			if (pass > 0 && kept[i] == 0)
				continue;
			check_may_act_as(t);
			deletes[i] = action ? strcmp(action, "delete") == 0 : t->on_expiry == PD_ON_EXPIRY_DELETE;
			if (!deletes[i] && t->labelled == NIL)
				continue;			/* nothing to anonymize */
			n = erase_table_rows(t, deletes[i], types, values, nulls, &kept[i]);
			written[i] += n;
			if (pass > 0 && n > 0)
				freed = true;
		}
		if (pass > 0 && !freed)
			break;
	}

	initStringInfo(&counts);
	appendStringInfoChar(&counts, '{');
	foreach(gc, groups)
	{
		OwnerGroup *g = lfirst(gc);
		SubjectTable *t = linitial(g->tables);
		int			i = foreach_current_index(gc);

		if (written[i] == 0 && kept[i] == 0)
			continue;
		if (counts.len > 1)
			appendStringInfoString(&counts, ", ");
		escape_json(&counts, t->name);
		appendStringInfo(&counts, ": {\"%s\": " UINT64_FORMAT, deletes[i] ? "deleted" : "anonymized", written[i]);
		if (kept[i] > 0)
			appendStringInfo(&counts, ", \"kept\": " UINT64_FORMAT, kept[i]);
		appendStringInfoChar(&counts, '}');
	}
	appendStringInfoChar(&counts, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(counts.data)));
}

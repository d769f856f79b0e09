/*-------------------------------------------------------------------------
 *
 * purge.c
 *	  What the purge functions (sql/personal_data--0.3--0.4.sql) and the
 *	  purge worker (worker.c) cannot do in SQL.
 *
 * The purge runs with more privileges than the owners of the tables it
 * purges: purge_expired() is SECURITY DEFINER, the worker is the bootstrap
 * superuser.  But a DELETE or UPDATE of a table runs code its owner chose --
 * triggers, CHECK and domain constraints, index expressions, casts and
 * operators of the column types -- and an owner who is not a superuser must
 * not get to run code as one.  So every statement a purge runs over a
 * registered table goes through _owner_execute / _owner_query: as the table's
 * owner, in a security-restricted operation, with its own GUC nest level --
 * what VACUUM and ANALYZE do for index expressions.  The purge's own tables
 * (holds, purge_log) are read and written outside, as the definer.
 *
 * Holds are matched with the subject column type's own equality (citext is
 * case-insensitive, uuid ignores case, int ignores blanks): _typed_holds
 * turns the held subjects into values of that type, leaving out those that
 * are not values of it (no row can be theirs).
 *
 * One purge of a table at a time: a lock no SQL statement can take, so
 * that no other role can stop the purging of a table by holding it (as it
 * could hold an ordinary advisory lock).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "personal_data.h"

PG_FUNCTION_INFO_V1(pd_owner_execute);
PG_FUNCTION_INFO_V1(pd_owner_query);
PG_FUNCTION_INFO_V1(pd_owner_query_cached);
PG_FUNCTION_INFO_V1(pd_typed_holds);
PG_FUNCTION_INFO_V1(pd_typed_holds_set);
PG_FUNCTION_INFO_V1(pd_canonical_holds);
PG_FUNCTION_INFO_V1(pd_equality_operator);
PG_FUNCTION_INFO_V1(pd_purge_lock);

/*
 * The purge lock of a table is an advisory lock (its session-level form
 * lasts across the worker's transactions and ends with its process), in a
 * key space SQL cannot reach: pg_advisory_lock() sets the fourth field of
 * the tag to 1 or 2; ours is 'PD'.
 */
#define PURGE_LOCK_FIELD4	0x5044

static void
purge_locktag(LOCKTAG *tag, Oid relid)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, relid, 0, PURGE_LOCK_FIELD4);
}

/*
 * The worker's lock on a table's purge, for its whole run (session level):
 * false if a manual purge_expired() holds it.
 */
bool
pd_purge_try_lock_session(Oid relid)
{
	LOCKTAG		tag;

	purge_locktag(&tag, relid);
	return LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

void
pd_purge_unlock_session(Oid relid)
{
	LOCKTAG		tag;

	purge_locktag(&tag, relid);
	LockRelease(&tag, ExclusiveLock, true);
}

/*
 * _purge_lock(rel): purge_expired()'s lock on a table's purge, to the end
 * of the transaction; waits for the worker's run of the table (and obeys
 * lock_timeout).
 */
Datum
pd_purge_lock(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	purge_locktag(&tag, PG_GETARG_OID(0));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}

/*
 * The plans of the statements the compliance functions run for each
 * registered table (_owner_query_cached): the same few statements per table,
 * call after call, planned once per session (PostgreSQL's plan cache
 * replans them after DDL).  At most OWNER_PLANS_MAX, the oldest freed first.
 */
#define OWNER_PLANS_MAX		256

typedef struct OwnerPlan
{
	char	   *command;
	int			nargs;
	Oid			types[FUNC_MAX_ARGS];
	SPIPlanPtr	plan;
} OwnerPlan;

static List *owner_plans = NIL;

static SPIPlanPtr
owner_plan(const char *command, int nargs, Oid *types)
{
	ListCell   *lc;
	OwnerPlan  *entry;
	SPIPlanPtr	plan;
	MemoryContext oldcxt;

	foreach(lc, owner_plans)
	{
		entry = lfirst(lc);
		if (entry->nargs == nargs && strcmp(entry->command, command) == 0 &&
			memcmp(entry->types, types, nargs * sizeof(Oid)) == 0)
			return entry->plan;
	}
	/* one plan for every subject: a custom plan each call would cost a planning each call */
	plan = SPI_prepare_cursor(command, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", command, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of \"%s\"", command);
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (list_length(owner_plans) >= OWNER_PLANS_MAX)
	{
		entry = linitial(owner_plans);
		owner_plans = list_delete_first(owner_plans);
		SPI_freeplan(entry->plan);
		pfree(entry->command);
		pfree(entry);
	}
	entry = palloc0(sizeof(OwnerPlan));
	entry->command = pstrdup(command);
	entry->nargs = nargs;
	memcpy(entry->types, types, nargs * sizeof(Oid));
	entry->plan = plan;
	owner_plans = lappend(owner_plans, entry);
	MemoryContextSwitchTo(oldcxt);
	return plan;
}

/* SPI runs command, the policy's enforcement suspended */
static int
execute_suspended(const char *command, int nargs, Oid *types, Datum *values, char *nulls,
				  bool cached)
{
	volatile int ret = 0;

	pd_enforcement_suspended++;
	PG_TRY();
	{
		if (cached)
			ret = SPI_execute_plan(owner_plan(command, nargs, types), values, nulls, false, 0);
		else
			ret = SPI_execute_with_args(command, nargs, types, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		pd_enforcement_suspended--;
	}
	PG_END_TRY();
	return ret;
}

/*
 * Runs command (with the variadic arguments as $1, $2, ...) as the owner of
 * rel, security-restricted, the policy's enforcement suspended (the access
 * log still records it): the shared part of _owner_execute, _owner_query
 * and _owner_query_cached.  Returns the rows processed; *first the first
 * column of the first row, as text (NULL if none), when first is not NULL.
 */
static uint64
execute_as_owner(FunctionCallInfo fcinfo, text **first, bool cached, bool writes)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *command;
	int			nargs = PG_NARGS() - 2;
	Oid		   *types = NULL;
	Datum	   *values = NULL;
	char	   *nulls = NULL;
	HeapTuple	tup;
	Oid			owner;
	Datum		value = (Datum) 0;
	bool		isnull = true;
	Oid			value_type = InvalidOid;
	uint64		processed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the table and the command must not be NULL")));
	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the arguments must be passed one by one, not as a VARIADIC array")));
	command = text_to_cstring(PG_GETARG_TEXT_PP(1));

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	/* no way to act as a role one could not act as already */
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run statements as the owner of table \"%s\"",
						get_rel_name(relid))));

	if (nargs > 0)
	{
		types = palloc(nargs * sizeof(Oid));
		values = palloc(nargs * sizeof(Datum));
		nulls = palloc(nargs * sizeof(char));
		for (int i = 0; i < nargs; i++)
		{
			types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 2);
			if (!OidIsValid(types[i]))
				elog(ERROR, "could not determine the type of argument %d", i + 3);
			values[i] = PG_GETARG_DATUM(i + 2);
			nulls[i] = PG_ARGISNULL(i + 2) ? 'n' : ' ';
		}
	}

	processed = pd_run_as_owner(owner, command, nargs, types, values, nulls, cached, writes,
								first ? &value : NULL, &isnull, &value_type);
	if (first)
	{
		*first = NULL;
		if (!isnull)
		{
			Oid			output;
			bool		varlena;

			getTypeOutputInfo(value_type, &output, &varlena);
			*first = cstring_to_text(OidOutputFunctionCall(output, value));
		}
	}
	return processed;
}

/*
 * Runs command as owner, security-restricted, with its own GUC nest level
 * (search_path = pg_catalog, pg_temp; row_security = off) and the policy's
 * enforcement suspended; cached: with a plan kept for the session.  Returns
 * the rows processed and, when first is not NULL, the first column of the
 * first row (copied into the caller's memory context; *isnull if there is
 * none) and its type.  The caller checks that it may act as owner.
 *
 * writes: the command deletes or updates.  Its constraint checks are then
 * made IMMEDIATE first, for the rest of the transaction: PostgreSQL refuses
 * to queue a deferred trigger (an INITIALLY DEFERRED foreign key, as ORMs
 * declare them) within a security-restricted operation, since it would run
 * at commit outside of it.  Made inside the restricted context, so a check
 * the caller's earlier statements deferred fails here rather than runs with
 * the caller's (perhaps a SECURITY DEFINER function's) privileges.
 */
uint64
pd_run_as_owner(Oid owner, const char *command, int nargs, Oid *types, Datum *values,
				char *nulls, bool cached, bool writes, Datum *first, bool *first_isnull,
				Oid *first_type)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	MemoryContext caller_context = CurrentMemoryContext;
	int			ret;
	uint64		processed;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	/* whatever the owner's code sets ends with the statement */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* rows a forced row-level security policy hid would not be purged: fail instead */
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (writes)
	{
		ConstraintsSetStmt *immediate = makeNode(ConstraintsSetStmt);

		immediate->constraints = NIL;	/* ALL */
		immediate->deferred = false;
		AfterTriggerSetState(immediate);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = execute_suspended(command, nargs, types, values, nulls, cached);
	if (ret < 0)
		elog(ERROR, "could not run \"%s\": %s", command, SPI_result_code_string(ret));
	processed = SPI_processed;
	if (first)
	{
		*first_isnull = true;
		if (SPI_tuptable != NULL && SPI_processed > 0)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
			Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  first_isnull);

			*first_type = att->atttypid;
			if (!*first_isnull)
			{
				MemoryContext spi_context = MemoryContextSwitchTo(caller_context);

				*first = datumCopy(value, att->attbyval, att->attlen);
				MemoryContextSwitchTo(spi_context);
			}
		}
	}
	SPI_finish();

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return processed;
}

/* _owner_execute(rel, command, VARIADIC "any"): the rows processed */
Datum
pd_owner_execute(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) execute_as_owner(fcinfo, NULL, false, true));
}

/* the first column of the first row, as text, or SQL NULL */
static Datum
query_as_owner(FunctionCallInfo fcinfo, bool cached)
{
	text	   *first;

	(void) execute_as_owner(fcinfo, &first, cached, false);
	if (first == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(first);
}

/* _owner_query(rel, command, VARIADIC "any"): the first column of the first row */
Datum
pd_owner_query(PG_FUNCTION_ARGS)
{
	return query_as_owner(fcinfo, false);
}

/* _owner_query_cached(rel, command, VARIADIC "any"): _owner_query, its plan kept */
Datum
pd_owner_query_cached(PG_FUNCTION_ARGS)
{
	return query_as_owner(fcinfo, true);
}

/*
 * The subjects of subjects (a text[]; NULLs skipped) that are values of
 * type, as values of it (*values, *nvalues).  A subject its input function
 * refuses is left out (no row can be that subject's); any other error is
 * raised.
 */
static void
parse_holds(ArrayType *subjects, Oid type, Datum **values, int *nvalues)
{
	Datum	   *texts;
	bool	   *text_nulls;
	int			ntexts;
	Oid			typinput;
	Oid			typioparam;
	int16		typlen;
	bool		typbyval;
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner outer_owner = CurrentResourceOwner;

	get_typlenbyval(type, &typlen, &typbyval);
	deconstruct_array(subjects, TEXTOID, -1, false, TYPALIGN_INT, &texts, &text_nulls, &ntexts);
	getTypeInputInfo(type, &typinput, &typioparam);
	*values = palloc(Max(ntexts, 1) * sizeof(Datum));
	*nvalues = 0;

	for (int i = 0; i < ntexts; i++)
	{
		char	   *str;

		if (text_nulls[i])
			continue;
		str = TextDatumGetCString(texts[i]);
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(outer);
		PG_TRY();
		{
			Datum		value = OidInputFunctionCall(typinput, str, typioparam, -1);

			(*values)[(*nvalues)++] = datumCopy(value, typbyval, typlen);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(outer);
			CurrentResourceOwner = outer_owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(outer);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(outer);
			CurrentResourceOwner = outer_owner;
			/*
			 * not a value of the type: data exceptions, a domain's check, a
			 * name a reg* type does not find
			 */
			if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
				ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION &&
				edata->sqlerrcode != ERRCODE_UNDEFINED_OBJECT &&
				edata->sqlerrcode != ERRCODE_UNDEFINED_FUNCTION &&
				edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE)
				ReThrowError(edata);
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
}

/* the type of the sample argument (of its base type, for a domain) */
static Oid
holds_type(FunctionCallInfo fcinfo)
{
	Oid			type = getBaseType(get_fn_expr_argtype(fcinfo->flinfo, 1));

	if (!OidIsValid(type))
		elog(ERROR, "could not determine the type of the subject column");
	return type;
}

/*
 * _typed_holds(subjects text[], sample anyelement) RETURNS anyarray: the
 * subjects that are values of sample's type, as values of it.  (Not for an
 * array type: there is no array of it; _typed_holds_set serves those.)
 */
Datum
pd_typed_holds(PG_FUNCTION_ARGS)
{
	Oid			type = holds_type(fcinfo);
	Datum	   *values;
	int			nvalues;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(type));
	parse_holds(PG_GETARG_ARRAYTYPE_P(0), type, &values, &nvalues);
	PG_RETURN_ARRAYTYPE_P(construct_array(values, nvalues, type, typlen, typbyval, typalign));
}

/*
 * _typed_holds_set(subjects text[], sample anyelement) RETURNS SETOF
 * anyelement: the same as a set, which an array type (a subject column of
 * int[]) can be the element of.
 */
Datum
pd_typed_holds_set(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			type = holds_type(fcinfo);
	Datum	   *values;
	int			nvalues;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	parse_holds(PG_GETARG_ARRAYTYPE_P(0), type, &values, &nvalues);
	for (int i = 0; i < nvalues; i++)
	{
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &values[i], &isnull);
	}
	return (Datum) 0;
}

/*
 * _canonical_holds(subjects text[], sample anyelement) RETURNS text[]: the
 * subjects that are values of sample's type, as its output function writes
 * them -- how holds match a type without an equality operator (point: a
 * hold '(1, 2)' is the row's '(1,2)').
 */
Datum
pd_canonical_holds(PG_FUNCTION_ARGS)
{
	Oid			type = holds_type(fcinfo);
	Datum	   *values;
	int			nvalues;
	Oid			typoutput;
	bool		varlena;

	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	parse_holds(PG_GETARG_ARRAYTYPE_P(0), type, &values, &nvalues);
	getTypeOutputInfo(type, &typoutput, &varlena);
	for (int i = 0; i < nvalues; i++)
		values[i] = CStringGetTextDatum(OidOutputFunctionCall(typoutput, values[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(values, nvalues, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * OPERATOR(schema.=), the equality of the type's default btree or hash
 * operator class (for a domain, its base type's); NULL if it has none.
 */
char *
pd_equality_operator_sql(Oid type)
{
	TypeCacheEntry *entry = lookup_type_cache(getBaseType(type), TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	Form_pg_operator oper;
	char	   *result;

	if (!OidIsValid(entry->eq_opr))
		return NULL;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(entry->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", entry->eq_opr);
	oper = (Form_pg_operator) GETSTRUCT(tup);
	/* an operator name is not an identifier: never quoted */
	result = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(oper->oprnamespace)),
					  NameStr(oper->oprname));
	ReleaseSysCache(tup);
	return result;
}

/* _equality_operator(regtype): pd_equality_operator_sql */
Datum
pd_equality_operator(PG_FUNCTION_ARGS)
{
	char	   *result = pd_equality_operator_sql(PG_GETARG_OID(0));

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

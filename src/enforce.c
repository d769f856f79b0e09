/*-------------------------------------------------------------------------
 *
 * enforce.c
 *	  Query-time enforcement of the policy (DESIGN.md §3).
 *
 * Three mechanisms, each at the one place every query passes through:
 *
 *	 - Column purposes are checked in the ExecutorCheckPerms hook, which
 *	   PostgreSQL calls at executor start for every statement, with the
 *	   columns each table reference reads and writes: views, functions,
 *	   cursors, prepared and cached plans, COPY and RETURNING all end there.
 *	   A column the session may not use raises 42501.
 *	 - Columns labelled on_denied=null are replaced by NULL in the planner
 *	   hook, which sees the query after views are expanded, and are then
 *	   taken out of the columns the statement reads.  A reference the
 *	   rewrite did not reach still reaches the check above and errors: the
 *	   failure mode is an error, never a leak.
 *	 - Third parties see only rows whose subject has a valid basis: the
 *	   planner hook adds a security qual to each reference to a registered
 *	   table (evaluated before any user-supplied condition, like row-level
 *	   security), written so that the planner hashes the set of subjects
 *	   once instead of probing per row.  Writes of a minor's row need a
 *	   guardian's consent, checked like a WITH CHECK option.
 *
 * Whose identity counts is the session's role (GetOuterUserId: the login
 * role or SET ROLE), whatever views or SECURITY DEFINER functions lie in
 * between; a recipient's login stays the recipient after SET ROLE
 * (pd_session_recipient).  Superusers are exempt.  Plans depend on the role:
 * they are marked role-dependent and depend on the policy catalog tables.
 * Where their rewrite also depends on the purpose (masked columns, third
 * parties' row filters), a change of purpose resets the plan cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_statistic_ext_data.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_clause.h"
#include "parser/parse_func.h"
#include "parser/parse_collate.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rewriteManip.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "personal_data.h"

static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;
static planner_hook_type prev_planner = NULL;
static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/*
 * The verdict of the last ExecutorCheckPerms call on a range table, so that
 * running and finishing the same statement need not decide again.
 */
static List *checked_range_table = NIL;
static bool checked_range_table_enforced = false;
static uint64 checked_generation = 0;

/* How the policy sees the session running the current statement. */
typedef struct PolicySession
{
	Oid			roleid;			/* session role (GetOuterUserId) */
	const char *purpose;		/* NULL if none is set */
	PdRecipient *recipient;		/* NULL for an internal role */
} PolicySession;

/*
 * Could the policy apply to this statement?  The cheap part of the test,
 * made before looking at any table: not when a superuser switched it off,
 * not inside the queries of referential-integrity checks (which read keys
 * to enforce constraints, never to return them; user code they call is
 * enforced again, see pd_fmgr_hook).  Parallel workers are enforced like
 * their leader: the queries of functions they run are planned in them.
 */
/*
 * Statements the extension runs on a registered table's rows for a
 * compliance function (subject_data, erase_subject; purge.c) are not the
 * session's processing: while one runs, the policy does not apply (the
 * access log still records it).
 */
int			pd_enforcement_suspended = 0;

/*
 * Has a plan been made since the last change of purpose whose rewrite
 * depends on the purpose?  A change of purpose then resets the plan cache
 * (assign_purpose).
 */
bool		pd_purpose_dependent_plans = false;

static bool
enforcement_may_apply(void)
{
	return pd_preloaded && pd_enforce && pd_enforcement_suspended == 0 && IsNormalProcessingMode() &&
		IsTransactionState() && !InNoForceRLSOperation();
}

/*
 * Does the policy apply to this statement?  Also not for superusers, nor
 * where the extension is not installed.
 */
bool
pd_enforcement_applies(void)
{
	if (!enforcement_may_apply())
		return false;
	if (superuser_arg(GetOuterUserId()))
		return false;
	return pd_extension_installed();
}

/*
 * Column statistics hold the most common values of columns: pg_stats and
 * pg_stats_ext would show a table's personal data to whoever may read the
 * table.  Under enforcement, the statistics of registered tables are hidden
 * from these catalogs (the planner reads them through its own caches and is
 * not affected).
 */
static bool
is_statistics_catalog(Oid relid)
{
	return relid == StatisticRelationId || relid == StatisticExtDataRelationId;
}

/*
 * Visits every level of a query: the query itself, the subqueries in its
 * FROM list (views included, once expanded), its CTEs and the subqueries of
 * its sublinks, until visit returns true.  Expressions are walked only at
 * levels whose hasSubLinks is set: the planner relies on that flag to plan
 * sublinks at all, so a level without it has no query inside its
 * expressions.  Most statements have none, and a statement's plan then
 * costs no walk of its expression trees (about 1,500 instructions for a
 * one-table SELECT, measured with callgrind; see bench/README.md).
 */
typedef bool (*QueryLevelVisitor) (Query *query, void *context);

typedef struct QueryLevelWalk
{
	QueryLevelVisitor visit;
	void	   *context;
} QueryLevelWalk;

static bool walk_query_levels(Query *query, QueryLevelWalk *walk);

static bool
walk_sublink_queries(Node *node, QueryLevelWalk *walk)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return walk_query_levels((Query *) node, walk);
	return expression_tree_walker(node, walk_sublink_queries, walk);
}

static bool
walk_query_levels(Query *query, QueryLevelWalk *walk)
{
	ListCell   *lc;

	check_stack_depth();
	if (walk->visit(query, walk->context))
		return true;
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY &&
			walk_query_levels(rte->subquery, walk))
			return true;
	}
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);

		if (walk_query_levels(castNode(Query, cte->ctequery), walk))
			return true;
	}
	if (query->hasSubLinks)
		return query_tree_walker(query, walk_sublink_queries, walk,
								 QTW_IGNORE_RT_SUBQUERIES |
								 QTW_IGNORE_CTE_SUBQUERIES);
	return false;
}

/* Does this level read or write a registered table (or statistics)? */
static bool
level_touches_registered_table(Query *query, void *context)
{
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION &&
			(is_statistics_catalog(rte->relid) ||
			 pd_table_rules(rte->relid)->registered))
			return true;
	}
	return false;
}

/* Does the query (at any level) read or write a registered table? */
static bool
touches_registered_table(Query *query)
{
	QueryLevelWalk walk = {level_touches_registered_table, NULL};

	return walk_query_levels(query, &walk);
}

static void
get_policy_session(PolicySession *session)
{
	session->roleid = GetOuterUserId();
	session->purpose = (pd_purpose && pd_purpose[0] != '\0') ? pd_purpose : NULL;
	session->recipient = pd_session_recipient(session->roleid);
}

/* May the session use (read or write) the column?  See pd_may_use_column. */
static bool
session_may_use_column(const PolicySession *session, const PdColumnRule *rule)
{
	return session->purpose != NULL &&
		pd_may_use_column(session->roleid, session->purpose, rule);
}

/*
 * The same verdict for column i of a registered table, remembered in the
 * table's cache entry until the policy generation or the session role
 * changes: statements after the first decide with a bit test.
 */
static bool
session_may_use_rule(const PolicySession *session, PdTableRules *rules, int i)
{
	if (i >= 64)
		return session_may_use_column(session, &rules->columns[i]);
	if (rules->verdict_generation != pd_policy_generation ||
		rules->verdict_role != session->roleid)
	{
		uint64		allowed = 0;
		uint64		generation = pd_policy_generation;
		int			j;

		for (j = 0; j < rules->ncolumns && j < 64; j++)
		{
			if (session_may_use_column(session, &rules->columns[j]))
				allowed |= UINT64CONST(1) << j;
		}
		rules->verdict_allowed = allowed;
		rules->verdict_role = session->roleid;
		/* an invalidation seen while deciding makes the verdicts stale */
		rules->verdict_generation = (generation == pd_policy_generation) ? generation : 0;
	}
	return (rules->verdict_allowed & (UINT64CONST(1) << i)) != 0;
}

static char *
column_purpose_list(const PdColumnRule *rule)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < rule->npurposes; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", rule->purposes[i]);
	return buf.data;
}

/*
 * The refusal: names the column, the table and the purpose; says why in the
 * DETAIL and how to proceed in the HINT.  Never any value of the data.
 */
static void
report_column_denied(const PolicySession *session, Oid relid,
					 const PdColumnRule *rule, bool writing, CmdType operation)
{
	const char *column = get_attname(relid, rule->attnum, false);
	const char *table = get_rel_name(relid);
	const char *action = writing ? "writing" : "reading";
	char	   *allowed = column_purpose_list(rule);
	Oid			grantee = session->recipient ? session->recipient->roleid : session->roleid;
	char	   *message;

	if (session->purpose == NULL)
		message = psprintf("no purpose is set for %s column \"%s\" of table \"%s\"",
						   action, column, table);
	else
		message = psprintf("purpose \"%s\" does not allow %s column \"%s\" of table \"%s\"",
						   session->purpose, action, column, table);
	/* the attempt is logged although the statement aborts */
	pd_audit_denied(relid, rule->attnum, operation, message);

	if (session->purpose == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg_internal("%s", message),
				 errdetail("Column \"%s\" holds personal data collected for: %s.",
						   column, allowed),
				 errhint("State the purpose of the processing first, e.g. SET personal_data.purpose = '%s'.",
						 rule->purposes[0])));
	if (pd_lookup_purpose(session->purpose) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg_internal("%s", message),
				 errdetail("Purpose \"%s\" is not defined. Column \"%s\" holds personal data collected for: %s.",
						   session->purpose, column, allowed),
				 errhint("Set personal_data.purpose to one of the column's purposes.")));
	if (!pd_column_allows(rule, session->purpose))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg_internal("%s", message),
				 errdetail("Column \"%s\" holds personal data collected for: %s.",
						   column, allowed),
				 errhint("Leave the column out of the query, or set personal_data.purpose to one of its purposes if the processing serves it.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg_internal("%s", message),
			 errdetail("Role \"%s\" is not granted purpose \"%s\". Column \"%s\" holds personal data collected for: %s.",
					   GetUserNameFromId(grantee, false), session->purpose,
					   column, allowed),
			 errhint("A policy administrator grants purposes with personal_data.grant_purpose().")));
}

/* the command an RTE's required privileges imply, for the access log */
static CmdType
rte_command(const RangeTblEntry *rte)
{
	if (rte->requiredPerms & ACL_INSERT)
		return CMD_INSERT;
	if (rte->requiredPerms & ACL_UPDATE)
		return CMD_UPDATE;
	if (rte->requiredPerms & ACL_DELETE)
		return CMD_DELETE;
	return CMD_SELECT;
}

/*
 * ExecutorCheckPerms hook: every column a statement reads or writes in a
 * registered table must be usable by the session under its purpose.  A
 * whole-row reference uses every column.
 */
static bool
pd_executor_check_perms(List *rangeTable, bool ereport_on_violation)
{
	PolicySession session;
	bool		have_session = false;
	bool		saw_registered = false;
	ListCell   *lc;
	const int	whole_row = InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber;

	if (prev_ExecutorCheckPerms &&
		!prev_ExecutorCheckPerms(rangeTable, ereport_on_violation))
		return false;
	checked_range_table = NIL;
	if (!enforcement_may_apply())
		return true;

	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst(lc);
		PdTableRules *rules;
		int			i;

		if (rte->rtekind != RTE_RELATION)
			continue;
		rules = pd_table_rules(rte->relid);
		if (!rules->registered)
			continue;
		saw_registered = true;
		for (i = 0; i < rules->ncolumns; i++)
		{
			PdColumnRule rule = rules->columns[i];
			int			offset = rule.attnum - FirstLowInvalidHeapAttributeNumber;
			bool		read = bms_is_member(offset, rte->selectedCols) ||
				bms_is_member(whole_row, rte->selectedCols);
			bool		written = bms_is_member(offset, rte->insertedCols) ||
				bms_is_member(offset, rte->updatedCols);

			if (!read && !written)
				continue;
			if (!have_session)
			{
				/* decided once per statement, and only if it matters */
				if (!pd_enforcement_applies())
				{
					checked_range_table = rangeTable;
					checked_range_table_enforced = false;
					checked_generation = pd_policy_generation;
					return true;
				}
				get_policy_session(&session);
				have_session = true;
			}
			if (session_may_use_rule(&session, rules, i))
				continue;
			if (!ereport_on_violation)
				return false;
			report_column_denied(&session, rte->relid, &rule, written, rte_command(rte));
		}
	}
	checked_range_table = rangeTable;
	checked_range_table_enforced = have_session ||
		(saw_registered && pd_enforcement_applies());
	checked_generation = pd_policy_generation;
	return true;
}

/*
 * Row filter for a third party: the subject must have, for this recipient
 * and purpose, a consent neither withdrawn nor expired, or a legal basis for
 * that subject; a minor (by the table's birthdate column) only a guardian's
 * consent or a legal basis; and a legal basis for all subjects lets every
 * row through.  Returned as SQL over the table's columns.
 *
 * The shape matters for speed.  The common case is one uncorrelated
 * "subject IN (SELECT ... FROM consents ...)", which the planner joins as a
 * (parallel) hash semi-join with the table's statistics.  Legal bases are
 * few: the branches for them -- which turn the filter into ORs the planner
 * cannot join -- are written only when such bases exist at planning time
 * (adding one replans: legal_bases is a dependency of these plans; one that
 * expires is checked by the filter itself).  The minors' condition is
 * evaluated for minors only.
 */
static char *
row_filter_sql(const PdTableRules *rules, Oid relid, Oid recipient,
			   const char *purpose)
{
	StringInfoData buf;
	const char *subject = quote_identifier(get_attname(relid, rules->subject_attnum, false));
	const char *lit_purpose = quote_literal_cstr(purpose ? purpose : "");
	const char *consents =
		"SELECT c.subject FROM personal_data.consents c"
		" WHERE c.recipient OPERATOR(pg_catalog.=) %u::pg_catalog.oid"
		" AND c.purpose OPERATOR(pg_catalog.=) %s%s"
		" AND c.withdrawn_at IS NULL"
		" AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())";
	const char *bases =
		" FROM personal_data.legal_bases b"
		" WHERE b.recipient OPERATOR(pg_catalog.=) %u::pg_catalog.oid"
		" AND (b.purpose IS NULL OR b.purpose OPERATOR(pg_catalog.=) %s)"
		" AND (b.valid_until IS NULL OR b.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())";
	bool		blanket;
	bool		per_subject;

	pd_legal_bases_present(recipient, purpose, &blanket, &per_subject);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	if (blanket)
	{
		appendStringInfoString(&buf, "EXISTS (SELECT");
		appendStringInfo(&buf, bases, recipient, lit_purpose);
		appendStringInfoString(&buf, " AND b.subject IS NULL) OR ");
	}
	if (per_subject)
	{
		appendStringInfo(&buf, "%s::pg_catalog.text IN (SELECT b.subject", subject);
		appendStringInfo(&buf, bases, recipient, lit_purpose);
		appendStringInfoString(&buf, " AND b.subject IS NOT NULL) OR ");
	}
	appendStringInfoChar(&buf, '(');
	/* consent */
	appendStringInfo(&buf, "%s::pg_catalog.text IN (", subject);
	appendStringInfo(&buf, consents, recipient, lit_purpose, "");
	appendStringInfoChar(&buf, ')');
	/* for a minor, the consent must be a guardian's */
	if (rules->birthdate_attnum != InvalidAttrNumber)
	{
		appendStringInfo(&buf, " AND (%s IS NOT TRUE OR %s::pg_catalog.text IN (",
						 pd_minor_condition_sql(rules, relid), subject);
		appendStringInfo(&buf, consents, recipient, lit_purpose, " AND c.by_guardian");
		appendStringInfoString(&buf, "))");
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * "Is the row's subject a minor?" as SQL over the table's birthdate column:
 * born less than personal_data.minor_age years ago.  NULL if the birthdate
 * is unknown.
 */
char *
pd_minor_condition_sql(const PdTableRules *rules, Oid relid)
{
	return psprintf("(%s OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) '%d years'::pg_catalog.interval))",
					quote_identifier(get_attname(relid, rules->birthdate_attnum, false)),
					pd_minor_age);
}

/* The extension's own tables read by injected quals are not checked as the session. */
static bool
unset_catalog_permission_checks(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);

			if (rte->rtekind == RTE_RELATION &&
				get_rel_namespace(rte->relid) == *(Oid *) context)
				rte->requiredPerms = 0;
		}
		return query_tree_walker(query, unset_catalog_permission_checks,
								 context, 0);
	}
	return expression_tree_walker(node, unset_catalog_permission_checks,
								  context);
}

/*
 * Parse and analyze "SELECT <expression>" over relation relid, as if the
 * expression were a WHERE clause of a query on it, and return it with its
 * Vars pointing at range table index rtindex.
 */
static Node *
build_qual(const char *sql, Oid relid, Index rtindex)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	SelectStmt *select = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	Node	   *expr = ((ResTarget *) linitial(select->targetList))->val;
	ParseState *pstate = make_parsestate(NULL);
	Relation	rel = table_open(relid, AccessShareLock);
	ParseNamespaceItem *nsitem;
	Node	   *qual;
	Oid			namespace = get_namespace_oid(PD_SCHEMA, false);

	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   NULL, false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	qual = transformWhereClause(pstate, expr, EXPR_KIND_WHERE, "personal_data");
	assign_expr_collations(pstate, qual);
	table_close(rel, NoLock);
	free_parsestate(pstate);

	unset_catalog_permission_checks(qual, &namespace);
	ChangeVarNodes(qual, 1, rtindex, 0);
	return qual;
}

/* What the planner hook does to one range table entry of one query level. */
typedef struct RteEdit
{
	Oid			relid;
	Bitmapset  *masked;			/* attnums read as NULL */
	bool		filter_rows;	/* third party: add the row filter */
	bool		check_minors;	/* INSERT/UPDATE target with a birthdate */
	bool		hide_statistics;	/* pg_statistic(_ext_data): hide rows of
									 * registered tables */
	bool		uses_system_columns;	/* a Var reads ctid, tableoid, ... */
} RteEdit;

typedef struct MaskContext
{
	PolicySession *session;
	List	   *levels;			/* RteEdit arrays, innermost query first */
	bool		touched;		/* a registered table was seen */
	bool		purpose_dependent;	/* would the rewrite differ under
									 * another purpose? */
} MaskContext;

static Node *mask_mutator(Node *node, MaskContext *context);

/* Decide, for every entry of query's range table, what enforcement adds. */
static RteEdit *
plan_query_level(Query *query, MaskContext *context)
{
	int			n = list_length(query->rtable);
	RteEdit    *edits = palloc0(sizeof(RteEdit) * (n + 1));
	ListCell   *lc;
	Index		rtindex = 0;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		PdTableRules *rules;
		bool		is_target;
		int			i;

		rtindex++;
		if (rte->rtekind != RTE_RELATION)
			continue;
		if (is_statistics_catalog(rte->relid))
		{
			context->touched = true;
			edits[rtindex].relid = rte->relid;
			edits[rtindex].hide_statistics = true;
			continue;
		}
		rules = pd_table_rules(rte->relid);
		if (!rules->registered)
			continue;
		context->touched = true;
		edits[rtindex].relid = rte->relid;
		is_target = ((int) rtindex == query->resultRelation);

		for (i = 0; i < rules->ncolumns; i++)
		{
			PdColumnRule *rule = &rules->columns[i];

			if (rule->on_denied != PD_ON_DENIED_NULL)
				continue;
			/* masked or not: either way, under another purpose it may differ */
			context->purpose_dependent = true;
			if (!session_may_use_rule(context->session, rules, i))
				edits[rtindex].masked = bms_add_member(edits[rtindex].masked,
													   rule->attnum);
		}

		if (context->session->recipient &&
			context->session->recipient->kind == PD_RECIPIENT_THIRD_PARTY)
		{
			if (is_target && query->onConflict &&
				query->onConflict->action == ONCONFLICT_UPDATE)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("third parties may not use INSERT ... ON CONFLICT DO UPDATE on table \"%s\"",
								get_rel_name(rte->relid)),
						 errdetail("The conflicting row may belong to a subject who did not consent to its provision.")));
			if (rules->subject_attnum == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("table \"%s\" cannot be provided to third parties: its subject column is missing",
								get_rel_name(rte->relid))));
			/*
			 * An INSERT's target provides nothing; every other use reads
			 * rows, through a filter built for the purpose (which legal
			 * bases apply).
			 */
			if (!(is_target && query->commandType == CMD_INSERT))
			{
				edits[rtindex].filter_rows = true;
				context->purpose_dependent = true;
			}
		}
		if (is_target && OidIsValid(rules->birthdate_attnum) &&
			rules->subject_attnum != InvalidAttrNumber &&
			(query->commandType == CMD_INSERT || query->commandType == CMD_UPDATE ||
			 query->commandType == CMD_MERGE))
			edits[rtindex].check_minors = true;
	}
	return edits;
}

/* A whole-row reference to a table with masked columns, as a ROW(...). */
static Node *
masked_whole_row(Var *var, const RteEdit *edit)
{
	Relation	rel = relation_open(edit->relid, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	RowExpr    *row = makeNode(RowExpr);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node	   *arg;

		if (att->attisdropped)
			arg = (Node *) makeNullConst(INT4OID, -1, InvalidOid);
		else if (bms_is_member(att->attnum, edit->masked))
			arg = (Node *) makeNullConst(att->atttypid, att->atttypmod,
										 att->attcollation);
		else
			arg = (Node *) makeVar(var->varno, att->attnum, att->atttypid,
								   att->atttypmod, att->attcollation,
								   var->varlevelsup);
		row->args = lappend(row->args, arg);
		row->colnames = lappend(row->colnames,
								makeString(pstrdup(NameStr(att->attname))));
	}
	row->row_typeid = var->vartype;
	row->row_format = COERCE_IMPLICIT_CAST;
	row->location = var->location;
	relation_close(rel, NoLock);
	return (Node *) row;
}

/*
 * Can a third party's table reference become a filtered subquery?  Not the
 * target of a write, not with row locks, TABLESAMPLE or system columns
 * (which a subquery does not have), and not while provisions are recorded
 * (the recorder must run after the filter, which a join would not ensure).
 */
static bool
can_wrap_in_subquery(Query *query, Index rtindex, RangeTblEntry *rte,
					 RteEdit *edit)
{
	ListCell   *lc;

	if ((int) rtindex == query->resultRelation || rte->tablesample ||
		edit->uses_system_columns || pd_record_provisions)
		return false;
	foreach(lc, query->rowMarks)
	{
		if (((RowMarkClause *) lfirst(lc))->rti == rtindex)
			return false;
	}
	return true;
}

/*
 * Turn a reference to a registered table into a security-barrier subquery,
 * "SELECT <every column> FROM t WHERE <filter>", like a security barrier
 * view: the planner may then join the filter's IN (...) as a (parallel)
 * hash semi-join inside it, while conditions of the query that are not
 * leakproof still see only the rows the filter let through.  Columns keep
 * their numbers (dropped ones are NULL placeholders), so references to the
 * entry stay valid; masked columns are NULL inside as well.
 */
static void
wrap_in_filtered_subquery(RangeTblEntry *rte, Index rtindex, RteEdit *edit,
						  Node *filter)
{
	Query	   *subquery = makeNode(Query);
	RangeTblEntry *inner = copyObject(rte);
	RangeTblRef *rtr = makeNode(RangeTblRef);
	Relation	rel = relation_open(edit->relid, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	/* quals already on the reference (row-level security) move inside */
	ChangeVarNodes((Node *) inner->securityQuals, rtindex, 1, 0);
	rtr->rtindex = 1;
	subquery->commandType = CMD_SELECT;
	subquery->querySource = QSRC_ORIGINAL;
	subquery->canSetTag = true;
	subquery->rtable = list_make1(inner);
	subquery->jointree = makeFromExpr(list_make1(rtr), filter);
	subquery->hasSubLinks = true;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Expr	   *expr;

		if (att->attisdropped)
			expr = (Expr *) makeNullConst(INT4OID, -1, InvalidOid);
		else if (bms_is_member(att->attnum, edit->masked))
			expr = (Expr *) makeNullConst(att->atttypid, att->atttypmod,
										  att->attcollation);
		else
			expr = (Expr *) makeVar(1, att->attnum, att->atttypid,
									att->atttypmod, att->attcollation, 0);
		subquery->targetList = lappend(subquery->targetList,
									   makeTargetEntry(expr, i + 1,
													   pstrdup(NameStr(att->attname)),
													   false));
	}
	relation_close(rel, NoLock);

	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = subquery;
	rte->security_barrier = true;
	rte->relid = InvalidOid;
	rte->relkind = 0;
	rte->rellockmode = 0;
	rte->tablesample = NULL;
	rte->inh = false;
	rte->requiredPerms = 0;
	rte->checkAsUser = InvalidOid;
	rte->selectedCols = NULL;
	rte->insertedCols = NULL;
	rte->updatedCols = NULL;
	rte->extraUpdatedCols = NULL;
	rte->securityQuals = NIL;
}

/* A WITH CHECK option on the rows an INSERT or UPDATE writes. */
static void
add_minor_check(Query *query, Oid relid, Index rtindex, const char *sql,
				WCOKind kind)
{
	WithCheckOption *wco = makeNode(WithCheckOption);

	wco->kind = kind;
	wco->relname = get_rel_name(relid);
	wco->polname = pstrdup("personal_data guardian consent");
	wco->qual = build_qual(sql, relid, rtindex);
	wco->cascaded = false;
	query->withCheckOptions = lappend(query->withCheckOptions, wco);
	query->hasSubLinks = true;
}

/*
 * personal_data._refuse_minor(rel, purpose): the refusal of a minor's row
 * written without a guardian's consent to the purpose.  Called by the check
 * option of INSERT and UPDATE only for such a row; never returns.
 */
PG_FUNCTION_INFO_V1(pd_refuse_minor);

Datum
pd_refuse_minor(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *table = get_rel_name(relid);

	pd_audit_denied(relid, InvalidAttrNumber, CMD_INSERT,
					psprintf("a guardian's consent is required to write the row of a subject under %d in table \"%s\"",
							 pd_minor_age, table ? table : "?"));
	if (purpose[0] != '\0' && !pd_role_has_purpose(pd_grantee_for(GetOuterUserId()), purpose))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a guardian's consent is required to write the row of a subject under %d in table \"%s\"",
						pd_minor_age, table ? table : "?"),
				 errdetail("The role is not granted purpose \"%s\": a guardian's consent to it does not count.",
						   purpose),
				 errhint("Grant the purpose to the role (grant_purpose), if the processing serves it.")));
	if (purpose[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a guardian's consent is required to write the row of a subject under %d in table \"%s\"",
						pd_minor_age, table ? table : "?"),
				 errdetail("No purpose is set, and a guardian consents to a purpose."),
				 errhint("Set personal_data.purpose, and record the guardian's consent with personal_data.record_consent(subject, purpose, by_guardian => true).")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("a guardian's consent is required to write the row of a subject under %d in table \"%s\"",
					pd_minor_age, table ? table : "?"),
			 errdetail("No guardian's consent to purpose \"%s\" is recorded for the subject.",
					   purpose),
			 errhint("Record it with personal_data.record_consent(subject, '%s', by_guardian => true).",
					 purpose)));
	PG_RETURN_BOOL(false);
}

/*
 * After a query level was rewritten: masked columns are no longer read (a
 * whole-row reference became its non-masked columns), third-party row
 * filters and minors' checks are added.
 */
/*
 * the session's purpose as the statement reads it when it runs: '' if none,
 * or if the session's role is not granted it (see pd_granted_purpose)
 */
#define SESSION_PURPOSE_SQL "personal_data._granted_purpose()"

static void
apply_rte_edits(Query *query, RteEdit *edits, MaskContext *context)
{
	ListCell   *lc;
	Index		rtindex = 0;
	const int	whole_row = InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		RteEdit    *edit = &edits[++rtindex];
		PdTableRules *rules;

		if (!OidIsValid(edit->relid))
			continue;

		if (edit->masked)
		{
			int			attnum = -1;

			if (bms_is_member(whole_row, rte->selectedCols))
			{
				Relation	rel = relation_open(edit->relid, NoLock);
				TupleDesc	desc = RelationGetDescr(rel);
				int			i;

				rte->selectedCols = bms_del_member(rte->selectedCols, whole_row);
				for (i = 0; i < desc->natts; i++)
				{
					if (!TupleDescAttr(desc, i)->attisdropped)
						rte->selectedCols = bms_add_member(rte->selectedCols,
														   i + 1 - FirstLowInvalidHeapAttributeNumber);
				}
				relation_close(rel, NoLock);
			}
			while ((attnum = bms_next_member(edit->masked, attnum)) >= 0)
				rte->selectedCols = bms_del_member(rte->selectedCols,
												   attnum - FirstLowInvalidHeapAttributeNumber);
		}

		if (edit->filter_rows)
		{
			char	   *filter;

			rules = pd_table_rules(edit->relid);
			filter = row_filter_sql(rules, edit->relid,
									context->session->recipient->roleid,
									context->session->purpose);
			if (can_wrap_in_subquery(query, rtindex, rte, edit))
				wrap_in_filtered_subquery(rte, rtindex, edit,
										  build_qual(filter, edit->relid, 1));
			else
			{
				rte->securityQuals = lcons(build_qual(filter, edit->relid, rtindex),
										   rte->securityQuals);

				/*
				 * The provision hook point: rows that passed the filter are
				 * recorded, at the next security level (after the filter,
				 * before any condition of the query).
				 */
				if (pd_record_provisions)
					rte->securityQuals =
						lappend(rte->securityQuals,
								build_qual(psprintf("SELECT personal_data._provided(%u::pg_catalog.oid, %s::pg_catalog.text)",
													edit->relid,
													quote_identifier(get_attname(edit->relid, rules->subject_attnum, false))),
										   edit->relid, rtindex));
			}
			query->hasSubLinks = true;	/* the filter's IN (SELECT ...) */
			continue;
		}

		if (edit->hide_statistics)
		{
			rte->securityQuals =
				lcons(build_qual(edit->relid == StatisticRelationId ?
								 "SELECT NOT personal_data._table_is_registered(starelid)" :
								 "SELECT NOT personal_data._statistics_object_is_registered(stxoid)",
								 edit->relid, rtindex),
					  rte->securityQuals);
			continue;
		}

		if (edit->check_minors)
		{
			char	   *sql;

			/*
			 * The row passes if its subject is not a minor or a guardian
			 * consented to the purpose; otherwise _refuse_minor() raises the
			 * refusal (OR evaluates left to right and stops at the first
			 * true).  The purpose is the one the statement runs under, read
			 * when it runs (the plan is kept across purposes).
			 */
			rules = pd_table_rules(edit->relid);
			sql = psprintf("SELECT %s IS NOT TRUE OR %s::pg_catalog.text IN ("
						   "SELECT c.subject FROM personal_data.consents c"
						   " WHERE c.purpose OPERATOR(pg_catalog.=) " SESSION_PURPOSE_SQL
						   " AND c.by_guardian AND c.withdrawn_at IS NULL"
						   " AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) pg_catalog.now()))"
						   " OR personal_data._refuse_minor(%u::pg_catalog.oid, pg_catalog.current_setting('personal_data.purpose'))",
						   pd_minor_condition_sql(rules, edit->relid),
						   quote_identifier(get_attname(edit->relid, rules->subject_attnum, false)),
						   edit->relid);
			/*
			 * Rows inserted by INSERT or MERGE, rows updated by UPDATE, MERGE
			 * or INSERT ... ON CONFLICT DO UPDATE.
			 */
			if (query->commandType != CMD_UPDATE)
				add_minor_check(query, edit->relid, rtindex, sql,
								WCO_RLS_INSERT_CHECK);
			if (query->commandType != CMD_INSERT ||
				(query->onConflict &&
				 query->onConflict->action == ONCONFLICT_UPDATE))
				add_minor_check(query, edit->relid, rtindex, sql,
								WCO_RLS_UPDATE_CHECK);
		}
	}
}

static Node *plan_guard_expr(const PolicySession *session);

/*
 * A query level whose rewrite depends on the role and purpose (masked
 * columns, a third party's row filter) checks, when it runs, that they are
 * those it was planned for (pd_plan_guard).  A condition of the level's
 * own WHERE: without columns, the planner evaluates it once, first.
 */
static void
add_plan_guard(Query *query, RteEdit *edits, MaskContext *context)
{
	bool		dependent = false;
	Node	   *guard;

	if (query->jointree == NULL ||
		(query->commandType != CMD_SELECT && query->commandType != CMD_UPDATE &&
		 query->commandType != CMD_DELETE))
		return;
	for (int i = 1; i <= list_length(query->rtable); i++)
	{
		if (edits[i].masked || edits[i].filter_rows)
			dependent = true;
	}
	if (!dependent || (guard = plan_guard_expr(context->session)) == NULL)
		return;
	query->jointree->quals = make_and_qual(query->jointree->quals, guard);
}

/*
 * Rewrites references to masked columns as NULL, level by level: a Var
 * belongs to the query level varlevelsup levels up from where it appears.
 */
static Node *
mask_mutator(Node *node, MaskContext *context)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		RteEdit    *edits = plan_query_level(query, context);
		Query	   *result;

		context->levels = lcons(edits, context->levels);
		result = query_tree_mutator(query, mask_mutator, context, 0);
		context->levels = list_delete_first(context->levels);
		apply_rte_edits(result, edits, context);
		add_plan_guard(result, edits, context);
		return (Node *) result;
	}
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		RteEdit    *edits;
		RteEdit    *edit;

		if ((int) var->varlevelsup >= list_length(context->levels) || var->varno <= 0)
			return copyObject(node);
		edits = list_nth(context->levels, var->varlevelsup);
		edit = &edits[var->varno];
		if (var->varattno < 0)
			edit->uses_system_columns = true;
		if (edit->masked == NULL)
			return copyObject(node);
		if (var->varattno > 0 && bms_is_member(var->varattno, edit->masked))
			return (Node *) makeNullConst(var->vartype, var->vartypmod,
										  var->varcollid);
		if (var->varattno == InvalidAttrNumber)
			return masked_whole_row(var, edit);
		return copyObject(node);
	}
	return expression_tree_mutator(node, mask_mutator, context);
}

/*
 * Does any level of the query need masking, a row filter or a check?  Most
 * queries of an internal role under a purpose covering what they use need
 * none: they are planned as they are, without copying the query tree.
 */
static bool
level_needs_rewrite(Query *query, void *context)
{
	RteEdit    *edits = plan_query_level(query, (MaskContext *) context);
	int			i;

	for (i = 1; i <= list_length(query->rtable); i++)
	{
		if (edits[i].masked || edits[i].filter_rows ||
			edits[i].check_minors || edits[i].hide_statistics)
			return true;
	}
	pfree(edits);
	return false;
}

static bool
query_needs_rewrite(Query *query, MaskContext *context)
{
	QueryLevelWalk walk = {level_needs_rewrite, context};

	return walk_query_levels(query, &walk);
}

/*
 * personal_data._granted_purpose(): the session's purpose if its role is
 * granted it, else '': the purpose a minor's guardian must have consented
 * to (a purpose the role may not use counts as none).
 */
PG_FUNCTION_INFO_V1(pd_granted_purpose);

Datum
pd_granted_purpose(PG_FUNCTION_ARGS)
{
	Oid			roleid = GetOuterUserId();

	if (pd_purpose == NULL || pd_purpose[0] == '\0' ||
		!pd_role_has_purpose(pd_grantee_for(roleid), pd_purpose))
		PG_RETURN_TEXT_P(cstring_to_text(""));
	PG_RETURN_TEXT_P(cstring_to_text(pd_purpose));
}

/*
 * personal_data._plan_guard(role, purpose): true if the statement runs for
 * the role and under the purpose its plan's rewrite was made for; raises
 * otherwise.  Added to every query level whose rewrite depends on them
 * (masked columns, a third party's row filter), as a condition without
 * columns -- evaluated once per run, before any row is read.  The plan
 * cache replans such plans when the purpose or role changes; this catches
 * the plans it does not hold: a SQL function's queries, planned together
 * on its first call, run after a statement of it changed the role or the
 * purpose.
 */
PG_FUNCTION_INFO_V1(pd_plan_guard);

Datum
pd_plan_guard(PG_FUNCTION_ARGS)
{
	Oid			roleid = PG_GETARG_OID(0);
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *current = pd_purpose ? pd_purpose : "";

	if (roleid != GetOuterUserId() || strcmp(purpose, current) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this statement was planned for another role or purpose"),
				 errdetail("The role or personal_data.purpose changed after the statement was planned, within the statement that runs it (a SQL function's statements are planned together)."),
				 errhint("Change the role and the purpose between statements, or in a function's SET clause.")));
	PG_RETURN_BOOL(true);
}

/* The guard for a query level planned for the session, or NULL if the extension has none (before 0.7). */
static Node *
plan_guard_expr(const PolicySession *session)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Oid			fn = LookupFuncName(list_make2(makeString(PD_SCHEMA), makeString("_plan_guard")),
									2, argtypes, true);

	if (!OidIsValid(fn))
		return NULL;
	return (Node *) makeFuncExpr(fn, BOOLOID,
								 list_make2(makeConst(OIDOID, -1, InvalidOid, sizeof(Oid),
													  ObjectIdGetDatum(session->roleid), false, true),
											makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
													  CStringGetTextDatum(session->purpose ? session->purpose : ""),
													  false, false)),
								 InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
}

/*
 * Planner hook: applies masking, row filters and minors' checks to the
 * query (after view expansion), then plans it.  The plan depends on who
 * runs it and on the policy catalog.
 */
static PlannedStmt *
pd_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	PlannedStmt *result;
	MaskContext context = {0};
	PolicySession session;
	Oid			planned_for_role = InvalidOid;
	char	   *planned_for_purpose = NULL;

	/*
	 * A plan of a registered table depends on who runs it even when made
	 * for a superuser, who may SET ROLE afterwards.
	 */
	if (pd_preloaded && parse->commandType != CMD_UTILITY &&
		IsTransactionState() && touches_registered_table(parse))
		context.touched = true;
	if (context.touched && enforcement_may_apply() && pd_enforcement_applies())
	{
		get_policy_session(&session);
		context.session = &session;
		planned_for_role = session.roleid;
		planned_for_purpose = pstrdup(session.purpose ? session.purpose : "");
		if (query_needs_rewrite(parse, &context))
			parse = (Query *) mask_mutator((Node *) parse, &context);
		/* before planning: a change of purpose while it plans resets the cache */
		if (context.purpose_dependent)
			pd_purpose_dependent_plans = true;

		/*
		 * The disclosure log records each row a recipient's scan provides,
		 * in the process that reads it (audit.c).  A parallel hash join
		 * installs its own executor routine once its workers are set up,
		 * after the capture is in place: plan a recipient's statements
		 * without parallel workers while provisions are recorded.
		 */
		if (session.recipient != NULL && pd_audit_level != PD_AUDIT_OFF)
			cursorOptions &= ~CURSOR_OPT_PARALLEL_OK;
	}

	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);

	/*
	 * A function the planner evaluated (constant folding) may have changed
	 * the role or the purpose: the rewrite was made for the others.
	 */
	if (planned_for_purpose != NULL &&
		(GetOuterUserId() != planned_for_role ||
		 strcmp(planned_for_purpose, pd_purpose ? pd_purpose : "") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the role or personal_data.purpose changed while the statement was planned"),
				 errhint("Change the role and the purpose between statements.")));
	if (context.touched)
	{
		result->dependsOnRole = true;
		result->relationOids = list_concat(result->relationOids,
										   pd_policy_catalog_relids());
	}
	return result;
}

/*
 * COPY of a registered table goes through the same checks as a query:
 * COPY t TO becomes COPY (SELECT ... FROM ONLY t) TO, so that masking and
 * row filters apply (PostgreSQL does the same for row-level security).
 * COPY t FROM into a table with a birthdate column is refused: COPY runs no
 * check options, so a minor's row could enter without a guardian's consent.
 * Returns the statement to run.
 */
PlannedStmt *
pd_enforce_copy(PlannedStmt *pstmt)
{
	CopyStmt   *stmt = (CopyStmt *) pstmt->utilityStmt;
	Oid			relid;
	PdTableRules *rules;
	SelectStmt *select;
	RangeVar   *from;
	CopyStmt   *rewritten;
	PlannedStmt *result;

	if (stmt->relation == NULL || !pd_enforcement_applies())
		return pstmt;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return pstmt;
	rules = pd_table_rules(relid);
	if (!rules->registered)
		return pstmt;

	if (stmt->is_from)
	{
		if (rules->birthdate_attnum != InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("COPY FROM is not supported for table \"%s\" under personal_data enforcement",
							get_rel_name(relid)),
					 errdetail("Rows of subjects under %d need a guardian's consent, which COPY cannot check.",
							   pd_minor_age),
					 errhint("Use INSERT instead.")));
		return pstmt;
	}
	if (get_rel_relkind(relid) != RELKIND_RELATION)
		return pstmt;			/* COPY TO refuses anything else itself */

	select = makeNode(SelectStmt);
	from = copyObject(stmt->relation);
	from->inh = false;			/* COPY t TO copies t alone */
	select->fromClause = list_make1(from);
	if (stmt->attlist == NIL)
	{
		ColumnRef  *star = makeNode(ColumnRef);
		ResTarget  *target = makeNode(ResTarget);

		star->fields = list_make1(makeNode(A_Star));
		star->location = -1;
		target->val = (Node *) star;
		target->location = -1;
		select->targetList = list_make1(target);
	}
	else
	{
		ListCell   *lc;

		foreach(lc, stmt->attlist)
		{
			ColumnRef  *column = makeNode(ColumnRef);
			ResTarget  *target = makeNode(ResTarget);

			column->fields = list_make1(makeString(pstrdup(strVal(lfirst(lc)))));
			column->location = -1;
			target->val = (Node *) column;
			target->location = -1;
			select->targetList = lappend(select->targetList, target);
		}
	}

	rewritten = copyObject(stmt);
	rewritten->relation = NULL;
	rewritten->attlist = NIL;
	rewritten->query = (Node *) select;
	result = copyObject(pstmt);
	result->utilityStmt = (Node *) rewritten;
	return result;
}

/*
 * The planner inlines simple SQL set-returning functions into the calling
 * query after the planner hook has run, so their tables would escape the
 * masking and row filters.  PostgreSQL does not inline a function that an
 * fmgr hook wants to see: under enforcement, SQL set-returning functions
 * are claimed, and run as functions of their own -- whose queries are
 * planned, and enforced, like any other.
 */
static bool
pd_needs_fmgr_hook(Oid fn_oid)
{
	HeapTuple	tuple;
	bool		claim = false;

	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	if (fn_oid < FirstNormalObjectId)
		return false;

	/*
	 * User code a suspended statement calls (a table's triggers, the
	 * functions of its constraints and types) is not the extension's
	 * statement: claimed, it runs with enforcement (pd_fmgr_hook).
	 */
	if (pd_enforcement_suspended > 0)
		return true;

	/*
	 * User code called from a referential-integrity query (the referencing
	 * table's triggers on a cascade, a default, an operator) is not part of
	 * the integrity check: claimed, it runs with enforcement (pd_fmgr_hook).
	 */
	if (pd_preloaded && pd_enforce && pd_enforcement_suspended == 0 && InNoForceRLSOperation())
		return true;
	if (!enforcement_may_apply())
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);

		claim = proc->proretset && proc->prolang == SQLlanguageId;
		ReleaseSysCache(tuple);
	}
	return claim && pd_enforcement_applies();
}

/*
 * Plans are marked role-dependent, but PostgreSQL compares the role a plan
 * was made for with the current user -- inside a SECURITY DEFINER function
 * (or one with SET role) that is the owner, whoever the session is.  The
 * policy judges the session's role, so a plan cached in such a function for
 * one session role must not serve another: entering one after the session
 * role changed replans.  Such functions always pass through this hook.
 */
/* what pd_fmgr_hook keeps in its private datum between start and end */
#define FMGR_LEFT_NOFORCE_RLS	1
#define FMGR_SUSPENSION_SHIFT	1

static void
pd_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	static Oid	last_outer_role = InvalidOid;

	if (event == FHET_START)
	{
		Oid			outer_role = GetOuterUserId();
		Oid			userid;
		int			sec_context;

		if (outer_role != last_outer_role)
		{
			if (OidIsValid(last_outer_role))
				ResetPlanCache();
			last_outer_role = outer_role;
		}

		/*
		 * Leave the referential-integrity context for the function's own
		 * queries, and note it to come back when it returns.  (On error the
		 * (sub)transaction abort restores the context.)
		 */
		GetUserIdAndSecContext(&userid, &sec_context);
		*private = Int32GetDatum(0);
		if (sec_context & SECURITY_NOFORCE_RLS)
		{
			SetUserIdAndSecContext(userid, sec_context & ~SECURITY_NOFORCE_RLS);
			*private = Int32GetDatum(FMGR_LEFT_NOFORCE_RLS);
		}

		/*
		 * Leave a suspension of enforcement (purge.c) likewise: the policy
		 * applies to user code, whoever calls it.  The suspension is back
		 * when the function returns, or fails.
		 */
		if (pd_enforcement_suspended > 0)
		{
			*private = Int32GetDatum(DatumGetInt32(*private) |
									 (pd_enforcement_suspended << FMGR_SUSPENSION_SHIFT));
			pd_enforcement_suspended = 0;
		}
	}
	else if (event == FHET_END || event == FHET_ABORT)
	{
		int32		saved = DatumGetInt32(*private);

		if (event == FHET_END && (saved & FMGR_LEFT_NOFORCE_RLS))
		{
			Oid			userid;
			int			sec_context;

			GetUserIdAndSecContext(&userid, &sec_context);
			SetUserIdAndSecContext(userid, sec_context | SECURITY_NOFORCE_RLS);
		}
		if ((saved >> FMGR_SUSPENSION_SHIFT) > 0)
			pd_enforcement_suspended = saved >> FMGR_SUSPENSION_SHIFT;
		*private = Int32GetDatum(0);
	}
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);
}

/*
 * Integrity errors describe the failing row: "Failing row contains (...)",
 * "Key (email)=(...) already exists", "Partition key of the failing row
 * contains (...)", and a view's WITH CHECK OPTION likewise.  PostgreSQL
 * shows every column the role has the SQL privilege to read -- labelled
 * columns its purpose does not cover included.  While an enforced statement
 * on a registered table runs, such details are replaced as the error is
 * raised: before any handler (PL/pgSQL EXCEPTION, the client, the server
 * log) can see them.
 */
void
pd_withhold_row_values(void *arg)
{
	int			sqlstate = geterrcode();

	if (ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_WITH_CHECK_OPTION_VIOLATION)
		errdetail("The row's values are withheld: the statement uses a table under personal_data policy.");
}

/* Does the statement use a registered table, with enforcement applying? */
static bool
statement_is_enforced(List *rangeTable)
{
	ListCell   *lc;

	if (!enforcement_may_apply())
		return false;
	if (rangeTable == checked_range_table &&
		checked_generation == pd_policy_generation)
		return checked_range_table_enforced;
	foreach(lc, rangeTable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && pd_table_rules(rte->relid)->registered)
			return pd_enforcement_applies();
	}
	return false;
}

/* Run fn with withhold_row_values on the error context stack. */
#define WITH_ROW_VALUES_WITHHELD(enforced, call) \
	do { \
		ErrorContextCallback callback; \
		if (enforced) \
		{ \
			callback.callback = pd_withhold_row_values; \
			callback.arg = NULL; \
			callback.previous = error_context_stack; \
			error_context_stack = &callback; \
		} \
		call; \
		if (enforced) \
			error_context_stack = callback.previous; \
	} while (0)

static void
pd_executor_run(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
				bool execute_once)
{
	bool		enforced = statement_is_enforced(queryDesc->plannedstmt->rtable);

	WITH_ROW_VALUES_WITHHELD(enforced,
							 prev_ExecutorRun ?
							 prev_ExecutorRun(queryDesc, direction, count, execute_once) :
							 standard_ExecutorRun(queryDesc, direction, count, execute_once));
}

/* AFTER triggers and constraint checks run here */
static void
pd_executor_finish(QueryDesc *queryDesc)
{
	bool		enforced = statement_is_enforced(queryDesc->plannedstmt->rtable);

	WITH_ROW_VALUES_WITHHELD(enforced,
							 prev_ExecutorFinish ?
							 prev_ExecutorFinish(queryDesc) :
							 standard_ExecutorFinish(queryDesc));
}

/* Is this COPY of a registered table under enforcement?  Then it withholds too. */
bool
pd_copy_is_enforced(Node *parsetree)
{
	CopyStmt   *stmt = (CopyStmt *) parsetree;
	Oid			relid;

	if (!IsA(parsetree, CopyStmt) || stmt->relation == NULL ||
		!enforcement_may_apply())
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	return OidIsValid(relid) && pd_table_rules(relid)->registered &&
		pd_enforcement_applies();
}

void
pd_install_enforcement(void)
{
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = pd_executor_run;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = pd_executor_finish;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = pd_fmgr_hook;
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = pd_needs_fmgr_hook;
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = pd_executor_check_perms;
	prev_planner = planner_hook;
	planner_hook = pd_planner;
}

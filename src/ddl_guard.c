/*-------------------------------------------------------------------------
 *
 * ddl_guard.c
 *	  Keeps table labels true to their tables across ALTER TABLE.
 *
 * A table label names columns (subject, collected_at, birthdate) by name,
 * because that is what survives pg_dump.  DDL could otherwise leave a label
 * naming a column that is gone, or data outside the policy:
 *
 *	 - RENAME COLUMN of a named column rewrites the label to the new name;
 *	 - any ALTER TABLE that leaves the label naming a missing column, or a
 *	   date column retyped to something else, is refused;
 *	 - DETACH PARTITION of a partition of a registered table copies the
 *	   root's labels to the detached table: the data stays under the policy
 *	   it was collected under.
 *
 * Table owners are under the policy too (applications often own their
 * tables), so DDL that would let an owner run its own code over the stored
 * rows -- and so read labelled columns outside any purpose -- is for
 * superusers only on registered tables: triggers, rules, row-level security
 * policies, expression or partial indexes, CHECK and EXCLUDE constraints,
 * generated columns, ALTER COLUMN ... TYPE, statistics objects, foreign keys
 * on labelled columns, attaching partitions, checks of domains they use,
 * publishing them for logical replication.
 *
 * It also refuses DROP ROLE of a role the policy of the current database
 * refers to (grants, recipients, managers): roles are referred to by OID,
 * which a dropped role leaves dangling and a restore elsewhere could give
 * to another role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/index.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/seclabel.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "personal_data.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/* What a statement will need doing once it has run. */
typedef struct PendingLabelWork
{
	List	   *relids;			/* registered tables the statement alters:
								 * the named one and its inheritors */
	const char *old_column;		/* RENAME COLUMN: old and new name */
	const char *new_column;
	Oid			detached_relid; /* DETACH PARTITION: the partition */
	Oid			detached_root;	/* ... and the root whose labels it had */
} PendingLabelWork;

static bool
is_registered(Oid relid)
{
	return OidIsValid(relid) && pd_get_label(relid, 0) != NULL;
}

/* The root of relid's partition tree, or relid itself. */
static Oid
partition_root(Oid relid)
{
	if (get_rel_relispartition(relid))
		return llast_oid(get_partition_ancestors(relid));
	return relid;
}

static void
set_label(Oid relid, int32 subid, const char *label)
{
	ObjectAddress object;

	ObjectAddressSubSet(object, RelationRelationId, relid, subid);
	SetSecurityLabel(&object, PD_PROVIDER, label);
	pd_invalidate_with_inheritors(relid);
}

/* Look at the statement before it runs: what will it do to a labelled table? */
static void
plan_label_work(Node *parsetree, PendingLabelWork *work)
{
	Oid			relid = InvalidOid;

	memset(work, 0, sizeof(*work));

	if (IsA(parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		if (stmt->renameType != OBJECT_COLUMN || stmt->relation == NULL)
			return;
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		work->old_column = stmt->subname;
		work->new_column = stmt->newname;
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		ListCell   *lc;

		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);
			PartitionCmd *partcmd;
			Oid			partition;
			Oid			root;

			if (cmd->subtype == AT_DropInherit && OidIsValid(relid))
			{
				/* NO INHERIT: a child that borrowed its parent's rules keeps them */
				PdTableRules *rules = pd_table_rules(relid);

				if (rules->registered && rules->rules_relid != relid)
				{
					work->detached_relid = relid;
					work->detached_root = rules->rules_relid;
				}
				continue;
			}
			if (cmd->subtype != AT_DetachPartition)
				continue;
			partcmd = (PartitionCmd *) cmd->def;
			partition = RangeVarGetRelid(partcmd->name, NoLock, true);
			if (!OidIsValid(partition))
				continue;
			root = partition_root(partition);
			if (!is_registered(root))
				continue;
			if (partcmd->concurrent)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("DETACH PARTITION CONCURRENTLY is not supported for tables under personal_data policy"),
						 errdetail("The detached partition would be outside the policy between the two transactions of a concurrent detach."),
						 errhint("Detach it without CONCURRENTLY.")));
			work->detached_relid = partition;
			work->detached_root = root;
		}
	}

	/*
	 * ALTER TABLE recurses to inheritors: an inheritance child, or a
	 * partition attached with labels of its own, may be registered too.
	 */
	if (OidIsValid(relid))
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		{
			if (is_registered(lfirst_oid(lc)))
				work->relids = lappend_oid(work->relids, lfirst_oid(lc));
		}
	}
}

/*
 * Give a detached partition (or an inheritance child leaving its parent)
 * the labels of the root it left, with column labels matched by name.
 */
static void
label_detached_partition(Oid partition, Oid root)
{
	ListCell   *lc;

	foreach(lc, pd_relation_labels(root))
	{
		PdRawLabel *raw = lfirst(lc);
		AttrNumber	attnum;

		if (raw->subid == 0)
		{
			set_label(partition, 0, raw->label);
			continue;
		}
		attnum = get_attnum(partition, get_attname(root, raw->subid, false));
		if (attnum > 0)
			set_label(partition, attnum, raw->label);
	}
}

/*
 * After the statement, for one registered table it altered: follow a rename
 * of a column the label names, and refuse what breaks the label.
 */
static void
check_label_after_ddl(Oid relid, const PendingLabelWork *work)
{
	char	   *label = pd_get_label(relid, 0);
	PdTableLabel tl;
	char	   *problem;

	if (label == NULL)
		return;
	pd_parse_table_label(label, &tl);

	if (work->old_column)
	{
		bool		renamed = false;

		if (tl.subject && strcmp(tl.subject, work->old_column) == 0)
			tl.subject = unconstify(char *, work->new_column), renamed = true;
		if (tl.collected_at && strcmp(tl.collected_at, work->old_column) == 0)
			tl.collected_at = unconstify(char *, work->new_column), renamed = true;
		if (tl.birthdate && strcmp(tl.birthdate, work->old_column) == 0)
			tl.birthdate = unconstify(char *, work->new_column), renamed = true;
		/* a rename that did not reach this inheritor leaves its label alone */
		if (renamed && get_attnum(relid, work->new_column) > 0)
		{
			if (strpbrk(work->new_column, ";=") != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_NAME),
						 errmsg("column name \"%s\" cannot be used in a personal_data label",
								work->new_column),
						 errdetail("Column names in labels may not contain \";\" or \"=\".")));
			set_label(relid, 0, pd_format_table_label(&tl));
		}
	}

	problem = pd_table_label_problem(relid, &tl);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot alter table \"%s\": its personal_data label depends on the column",
						get_rel_name(relid)),
				 errdetail_internal("%s", problem),
				 errhint("Register the table anew with personal_data.unregister_table() and register_table() first.")));
}

/* After the statement: label detached partitions, check altered tables. */
static void
finish_label_work(const PendingLabelWork *work)
{
	ListCell   *lc;

	if (work->relids == NIL && !OidIsValid(work->detached_relid))
		return;

	/* make the statement's catalog changes visible to the lookups below */
	CommandCounterIncrement();

	if (OidIsValid(work->detached_relid))
		label_detached_partition(work->detached_relid, work->detached_root);

	foreach(lc, work->relids)
		check_label_after_ddl(lfirst_oid(lc), work);
}

/*
 * What the policy says about roleid, one line per reference, or NULL.
 * Not a hot path (DROP ROLE): SPI is fine.
 */
static char *
policy_references_to_role(Oid roleid)
{
	Oid			argtypes[1] = {REGROLEOID};
	Datum		values[1] = {ObjectIdGetDatum(roleid)};
	char	   *result = NULL;
	MemoryContext caller_context = CurrentMemoryContext;
	Oid			saved_userid;
	int			saved_sec_context;

	/*
	 * Consents and legal bases are readable by compliance roles only; a role
	 * with CREATEROLE must still be stopped from orphaning them.
	 */
	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(what, E'\\n' ORDER BY what) FROM ("
							  " SELECT pg_catalog.format('It holds purpose \"%s\".', purpose) AS what"
							  "   FROM personal_data.purpose_grants WHERE role OPERATOR(pg_catalog.=) $1"
							  " UNION ALL"
							  " SELECT 'It is a registered recipient.'"
							  "   FROM personal_data.recipients WHERE role OPERATOR(pg_catalog.=) $1"
							  " UNION ALL"
							  " SELECT pg_catalog.format('It manages department \"%s\".', department)"
							  "   FROM personal_data.departments WHERE manager OPERATOR(pg_catalog.=) $1"
							  " UNION ALL"
							  " SELECT pg_catalog.format('Consents name it as recipient (%s).', pg_catalog.count(*))"
							  "   FROM personal_data.consents WHERE recipient OPERATOR(pg_catalog.=) $1"
							  "  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0"
							  " UNION ALL"
							  " SELECT pg_catalog.format('Legal bases name it as recipient (%s).', pg_catalog.count(*))"
							  "   FROM personal_data.legal_bases WHERE recipient OPERATOR(pg_catalog.=) $1"
							  "  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0) r",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up personal_data references to role %u", roleid);
	if (SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value)
			result = MemoryContextStrdup(caller_context, value);
	}
	SPI_finish();
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	return result;
}

static void
refuse_dropping_policy_roles(DropRoleStmt *stmt)
{
	ListCell   *lc;

	if (!pd_extension_installed())
		return;
	foreach(lc, stmt->roles)
	{
		RoleSpec   *spec = lfirst(lc);
		Oid			roleid = get_rolespec_oid(spec, true);
		char	   *references;

		if (!OidIsValid(roleid))
			continue;
		references = policy_references_to_role(roleid);
		if (references)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("role \"%s\" cannot be dropped because the personal_data policy refers to it",
							get_rolespec_name(spec)),
					 errdetail_internal("%s", references),
					 errhint("Revoke its purposes with personal_data.revoke_purpose(), unregister it with personal_data.unregister_recipient(), or assign its departments another manager first; a role that consents or legal bases name is evidence: make it NOLOGIN instead.")));
	}
}

/* Is relation rv registered (itself, or through its partition root)? */
static bool
names_registered_table(RangeVar *rv, Oid *relid)
{
	*relid = rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
	return OidIsValid(*relid) && pd_table_rules(*relid)->registered;
}

static void
refuse_owner_code(const char *what, Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("only superusers may %s on table \"%s\", which is under personal_data policy",
					what, get_rel_name(relid)),
			 errdetail("It would run code over the stored rows, outside the purposes the columns were collected for.")));
}

/* What in ALTER TABLE runs an owner's expression over the stored rows? */
static const char *
alter_table_runs_code(AlterTableCmd *cmd)
{
	if (cmd->subtype == AT_AddColumn && cmd->def)
	{
		ListCell   *lc;

		foreach(lc, ((ColumnDef *) cmd->def)->constraints)
		{
			Constraint *con = lfirst(lc);

			if (con->contype == CONSTR_GENERATED)
				return "add a generated column";
			if (con->contype == CONSTR_CHECK)
				return "add a CHECK constraint";
		}
	}
	/* a default writes a column, labelled ones too, without naming it */
	if (cmd->subtype == AT_ColumnDefault && cmd->def)
		return "set column defaults";
	/* a new type may run the owner's code: USING, a domain's CHECK, a cast */
	if (cmd->subtype == AT_AlterColumnType)
		return "change a column's type";
	if ((cmd->subtype == AT_AddConstraint ||
		 cmd->subtype == AT_AddConstraintRecurse) && cmd->def)
	{
		Constraint *con = (Constraint *) cmd->def;

		if (con->contype == CONSTR_CHECK)
			return "add a CHECK constraint";
		if (con->contype == CONSTR_EXCLUSION)
			return "add an EXCLUDE constraint";
	}
	return NULL;
}

/* Is any of the columns (names; NIL: the primary key's) labelled? */
static bool
columns_are_labelled(Oid relid, List *colnames)
{
	PdTableRules *rules = pd_table_rules(relid);
	Bitmapset  *attnums = NULL;
	ListCell   *lc;
	int			i;

	if (!rules->registered)
		return false;
	if (colnames == NIL)
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		Bitmapset  *pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
		int			offset = -1;

		while ((offset = bms_next_member(pkey, offset)) >= 0)
			attnums = bms_add_member(attnums,
									 offset + FirstLowInvalidHeapAttributeNumber);
		relation_close(rel, AccessShareLock);
	}
	foreach(lc, colnames)
		attnums = bms_add_member(attnums, get_attnum(relid, strVal(lfirst(lc))));
	rules = pd_table_rules(relid);
	for (i = 0; i < rules->ncolumns; i++)
	{
		if (bms_is_member(rules->columns[i].attnum, attnums))
			return true;
	}
	return false;
}

/*
 * A foreign key reads the values of its columns on both sides, and reports
 * them (or their absence) to whoever adds rows: on labelled columns it would
 * read and reveal them outside any purpose.
 */
static void
refuse_foreign_key(Constraint *con, Oid relid)
{
	Oid			pkrelid;

	if (con->contype != CONSTR_FOREIGN)
		return;
	if (OidIsValid(relid) && columns_are_labelled(relid, con->fk_attrs))
		refuse_owner_code("add a foreign key on labelled columns", relid);
	/* referential actions write the registered table, minors' rows too */
	if (OidIsValid(relid) && pd_table_rules(relid)->registered &&
		(strchr("cnd", con->fk_upd_action) || strchr("cnd", con->fk_del_action)))
		refuse_owner_code("add a foreign key with cascading or SET actions", relid);
	pkrelid = con->pktable ? RangeVarGetRelid(con->pktable, NoLock, true) : InvalidOid;
	if (OidIsValid(pkrelid) && columns_are_labelled(pkrelid, con->pk_attrs))
		refuse_owner_code("reference labelled columns by a foreign key", pkrelid);
}

static void
refuse_foreign_keys_in_column(ColumnDef *column)
{
	ListCell   *lc;

	foreach(lc, column->constraints)
	{
		Constraint *con = lfirst(lc);

		/* a column's own REFERENCES: fk_attrs is the new column */
		if (con->contype == CONSTR_FOREIGN)
		{
			Oid			pkrelid = RangeVarGetRelid(con->pktable, NoLock, true);

			if (OidIsValid(pkrelid) && columns_are_labelled(pkrelid, con->pk_attrs))
				refuse_owner_code("reference labelled columns by a foreign key", pkrelid);
		}
	}
}

/*
 * ATTACH PARTITION under a partitioned table that is not registered (nor
 * under a registered one): a registered table would be read and written
 * through it outside the policy, as with INHERIT -- refused, for superusers
 * too.
 */
static void
refuse_attach_outside_policy(AlterTableStmt *stmt, AlterTableCmd *cmd)
{
	Oid			parent = RangeVarGetRelid(stmt->relation, NoLock, true);
	Oid			partition = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
	ListCell   *lc;

	if (!OidIsValid(parent) || !OidIsValid(partition) || pd_table_rules(parent)->registered)
		return;
	foreach(lc, find_all_inheritors(partition, NoLock, NULL))
	{
		if (pd_table_rules(lfirst_oid(lc))->registered)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("table \"%s\" is under personal_data policy and cannot become a partition of \"%s\", which is not",
							get_rel_name(lfirst_oid(lc)), get_rel_name(parent)),
					 errdetail("Queries of the partitioned table would read and write its rows outside the policy."),
					 errhint("Register \"%s\" first.", get_rel_name(parent))));
	}
}

/*
 * ALTER TABLE ... INHERIT: a registered table (or one with registered
 * inheritors) under a parent that is not registered would be read and
 * written through the parent, which the policy does not govern -- for
 * everyone, so it is refused for superusers too.  (Partitions are attached
 * with ATTACH PARTITION, and take the root's rules.)
 */
static void
refuse_inherit(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		Oid			child;
		Oid			parent;
		ListCell   *lc2;

		if (cmd->subtype == AT_AttachPartition)
		{
			refuse_attach_outside_policy(stmt, cmd);
			continue;
		}
		if (cmd->subtype != AT_AddInherit || !IsA(cmd->def, RangeVar))
			continue;
		child = RangeVarGetRelid(stmt->relation, NoLock, true);
		parent = RangeVarGetRelid((RangeVar *) cmd->def, NoLock, true);
		if (!OidIsValid(child) || !OidIsValid(parent))
			continue;
		if (pd_table_rules(parent)->registered && !OidIsValid(pd_unregistered_ancestor(parent)))
			continue;			/* under the policy all the way up */
		foreach(lc2, find_all_inheritors(child, NoLock, NULL))
		{
			if (pd_table_rules(lfirst_oid(lc2))->registered)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("table \"%s\" is under personal_data policy and cannot inherit from \"%s\", which is not",
								get_rel_name(lfirst_oid(lc2)), get_rel_name(parent)),
						 errdetail("Queries of the parent would read and write its rows outside the policy.")));
		}
	}
}

/*
 * Attaching a partition clones the partitioned table's row triggers and
 * indexes onto it, and brings the partition's own triggers into the tree:
 * either way an owner's code would meet the other side's rows.
 */
static void
refuse_attach(AlterTableStmt *stmt, AlterTableCmd *cmd)
{
	PartitionCmd *partcmd = (PartitionCmd *) cmd->def;
	Oid			parent = RangeVarGetRelid(stmt->relation, NoLock, true);
	Oid			partition = RangeVarGetRelid(partcmd->name, NoLock, true);
	ListCell   *lc;

	if (OidIsValid(parent) && pd_table_rules(parent)->registered)
		refuse_owner_code("attach partitions", parent);
	if (!OidIsValid(partition))
		return;
	foreach(lc, find_all_inheritors(partition, NoLock, NULL))
	{
		if (pd_table_rules(lfirst_oid(lc))->registered)
			refuse_owner_code("attach as a partition", lfirst_oid(lc));
	}
}

/*
 * ALTER DOMAIN ... ADD/VALIDATE CONSTRAINT checks every stored value of the
 * columns of that domain with the constraint's expression.
 */
/* The objects that depend on (refclassid, refobjid), as pairs of class and object. */
static List *
dependents_of(Oid refclassid, Oid refobjid)
{
	Relation	depend;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *result = NIL;

	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refclassid));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refobjid));
	depend = table_open(DependRelationId, AccessShareLock);
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		ObjectAddress *object = palloc(sizeof(ObjectAddress));

		ObjectAddressSubSet(*object, dep->classid, dep->objid, dep->objsubid);
		result = lappend(result, object);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return result;
}

/*
 * A registered table with a column whose values are checked by domain
 * typid, or InvalidOid: a column of the domain, or of a type built on it --
 * a domain over it, an array of it, a composite type (or a table's row
 * type) with an attribute of one of those -- however deep.
 */
static Oid
type_used_by_registered_table(Oid typid, int depth)
{
	ListCell   *lc;

	/* types cannot be nested without end; this bounds a pathological chain */
	check_stack_depth();
	if (depth > 32)
		return InvalidOid;
	foreach(lc, dependents_of(TypeRelationId, typid))
	{
		ObjectAddress *object = lfirst(lc);
		Oid			relid;

		if (object->classId == TypeRelationId)
			relid = type_used_by_registered_table(object->objectId, depth + 1);
		else if (object->classId == RelationRelationId && object->objectSubId > 0)
		{
			if (pd_table_rules(object->objectId)->registered)
				return object->objectId;
			/* a column of a composite type, or of a table used as one */
			relid = OidIsValid(get_rel_type_id(object->objectId)) ?
				type_used_by_registered_table(get_rel_type_id(object->objectId), depth + 1) :
				InvalidOid;
		}
		else
			continue;
		if (OidIsValid(relid))
			return relid;
	}
	return InvalidOid;
}

static Oid
domain_used_by_registered_table(Oid typid)
{
	return type_used_by_registered_table(typid, 0);
}

static void
refuse_domain_check(AlterDomainStmt *stmt)
{
	Oid			relid;

	if (stmt->subtype != 'C' && stmt->subtype != 'V')
		return;
	relid = domain_used_by_registered_table(typenameTypeId(NULL,
														   makeTypeNameFromNameList(stmt->typeName)));
	if (OidIsValid(relid))
		refuse_owner_code("add or validate constraints of a domain used", relid);
}

/* One column (an Oid) of a catalog row found by its OID, or InvalidOid. */
static Oid
catalog_row_oid_column(Oid catalog, Oid objid, AttrNumber column)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	HeapTuple	tuple = get_catalog_object_by_oid(rel, get_object_attnum_oid(catalog), objid);
	Oid			result = InvalidOid;

	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, column, RelationGetDescr(rel), &isnull);

		if (!isnull)
			result = DatumGetObjectId(d);
	}
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * The registered table whose stored rows a function runs over -- through a
 * trigger, a constraint (of the table or of a domain its columns use), a
 * default, an index, a policy or a rule -- or InvalidOid.
 */
static Oid
registered_table_using_function(Oid funcid)
{
	ListCell   *lc;

	foreach(lc, dependents_of(ProcedureRelationId, funcid))
	{
		ObjectAddress *object = lfirst(lc);
		Oid			relid = InvalidOid;

		switch (object->classId)
		{
			case TriggerRelationId:
				relid = catalog_row_oid_column(TriggerRelationId, object->objectId,
											   Anum_pg_trigger_tgrelid);
				break;
			case ConstraintRelationId:
				relid = catalog_row_oid_column(ConstraintRelationId, object->objectId,
											   Anum_pg_constraint_conrelid);
				if (!OidIsValid(relid))
					relid = domain_used_by_registered_table(
															catalog_row_oid_column(ConstraintRelationId, object->objectId,
																				   Anum_pg_constraint_contypid));
				break;
			case AttrDefaultRelationId:
				relid = catalog_row_oid_column(AttrDefaultRelationId, object->objectId,
											   Anum_pg_attrdef_adrelid);
				break;
			case PolicyRelationId:
				relid = catalog_row_oid_column(PolicyRelationId, object->objectId,
											   Anum_pg_policy_polrelid);
				break;
			case RewriteRelationId:
				relid = catalog_row_oid_column(RewriteRelationId, object->objectId,
											   Anum_pg_rewrite_ev_class);
				break;
			case RelationRelationId:
				if (get_rel_relkind(object->objectId) == RELKIND_INDEX ||
					get_rel_relkind(object->objectId) == RELKIND_PARTITIONED_INDEX)
					relid = IndexGetRelation(object->objectId, true);
				break;
			default:
				break;
		}
		if (OidIsValid(relid) && pd_table_rules(relid)->registered)
			return relid;
	}
	return InvalidOid;
}

/*
 * Object access hook: a non-superuser may not replace or alter a function
 * that runs over the rows of a registered table (code defined before the
 * table was registered, which register_table() warned about).
 */
static void
pd_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if ((access == OAT_POST_CREATE || access == OAT_POST_ALTER) &&
		classId == ProcedureRelationId && pd_preloaded &&
		IsTransactionState() && !superuser())
	{
		Oid			relid;

		/* make a replaced function's row visible to the dependency scan */
		CommandCounterIncrement();
		relid = registered_table_using_function(objectId);
		if (OidIsValid(relid))
			refuse_owner_code("replace or alter functions that run", relid);
	}
}

/*
 * Logical replication sends a published table's rows, every column, to
 * subscribers outside the database's checks.
 */
static void
refuse_publishing(List *pubobjects)
{
	ListCell   *lc;
	Oid			relid;

	foreach(lc, pubobjects)
	{
		PublicationObjSpec *spec = lfirst(lc);

		if (spec->pubtable &&
			names_registered_table(spec->pubtable->relation, &relid))
			refuse_owner_code("publish for logical replication", relid);
	}
}

/*
 * Refuse, to non-superusers, DDL that would run their code over the rows of
 * a registered table.
 */
static void
refuse_owner_code_on_registered_tables(Node *parsetree)
{
	Oid			relid;

	if (superuser())
		return;

	switch (nodeTag(parsetree))
	{
		case T_CreateTrigStmt:
			if (names_registered_table(((CreateTrigStmt *) parsetree)->relation, &relid))
				refuse_owner_code("create triggers", relid);
			break;
		case T_RuleStmt:
			if (names_registered_table(((RuleStmt *) parsetree)->relation, &relid))
				refuse_owner_code("create rules", relid);
			break;
		case T_CreatePolicyStmt:
			if (names_registered_table(((CreatePolicyStmt *) parsetree)->table, &relid))
				refuse_owner_code("create row-level security policies", relid);
			break;
		case T_AlterPolicyStmt:
			if (names_registered_table(((AlterPolicyStmt *) parsetree)->table, &relid))
				refuse_owner_code("alter row-level security policies", relid);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) parsetree;
				ListCell   *lc;
				bool		runs_code = stmt->whereClause != NULL;

				foreach(lc, stmt->indexParams)
					runs_code |= ((IndexElem *) lfirst(lc))->expr != NULL;
				if (runs_code && names_registered_table(stmt->relation, &relid))
					refuse_owner_code("create expression or partial indexes", relid);
				break;
			}
		case T_CreateStatsStmt:
			{
				CreateStatsStmt *stmt = (CreateStatsStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, stmt->relations)
				{
					if (IsA(lfirst(lc), RangeVar) &&
						names_registered_table(lfirst(lc), &relid))
						refuse_owner_code("create statistics objects", relid);
				}
				break;
			}
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				ListCell   *lc;

				bool		registered = names_registered_table(stmt->relation, &relid);

				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst(lc);
					const char *what = registered ? alter_table_runs_code(cmd) : NULL;

					if (what)
						refuse_owner_code(what, relid);
					if (cmd->subtype == AT_AttachPartition)
						refuse_attach(stmt, cmd);
					if ((cmd->subtype == AT_AddConstraint ||
						 cmd->subtype == AT_AddConstraintRecurse) && cmd->def)
						refuse_foreign_key((Constraint *) cmd->def, relid);
					if (cmd->subtype == AT_AddColumn && cmd->def)
						refuse_foreign_keys_in_column((ColumnDef *) cmd->def);
				}
				break;
			}
		case T_CreateStmt:
			{
				ListCell   *lc;

				foreach(lc, ((CreateStmt *) parsetree)->tableElts)
				{
					if (IsA(lfirst(lc), ColumnDef))
						refuse_foreign_keys_in_column(lfirst(lc));
					else if (IsA(lfirst(lc), Constraint))
						refuse_foreign_key(lfirst(lc), InvalidOid);
				}
				break;
			}
		case T_AlterDomainStmt:
			refuse_domain_check((AlterDomainStmt *) parsetree);
			break;
		case T_CreatePublicationStmt:
			refuse_publishing(((CreatePublicationStmt *) parsetree)->pubobjects);
			break;
		case T_AlterPublicationStmt:
			if (((AlterPublicationStmt *) parsetree)->action != AP_DropObjects)
				refuse_publishing(((AlterPublicationStmt *) parsetree)->pubobjects);
			break;
		default:
			break;
	}
}

/*
 * Statements that need a database without connections: the audit writer
 * of that database is asked to finish its work and leave.
 */
static Oid
database_needing_exclusive_use(Node *parsetree)
{
	if (IsA(parsetree, DropdbStmt))
		return get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		return get_database_oid(((RenameStmt *) parsetree)->subname, true);
	if (IsA(parsetree, AlterDatabaseStmt))
		return get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true);
	if (IsA(parsetree, CreatedbStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreatedbStmt *) parsetree)->options)
		{
			DefElem    *def = lfirst(lc);

			if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
				return get_database_oid(defGetString(def), true);
		}
	}
	return InvalidOid;
}

/* ALTER SYSTEM / ROLE / DATABASE ... SET of enforce or audit: logged */
static void
audit_setting_statements(Node *parsetree, const char *queryString,
						 PlannedStmt *pstmt)
{
	VariableSetStmt *set = NULL;

	if (IsA(parsetree, AlterSystemStmt))
		set = ((AlterSystemStmt *) parsetree)->setstmt;
	else if (IsA(parsetree, AlterRoleSetStmt))
		set = ((AlterRoleSetStmt *) parsetree)->setstmt;
	else if (IsA(parsetree, AlterDatabaseSetStmt))
		set = ((AlterDatabaseSetStmt *) parsetree)->setstmt;
	if (set == NULL || set->name == NULL ||
		(strcmp(set->name, "personal_data.enforce") != 0 &&
		 strcmp(set->name, "personal_data.audit") != 0))
		return;
	if (pstmt->stmt_len > 0)
		pd_audit_setting_change(pnstrdup(queryString + pstmt->stmt_location,
										 pstmt->stmt_len));
	else
		pd_audit_setting_change(queryString);
}

/*
 * COPY of a registered table that ran without the executor -- COPY FROM,
 * and COPY TO where enforcement does not apply (superusers: pg_dump) --
 * logged with the rows copied.  A COPY TO rewritten into a query
 * (pd_enforce_copy) was logged by the executor.
 */
static void
audit_copy_from(Node *parsetree, QueryCompletion *qc)
{
	CopyStmt   *stmt = (CopyStmt *) parsetree;
	Oid			relid;
	List	   *attnums = NIL;
	ListCell   *lc;

	if (!IsA(parsetree, CopyStmt) || stmt->relation == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	foreach(lc, stmt->attlist)
	{
		AttrNumber	attnum = get_attnum(relid, strVal(lfirst(lc)));

		if (attnum > 0)
			attnums = lappend_int(attnums, attnum);
	}
	pd_audit_copy_from(relid, attnums, qc ? qc->nprocessed : 0);
}

static void
pd_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	PendingLabelWork work;
	ErrorContextCallback callback;
	bool		withhold;
	Oid			exclusive_db;
	bool		relevant = (IsA(parsetree, RenameStmt) ||
							IsA(parsetree, AlterTableStmt)) &&
		IsTransactionState();

	if (IsTransactionState())
		refuse_owner_code_on_registered_tables(parsetree);
	if (IsA(parsetree, AlterTableStmt) && IsTransactionState() && pd_preloaded)
		refuse_inherit((AlterTableStmt *) parsetree);
	if (relevant)
		plan_label_work(parsetree, &work);
	if (IsA(parsetree, DropRoleStmt) && IsTransactionState())
		refuse_dropping_policy_roles((DropRoleStmt *) parsetree);
	if (IsA(parsetree, CopyStmt) && IsTransactionState())
		pstmt = pd_enforce_copy(pstmt);
	exclusive_db = IsTransactionState() ? database_needing_exclusive_use(parsetree) : InvalidOid;
	if (OidIsValid(exclusive_db))
		pd_audit_release_database(exclusive_db, false);

	/* COPY reports failing rows like INSERT does: withhold their values */
	withhold = IsTransactionState() && pd_copy_is_enforced(parsetree);
	if (withhold)
	{
		callback.callback = pd_withhold_row_values;
		callback.arg = NULL;
		callback.previous = error_context_stack;
		error_context_stack = &callback;
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (withhold)
		error_context_stack = callback.previous;

	if (relevant)
		finish_label_work(&work);
	if (IsA(parsetree, DropdbStmt) && OidIsValid(exclusive_db))
		pd_audit_release_database(exclusive_db, true);
	if (IsTransactionState())
	{
		audit_copy_from(pstmt->utilityStmt, qc);
		audit_setting_statements(parsetree, queryString, pstmt);
		if (pd_audit_settings_touched)
			pd_audit_check_settings();
	}
}

void
pd_install_ddl_guard(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = pd_process_utility;
	prev_object_access_hook = object_access_hook;
	object_access_hook = pd_object_access;
}

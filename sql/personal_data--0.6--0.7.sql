/*
 * personal_data 0.6 -> 0.7: the purge and erase_subject, after a sixth
 * red-team of their cascade handling.
 *
 * - A partition tree has one policy, that of its topmost registered table
 *   (the root's, or under an unregistered root that of a registered
 *   partitioned table in between; enforcement reads it so too): a partition
 *   labelled before it was attached under a registered table is not purged
 *   under its own labels, which are not in force -- purge_expired() and the
 *   worker skip it, and the purge of the table above does not take a
 *   partition governed by another.
 * - Cascades are followed into the partitions of an unregistered
 *   partitioned table (a registered partition of it is reached), and from it
 *   through foreign keys that reference one of its partitions.
 * - A stored generated column computed from a column a write changes
 *   changes too: its ON UPDATE actions are followed.
 * - A cascade that reaches a row which is itself expired, not held, in a
 *   table whose rows are deleted on expiry, does not keep the row it comes
 *   from (the policy deletes that row anyway); a row's reference to itself
 *   reaches nothing.  Expired rows that reference each other are purged.
 * - A self-referencing table in between (comments and their replies) is
 *   followed down its threads, walked once from each row that the cascade
 *   starts from, instead of keeping every row with a reply.
 * - A cascade that a check refuses (SET NULL into a partition key no
 *   partition takes) keeps the row, counted as blocked, instead of failing
 *   the batch every round; a CHECK constraint of the table itself (it names
 *   the constraint) still fails it.
 * - anonymize: a labelled column in a partition key cannot be nulled in its
 *   partition; it is reported like a NOT NULL one, and the run goes on.
 * - The worker logs rows kept by a cascade each round, as it logs rows a
 *   foreign key keeps.
 * Enforcement: a plan rewritten for a role and purpose checks, when it runs,
 * that they are still those (_plan_guard: a SQL function's statements are
 * planned together); a minor's guardian must have consented to a purpose the
 * role is granted (_granted_purpose).
 * (In C: erase_subject erases tables that a cascade reaches first -- of
 * deletions and of key changes alike --, so the
 * result counts every row erased; a foreign key that refuses the erasure of
 * a row keeps that row, reported as kept, instead of failing the erasure.)
 */

\echo Use "ALTER EXTENSION personal_data UPDATE TO '0.7'" to load this file. \quit

-- called in the application's own statements (src/enforce.c): EXECUTE stays granted to PUBLIC
CREATE FUNCTION personal_data._plan_guard(role oid, purpose text)
RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pd_plan_guard';
COMMENT ON FUNCTION personal_data._plan_guard(oid, text) IS
	'Raises unless the statement runs for the role and under the purpose its plan was rewritten for';

CREATE FUNCTION personal_data._granted_purpose()
RETURNS text LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pd_granted_purpose';
COMMENT ON FUNCTION personal_data._granted_purpose() IS
	'The session''s purpose if its role is granted it, else the empty string (minors'' checks)';

/*
 * The topmost registered table of rel's partition tree (rel itself
 * included), or NULL: the one whose rules govern a partition, as
 * enforcement reads them (src/policy_cache.c).
 */
CREATE FUNCTION personal_data._registered_partition_root(rel regclass)
RETURNS regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.relid::regclass FROM pg_partition_ancestors($1) WITH ORDINALITY AS a(relid, n)
	 WHERE EXISTS (SELECT 1 FROM personal_data.registered_tables r WHERE r.relation = a.relid)
	 ORDER BY a.n DESC LIMIT 1
$$;

/*
 * Are rel's own rules in force?  Not for a partition under a registered
 * table: the topmost registered table of its tree governs it.
 */
CREATE FUNCTION personal_data._rules_in_force(rel regclass)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT NOT coalesce((SELECT k.relispartition FROM pg_class k WHERE k.oid = $1)
						AND personal_data._registered_partition_root($1) <> $1, false)
$$;

/*
 * The registered table whose rules govern rel: for a partition, the topmost
 * registered table of its tree; itself if registered; else the registered
 * ancestor it follows (an inheritance child; a partition of an
 * unregistered tree under none).
 */
CREATE OR REPLACE FUNCTION personal_data._governing_table(rel regclass)
RETURNS regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(
		CASE WHEN (SELECT k.relispartition FROM pg_class k WHERE k.oid = $1)
			 THEN personal_data._registered_partition_root($1) END,
		CASE WHEN EXISTS (SELECT 1 FROM personal_data.registered_tables r WHERE r.relation = $1) THEN $1 END,
		personal_data._registered_ancestor($1))
$$;

/*
 * The leaves a purge of rules_rel walks: the ordinary tables of its tree
 * (partitions, inheritance children) that its rules govern -- not those
 * under a registered table of their own in between, nor itself if it is
 * governed by a table above it.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_leaves(rules_rel regclass)
RETURNS SETOF regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE tree(relid, depth) AS (
		SELECT rules_rel::oid, 0
		UNION ALL
		SELECT i.inhrelid, tree.depth + 1 FROM pg_inherits i
		  JOIN tree ON i.inhparent = tree.relid
		 WHERE tree.depth < 64
	)
	SELECT DISTINCT tree.relid::regclass FROM tree JOIN pg_class k ON k.oid = tree.relid
	 WHERE k.relkind = 'r' AND personal_data._governing_table(tree.relid::regclass) = rules_rel
$$;

/*
 * The edges cascades follow: a foreign key with a cascading action (parent:
 * the referenced table, child: the referencing one, and its actions), and a
 * partitioned table to each of its partitions (partition = true).
 */
CREATE FUNCTION personal_data._cascade_edges()
RETURNS TABLE (parent oid, child oid, deltype "char", updtype "char", partition boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.confrelid, c.conrelid, c.confdeltype, c.confupdtype, false
	  FROM pg_constraint c
	 WHERE c.contype = 'f' AND (c.confdeltype IN ('c', 'n', 'd') OR c.confupdtype IN ('c', 'n', 'd'))
	UNION ALL
	SELECT i.inhparent, i.inhrelid, NULL, NULL, true
	  FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhparent
	 WHERE k.relkind = 'p'
$$;

/*
 * The tables a deletion of rel's rows (kind 'd') or a change of their keys
 * ('u') cascades into, through foreign keys ON DELETE / ON UPDATE CASCADE,
 * SET NULL or SET DEFAULT, at any depth: reached = false for rel and its
 * partitions themselves.  A partitioned table reached is reached with its
 * partitions (a foreign key may reference one of them, and one of them may
 * be registered).  The shape of the graph only.
 */
CREATE FUNCTION personal_data._cascade_walk(start_rel regclass, start_kind text)
RETURNS TABLE (relid oid, kind text, reached boolean) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE edge AS (SELECT * FROM personal_data._cascade_edges()), walk(relid, kind, reached) AS (
		SELECT t.relid, $2, false
		  FROM (SELECT $1::oid AS relid UNION SELECT p.relid FROM pg_partition_tree($1) p) t
		UNION
		SELECT e.child,
			   CASE WHEN e.partition THEN w.kind WHEN w.kind = 'd' AND e.deltype = 'c' THEN 'd' ELSE 'u' END,
			   true
		  FROM walk w JOIN edge e ON e.parent = w.relid
		 WHERE CASE WHEN e.partition THEN w.reached
					WHEN w.kind = 'd' THEN e.deltype IN ('c', 'n', 'd')
					ELSE e.updtype IN ('c', 'n', 'd') END
	)
	SELECT w.relid, w.kind, w.reached FROM walk w
$$;

CREATE OR REPLACE FUNCTION personal_data._cascade_reaches(rel regclass, kind text, governed oid[] DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM personal_data._cascade_walk($1, $2) w
					WHERE w.reached AND w.relid = ANY (coalesce($3, personal_data._governed_relids())))
$$;

/*
 * Every table and kind of write ('relid:d', 'relid:u') from which a cascade
 * reaches one of the governed tables (_cascade_reaches of each, at once): a
 * walk backwards from the governed tables.  A partitioned table reached
 * through a foreign key is reached with its partitions; a write of a
 * partitioned table's rows is one of its partitions' rows.
 */
CREATE FUNCTION personal_data._cascade_reaching(governed oid[])
RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE edge AS (SELECT * FROM personal_data._cascade_edges()), reach(relid, kind, flag) AS (
		-- 'B': governed, or holding a governed partition, or reaching one (what a cascade must not reach)
		-- 'A': reaching one through a foreign key (_cascade_reaches)
		SELECT g, k.kind, 'B' FROM unnest($1) g, (VALUES ('d'), ('u')) k(kind)
		UNION
		SELECT e.parent,
			   CASE WHEN e.partition THEN r.kind ELSE k.kind END,
			   CASE WHEN e.partition THEN r.flag ELSE 'A' END
		  FROM reach r JOIN edge e ON e.child = r.relid
		 CROSS JOIN (VALUES ('d'), ('u')) k(kind)
		 WHERE CASE WHEN e.partition THEN k.kind = 'd'
					WHEN k.kind = 'd' THEN (r.kind = 'd' AND e.deltype = 'c')
										   OR (r.kind = 'u' AND e.deltype IN ('n', 'd'))
					ELSE r.kind = 'u' AND e.updtype IN ('c', 'n', 'd') END
	)
	SELECT coalesce(array_agg(DISTINCT r.relid || ':' || r.kind), '{}') FROM reach r WHERE r.flag = 'A'
$$;

/* The registered tables (as their governing tables) a write of rel's rows cascades into. */
CREATE FUNCTION personal_data._cascade_targets(rel regclass, kind text)
RETURNS regclass[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(array_agg(DISTINCT personal_data._governing_table(w.relid::regclass)), '{}')
	  FROM personal_data._cascade_walk($1, $2) w
	 WHERE w.reached AND w.relid = ANY (personal_data._governed_relids())
$$;

CREATE OR REPLACE FUNCTION personal_data._lock_cascade_targets(rel regclass, kind text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- taken after the rows' locks: a transaction writing to these tables that
-- then waits for one of those rows would deadlock with us; we give way
-- (lock_not_available: the batch is retried next round)
SET lock_timeout = '100ms'
AS $$
DECLARE
	target regclass;
BEGIN
	FOR target IN
		-- reached through a foreign key: the table itself too, when a cascade comes back to it
		SELECT DISTINCT w.relid::regclass FROM personal_data._cascade_walk(rel, kind) w
		 WHERE w.reached AND w.relid = ANY (personal_data._governed_relids())
		 ORDER BY 1
	LOOP
		EXECUTE format('LOCK TABLE %s IN SHARE MODE', target);
	END LOOP;
END
$$;

/*
 * SQL joining a referenced row (parent_alias, of a table in the tree of
 * confrelid) to a referencing row (child_alias, of conrelid) through a
 * foreign key, compared in the referenced column's collation as the key's
 * own checks compare.  Columns by name: a partition's are its root's.
 */
CREATE FUNCTION personal_data._fk_join_sql(confrelid oid, conrelid oid, confkey int2[], conkey int2[],
	ops oid[], parent_alias text, child_alias text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT string_agg(format('%s.%I OPERATOR(%I.%s) %s.%I%s', $6, pa.attname, n.nspname, o.oprname,
							 $7, fa.attname,
							 CASE WHEN pa.attcollation <> 0 AND pa.attcollation <> fa.attcollation
								  THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname)
										  FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
										 WHERE co.oid = pa.attcollation)
								  ELSE '' END), ' AND ')
	  FROM unnest($3, $4, $5) AS k(pk, fk, op)
	  JOIN pg_attribute pa ON pa.attrelid = $1 AND pa.attnum = k.pk
	  JOIN pg_attribute fa ON fa.attrelid = $2 AND fa.attnum = k.fk
	  JOIN pg_operator o ON o.oid = k.op
	  JOIN pg_namespace n ON n.oid = o.oprnamespace
$$;

/*
 * SQL true where the subject of a row of rel (aliased alias, subject in
 * subject_column) is under a hold: $2 holds the active holds (text[]), as in
 * every statement of the purge.
 */
CREATE FUNCTION personal_data._held_sql(rel regclass, subject_column name, alias text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	subject_type oid;
	type_name text;
	eq text;
BEGIN
	SELECT a.atttypid INTO subject_type FROM pg_attribute a
	 WHERE a.attrelid = rel AND a.attname = subject_column AND NOT a.attisdropped;
	IF subject_type IS NULL THEN
		RETURN 'true';		-- no subject column: any doubt keeps the row
	END IF;
	type_name := format_type(subject_type, NULL);
	eq := personal_data._equality_operator(subject_type);
	IF eq IS NULL THEN
		RETURN format('COALESCE(%s.%I::pg_catalog.text OPERATOR(pg_catalog.=) ANY (personal_data._canonical_holds($2, NULL::%s)), false)',
					  alias, subject_column, type_name);
	ELSIF EXISTS (SELECT 1 FROM pg_type y WHERE y.oid = subject_type AND y.typcategory = 'A') THEN
		RETURN format('COALESCE(%s.%I %s ANY (SELECT personal_data._typed_holds_set($2, NULL::%s)), false)',
					  alias, subject_column, eq, type_name);
	END IF;
	RETURN format('COALESCE(%s.%I %s ANY (ARRAY(SELECT pg_catalog.unnest(personal_data._typed_holds($2, NULL::%s)))), false)',
				  alias, subject_column, eq, type_name);
END
$$;

/*
 * For a row of a registered table (governing: its rules; aliased alias)
 * that a cascade reaches: SQL true when that keeps the row the cascade
 * comes from.  deeper: what the row's own deletion or change cascades into
 * (NULL: nothing).
 *   erase_subject (own_subject): a row of the subject being erased, in a
 *   table whose rows are deleted, does not keep it (it is erased too).
 *   The purge: a row that is itself expired and not held, in a table whose
 *   rows are deleted on expiry, does not keep it (the policy deletes it
 *   anyway).  Computed in the caller's time zone (the purge's: UTC).
 */
CREATE FUNCTION personal_data._governed_row_sql(governing regclass, alias text, own_subject text, deeper text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t record;
	retention interval;
BEGIN
	SELECT * INTO t FROM personal_data.registered_tables r WHERE r.relation = governing;
	IF t.relation IS NULL OR t.on_expiry <> 'delete' THEN
		-- (the subject's own row in an anonymize table is meant to stay: it keeps the row too)
		RETURN 'true';
	END IF;
	IF own_subject IS NOT NULL THEN
		-- another subject's row: kept (compared as text: any doubt keeps it)
		RETURN format('(%s.%I::pg_catalog.text IS DISTINCT FROM %s OR %s)', alias, t.subject_column,
					  own_subject, coalesce(deeper, 'false'));
	END IF;
	retention := personal_data.table_retention(governing);
	IF t.collected_at_column IS NULL OR retention IS NULL THEN
		RETURN 'true';
	END IF;
	RETURN format('(NOT (COALESCE(%s.%I OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz, false) AND NOT %s) OR %s)',
				  alias, t.collected_at_column, now() - retention,
				  personal_data._held_sql(governing, t.subject_column, alias), coalesce(deeper, 'false'));
END
$$;

DROP FUNCTION personal_data._cascade_condition(regclass, text, int2[], regclass[], text, oid[]);

/*
 * SQL true for a row of rel (aliased alias) that deleting (update_columns
 * NULL) or nulling update_columns would cascade into a row of a registered
 * table that must stay -- deleting or changing it, directly or through
 * unregistered tables in between; NULL if no cascade reaches one.
 * (_governed_row_sql says which rows must stay.)  For a partitioned rel,
 * the foreign keys that reference one of its partitions count too.
 *
 * path: the tables the cascade came through; one met again ends the walk,
 * conservatively (true) where that table's cascades reach a registered
 * table at all -- except an unregistered table's own threads (a foreign key
 * to itself, ON DELETE CASCADE), which are followed to their ends.  So does
 * a path longer than 4 tables, and so do the remaining foreign keys of a
 * table once its condition has grown past 4,000 characters (paths that
 * fork and join again multiply, and so does the cost of building, planning
 * and running the condition): a row is kept, never lost, where the walk
 * stops short.
 *
 * own_subject (erase_subject): an SQL expression of the subject being
 * erased.  not_self: leave out rel's foreign keys to itself ON DELETE
 * CASCADE (the caller follows them: an unregistered table's threads, walked
 * once from the rows that reference the row, with a recursive query).
 */
CREATE FUNCTION personal_data._cascade_condition(rel regclass, alias text, update_columns int2[],
	path regclass[] DEFAULT '{}', own_subject text DEFAULT NULL, governed oid[] DEFAULT NULL,
	not_self boolean DEFAULT false, reaching text[] DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f record;
	child_alias text := 'pd_ref' || (cardinality(path) + 1);
	tree_alias text := 'pd_tree' || (cardinality(path) + 1);
	thread_alias text := 'pd_thread' || (cardinality(path) + 1);
	thread_first text;
	partition_guard text;
	thread_columns text;
	thread_select text;
	tree oid[];
	update_names name[];
	join_condition text;
	thread_joins text;
	sub text;
	deeper text;
	governing regclass;
	child_kind text;
	cases text;
	conditions text[] := '{}';
	size integer := 0;
	kind text := CASE WHEN update_columns IS NULL THEN 'd' ELSE 'u' END;
BEGIN
	-- rel and, if partitioned, its partitions: a foreign key may reference one of them
	IF (SELECT k.relkind FROM pg_class k WHERE k.oid = rel) = 'p' THEN
		tree := ARRAY(SELECT p.relid::oid FROM pg_partition_tree(rel) p);
	ELSE
		tree := ARRAY[rel::oid];
	END IF;
	-- most tables: nothing references them (the purge asks once per batch)
	IF NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = ANY (tree)) THEN
		RETURN NULL;
	END IF;
	-- computed once, for the whole walk
	governed := coalesce(governed, personal_data._governed_relids());
	reaching := coalesce(reaching, personal_data._cascade_reaching(governed));
	IF rel = ANY (path) OR cardinality(path) >= 4 THEN
		RETURN CASE WHEN (rel::oid || ':' || kind) = ANY (reaching) THEN 'true' END;
	END IF;
	IF update_columns IS NOT NULL THEN
		-- by name (a partition's columns are its root's), with the stored generated
		-- columns computed from them, which change with them
		update_names := ARRAY(
			SELECT a.attname FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum = ANY (update_columns)
			UNION
			SELECT g.attname FROM pg_attrdef ad
			  JOIN pg_attribute g ON g.attrelid = ad.adrelid AND g.attnum = ad.adnum
			  JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
			 WHERE ad.adrelid = rel AND g.attgenerated = 's'
			   AND d.refclassid = 'pg_class'::regclass AND d.refobjid = rel
			   AND d.refobjsubid = ANY (update_columns));
	END IF;

	FOR f IN
		SELECT c.conrelid::regclass AS child, c.confrelid, c.confkey, c.conkey, c.conpfeqop,
			   CASE WHEN kind = 'd' AND c.confdeltype = 'c' THEN NULL ELSE c.conkey END AS child_columns,
			   k.relkind, c.conrelid = ANY (tree) AS to_itself, c.confdeltype
		  FROM pg_constraint c JOIN pg_class k ON k.oid = c.conrelid
		 WHERE c.contype = 'f' AND c.confrelid = ANY (tree)
		   -- a copy of a parent's constraint (on a partition of the referencing or of the
		   -- referenced table): the parent's covers it
		   AND NOT EXISTS (SELECT 1 FROM pg_constraint pc
							WHERE pc.oid = c.conparentid AND pc.confrelid = ANY (tree))
		   AND NOT (not_self AND c.conrelid = rel AND c.confdeltype = 'c')
		   AND CASE WHEN kind = 'd' THEN c.confdeltype IN ('c', 'n', 'd')
					ELSE c.confupdtype IN ('c', 'n', 'd')
						 AND EXISTS (SELECT 1 FROM unnest(c.confkey) ck
									   JOIN pg_attribute ca ON ca.attrelid = c.confrelid AND ca.attnum = ck
									  WHERE ca.attname = ANY (update_names)) END
		 ORDER BY c.conrelid, c.conname
	LOOP
		-- a key that references one partition of rel: rows of that partition
		partition_guard := CASE WHEN f.confrelid <> rel::oid THEN
			format('%s.tableoid OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.oid[]) AND ', alias,
				CASE WHEN (SELECT k.relkind FROM pg_class k WHERE k.oid = f.confrelid) = 'p'
					 THEN ARRAY(SELECT p.relid::oid FROM pg_partition_tree(f.confrelid::regclass) p WHERE p.isleaf)
					 ELSE ARRAY[f.confrelid] END) ELSE '' END;
		join_condition := partition_guard || personal_data._fk_join_sql(f.confrelid, f.child, f.confkey, f.conkey,
																		f.conpfeqop, alias, child_alias);
		IF f.to_itself AND kind = 'd' THEN
			-- a row that references itself goes with itself: that reaches nothing
			join_condition := format('%s AND NOT (%s.ctid OPERATOR(pg_catalog.=) %s.ctid AND %s.tableoid OPERATOR(pg_catalog.=) %s.tableoid)',
									 join_condition, child_alias, alias, child_alias, alias);
		END IF;
		governing := CASE WHEN f.child::oid = ANY (governed) THEN personal_data._governing_table(f.child) END;
		child_kind := CASE WHEN f.child_columns IS NULL THEN 'd' ELSE 'u' END;

		-- an unregistered table whose rows reference rows of itself ON DELETE CASCADE
		-- (comments and their replies): the cascade deletes the threads under the
		-- rows that reference ours, walked once per row of ours
		thread_joins := NULL;
		IF governing IS NULL AND f.relkind = 'r' AND child_kind = 'd' AND NOT f.to_itself THEN
			SELECT string_agg('(' || personal_data._fk_join_sql(c.confrelid, c.conrelid, c.confkey, c.conkey,
																 c.conpfeqop, 'pd_parent', 'pd_child') || ')', ' OR ')
			  INTO thread_joins
			  FROM pg_constraint c
			 WHERE c.contype = 'f' AND c.confrelid = f.child AND c.conrelid = f.child AND c.confdeltype = 'c';
			-- the referenced columns of those keys: what a step of the walk carries
			SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
				   string_agg('pd_child.' || quote_ident(a.attname), ', ' ORDER BY a.attnum)
			  INTO thread_columns, thread_select
			  FROM pg_attribute a
			 WHERE a.attrelid = f.child
			   AND a.attnum IN (SELECT unnest(c.confkey) FROM pg_constraint c
								 WHERE c.contype = 'f' AND c.confrelid = f.child AND c.conrelid = f.child
								   AND c.confdeltype = 'c');
		END IF;
		IF thread_joins IS NOT NULL THEN
			thread_first := partition_guard || personal_data._fk_join_sql(f.confrelid, f.child, f.confkey,
																		  f.conkey, f.conpfeqop, alias, 'pd_child');
			-- what deleting any row of those threads cascades into, but for the threads themselves
			deeper := CASE WHEN size > 4000 THEN 'true'
						   ELSE personal_data._cascade_condition(f.child, thread_alias, NULL, path || rel,
																 own_subject, governed, true, reaching) END;
			IF length(deeper) > 4000 THEN
				deeper := 'true';
			END IF;
			IF deeper IS NOT NULL THEN
				-- each step an index lookup per row (LATERAL; OFFSET 0 keeps the planner from
				-- turning it into a hash join over the whole table), each row read back by its ctid
				conditions := conditions || format(
					'EXISTS (WITH RECURSIVE %1$s(pd_ctid, %7$s) AS ('
					'SELECT pd_child.ctid, %8$s FROM ONLY %2$s AS pd_child WHERE %3$s'
					' UNION SELECT pd_next.* FROM %1$s AS pd_parent,'
					' LATERAL (SELECT pd_child.ctid, %8$s FROM ONLY %2$s AS pd_child WHERE %4$s OFFSET 0) AS pd_next)'
					' SELECT 1 FROM %1$s WHERE EXISTS (SELECT 1 FROM ONLY %2$s AS %5$s'
					' WHERE %5$s.ctid OPERATOR(pg_catalog.=) %1$s.pd_ctid AND %6$s))',
					tree_alias, f.child,
					thread_first,
					thread_joins, thread_alias, deeper, thread_columns, thread_select);
				size := size + length(conditions[cardinality(conditions)]);
			END IF;
			CONTINUE;
		END IF;

		IF governing IS NOT NULL AND personal_data._governed_row_sql(governing, child_alias, own_subject, NULL) = 'true' THEN
			sub := 'true';		-- kept whatever the cascade does beyond
		ELSE
			IF NOT (f.child::oid || ':' || child_kind) = ANY (reaching) THEN
				deeper := NULL;
			ELSIF size > 4000 THEN
				deeper := 'true';		-- enough: the rest is kept whole
			ELSE
				deeper := personal_data._cascade_condition(f.child, child_alias, f.child_columns, path || rel,
														   own_subject, governed, false, reaching);
				IF length(deeper) > 4000 THEN
					deeper := 'true';
				END IF;
			END IF;
			cases := NULL;
			IF governing IS NULL AND f.relkind = 'p' THEN
				-- an unregistered partitioned table: its registered partitions, by tableoid
				SELECT string_agg(format('WHEN %s.tableoid OPERATOR(pg_catalog.=) %s::pg_catalog.oid THEN %s',
										 child_alias, p.relid::oid,
										 personal_data._governed_row_sql(personal_data._governing_table(p.relid),
																		 child_alias, own_subject, deeper)), ' ')
				  INTO cases
				  FROM pg_partition_tree(f.child) p WHERE p.isleaf AND p.relid::oid = ANY (governed);
			END IF;
			IF governing IS NOT NULL THEN
				sub := personal_data._governed_row_sql(governing, child_alias, own_subject, deeper);
			ELSIF cases IS NOT NULL THEN
				sub := format('(CASE %s ELSE %s END)', cases, coalesce(deeper, 'false'));
			ELSE
				sub := deeper;
			END IF;
		END IF;
		IF sub IS NOT NULL THEN
			-- a foreign key of an inheritance parent binds its own rows only
			conditions := conditions || format('EXISTS (SELECT 1 FROM %s%s AS %s WHERE %s AND %s)',
				CASE WHEN f.relkind = 'p' THEN '' ELSE 'ONLY ' END, f.child, child_alias, join_condition, sub);
			size := size + length(conditions[cardinality(conditions)]);
		END IF;
	END LOOP;
	IF cardinality(conditions) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN '(' || array_to_string(conditions, ' OR ') || ')';
END
$$;

/*
 * The columns, by name, of the partition keys of the partitioned tables
 * leaf is a partition of (at any level, expressions' columns included): a
 * row cannot have them NULL in place unless the partition's bounds allow.
 */
CREATE FUNCTION personal_data._partition_key_columns(leaf regclass)
RETURNS name[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(array_agg(DISTINCT a.attname), '{}')
	  FROM pg_partition_ancestors($1) anc(relid)
	  JOIN pg_partitioned_table pt ON pt.partrelid = anc.relid
	  JOIN pg_attribute a ON a.attrelid = anc.relid AND NOT a.attisdropped
	 WHERE a.attnum = ANY (pt.partattrs::int2[])
		-- columns of key expressions (recorded as columns the table cannot lose)
		OR EXISTS (SELECT 1 FROM pg_depend d
					WHERE d.classid = 'pg_class'::regclass AND d.objid = anc.relid AND d.objsubid = a.attnum
					  AND d.refclassid = 'pg_class'::regclass AND d.refobjid = anc.relid
					  AND d.refobjsubid = 0 AND d.deptype = 'i')
$$;

/*
 * What a purge of a leaf (a partition or inheritance child of rules_rel, or
 * rules_rel itself) does, as SQL over the leaf's rows (aliased pd_row) with
 * the parameters $1 = cutoff (timestamptz) and $2 = holds (text[]):
 *	 expired	 the row expired
 *	 held		 its subject is under a hold
 *	 referenced	 deleting it (anonymize: nulling its labelled columns) would
 *				 cascade into a registered table's row
 *	 set_null, all_null	 anonymize: the SET list, and "already anonymized"
 *	 unnullable	 anonymize: labelled columns that cannot be NULL (NOT NULL, generated,
 *				 in the key of a partitioned table the leaf is a partition of)
 * cutoff is NULL where nothing expires (no collected_at, no retention, the
 * table is gone).  Computed in UTC: "now - 60 days" is the same instant
 * whatever the database's TimeZone.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_plan(leaf regclass, rules_rel regclass,
	OUT cutoff timestamptz, OUT holds text[], OUT on_expiry text,
	OUT expired text, OUT held text, OUT referenced text,
	OUT set_null text, OUT all_null text, OUT unnullable text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $$
DECLARE
	t record;
	retention interval;
	subject_type oid;
	type_name text;
	eq text;
	labelled_columns int2[];
	partition_keys name[];
BEGIN
	held := 'false';
	referenced := 'false';
	SELECT * INTO t FROM personal_data.registered_tables r WHERE r.relation = rules_rel;
	retention := personal_data.table_retention(rules_rel);
	IF t.relation IS NULL OR t.collected_at_column IS NULL OR retention IS NULL
	   OR NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = leaf) THEN
		RETURN;
	END IF;
	cutoff := now() - retention;
	on_expiry := t.on_expiry;
	expired := format('pd_row.%I OPERATOR(pg_catalog.<) $1', t.collected_at_column);

	holds := personal_data._active_holds();
	IF holds IS NOT NULL THEN
		SELECT a.atttypid INTO subject_type FROM pg_attribute a
		 WHERE a.attrelid = leaf AND a.attname = t.subject_column AND NOT a.attisdropped;
		type_name := format_type(subject_type, NULL);
		eq := personal_data._equality_operator(subject_type);
		IF eq IS NULL THEN
			-- no equality: as the type writes its values
			held := format('COALESCE(pd_row.%I::pg_catalog.text OPERATOR(pg_catalog.=) ANY (personal_data._canonical_holds($2, NULL::%s)), false)',
						   t.subject_column, type_name);
		ELSIF EXISTS (SELECT 1 FROM pg_type y WHERE y.oid = subject_type AND y.typcategory = 'A') THEN
			-- (a domain has its base type's category)
			-- there is no array of an array type: a set, computed once per statement
			held := format('COALESCE(pd_row.%I %s ANY (SELECT personal_data._typed_holds_set($2, NULL::%s)), false)',
						   t.subject_column, eq, type_name);
		ELSE
			-- the held subjects as values of the column's type, computed once per statement
			held := format('COALESCE(pd_row.%I %s ANY (ARRAY(SELECT pg_catalog.unnest(personal_data._typed_holds($2, NULL::%s)))), false)',
						   t.subject_column, eq, type_name);
		END IF;
	END IF;

	IF on_expiry = 'anonymize' THEN
		-- a partition key column cannot be NULL in its partition either
		partition_keys := personal_data._partition_key_columns(leaf);
		SELECT string_agg(quote_ident(a.attname) || ' = NULL', ', ')
				   FILTER (WHERE NOT a.attnotnull AND a.attgenerated = '' AND a.attname <> ALL (partition_keys)),
			   string_agg('pd_row.' || quote_ident(a.attname) || ' IS NULL', ' AND '),
			   string_agg(quote_ident(a.attname), ', ')
				   FILTER (WHERE a.attnotnull OR a.attgenerated <> '' OR a.attname = ANY (partition_keys)),
			   array_agg(a.attnum) FILTER (WHERE NOT a.attnotnull AND a.attgenerated = '' AND a.attname <> ALL (partition_keys))
		  INTO set_null, all_null, unnullable, labelled_columns
		  FROM personal_data.labelled_columns c
		  JOIN pg_attribute a ON a.attrelid = leaf AND a.attname = c.column_name AND NOT a.attisdropped
		 WHERE c.relation = rules_rel;
		IF labelled_columns IS NOT NULL THEN
			referenced := coalesce(personal_data._cascade_condition(leaf, 'pd_row', labelled_columns), 'false');
		END IF;
		RETURN;
	END IF;
	referenced := coalesce(personal_data._cascade_condition(leaf, 'pd_row', NULL), 'false');
END
$$;


/*
 * One range of blocks [from_block, to_block) of a leaf, rules read from the
 * registered table rules_rel.  The worker calls it a batch per transaction;
 * purge_expired() calls it for every range in one transaction.  A dry run
 * does the work in a subtransaction it rolls back (triggers fire and are
 * undone): its counts are those of a real run at that moment.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_range(leaf regclass, rules_rel regclass,
	from_block bigint, to_block bigint, dry_run boolean,
	OUT purged bigint, OUT anonymized bigint, OUT held bigint, OUT blocked bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- its locks (the tables a cascade reaches, then rows) can deadlock with an
-- application's transaction: the purge finds it first and gives way
SET deadlock_timeout = '100ms'
-- generated conditions can be long (cascades): never worth compiling
SET jit = off
AS $$
DECLARE
	p record;
	cond text;
	write text;
	w record;
	lo tid := format('(%s,0)', from_block)::tid;
	hi tid := format('(%s,0)', least(to_block, 4294967295))::tid;
BEGIN
	purged := 0; anonymized := 0; held := 0; blocked := 0;
	IF NOT dry_run THEN
		-- a hold placed now commits before the holds are read below, or waits
		LOCK TABLE personal_data.holds IN SHARE MODE;
	END IF;
	SELECT * INTO p FROM personal_data._purge_plan(leaf, rules_rel);
	IF p.cutoff IS NULL THEN
		RETURN;		-- nothing expires (or the table is gone)
	END IF;
	-- $1 cutoff, $2 holds, $3 and $4 the range
	cond := format('pd_row.ctid OPERATOR(pg_catalog.>=) $3 AND pd_row.ctid OPERATOR(pg_catalog.<) $4 AND %s',
				   p.expired);
	IF p.held <> 'false' THEN
		held := personal_data._owner_query(leaf,
			format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s AND %s', leaf, cond, p.held),
			p.cutoff, p.holds, lo, hi)::bigint;
		cond := format('%s AND NOT %s', cond, p.held);
	END IF;

	IF p.on_expiry = 'anonymize' THEN
		IF p.all_null IS NULL THEN
			RETURN;		-- no labelled column
		END IF;
		cond := format('%s AND NOT (%s)', cond, p.all_null);
		IF p.unnullable IS NOT NULL THEN
			blocked := personal_data._owner_query(leaf,
				format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s', leaf, cond),
				p.cutoff, p.holds, lo, hi)::bigint;
			IF blocked > 0 THEN
				RAISE WARNING 'expired rows of "%" cannot be anonymized: labelled column(s) % cannot be NULL', leaf, p.unnullable
					USING ERRCODE = 'not_null_violation',
						  HINT = 'Drop the NOT NULL constraint (or the generation expression), or make the table''s on_expiry delete; a partition key column cannot be anonymized in place: unlabel it.';
			END IF;
			RETURN;
		END IF;
		write := format('UPDATE ONLY %s AS pd_row SET %s WHERE ', leaf, p.set_null);
	ELSE
		write := format('DELETE FROM ONLY %s AS pd_row WHERE ', leaf);
	END IF;

	IF p.referenced <> 'false' THEN
		blocked := personal_data._owner_query(leaf,
			format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s AND %s', leaf, cond, p.referenced),
			p.cutoff, p.holds, lo, hi)::bigint;
		cond := format('%s AND NOT %s', cond, p.referenced);
	END IF;

	IF dry_run THEN
		BEGIN
			SELECT * INTO w FROM personal_data._purge_write(leaf, write, cond, p.cutoff, p.holds, lo, hi,
															p.referenced <> 'false');
			RAISE EXCEPTION USING ERRCODE = 'PDDRY';	-- undo it
		EXCEPTION WHEN SQLSTATE 'PDDRY' THEN
			NULL;	-- w keeps the counts
		END;
	ELSE
		SELECT * INTO w FROM personal_data._purge_write(leaf, write, cond, p.cutoff, p.holds, lo, hi,
														p.referenced <> 'false');
	END IF;
	blocked := blocked + w.blocked;
	IF p.on_expiry = 'anonymize' THEN
		anonymized := w.changed;
	ELSE
		purged := w.changed;
	END IF;
END
$$;


/*
 * Has a purge of the leaf anything to do: an expired row, not held, not
 * kept by a cascade (for anonymize, not anonymized yet)?  One look, which an
 * index on collected_at makes instant: the worker walks only leaves where it
 * is true, instead of reading every registered table every naptime.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_pending(leaf regclass, rules_rel regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- generated conditions can be long (cascades): never worth compiling
SET jit = off
AS $$
DECLARE
	p record;
	cond text;
BEGIN
	SELECT * INTO p FROM personal_data._purge_plan(leaf, rules_rel);
	IF p.cutoff IS NULL THEN
		RETURN false;
	END IF;
	cond := format('%s AND NOT %s AND NOT %s', p.expired, p.held, p.referenced);
	IF p.on_expiry = 'anonymize' THEN
		IF p.all_null IS NULL THEN
			RETURN false;
		END IF;
		cond := format('%s AND NOT (%s)', cond, p.all_null);
		IF p.unnullable IS NOT NULL THEN
			IF personal_data._owner_query(leaf,
					format('SELECT EXISTS (SELECT 1 FROM ONLY %s AS pd_row WHERE %s)', leaf, cond),
					p.cutoff, p.holds)::boolean THEN
				RAISE WARNING 'expired rows of "%" cannot be anonymized: labelled column(s) % cannot be NULL', leaf, p.unnullable
					USING ERRCODE = 'not_null_violation',
						  HINT = 'Drop the NOT NULL constraint (or the generation expression), or make the table''s on_expiry delete; a partition key column cannot be anonymized in place: unlabel it.';
			END IF;
			RETURN false;
		END IF;
	END IF;
	RETURN personal_data._owner_query(leaf,
		format('SELECT EXISTS (SELECT 1 FROM ONLY %s AS pd_row WHERE %s)', leaf, cond),
		p.cutoff, p.holds)::boolean;
END
$$;


/*
 * Deletes (or updates: write is the statement up to WHERE) the rows of the
 * leaf where condition holds, in the block range [$3, $4); a foreign key
 * that refuses the batch (or a check its cascade fails: SET NULL into a
 * partition key finds no partition) sends it row by row, the rows it keeps
 * counted as blocked.
 *
 * lock_first: condition says "no cascade would reach a registered table's
 * row", which a transaction in flight may be about to make false (an order
 * inserted for an expired customer: its key-share lock makes our DELETE
 * wait, but the DELETE's snapshot does not see the order, and the cascade
 * would delete it once it commits).  So the rows are locked FOR UPDATE
 * first -- waiting for such transactions, and keeping new ones out -- and
 * written by a later statement, whose snapshot sees what they committed;
 * the locked rows it leaves are counted as blocked.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_write(leaf regclass, write text, condition text,
	cutoff timestamptz, holds text[], lo tid, hi tid, lock_first boolean,
	OUT changed bigint, OUT blocked bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- generated conditions can be long (cascades): never worth compiling
SET jit = off
AS $$
DECLARE
	row_ctid tid;
	failed_constraint text;
	n bigint;
	locked bigint;
BEGIN
	changed := 0; blocked := 0;
	IF lock_first THEN
		locked := personal_data._owner_query(leaf,
			format('SELECT count(*) FROM (SELECT FROM ONLY %s AS pd_row WHERE %s FOR UPDATE OF pd_row) pd_locked',
				   leaf, condition),
			cutoff, holds, lo, hi)::bigint;
		IF locked = 0 THEN
			RETURN;
		END IF;
		-- then the registered tables the cascades reach: writers adding a reference have
		-- committed, and the write below sees it, or wait for us
		PERFORM personal_data._lock_cascade_targets(leaf, CASE WHEN write LIKE 'UPDATE %' THEN 'u' ELSE 'd' END);
	END IF;
	BEGIN
		changed := personal_data._owner_execute(leaf, write || condition, cutoff, holds, lo, hi);
	EXCEPTION WHEN foreign_key_violation OR restrict_violation OR check_violation THEN
		GET STACKED DIAGNOSTICS failed_constraint = CONSTRAINT_NAME;
		IF failed_constraint <> '' AND SQLSTATE = '23514' THEN
			RAISE;		-- a check of the table's own (it names its constraint), not a cascade's
		END IF;
		FOREACH row_ctid IN ARRAY coalesce(personal_data._owner_query(leaf,
				format('SELECT array_agg(pd_row.ctid) FROM ONLY %s AS pd_row WHERE %s', leaf, condition),
				cutoff, holds, lo, hi)::tid[], '{}')
		LOOP
			BEGIN
				-- the same conditions: the row may have changed since
				n := personal_data._owner_execute(leaf,
					format('%s pd_row.ctid OPERATOR(pg_catalog.=) $3 AND %s', write, condition),
					cutoff, holds, row_ctid, hi);
				changed := changed + n;
			EXCEPTION WHEN foreign_key_violation OR restrict_violation OR check_violation THEN
				blocked := blocked + 1;
			END;
		END LOOP;
	END;
	IF lock_first THEN
		blocked := locked - changed;
	END IF;
END
$$;


-- rel is both the argument and the first column of the result (INOUT)
CREATE OR REPLACE FUNCTION personal_data.purge_expired(INOUT rel regclass DEFAULT NULL, dry_run boolean DEFAULT false,
	OUT purged bigint, OUT anonymized bigint, OUT held bigint, OUT blocked bigint)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t record;
	leaf regclass;
	leaf_name text;
	c record;
	wanted regclass := rel;
	nblocks bigint;
	b bigint;
	whole bigint;
	dropped text[];
BEGIN
	IF dry_run IS NULL THEN
		RAISE EXCEPTION 'dry_run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF rel IS NOT NULL AND NOT EXISTS (SELECT 1 FROM personal_data.registered_tables r WHERE r.relation = purge_expired.rel) THEN
		RAISE EXCEPTION 'table "%" is not registered with personal_data', rel
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF rel IS NOT NULL AND NOT personal_data._rules_in_force(rel) THEN
		RAISE EXCEPTION 'table "%" is a partition of registered table "%": its own labels are not in force', rel, personal_data._registered_partition_root(rel)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Its rows are purged under the rules of %s: purge_expired(%L).', personal_data._registered_partition_root(rel), personal_data._registered_partition_root(rel)::text);
	END IF;
	IF NOT dry_run AND current_setting('transaction_isolation') <> 'read committed' THEN
		-- an older snapshot could miss a hold placed before the call
		RAISE EXCEPTION 'purge_expired() must run in a READ COMMITTED transaction'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('The transaction is %s: its snapshot may predate a hold.',
								  upper(current_setting('transaction_isolation')));
	END IF;
	-- (a partition labelled before it was attached to a registered tree: the tree's rules govern it)
	FOR t IN SELECT r.relation FROM personal_data.registered_tables r
			  WHERE (wanted IS NULL OR r.relation = wanted) AND personal_data._rules_in_force(r.relation)
			  ORDER BY r.relation::text
	LOOP
		-- never two purges of a table at once (the worker's lock lasts its run)
		PERFORM personal_data._purge_lock(t.relation);
		purge_expired.rel := t.relation;
		purged := 0; anonymized := 0; held := 0; blocked := 0;
		dropped := '{}';
		FOR leaf, leaf_name IN SELECT l, l::text FROM personal_data._purge_leaves(t.relation) l ORDER BY 2
		LOOP
			whole := personal_data._purge_partition(leaf, t.relation, dry_run);
			IF whole IS NOT NULL THEN
				purged := purged + whole;
				dropped := dropped || leaf_name;
				CONTINUE;
			END IF;
			nblocks := pg_relation_size(leaf) / current_setting('block_size')::bigint;
			b := 0;
			WHILE b < nblocks LOOP
				SELECT * INTO c FROM personal_data._purge_range(leaf, t.relation, b, b + 1024, dry_run);
				purged := purged + c.purged; anonymized := anonymized + c.anonymized;
				held := held + c.held; blocked := blocked + c.blocked;
				b := b + 1024;
			END LOOP;
		END LOOP;
		INSERT INTO personal_data.purge_log
			(relation, finished_at, purged, anonymized, held, blocked, partitions_dropped, dry_run)
		VALUES (t.relation::text, clock_timestamp(), purged, anonymized, held, blocked, dropped, dry_run);
		RETURN NEXT;
	END LOOP;
END
$$;


/*
 * The expired rows of a leaf that a purge would keep because deleting them
 * (anonymize: nulling their labelled columns) would cascade into a
 * registered table's row that must stay.  The worker walks only leaves with
 * something to purge (_purge_pending); it asks this of the others, so that
 * rows kept this way are logged each round like those a foreign key keeps.
 */
CREATE FUNCTION personal_data._purge_kept(leaf regclass, rules_rel regclass)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	p record;
	cond text;
BEGIN
	SELECT * INTO p FROM personal_data._purge_plan(leaf, rules_rel);
	IF p.cutoff IS NULL OR p.referenced = 'false' OR (p.on_expiry = 'anonymize' AND p.all_null IS NULL) THEN
		RETURN 0;
	END IF;
	cond := format('%s AND NOT %s AND %s', p.expired, p.held, p.referenced);
	IF p.on_expiry = 'anonymize' THEN
		cond := format('%s AND NOT (%s)', cond, p.all_null);
	END IF;
	RETURN personal_data._owner_query(leaf,
		format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s', leaf, cond),
		p.cutoff, p.holds)::bigint;
END
$$;

REVOKE ALL ON FUNCTION personal_data._rules_in_force(regclass),
	personal_data._cascade_edges(),
	personal_data._registered_partition_root(regclass),
	personal_data._cascade_walk(regclass, text),
	personal_data._cascade_targets(regclass, text),
	personal_data._fk_join_sql(oid, oid, int2[], int2[], oid[], text, text),
	personal_data._held_sql(regclass, name, text),
	personal_data._governed_row_sql(regclass, text, text, text),
	personal_data._cascade_condition(regclass, text, int2[], regclass[], text, oid[], boolean, text[]),
	personal_data._cascade_reaching(oid[]),
	personal_data._partition_key_columns(regclass),
	personal_data._purge_kept(regclass, regclass) FROM PUBLIC;

/*
 * personal_data 0.5 -> 0.6: the purge, hardened again (a second red-team of
 * 0.4's purge).
 *
 * - Cascades are followed as far as they go: a row is kept (counted as
 *   blocked) when deleting it -- or, for anonymize, nulling its labelled
 *   columns -- would delete or change a row of a registered table through
 *   foreign keys ON DELETE / ON UPDATE CASCADE, SET NULL or SET DEFAULT,
 *   directly or through unregistered tables in between (A -> B -> C).
 * - anonymize falls back to row by row when a foreign key refuses a batch,
 *   as delete does; the rows it keeps are counted as blocked.
 * - dry_run counts what a purge would do by doing it in a subtransaction it
 *   rolls back: rows a foreign key keeps are counted as blocked, not purged.
 * - Inheritance children of a registered table (that are not registered
 *   themselves) are purged under its rules, as enforcement governs them.
 * - Subject columns of array types; holds on types without an equality
 *   operator match as the type writes its values (point '(1, 2)').
 * - The cutoff is computed in UTC: the database's TimeZone (which its owner
 *   sets) does not move day and month retentions.
 * - The fast path: never a partition under a DEFAULT partition at any
 *   level; a cutoff before the year 1 is written with its era; a partition
 *   some view depends on goes row by row instead of failing every round.
 * (In C: a hard statement timeout for the worker's statements, a share of
 * each round per database, deferred constraints made immediate in the
 * table owner's statements, ALTER DOMAIN on a domain under a domain.)
 */

\echo Use "ALTER EXTENSION personal_data UPDATE TO '0.6'" to load this file. \quit

-- called inside the statements run as a table's owner: EXECUTE stays granted to PUBLIC
CREATE FUNCTION personal_data._typed_holds_set(subjects text[], sample anyelement)
RETURNS SETOF anyelement LANGUAGE c STABLE ROWS 10
AS 'MODULE_PATHNAME', 'pd_typed_holds_set';
COMMENT ON FUNCTION personal_data._typed_holds_set(text[], anyelement) IS
	'The held subjects that are values of the type of sample, as a set of values of it (array types too)';

CREATE FUNCTION personal_data._canonical_holds(subjects text[], sample anyelement)
RETURNS text[] LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'pd_canonical_holds';
COMMENT ON FUNCTION personal_data._canonical_holds(text[], anyelement) IS
	'The held subjects that are values of the type of sample, as its output function writes them';

/*
 * The registered ancestor an inheritance child follows, as the policy cache
 * (src/policy_cache.c, registered_inheritance_ancestor) finds it for
 * enforcement: its parents in inheritance order, then their ancestors, parent
 * by parent.  The purge and the subject functions must follow the same one.
 */
CREATE FUNCTION personal_data._registered_ancestor(rel regclass, depth integer DEFAULT 0)
RETURNS regclass LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parents oid[];
	parent oid;
	found regclass;
BEGIN
	SELECT array_agg(i.inhparent ORDER BY i.inhseqno) INTO parents FROM pg_inherits i WHERE i.inhrelid = rel;
	IF parents IS NULL OR depth > 64 THEN
		RETURN NULL;
	END IF;
	FOREACH parent IN ARRAY parents LOOP
		IF EXISTS (SELECT 1 FROM personal_data.registered_tables r WHERE r.relation = parent::regclass) THEN
			RETURN parent::regclass;
		END IF;
	END LOOP;
	FOREACH parent IN ARRAY parents LOOP
		found := personal_data._registered_ancestor(parent::regclass, depth + 1);
		IF found IS NOT NULL THEN
			RETURN found;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;

/*
 * The registered table whose rules govern rel: itself, or the registered
 * ancestor it follows (_registered_ancestor; a partition: its root).
 */
CREATE FUNCTION personal_data._governing_table(rel regclass)
RETURNS regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM personal_data.registered_tables r WHERE r.relation = $1)
				THEN $1 ELSE personal_data._registered_ancestor($1) END
$$;

/* The registered tables and their partitions and inheritance children, at any depth. */
CREATE FUNCTION personal_data._governed_relids()
RETURNS oid[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE down(relid, depth) AS (
		SELECT r.relation::oid, 0 FROM personal_data.registered_tables r
		UNION
		SELECT i.inhrelid, down.depth + 1 FROM pg_inherits i JOIN down ON i.inhparent = down.relid
		 WHERE down.depth < 64
	)
	SELECT coalesce(array_agg(DISTINCT relid), '{}') FROM down
$$;

/*
 * Does deleting rows of rel (kind 'd') or changing their keys (kind 'u')
 * reach a registered table through cascading foreign keys, at any depth?
 * The shape of the graph only; _cascade_condition says which rows.
 */
CREATE FUNCTION personal_data._cascade_reaches(rel regclass, kind text, governed oid[] DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE walk(relid, kind) AS (
		SELECT $1::oid, $2
		UNION
		SELECT c.conrelid, CASE WHEN w.kind = 'd' AND c.confdeltype = 'c' THEN 'd' ELSE 'u' END
		  FROM walk w JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = w.relid
		 WHERE (w.kind = 'd' AND c.confdeltype IN ('c', 'n', 'd'))
			OR (w.kind = 'u' AND c.confupdtype IN ('c', 'n', 'd'))
	)
	SELECT EXISTS (SELECT 1 FROM walk w
					WHERE (w.relid <> $1::oid OR w.kind <> $2)
					  AND w.relid = ANY (coalesce($3, personal_data._governed_relids())))
$$;

/*
 * SQL true for a row of rel (aliased alias) that deleting (update_columns
 * NULL) or nulling update_columns would cascade into a row of a registered
 * table -- deleting or changing it, directly or through unregistered tables
 * in between; NULL if no cascade reaches one.  path: the tables the cascade
 * came through; one met again ends the walk, conservatively (true) where
 * that table's cascades reach a registered table at all.  So does a path
 * longer than 4 tables, and so do the remaining foreign keys of a table once
 * its condition has grown past 4,000 characters (paths that fork and join
 * again multiply, and so does the cost of building, planning and running
 * the condition): a row is kept, never lost, where the walk stops short.
 *
 * own_subject (erase_subject): an SQL expression of the subject being
 * erased; a registered row of that subject does not keep the row (it is
 * erased too), though what its own deletion would cascade into does.
 */
CREATE FUNCTION personal_data._cascade_condition(rel regclass, alias text, update_columns int2[],
	path regclass[] DEFAULT '{}', own_subject text DEFAULT NULL, governed oid[] DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f record;
	child_alias text := 'pd_ref' || (cardinality(path) + 1);
	join_condition text;
	sub text;
	deeper text;
	governing regclass;
	child_kind text;
	conditions text[] := '{}';
	size integer := 0;
	kind text := CASE WHEN update_columns IS NULL THEN 'd' ELSE 'u' END;
BEGIN
	-- most tables: nothing references them (the purge asks once per batch)
	IF NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = rel) THEN
		RETURN NULL;
	END IF;
	-- computed once, for the whole walk
	governed := coalesce(governed, personal_data._governed_relids());
	IF rel = ANY (path) OR cardinality(path) >= 4 THEN
		RETURN CASE WHEN personal_data._cascade_reaches(rel, kind, governed) THEN 'true' END;
	END IF;
	FOR f IN
		SELECT c.conrelid::regclass AS child, c.confkey, c.conkey, c.conpfeqop,
			   CASE WHEN kind = 'd' AND c.confdeltype = 'c' THEN NULL ELSE c.conkey END AS child_columns,
			   k.relkind
		  FROM pg_constraint c JOIN pg_class k ON k.oid = c.conrelid
		 WHERE c.contype = 'f' AND c.confrelid = rel
		   -- a partition's copy of its parent's constraint: the parent's covers it
		   AND NOT EXISTS (SELECT 1 FROM pg_constraint pc
							WHERE pc.oid = c.conparentid AND pc.confrelid = c.confrelid)
		   AND CASE WHEN kind = 'd' THEN c.confdeltype IN ('c', 'n', 'd')
					ELSE c.confupdtype IN ('c', 'n', 'd') AND c.confkey && update_columns END
		 ORDER BY c.conrelid, c.conname
	LOOP
		-- compared in the referenced column's collation, as the foreign key's own checks do
		SELECT string_agg(format('%s.%I OPERATOR(%I.%s) %s.%I%s', alias, pa.attname, n.nspname, o.oprname,
								 child_alias, fa.attname,
								 CASE WHEN pa.attcollation <> 0 AND pa.attcollation <> fa.attcollation
									  THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname)
											  FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
											 WHERE co.oid = pa.attcollation)
									  ELSE '' END), ' AND ')
		  INTO join_condition
		  FROM unnest(f.confkey, f.conkey, f.conpfeqop) AS k(pk, fk, op)
		  JOIN pg_attribute pa ON pa.attrelid = rel AND pa.attnum = k.pk
		  JOIN pg_attribute fa ON fa.attrelid = f.child AND fa.attnum = k.fk
		  JOIN pg_operator o ON o.oid = k.op
		  JOIN pg_namespace n ON n.oid = o.oprnamespace;
		governing := CASE WHEN f.child::oid = ANY (governed) THEN personal_data._governing_table(f.child) END;
		child_kind := CASE WHEN f.child_columns IS NULL THEN 'd' ELSE 'u' END;
		IF governing IS NOT NULL AND (own_subject IS NULL
				OR (SELECT r.on_expiry FROM personal_data.registered_tables r WHERE r.relation = governing) <> 'delete') THEN
			-- (the subject's own row in an anonymize table is meant to stay: it keeps the row too)
			sub := 'true';
		ELSIF NOT personal_data._cascade_reaches(f.child, child_kind, governed) THEN
			sub := CASE WHEN governing IS NOT NULL THEN
						-- another subject's row: kept (compared as text: any doubt keeps it)
						format('%s.%I::pg_catalog.text IS DISTINCT FROM %s', child_alias,
							   (SELECT r.subject_column FROM personal_data.registered_tables r WHERE r.relation = governing),
							   own_subject) END;
		ELSIF size > 4000 THEN
			sub := 'true';		-- enough: the rest is kept whole
		ELSE
			deeper := personal_data._cascade_condition(f.child, child_alias, f.child_columns, path || rel,
													   own_subject, governed);
			IF length(deeper) > 4000 THEN
				deeper := 'true';
			END IF;
			IF governing IS NOT NULL THEN
				sub := format('(%s.%I::pg_catalog.text IS DISTINCT FROM %s OR %s)', child_alias,
							  (SELECT r.subject_column FROM personal_data.registered_tables r WHERE r.relation = governing),
							  own_subject, coalesce(deeper, 'false'));
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
 * _cascade_condition for the rows of a registered table as a whole (its
 * partitions' foreign keys included: a key may reference one partition):
 * per leaf, guarded by tableoid, for a partitioned table.  labelled: the
 * columns an anonymization nulls, by name; NULL for a deletion.
 */
CREATE FUNCTION personal_data._cascade_condition_tree(rel regclass, labelled name[], own_subject text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN k.relkind <> 'p'
		THEN personal_data._cascade_condition(rel, 'pd_row',
				(SELECT array_agg(a.attnum ORDER BY a.attnum) FROM pg_attribute a
				  WHERE a.attrelid = rel AND a.attname = ANY (labelled) AND NOT a.attisdropped),
				'{}', own_subject)
		ELSE (SELECT '(' || string_agg(format('(pd_row.tableoid OPERATOR(pg_catalog.=) %s::pg_catalog.oid AND %s)',
											  l.leaf::oid, l.condition), ' OR ') || ')'
				FROM (SELECT t.relid AS leaf,
							 personal_data._cascade_condition(t.relid, 'pd_row',
								(SELECT array_agg(a.attnum ORDER BY a.attnum) FROM pg_attribute a
								  WHERE a.attrelid = t.relid AND a.attname = ANY (labelled) AND NOT a.attisdropped),
								'{}', own_subject) AS condition
						FROM pg_partition_tree(rel) t WHERE t.isleaf) l
			   WHERE l.condition IS NOT NULL) END
	  FROM pg_class k WHERE k.oid = rel
$$;

/*
 * Locks in SHARE mode the registered tables that a deletion (kind 'd') or
 * an update of keys ('u') of rel's rows may cascade into, at any depth (for
 * a partitioned table, from any of its partitions): a transaction writing to
 * them -- adding a row that references one about to go, perhaps through a
 * table in between -- has committed, so that the statements that follow see
 * it, or waits until the purge's transaction ends.
 */
CREATE FUNCTION personal_data._lock_cascade_targets(rel regclass, kind text)
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
		WITH RECURSIVE walk(relid, kind, reached) AS (
			-- the table, and its partitions (pg_partition_tree has no rows for a plain table)
			SELECT t.relid::oid, _lock_cascade_targets.kind, false
			  FROM (SELECT rel::oid AS relid UNION SELECT p.relid FROM pg_partition_tree(rel) p) t
			UNION
			SELECT c.conrelid, CASE WHEN w.kind = 'd' AND c.confdeltype = 'c' THEN 'd' ELSE 'u' END, true
			  FROM walk w JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = w.relid
			 WHERE (w.kind = 'd' AND c.confdeltype IN ('c', 'n', 'd'))
				OR (w.kind = 'u' AND c.confupdtype IN ('c', 'n', 'd'))
		)
		-- reached through a foreign key: the table itself too, when a cascade comes back to it
		SELECT DISTINCT w.relid::regclass FROM walk w
		 WHERE w.reached AND w.relid = ANY (personal_data._governed_relids())
		 ORDER BY 1
	LOOP
		EXECUTE format('LOCK TABLE %s IN SHARE MODE', target);
	END LOOP;
END
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
 *	 unnullable	 anonymize: labelled columns that cannot be NULL (NOT NULL, generated)
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
		SELECT string_agg(quote_ident(a.attname) || ' = NULL', ', ')
				   FILTER (WHERE NOT a.attnotnull AND a.attgenerated = ''),
			   string_agg('pd_row.' || quote_ident(a.attname) || ' IS NULL', ' AND '),
			   string_agg(quote_ident(a.attname), ', ')
				   FILTER (WHERE a.attnotnull OR a.attgenerated <> ''),
			   array_agg(a.attnum) FILTER (WHERE NOT a.attnotnull AND a.attgenerated = '')
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
 * The leaves of a registered table: its partitions and inheritance children
 * (at any depth; not those registered themselves, which have their own
 * rules), and itself unless it is partitioned -- the ordinary tables among
 * them (not foreign tables).
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
		  JOIN pg_class k ON k.oid = i.inhrelid
		 WHERE tree.depth < 64
		   AND (k.relispartition
				OR NOT EXISTS (SELECT 1 FROM personal_data.registered_tables r
								WHERE r.relation = i.inhrelid::regclass))
	)
	-- tables: a foreign table's rows are elsewhere (and dropping it would not remove them);
	-- a child of two registered tables, under the one that governs it
	SELECT tree.relid::regclass FROM tree JOIN pg_class k ON k.oid = tree.relid
	 WHERE k.relkind = 'r'
	   AND (k.relispartition OR tree.relid = rules_rel::oid
			OR personal_data._governing_table(tree.relid::regclass) = rules_rel)
$$;

/*
 * Deletes (or updates: write is the statement up to WHERE) the rows of the
 * leaf where condition holds, in the block range [$3, $4); a foreign key
 * that refuses the batch sends it row by row, the rows it keeps counted as
 * blocked.
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
CREATE FUNCTION personal_data._purge_write(leaf regclass, write text, condition text,
	cutoff timestamptz, holds text[], lo tid, hi tid, lock_first boolean,
	OUT changed bigint, OUT blocked bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- generated conditions can be long (cascades): never worth compiling
SET jit = off
AS $$
DECLARE
	row_ctid tid;
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
	EXCEPTION WHEN foreign_key_violation OR restrict_violation THEN
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
			EXCEPTION WHEN foreign_key_violation OR restrict_violation THEN
				blocked := blocked + 1;
			END;
		END LOOP;
	END;
	IF lock_first THEN
		blocked := locked - changed;
	END IF;
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
						  HINT = 'Drop the NOT NULL constraint (or the generation expression), or make the table''s on_expiry delete.';
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
						  HINT = 'Drop the NOT NULL constraint (or the generation expression), or make the table''s on_expiry delete.';
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
 * The fast path of time-partitioned tables: a partition whose bounds lie
 * wholly before the expiry cutoff (so that it holds, and will ever hold,
 * only expired rows), none of them a held subject's, is dropped whole.
 * Returns the rows it held (counted as purged), or NULL where the rows must
 * go one by one: on_expiry is anonymize, a foreign key references the table
 * (its checks would be skipped), the partition has a delete trigger (it
 * would not fire), it or a partition above it is a default partition, or it
 * is a list or hash partition (dropping those would change where future
 * rows go), the bounds do not prove every row expired, the partition is
 * empty, a row is held, an object (a view) depends on the partition, or
 * (lock_wait_ms >= 0) the locks were not granted within lock_wait_ms.
 *
 * The proof is the planner's: with constraint_exclusion on, the partition
 * constraint refutes "not expired", and the plan is an empty Result.
 * Dropping a partition locks its parent; the count and the hold check are
 * made under that lock.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_partition(leaf regclass, rules_rel regclass,
	dry_run boolean, lock_wait_ms integer DEFAULT -1)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- generated conditions can be long (cascades): never worth compiling
SET jit = off
SET constraint_exclusion = on
AS $$
DECLARE
	p record;
	parent regclass;
	not_expired text;
	plan json;
	saved_lock_timeout text := current_setting('lock_timeout');
	counts text;
BEGIN
	SELECT * INTO p FROM personal_data._purge_plan(leaf, rules_rel);
	IF p.cutoff IS NULL OR p.on_expiry <> 'delete' THEN
		RETURN NULL;
	END IF;
	SELECT i.inhparent INTO parent FROM pg_inherits i
	  JOIN pg_class k ON k.oid = i.inhrelid AND k.relispartition
	  JOIN pg_partitioned_table pt ON pt.partrelid = i.inhparent
	 WHERE i.inhrelid = leaf AND pt.partstrat = 'r';
	IF parent IS NULL
	   -- rows routed to a default partition at any level would have nowhere to go
	   OR EXISTS (SELECT 1 FROM pg_partition_ancestors(leaf) a
				   JOIN pg_partitioned_table pt ON pt.partdefid = a.relid)
	   OR EXISTS (SELECT 1 FROM pg_constraint f
				   WHERE f.contype = 'f'
					 AND (f.confrelid IN (SELECT t.relid FROM pg_partition_tree(rules_rel) t)))
	   OR EXISTS (SELECT 1 FROM pg_trigger g
				   WHERE g.tgrelid = leaf AND NOT g.tgisinternal AND g.tgenabled <> 'D'
					 AND (g.tgtype::integer & 8) <> 0)	-- TRIGGER_TYPE_DELETE
	THEN
		RETURN NULL;
	END IF;

	-- written so that a partition constraint can refute it: a literal, in a
	-- form read back the same under any DateStyle and TimeZone (with its era:
	-- a retention of millennia gives a cutoff before the year 1)
	not_expired := format('(pd_row.%1$I OPERATOR(pg_catalog.>=) %2$L::pg_catalog.timestamptz OR pd_row.%1$I IS NULL)',
						  (SELECT r.collected_at_column FROM personal_data.registered_tables r WHERE r.relation = rules_rel),
						  to_char(p.cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00" BC'));
	plan := personal_data._owner_query(leaf,
		format('EXPLAIN (FORMAT JSON, COSTS OFF) SELECT 1 FROM ONLY %s AS pd_row WHERE %s', leaf, not_expired),
		p.cutoff)::json;
	IF plan->0->'Plan'->>'One-Time Filter' IS DISTINCT FROM 'false' THEN
		RETURN NULL;	-- the bounds do not prove it
	END IF;

	IF NOT dry_run THEN
		BEGIN
			IF lock_wait_ms >= 0 THEN
				PERFORM set_config('lock_timeout', lock_wait_ms::text, true);
			END IF;
			LOCK TABLE personal_data.holds IN SHARE MODE;
			-- the order DROP TABLE locks them in: parent, then partition
			EXECUTE format('LOCK TABLE ONLY %s, ONLY %s IN ACCESS EXCLUSIVE MODE', parent, leaf);
			PERFORM set_config('lock_timeout', saved_lock_timeout, true);
		EXCEPTION WHEN lock_not_available THEN
			RETURN NULL;
		END;
		-- holds read again, under the lock
		SELECT * INTO p FROM personal_data._purge_plan(leaf, rules_rel);
	END IF;
	counts := personal_data._owner_query(leaf,
		format('SELECT count(*) || '','' || count(*) FILTER (WHERE %s) FROM ONLY %s AS pd_row', p.held, leaf),
		p.cutoff, p.holds);
	IF split_part(counts, ',', 1)::bigint = 0 OR split_part(counts, ',', 2)::bigint > 0 THEN
		RETURN NULL;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_depend d
				WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = leaf
				  AND d.classid = 'pg_rewrite'::regclass AND d.deptype = 'n') THEN
		RETURN NULL;	-- a view (any role's, a temporary one too) reads it: DROP would fail
	END IF;
	IF NOT dry_run THEN
		BEGIN
			EXECUTE format('DROP TABLE %s', leaf);
		EXCEPTION WHEN dependent_objects_still_exist THEN
			RETURN NULL;	-- something else depends on it: row by row
		END;
	END IF;
	RETURN split_part(counts, ',', 1)::bigint;
END
$$;

-- erase_subject's locks likewise: it gives way in a deadlock
ALTER FUNCTION personal_data.erase_subject(text, bigint, text) SET deadlock_timeout = '100ms';

COMMENT ON FUNCTION personal_data._typed_holds(text[], anyelement) IS
	'The held subjects that are values of the type of sample (not an array type), as values of it';

REVOKE ALL ON FUNCTION personal_data._governing_table(regclass),
	personal_data._registered_ancestor(regclass, integer),
	personal_data._governed_relids(),
	personal_data._cascade_reaches(regclass, text, oid[]),
	personal_data._cascade_condition(regclass, text, int2[], regclass[], text, oid[]),
	personal_data._cascade_condition_tree(regclass, name[], text),
	personal_data._lock_cascade_targets(regclass, text),
	personal_data._purge_write(regclass, text, text, timestamptz, text[], tid, tid, boolean) FROM PUBLIC;

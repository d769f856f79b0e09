/*
 * personal_data 0.3 -> 0.4: the purge, hardened (found by red-teaming it).
 *
 * - Every statement a purge runs over a registered table runs as the table's
 *   owner, security-restricted (_owner_execute, _owner_query; src/purge.c):
 *   the purge is a superuser (the worker) or SECURITY DEFINER
 *   (purge_expired()), and triggers, constraints, casts and operators of a
 *   table are its owner's code.  The purge's own tables (holds, purge_log)
 *   are read and written outside.
 * - The cutoff is a parameter, never text read back under the session's
 *   DateStyle and TimeZone (DateStyle Postgres and TimeZone Asia/Shanghai
 *   read 'CST' back as US Central: 14 hours).  The fast path's proof needs a
 *   literal: it is written in ISO 8601 with an explicit UTC offset.
 * - Holds match with the subject column type's equality (citext, uuid, int),
 *   not byte for byte as text.
 * - Rows a registered table references through ON DELETE CASCADE are kept,
 *   counted as blocked: the cascade would delete the referencing rows, which
 *   have their own retention and holds.
 * - The row-by-row fallback (after a foreign key refused a batch) counts the
 *   rows its DELETE deleted, and re-checks expiry and holds for each.
 * - anonymize cannot null a NOT NULL or generated labelled column: such rows
 *   are counted as blocked, with a WARNING, instead of failing every batch.
 * - The fast path never drops the default partition, nor a list or hash
 *   partition.
 * - One purge of a table at a time: a lock no other role can take
 *   (_purge_lock), instead of an advisory lock anyone could hold.
 */

\echo Use "ALTER EXTENSION personal_data UPDATE TO '0.4'" to load this file. \quit

CREATE FUNCTION personal_data._owner_execute(rel regclass, command text, VARIADIC args "any")
RETURNS bigint LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pd_owner_execute';
COMMENT ON FUNCTION personal_data._owner_execute(regclass, text, "any") IS
	'Runs a statement as the owner of the table, security-restricted; returns the rows processed';

CREATE FUNCTION personal_data._owner_query(rel regclass, command text, VARIADIC args "any")
RETURNS text LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pd_owner_query';
COMMENT ON FUNCTION personal_data._owner_query(regclass, text, "any") IS
	'Runs a query as the owner of the table, security-restricted; returns its first value as text';

-- called inside the statements run as a table's owner: EXECUTE stays granted to PUBLIC
CREATE FUNCTION personal_data._typed_holds(subjects text[], sample anyelement)
RETURNS anyarray LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'pd_typed_holds';
COMMENT ON FUNCTION personal_data._typed_holds(text[], anyelement) IS
	'The held subjects that are values of the type of sample, as values of it';

CREATE FUNCTION personal_data._equality_operator(typ regtype)
RETURNS text LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'pd_equality_operator';

CREATE FUNCTION personal_data._purge_lock(rel regclass)
RETURNS void LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'pd_purge_lock';

/* The subjects under an active hold (a purge reads them after locking holds). */
CREATE FUNCTION personal_data._active_holds()
RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT array_agg(DISTINCT h.subject) FROM personal_data.holds h
	 WHERE h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
$$;

/*
 * What a purge of a leaf (a partition of rules_rel, or rules_rel itself)
 * does, as SQL over the leaf's rows (aliased pd_row) with the parameters
 * $1 = cutoff (timestamptz) and $2 = holds (text[]):
 *	 expired	 the row expired
 *	 held		 its subject is under a hold
 *	 referenced	 a registered table references it through ON DELETE CASCADE
 *	 set_null, all_null	 anonymize: the SET list, and "already anonymized"
 *	 unnullable	 anonymize: labelled columns that cannot be NULL (NOT NULL, generated)
 * cutoff is NULL where nothing expires (no collected_at, no retention, the
 * table is gone).
 */
CREATE FUNCTION personal_data._purge_plan(leaf regclass, rules_rel regclass,
	OUT cutoff timestamptz, OUT holds text[], OUT on_expiry text,
	OUT expired text, OUT held text, OUT referenced text,
	OUT set_null text, OUT all_null text, OUT unnullable text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t record;
	retention interval;
	subject_type oid;
	eq text;
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
		eq := personal_data._equality_operator(subject_type);
		IF eq IS NOT NULL THEN
			-- the held subjects as values of the column's type, computed once per statement
			held := format('COALESCE(pd_row.%I %s ANY (ARRAY(SELECT pg_catalog.unnest(personal_data._typed_holds($2, NULL::%s)))), false)',
						   t.subject_column, eq, format_type(subject_type, NULL));
		ELSE
			held := format('COALESCE(pd_row.%I::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2), false)',
						   t.subject_column);
		END IF;
	END IF;

	IF on_expiry = 'anonymize' THEN
		SELECT string_agg(quote_ident(a.attname) || ' = NULL', ', ')
				   FILTER (WHERE NOT a.attnotnull AND a.attgenerated = ''),
			   string_agg('pd_row.' || quote_ident(a.attname) || ' IS NULL', ' AND '),
			   string_agg(quote_ident(a.attname), ', ')
				   FILTER (WHERE a.attnotnull OR a.attgenerated <> '')
		  INTO set_null, all_null, unnullable
		  FROM personal_data.labelled_columns c
		  JOIN pg_attribute a ON a.attrelid = leaf AND a.attname = c.column_name AND NOT a.attisdropped
		 WHERE c.relation = rules_rel;
		RETURN;
	END IF;

	-- ON DELETE CASCADE from a registered table (from its partitions: the parent's constraint covers them)
	SELECT string_agg(format('EXISTS (SELECT 1 FROM %s AS pd_ref WHERE %s)', f.conrelid::regclass,
							 (SELECT string_agg(format('pd_row.%I OPERATOR(%I.%s) pd_ref.%I',
													   pa.attname, n.nspname, o.oprname, fa.attname), ' AND ')
								FROM unnest(f.confkey, f.conkey, f.conpfeqop) AS k(pk, fk, op)
								JOIN pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = k.pk
								JOIN pg_attribute fa ON fa.attrelid = f.conrelid AND fa.attnum = k.fk
								JOIN pg_operator o ON o.oid = k.op
								JOIN pg_namespace n ON n.oid = o.oprnamespace)), ' OR ')
	  INTO referenced
	  FROM pg_constraint f
	 WHERE f.contype = 'f' AND f.confrelid = leaf AND f.confdeltype = 'c'
	   AND NOT EXISTS (SELECT 1 FROM pg_constraint pc
						WHERE pc.oid = f.conparentid AND pc.confrelid = f.confrelid)
	   AND EXISTS (SELECT 1 FROM personal_data.registered_tables r
					WHERE r.relation = f.conrelid
					   OR r.relation IN (SELECT pg_partition_ancestors(f.conrelid)));
	referenced := coalesce('(' || referenced || ')', 'false');
END
$$;

/*
 * One range of blocks [from_block, to_block) of a leaf (a partition of a
 * registered tree, or the table itself), rules read from the registered
 * table rules_rel.  The worker calls it a batch per transaction;
 * purge_expired() calls it for every range in one transaction.
 */
CREATE OR REPLACE FUNCTION personal_data._purge_range(leaf regclass, rules_rel regclass,
	from_block bigint, to_block bigint, dry_run boolean,
	OUT purged bigint, OUT anonymized bigint, OUT held bigint, OUT blocked bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
	cond text;
	lo tid := format('(%s,0)', from_block)::tid;
	hi tid := format('(%s,0)', least(to_block, 4294967295))::tid;
	row_ctid tid;
	n bigint;
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
		IF dry_run THEN
			anonymized := personal_data._owner_query(leaf,
				format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s', leaf, cond),
				p.cutoff, p.holds, lo, hi)::bigint;
		ELSE
			anonymized := personal_data._owner_execute(leaf,
				format('UPDATE ONLY %s AS pd_row SET %s WHERE %s', leaf, p.set_null, cond),
				p.cutoff, p.holds, lo, hi);
		END IF;
		RETURN;
	END IF;

	IF p.referenced <> 'false' THEN
		blocked := personal_data._owner_query(leaf,
			format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s AND %s', leaf, cond, p.referenced),
			p.cutoff, p.holds, lo, hi)::bigint;
		cond := format('%s AND NOT %s', cond, p.referenced);
	END IF;
	IF dry_run THEN
		purged := personal_data._owner_query(leaf,
			format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s', leaf, cond),
			p.cutoff, p.holds, lo, hi)::bigint;
		RETURN;
	END IF;
	BEGIN
		purged := personal_data._owner_execute(leaf,
			format('DELETE FROM ONLY %s AS pd_row WHERE %s', leaf, cond),
			p.cutoff, p.holds, lo, hi);
	EXCEPTION WHEN foreign_key_violation THEN
		-- row by row in this range: the rows a foreign key keeps are counted, the others go
		purged := 0;
		FOREACH row_ctid IN ARRAY coalesce(personal_data._owner_query(leaf,
				format('SELECT array_agg(pd_row.ctid) FROM ONLY %s AS pd_row WHERE %s', leaf, cond),
				p.cutoff, p.holds, lo, hi)::tid[], '{}')
		LOOP
			BEGIN
				-- the same conditions: the row may have changed since
				n := personal_data._owner_execute(leaf,
					format('DELETE FROM ONLY %s AS pd_row WHERE pd_row.ctid OPERATOR(pg_catalog.=) $3 AND %s',
						   leaf, cond),
					p.cutoff, p.holds, row_ctid, hi);
				purged := purged + n;
			EXCEPTION WHEN foreign_key_violation THEN
				blocked := blocked + 1;
			END;
		END LOOP;
	END;
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
AS $$
DECLARE
	p record;
	cond text;
BEGIN
	SELECT * INTO p FROM personal_data._purge_plan(leaf, rules_rel);
	IF p.cutoff IS NULL THEN
		RETURN false;
	END IF;
	cond := format('%s AND NOT %s', p.expired, p.held);
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
	ELSE
		cond := format('%s AND NOT %s', cond, p.referenced);
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
 * would not fire), it is the default partition or a list or hash partition
 * (dropping those would change where future rows go), the bounds do not
 * prove every row expired, the partition is empty, a row is held, or
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
	 WHERE i.inhrelid = leaf AND pt.partstrat = 'r' AND pt.partdefid <> leaf;
	IF parent IS NULL
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
	-- form read back the same under any DateStyle and TimeZone
	not_expired := format('(pd_row.%1$I OPERATOR(pg_catalog.>=) %2$L::pg_catalog.timestamptz OR pd_row.%1$I IS NULL)',
						  (SELECT r.collected_at_column FROM personal_data.registered_tables r WHERE r.relation = rules_rel),
						  to_char(p.cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00"'));
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
	IF NOT dry_run THEN
		EXECUTE format('DROP TABLE %s', leaf);
	END IF;
	RETURN split_part(counts, ',', 1)::bigint;
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
	IF NOT dry_run AND current_setting('transaction_isolation') <> 'read committed' THEN
		-- an older snapshot could miss a hold placed before the call
		RAISE EXCEPTION 'purge_expired() must run in a READ COMMITTED transaction'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('The transaction is %s: its snapshot may predate a hold.',
								  upper(current_setting('transaction_isolation')));
	END IF;
	FOR t IN SELECT r.relation FROM personal_data.registered_tables r
			  WHERE wanted IS NULL OR r.relation = wanted
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

DROP FUNCTION personal_data._purge_lock_key(regclass);
DROP FUNCTION personal_data._held_condition(text);
DROP FUNCTION personal_data._holds_active();

REVOKE ALL ON FUNCTION personal_data._owner_execute(regclass, text, "any"),
	personal_data._owner_query(regclass, text, "any"),
	personal_data._purge_lock(regclass),
	personal_data._active_holds(),
	personal_data._purge_plan(regclass, regclass) FROM PUBLIC;

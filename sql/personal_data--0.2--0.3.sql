/*
 * personal_data 0.2 -> 0.3: retention.
 *
 * A registered table's rows expire at collected_at + table_retention(rel),
 * unless their subject is under an active hold.  purge_expired() deletes or
 * anonymizes them (the table's on_expiry); the purge worker (src/worker.c)
 * runs the same functions, a batch per transaction.
 *
 * - The heap is walked forward in ranges of blocks (TID range scans): a
 *   batch never restarts from the start of an index, and costs what the
 *   rows of its range cost.
 * - A partition whose bounds lie wholly before the cutoff, none of its rows
 *   a held subject's, is dropped whole (when nothing could observe the
 *   deletes row by row: no foreign key references the table, no delete
 *   trigger).
 * - Holds: a purge locks personal_data.holds in SHARE mode, so a hold placed
 *   concurrently either commits first and is seen, or waits for the purge.
 * - A row a foreign key keeps is counted as blocked; the run goes on.
 * - One purge of a table at a time: an advisory lock per registered table
 *   (the worker skips a table a manual purge holds; a manual purge waits).
 *
 * Also (found by red-teaming the audit): disclosure_log.subject is indexed
 * by hash (at the end of this file).
 */

\echo Use "ALTER EXTENSION personal_data UPDATE TO '0.3'" to load this file. \quit

CREATE TABLE personal_data.purge_log (
	id bigserial PRIMARY KEY,
	run_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	finished_at timestamptz,
	relation text NOT NULL,
	purged bigint NOT NULL DEFAULT 0,
	anonymized bigint NOT NULL DEFAULT 0,
	held bigint NOT NULL DEFAULT 0,
	blocked bigint NOT NULL DEFAULT 0,
	partitions_dropped text[] NOT NULL DEFAULT '{}',
	dry_run boolean NOT NULL DEFAULT false,
	started_by text NOT NULL DEFAULT pg_catalog."session_user"()
);
CREATE INDEX purge_log_relation ON personal_data.purge_log (relation, run_at);
COMMENT ON TABLE personal_data.purge_log IS
	'Each purge run, per table: rows deleted, anonymized, kept for a hold, kept by a foreign key, partitions dropped';
COMMENT ON COLUMN personal_data.purge_log.finished_at IS
	'NULL while the worker is purging the table, or if it was interrupted (the counts are what it did)';
REVOKE ALL ON personal_data.purge_log FROM PUBLIC;

/* The advisory lock that keeps two purges of one registered table apart. */
CREATE FUNCTION personal_data._purge_lock_key(rel regclass)
RETURNS bigint LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	-- 'PDPG' in the high half, the table's OID in the low half
	SELECT (1346654279::bigint OPERATOR(pg_catalog.<<) 32) OPERATOR(pg_catalog.|) rel::oid::bigint
$$;

/* Is any hold active now? (A purge skips the hold checks when none is.) */
CREATE FUNCTION personal_data._holds_active()
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM personal_data.holds h
					WHERE h.released_at IS NULL AND (h.until IS NULL OR h.until > pg_catalog.now()))
$$;

/* SQL: is the subject of the row (an expression over pd_row) under an active hold? */
CREATE FUNCTION personal_data._held_condition(subject_expr text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('EXISTS (SELECT 1 FROM personal_data.holds h'
				  ' WHERE h.subject OPERATOR(pg_catalog.=) (%s)::pg_catalog.text'
				  ' AND h.released_at IS NULL'
				  ' AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now()))', subject_expr)
$$;

/*
 * One range of blocks [from_block, to_block) of a leaf (a partition of a
 * registered tree, or the table itself), rules read from the registered
 * table rules_rel.  The worker calls it a batch per transaction;
 * purge_expired() calls it for every range in one transaction.
 */
CREATE FUNCTION personal_data._purge_range(leaf regclass, rules_rel regclass,
	from_block bigint, to_block bigint, dry_run boolean,
	OUT purged bigint, OUT anonymized bigint, OUT held bigint, OUT blocked bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t record;
	retention interval;
	expired text;
	not_held text := 'true';
	range_cond text := 'pd_row.ctid >= $1 AND pd_row.ctid < $2';
	lo tid := format('(%s,0)', from_block)::tid;
	hi tid := format('(%s,0)', least(to_block, 4294967295))::tid;
	set_null text;
	all_null text;
	r record;
BEGIN
	purged := 0; anonymized := 0; held := 0; blocked := 0;
	SELECT * INTO t FROM personal_data.registered_tables WHERE relation = rules_rel;
	retention := personal_data.table_retention(rules_rel);
	IF t.relation IS NULL OR t.collected_at_column IS NULL OR retention IS NULL
	   OR NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = leaf) THEN
		RETURN;		-- nothing expires (or the table is gone)
	END IF;
	IF NOT dry_run THEN
		-- a hold placed now commits before the next statement's snapshot, or waits
		LOCK TABLE personal_data.holds IN SHARE MODE;
	END IF;
	-- the rows are aliased pd_row: holds has a subject column too
	expired := format('pd_row.%I OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz',
					  t.collected_at_column, now() - retention);
	IF personal_data._holds_active() THEN
		not_held := 'NOT ' || personal_data._held_condition(format('pd_row.%I', t.subject_column));
		EXECUTE format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s AND %s AND NOT (%s)',
					   leaf, range_cond, expired, not_held)
			INTO held USING lo, hi;
	END IF;

	IF t.on_expiry = 'anonymize' THEN
		SELECT string_agg(quote_ident(column_name::text) || ' = NULL', ', '),
			   string_agg('pd_row.' || quote_ident(column_name::text) || ' IS NULL', ' AND ')
		  INTO set_null, all_null
		  FROM personal_data.labelled_columns WHERE relation = rules_rel;
		IF set_null IS NULL THEN
			RETURN;
		END IF;
		IF dry_run THEN
			EXECUTE format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s AND %s AND %s AND NOT (%s)',
						   leaf, range_cond, expired, not_held, all_null)
				INTO anonymized USING lo, hi;
		ELSE
			EXECUTE format('UPDATE ONLY %s AS pd_row SET %s WHERE %s AND %s AND %s AND NOT (%s)',
						   leaf, set_null, range_cond, expired, not_held, all_null)
				USING lo, hi;
			GET DIAGNOSTICS anonymized = ROW_COUNT;
		END IF;
		RETURN;
	END IF;

	IF dry_run THEN
		EXECUTE format('SELECT count(*) FROM ONLY %s AS pd_row WHERE %s AND %s AND %s',
					   leaf, range_cond, expired, not_held)
			INTO purged USING lo, hi;
		RETURN;
	END IF;
	BEGIN
		EXECUTE format('DELETE FROM ONLY %s AS pd_row WHERE %s AND %s AND %s', leaf, range_cond, expired, not_held)
			USING lo, hi;
		GET DIAGNOSTICS purged = ROW_COUNT;
	EXCEPTION WHEN foreign_key_violation THEN
		-- row by row in this range: the blocked rows are counted, the others go
		FOR r IN EXECUTE format('SELECT pd_row.ctid FROM ONLY %s AS pd_row WHERE %s AND %s AND %s',
								leaf, range_cond, expired, not_held)
				 USING lo, hi
		LOOP
			BEGIN
				EXECUTE format('DELETE FROM ONLY %s WHERE ctid = $1', leaf) USING r.ctid;
				purged := purged + 1;
			EXCEPTION WHEN foreign_key_violation THEN
				blocked := blocked + 1;
			END;
		END LOOP;
	END;
END
$$;

/*
 * Has a purge of the leaf anything to do: an expired row, not held (and for
 * anonymize, not anonymized yet)?  One look, which an index on collected_at
 * makes instant: the worker walks only leaves where it is true, instead of
 * reading every registered table every naptime.
 */
CREATE FUNCTION personal_data._purge_pending(leaf regclass, rules_rel regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t record;
	retention interval;
	cond text;
	all_null text;
	found_one boolean;
BEGIN
	SELECT * INTO t FROM personal_data.registered_tables WHERE relation = rules_rel;
	retention := personal_data.table_retention(rules_rel);
	IF t.relation IS NULL OR t.collected_at_column IS NULL OR retention IS NULL
	   OR NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = leaf) THEN
		RETURN false;
	END IF;
	cond := format('pd_row.%I OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz',
				   t.collected_at_column, now() - retention);
	IF personal_data._holds_active() THEN
		cond := cond || ' AND NOT ' || personal_data._held_condition(format('pd_row.%I', t.subject_column));
	END IF;
	IF t.on_expiry = 'anonymize' THEN
		SELECT string_agg('pd_row.' || quote_ident(column_name::text) || ' IS NULL', ' AND ')
		  INTO all_null
		  FROM personal_data.labelled_columns WHERE relation = rules_rel;
		IF all_null IS NULL THEN
			RETURN false;
		END IF;
		cond := cond || format(' AND NOT (%s)', all_null);
	END IF;
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s AS pd_row WHERE %s)', leaf, cond) INTO found_one;
	RETURN found_one;
END
$$;

/*
 * The fast path of time-partitioned tables: a partition whose bounds lie
 * wholly before the expiry cutoff (so that it holds, and will ever hold,
 * only expired rows), none of them a held subject's, is dropped whole.
 * Returns the rows it held (counted as purged), or NULL where the rows must
 * go one by one: on_expiry is anonymize, a foreign key references the table
 * (its checks would be skipped), the partition has a delete trigger (it
 * would not fire), the bounds do not prove every row expired (a partition
 * of current data, a list or hash partition, the default partition: dropping
 * those would change where future rows go), the partition is empty, a row
 * is held, or (lock_wait_ms >= 0) the locks were not granted within
 * lock_wait_ms.
 *
 * The proof is the planner's: with constraint_exclusion on, the partition
 * constraint refutes "not expired", and the plan is an empty Result.
 * Dropping a partition locks its parent; the count and the hold check are
 * made under that lock.
 */
CREATE FUNCTION personal_data._purge_partition(leaf regclass, rules_rel regclass,
	dry_run boolean, lock_wait_ms integer DEFAULT -1)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = on
AS $$
DECLARE
	t record;
	retention interval;
	parent regclass;
	not_expired text;
	held_cond text := 'false';
	plan json;
	saved_lock_timeout text := current_setting('lock_timeout');
	c record;
BEGIN
	SELECT * INTO t FROM personal_data.registered_tables WHERE relation = rules_rel;
	retention := personal_data.table_retention(rules_rel);
	IF t.relation IS NULL OR t.on_expiry <> 'delete' OR t.collected_at_column IS NULL OR retention IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT i.inhparent INTO parent FROM pg_inherits i
	  JOIN pg_class k ON k.oid = i.inhrelid AND k.relispartition
	 WHERE i.inhrelid = leaf;
	IF parent IS NULL
	   OR EXISTS (SELECT 1 FROM pg_constraint f
				   WHERE f.contype = 'f'
					 AND (f.confrelid IN (SELECT p.relid FROM pg_partition_tree(rules_rel) p)))
	   OR EXISTS (SELECT 1 FROM pg_trigger g
				   WHERE g.tgrelid = leaf AND NOT g.tgisinternal AND g.tgenabled <> 'D'
					 AND (g.tgtype::integer & 8) <> 0)	-- TRIGGER_TYPE_DELETE
	THEN
		RETURN NULL;
	END IF;

	-- written so that a partition constraint can refute it
	not_expired := format('(pd_row.%1$I OPERATOR(pg_catalog.>=) %2$L::pg_catalog.timestamptz OR pd_row.%1$I IS NULL)',
						  t.collected_at_column, now() - retention);
	EXECUTE format('EXPLAIN (FORMAT JSON, COSTS OFF) SELECT 1 FROM ONLY %s AS pd_row WHERE %s', leaf, not_expired)
		INTO plan;
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
	END IF;
	IF personal_data._holds_active() THEN
		held_cond := personal_data._held_condition(format('pd_row.%I', t.subject_column));
	END IF;
	EXECUTE format('SELECT count(*) AS n, count(*) FILTER (WHERE %s) AS held FROM ONLY %s AS pd_row',
				   held_cond, leaf)
		INTO c;
	IF c.n = 0 OR c.held > 0 THEN
		RETURN NULL;
	END IF;
	IF NOT dry_run THEN
		EXECUTE format('DROP TABLE %s', leaf);
	END IF;
	RETURN c.n;
END
$$;

/* The leaves of a registered table: its partitions, or the table itself. */
CREATE FUNCTION personal_data._purge_leaves(rules_rel regclass)
RETURNS SETOF regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.relid FROM pg_partition_tree(rules_rel) p
	 WHERE p.isleaf AND p.relid <> rules_rel
	UNION ALL
	SELECT rules_rel FROM pg_class k WHERE k.oid = rules_rel AND k.relkind <> 'p'
$$;

-- rel is both the argument and the first column of the result (INOUT)
CREATE FUNCTION personal_data.purge_expired(INOUT rel regclass DEFAULT NULL, dry_run boolean DEFAULT false,
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
		-- never two purges of a table at once (the worker's is session-long)
		PERFORM pg_advisory_xact_lock(personal_data._purge_lock_key(t.relation));
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
COMMENT ON FUNCTION personal_data.purge_expired(regclass, boolean) IS
	'Deletes or anonymizes expired rows of one or every registered table, now, in this transaction; logged in purge_log';

REVOKE ALL ON FUNCTION personal_data.purge_expired(regclass, boolean),
	personal_data._purge_range(regclass, regclass, bigint, bigint, boolean),
	personal_data._purge_partition(regclass, regclass, boolean, integer),
	personal_data._purge_pending(regclass, regclass),
	personal_data._purge_leaves(regclass),
	personal_data._purge_lock_key(regclass),
	personal_data._holds_active(),
	personal_data._held_condition(text) FROM PUBLIC;

/*
 * disclosure_log.subject is indexed by hash: a btree entry is limited to
 * 2704 bytes, and one long subject value made every insertion of the audit
 * writer fail (found by red-teaming the audit).  Lookups are by equality.
 */
DROP INDEX personal_data.disclosure_log_subject;
CREATE INDEX disclosure_log_subject ON personal_data.disclosure_log USING hash (subject);

/*
 * The audit writer retries a batch it cannot write; an entry that still
 * fails on its own after repeated attempts is kept here -- its bytes and the
 * error -- instead of stopping the database's audit (what a long subject did
 * before the hash index above).  Outside the hash chain, and counted as
 * written by audit_queue_status(): compliance staff look here.
 */
CREATE TABLE personal_data.audit_quarantine (
	id bigserial PRIMARY KEY,
	quarantined_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	entry bytea NOT NULL,
	error text NOT NULL
);
COMMENT ON TABLE personal_data.audit_quarantine IS
	'Audit entries the writer could not write after repeated attempts: kept with the error, outside the chain';
REVOKE ALL ON personal_data.audit_quarantine FROM PUBLIC;
CREATE TRIGGER audit_quarantine_append_only
	BEFORE INSERT OR UPDATE OR DELETE ON personal_data.audit_quarantine
	FOR EACH ROW EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER audit_quarantine_no_truncate
	BEFORE TRUNCATE ON personal_data.audit_quarantine
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._audit_append_only();

/*
 * personal_data 0.1 -> 0.2: the durable, tamper-evident audit.
 *
 * access_log and disclosure_log are written by the audit writer (a
 * background worker, src/audit.c) only: backends queue entries in shared
 * memory outside their transactions, so that a denied or rolled-back
 * statement is still logged.  Entries of both logs are numbered from one
 * sequence of ids and hash-chained (SHA-256 over the previous hash and the
 * entry); verify_audit_log() recomputes the chain.  Nobody may change or
 * delete an entry; old ones leave through personal_data.audit_retention,
 * which leaves a checkpoint row behind.
 *
 * The logs are not in pg_extension_config_dump: they are evidence, kept
 * where they were written; archive them with COPY (see README.md).
 */

\echo Use "ALTER EXTENSION personal_data UPDATE TO '0.2'" to load this file. \quit

-- Access entries are stored packed, a batch of them per row as the writer
-- commits them (see src/audit.c); the view access_log shows one row per entry.
CREATE TABLE personal_data.access_log_batches (
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	first_at timestamptz NOT NULL,
	last_at timestamptz NOT NULL,
	entries bytea NOT NULL,
	last_hash bytea NOT NULL
);
-- Batches of up to about 8 kB stay in the table's own pages (no TOAST
-- chunks and their index), uncompressed: the entries are compact already.
ALTER TABLE personal_data.access_log_batches ALTER COLUMN entries SET STORAGE EXTERNAL;
ALTER TABLE personal_data.access_log_batches SET (toast_tuple_target = 8160);
CREATE INDEX access_log_batches_last_id ON personal_data.access_log_batches (last_id);
CREATE INDEX access_log_batches_at ON personal_data.access_log_batches USING brin (first_at, last_at);
COMMENT ON TABLE personal_data.access_log_batches IS
	'Storage of the access log: entries as the audit writer committed them (read them through access_log)';

CREATE FUNCTION personal_data._access_log_entries(entries bytea,
	OUT id bigint, OUT logged_at timestamptz, OUT session_user_name text,
	OUT current_user_name text, OUT purpose text, OUT recipient text, OUT relation text,
	OUT relation_id oid, OUT columns text[], OUT command text, OUT rows bigint,
	OUT allowed boolean, OUT reason text, OUT query_id bigint,
	OUT prev_hash bytea, OUT hash bytea)
	RETURNS SETOF record
	LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'pd_access_log_entries';

CREATE VIEW personal_data.access_log AS
SELECT e.*
  FROM personal_data.access_log_batches b
 CROSS JOIN LATERAL personal_data._access_log_entries(b.entries) e;
COMMENT ON VIEW personal_data.access_log IS
	'Per statement and registered table: who used which columns for which purpose, allowed or denied (append-only, hash-chained)';

CREATE TABLE personal_data.disclosure_log (
	id bigint NOT NULL,
	logged_at timestamptz NOT NULL,
	recipient text NOT NULL,
	organization text,
	country text,
	subject text NOT NULL,
	relation text,
	relation_id oid,
	columns text[],
	purpose text,
	basis text,
	basis_id bigint,
	cross_border boolean,
	prev_hash bytea NOT NULL,
	hash bytea NOT NULL
);
CREATE INDEX disclosure_log_id ON personal_data.disclosure_log USING brin (id);
CREATE INDEX disclosure_log_subject ON personal_data.disclosure_log (subject);
CREATE INDEX disclosure_log_recipient ON personal_data.disclosure_log (recipient, logged_at);
COMMENT ON TABLE personal_data.disclosure_log IS
	'Record of provision: per statement, each subject whose data a third party or entrustee received, and the basis (append-only, hash-chained)';

CREATE TABLE personal_data.audit_checkpoints (
	id bigint PRIMARY KEY,
	hash bytea NOT NULL,
	removed bigint NOT NULL,
	created_at timestamptz NOT NULL
);
COMMENT ON TABLE personal_data.audit_checkpoints IS
	'Where verification of the audit chain resumes after personal_data.audit_retention removed older entries';

CREATE TABLE personal_data.audit_chain_head (
	id bigint NOT NULL,
	hash bytea NOT NULL
);
INSERT INTO personal_data.audit_chain_head VALUES (0, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'));
COMMENT ON TABLE personal_data.audit_chain_head IS
	'The last id and hash of the audit chain, where the writer goes on (one row)';

CREATE FUNCTION personal_data._audit_append_only() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'pd_audit_append_only';

CREATE TRIGGER access_log_batches_append_only
	BEFORE INSERT OR UPDATE OR DELETE ON personal_data.access_log_batches
	FOR EACH ROW EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER access_log_batches_no_truncate
	BEFORE TRUNCATE ON personal_data.access_log_batches
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER access_log_append_only
	INSTEAD OF INSERT OR UPDATE OR DELETE ON personal_data.access_log
	FOR EACH ROW EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER disclosure_log_append_only
	BEFORE INSERT OR UPDATE OR DELETE ON personal_data.disclosure_log
	FOR EACH ROW EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER disclosure_log_no_truncate
	BEFORE TRUNCATE ON personal_data.disclosure_log
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only
	BEFORE INSERT OR UPDATE OR DELETE ON personal_data.audit_checkpoints
	FOR EACH ROW EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
	BEFORE TRUNCATE ON personal_data.audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._audit_append_only();

CREATE TRIGGER audit_chain_head_append_only
	BEFORE INSERT OR UPDATE OR DELETE ON personal_data.audit_chain_head
	FOR EACH ROW EXECUTE FUNCTION personal_data._audit_append_only();
CREATE TRIGGER audit_chain_head_no_truncate
	BEFORE TRUNCATE ON personal_data.audit_chain_head
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._audit_append_only();

REVOKE ALL ON personal_data.access_log, personal_data.access_log_batches,
	personal_data.disclosure_log, personal_data.audit_checkpoints,
	personal_data.audit_chain_head FROM PUBLIC;

CREATE FUNCTION personal_data.verify_audit_log(OUT ok boolean, OUT checked bigint, OUT first_bad_id bigint)
	RETURNS record
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'pd_verify_audit_log';
COMMENT ON FUNCTION personal_data.verify_audit_log() IS
	'Recomputes the audit hash chain; first_bad_id is the first entry edited, deleted or reordered';

CREATE FUNCTION personal_data.audit_flush() RETURNS void
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'pd_audit_flush';
COMMENT ON FUNCTION personal_data.audit_flush() IS
	'Waits until the audit writer has committed every entry queued in this database before the call';

CREATE FUNCTION personal_data.audit_queue_status(OUT database oid, OUT pending_entries bigint,
	OUT pending_bytes bigint, OUT queue_bytes bigint, OUT written_entries bigint,
	OUT lost_entries bigint, OUT writer_pid integer)
	RETURNS SETOF record
	LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'pd_audit_queue_status';
COMMENT ON FUNCTION personal_data.audit_queue_status() IS
	'The audit queues in shared memory: entries waiting, committed, lost while aborting, and the writer';

CREATE FUNCTION personal_data.audit_head(OUT id bigint, OUT hash bytea)
	RETURNS record
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT h.id, h.hash FROM personal_data.audit_chain_head h
$$;
COMMENT ON FUNCTION personal_data.audit_head() IS
	'The newest entry of the audit chain: keep its hash outside the database to detect a rewritten chain';

-- Who read or wrote which personal (labelled) columns, for which purpose, in a period.
CREATE FUNCTION personal_data.personal_column_use(
	from_time timestamptz DEFAULT '-infinity', to_time timestamptz DEFAULT 'infinity')
	RETURNS TABLE(session_user_name text, current_user_name text, purpose text,
				  recipient text, relation text, column_name text, command text,
				  statements bigint, rows bigint, denied bigint,
				  first_at timestamptz, last_at timestamptz)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT l.session_user_name, l.current_user_name, l.purpose, l.recipient,
		   l.relation, c.column_name, l.command,
		   count(*), sum(l.rows)::bigint, count(*) FILTER (WHERE NOT l.allowed),
		   min(l.logged_at), max(l.logged_at)
	  FROM personal_data.access_log l
	 CROSS JOIN LATERAL unnest(l.columns) AS c(column_name)
	 WHERE l.logged_at >= from_time AND l.logged_at < to_time
	   AND EXISTS (SELECT 1 FROM personal_data.labelled_columns lc
				   WHERE lc.relation::oid = l.relation_id
					 AND lc.column_name::text = c.column_name)
	 GROUP BY 1, 2, 3, 4, 5, 6, 7
	 ORDER BY 5, 6, 1, 2, 3
$$;
COMMENT ON FUNCTION personal_data.personal_column_use(timestamptz, timestamptz) IS
	'Who used which labelled columns of which table for which purpose in a period (from the access log)';

-- The record of provision the policy promises: for a subject, a recipient, or all.
CREATE FUNCTION personal_data.provisions(
	subject text DEFAULT NULL, recipient text DEFAULT NULL,
	from_time timestamptz DEFAULT '-infinity', to_time timestamptz DEFAULT 'infinity')
	RETURNS SETOF personal_data.disclosure_log
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT d.* FROM personal_data.disclosure_log d
	 WHERE ($1 IS NULL OR d.subject = $1)
	   AND ($2 IS NULL OR d.recipient = $2)
	   AND d.logged_at >= $3 AND d.logged_at < $4
	 ORDER BY d.id
$$;
COMMENT ON FUNCTION personal_data.provisions(text, text, timestamptz, timestamptz) IS
	'Provisions of personal data to third parties and entrustees, for a subject, a recipient, a period';

CREATE VIEW personal_data.cross_border_provisions AS
SELECT id, logged_at, recipient, organization, country, subject, relation,
	   columns, purpose, basis, basis_id
  FROM personal_data.disclosure_log
 WHERE cross_border;
COMMENT ON VIEW personal_data.cross_border_provisions IS
	'Provisions to recipients outside personal_data.home_country';
REVOKE ALL ON personal_data.cross_border_provisions FROM PUBLIC;

REVOKE ALL ON FUNCTION personal_data.verify_audit_log(), personal_data.audit_flush(),
	personal_data.audit_queue_status(), personal_data.audit_head(),
	personal_data.personal_column_use(timestamptz, timestamptz),
	personal_data.provisions(text, text, timestamptz, timestamptz),
	personal_data._audit_append_only() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personal_data.audit_flush() TO PUBLIC;

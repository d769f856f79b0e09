/*
 * personal_data 0.4 -> 0.5: data-subject requests (DESIGN.md §6).
 * The requests register, subject_data(), erase_subject(),
 * compliance_report(), discover(); the personal_data.request_id and
 * personal_data.response_period settings are in src/personal_data.c.
 *
 * Compliance staff answer requests with these functions.  subject_data()
 * and erase_subject() read and write each registered table as its owner
 * (_owner_query_cached: security-restricted, the session's purpose not
 * enforced), and every table they read or write is in the access log under
 * the caller's session.
 */

\echo Use "ALTER EXTENSION personal_data UPDATE TO '0.5'" to load this file. \quit

CREATE FUNCTION personal_data._owner_query_cached(rel regclass, command text, VARIADIC args "any")
RETURNS text LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pd_owner_query_cached';
COMMENT ON FUNCTION personal_data._owner_query_cached(regclass, text, "any") IS
	'_owner_query, its plan kept for the session';
REVOKE ALL ON FUNCTION personal_data._owner_query_cached(regclass, text, "any") FROM PUBLIC;

CREATE TABLE personal_data.requests (
	id bigserial PRIMARY KEY,
	subject text NOT NULL
		CONSTRAINT requests_subject_not_empty CHECK (subject OPERATOR(pg_catalog.<>) ''),
	kind text NOT NULL
		CONSTRAINT requests_kind_valid
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['disclosure', 'correction', 'addition', 'deletion',
													  'suspension', 'disclosure_records', 'complaint', 'inquiry'])),
	details text,
	received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	due_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'open'
		CONSTRAINT requests_status_valid
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['open', 'completed', 'rejected'])),
	resolved_at timestamptz,
	resolution text,
	received_by text NOT NULL DEFAULT pg_catalog."session_user"(),
	CONSTRAINT requests_resolved_when_closed
		CHECK ((status OPERATOR(pg_catalog.=) 'open') OPERATOR(pg_catalog.=) (resolved_at IS NULL))
);
-- hash: a subject is looked up by equality, and may be longer than a btree entry
CREATE INDEX requests_subject ON personal_data.requests USING hash (subject);
CREATE INDEX requests_open_due ON personal_data.requests (due_at)
	WHERE status OPERATOR(pg_catalog.=) 'open';
COMMENT ON TABLE personal_data.requests IS
	'Requests of data subjects (disclosure, correction, addition, deletion, ...) and complaints, with their due dates';

CREATE TABLE personal_data.request_events (
	id bigserial PRIMARY KEY,
	request_id bigint NOT NULL REFERENCES personal_data.requests (id),
	at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	status text NOT NULL,
	note text,
	by_role text NOT NULL DEFAULT pg_catalog."session_user"()
);
CREATE INDEX request_events_request ON personal_data.request_events (request_id);
COMMENT ON TABLE personal_data.request_events IS 'The status history of each request';

CREATE TABLE personal_data.request_actions (
	id bigserial PRIMARY KEY,
	request_id bigint REFERENCES personal_data.requests (id),
	action text NOT NULL
		CONSTRAINT request_actions_action_valid
		CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['export', 'erasure', 'correction', 'addition', 'other'])),
	subject text NOT NULL,
	at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	detail jsonb,
	by_role text NOT NULL DEFAULT pg_catalog."session_user"()
);
CREATE INDEX request_actions_request ON personal_data.request_actions (request_id);
COMMENT ON TABLE personal_data.request_actions IS
	'What was done for a subject (an export, an erasure, ...), linked to the request it answered';

REVOKE ALL ON personal_data.requests, personal_data.request_events, personal_data.request_actions FROM PUBLIC;

-- the register is the company's record of requests: dumped with the policy
SELECT pg_catalog.pg_extension_config_dump('personal_data.requests', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.requests_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.request_events', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.request_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.request_actions', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.request_actions_id_seq', '');

-- An open request (of that subject and one of those kinds, if given), or a clear error.
CREATE FUNCTION personal_data._require_open_request(request_id bigint,
	for_subject text DEFAULT NULL, kinds text[] DEFAULT NULL)
RETURNS personal_data.requests
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r personal_data.requests;
BEGIN
	PERFORM personal_data._require(request_id, 'request_id');
	SELECT * INTO r FROM personal_data.requests q WHERE q.id = request_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('request %s does not exist', request_id);
	END IF;
	IF r.status <> 'open' THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('request %s is already closed', request_id),
			DETAIL = format('It was %s at %s.', r.status, r.resolved_at);
	END IF;
	IF for_subject IS NOT NULL AND r.subject <> for_subject THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('request %s is not about subject "%s"', request_id, for_subject);
	END IF;
	IF kinds IS NOT NULL AND NOT r.kind = ANY (kinds) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('request %s is a %s request, not %s', request_id, r.kind,
							 array_to_string(kinds, ' or ')),
			HINT = 'Link an action to the request it answers.';
	END IF;
	RETURN r;
END
$$;

CREATE FUNCTION personal_data.open_request(subject text, kind text, details text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	request_id bigint;
	kinds text[] := ARRAY['disclosure', 'correction', 'addition', 'deletion', 'suspension',
						  'disclosure_records', 'complaint', 'inquiry'];
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(subject, 'subject');
	PERFORM personal_data._require_text(kind, 'kind');
	IF NOT kind = ANY (kinds) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown request kind "%s"', kind),
			HINT = 'Kinds: ' || array_to_string(kinds, ', ') || '.';
	END IF;
	INSERT INTO personal_data.requests (subject, kind, details, due_at)
	VALUES (subject, kind, details,
			now() + current_setting('personal_data.response_period')::interval)
	RETURNING id INTO request_id;
	INSERT INTO personal_data.request_events (request_id, status, note)
	VALUES (request_id, 'open', details);
	RETURN request_id;
END
$$;
COMMENT ON FUNCTION personal_data.open_request(text, text, text) IS
	'Register a data subject''s request; due after personal_data.response_period';

CREATE FUNCTION personal_data.close_request(request_id bigint, status text, resolution text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(status, 'status');
	IF status NOT IN ('completed', 'rejected') THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('a request is closed as completed or rejected, not "%s"', status);
	END IF;
	PERFORM personal_data._require_text(resolution, 'resolution');
	PERFORM personal_data._require_open_request(request_id);
	UPDATE personal_data.requests q
	   SET status = close_request.status, resolved_at = now(), resolution = close_request.resolution
	 WHERE q.id = request_id;
	INSERT INTO personal_data.request_events (request_id, status, note)
	VALUES (request_id, status, resolution);
END
$$;
COMMENT ON FUNCTION personal_data.close_request(bigint, text, text) IS
	'Close a request as completed or rejected, with its resolution';

CREATE FUNCTION personal_data.overdue_requests()
RETURNS SETOF personal_data.requests
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM personal_data.requests q
	 WHERE q.status = 'open' AND q.due_at < now()
	 ORDER BY q.due_at, q.id
$$;
COMMENT ON FUNCTION personal_data.overdue_requests() IS 'Open requests past their due date';

/*
 * Per registered table, from the policy cache: its subject column and type,
 * the labelled columns (those of a disclosed purpose apart), on_expiry, and
 * the equality of the subject type.  Partitions are left out (their root is
 * read); the tables in name order.
 */
CREATE FUNCTION personal_data._subject_tables(OUT relation regclass, OUT subject_column text,
	OUT subject_type text, OUT disclosed_columns text[], OUT labelled_columns text[],
	OUT on_expiry text, OUT subject_equality text)
RETURNS SETOF record LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'pd_subject_tables';

/*
 * {table: [rows]}: the subject's rows in the registered tables holding some,
 * each its subject column and the labelled columns of a disclosed purpose.
 */
CREATE FUNCTION personal_data._subject_document(subject text)
RETURNS jsonb LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'pd_subject_document';

CREATE FUNCTION personal_data.subject_data(subject text, request_id bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	document jsonb;
BEGIN
	IF request_id IS NOT NULL THEN
		PERFORM personal_data._require_preloaded();
		PERFORM personal_data._require_text(subject, 'subject');
		PERFORM personal_data._require_open_request(request_id, subject,
													ARRAY['disclosure', 'disclosure_records']);
	END IF;
	-- one statement (this function is called per subject, and costs what its rows cost):
	-- the subject column and the labelled columns of a disclosed purpose of every
	-- registered table, read as each table's owner (_subject_document), then the
	-- subject's consents, the provisions of its data, its requests
	document := (
		SELECT jsonb_build_object(
			'subject', subject,
			'generated_at', now(),
			'data', personal_data._subject_document(subject),
			'consents', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'purpose', c.purpose, 'recipient', c.recipient::text, 'by_guardian', c.by_guardian,
					'granted_at', c.granted_at, 'withdrawn_at', c.withdrawn_at, 'valid_until', c.valid_until)
					ORDER BY c.id)
				FROM personal_data.consents c WHERE c.subject = subject_data.subject), '[]'),
			'provisions', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'at', d.logged_at, 'recipient', d.recipient, 'organization', d.organization,
					'country', d.country, 'purpose', d.purpose, 'basis', d.basis, 'relation', d.relation)
					ORDER BY d.id)
				FROM personal_data.disclosure_log d WHERE d.subject = subject_data.subject), '[]'),
			'requests', coalesce((SELECT jsonb_agg(jsonb_build_object(
					'id', q.id, 'kind', q.kind, 'received_at', q.received_at, 'due_at', q.due_at,
					'status', q.status, 'resolved_at', q.resolved_at, 'resolution', q.resolution)
					ORDER BY q.id)
				FROM personal_data.requests q WHERE q.subject = subject_data.subject), '[]'))
		  FROM personal_data._require_preloaded() AS preloaded,
			   personal_data._require_text(subject, 'subject') AS checked);
	IF request_id IS NOT NULL THEN
		INSERT INTO personal_data.request_actions (request_id, action, subject, detail)
		VALUES (request_id, 'export', subject,
				jsonb_build_object('tables', (SELECT jsonb_object_agg(k, jsonb_array_length(v))
												FROM jsonb_each(document->'data') e(k, v))));
	END IF;
	RETURN document;
END
$$;
COMMENT ON FUNCTION personal_data.subject_data(text, bigint) IS
	'Everything held on a subject that the policy discloses: its rows, consents, provisions and requests';

/*
 * The subject's rows deleted or anonymized in every registered table, as
 * the tables' owners, the tables of one owner in one statement (src/subject.c).
 */
CREATE FUNCTION personal_data._erase_rows(subject text, action text, holds text[])
RETURNS jsonb LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pd_erase_rows';

CREATE FUNCTION personal_data.erase_subject(subject text, request_id bigint DEFAULT NULL,
	action text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	counts jsonb;
	held text[];
	h record;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(subject, 'subject');
	IF action IS NOT NULL AND action NOT IN ('delete', 'anonymize') THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('action must be delete or anonymize, not "%s"', action);
	END IF;
	IF request_id IS NOT NULL THEN
		PERFORM personal_data._require_open_request(request_id, subject, ARRAY['deletion', 'suspension']);
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		-- an older snapshot could miss a hold placed before the call
		RAISE EXCEPTION 'erase_subject() must run in a READ COMMITTED transaction'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('The transaction is %s: its snapshot may predate a hold.',
								  upper(current_setting('transaction_isolation')));
	END IF;
	-- a hold placed now waits for this erasure, or is seen by it
	LOCK TABLE personal_data.holds IN SHARE MODE;
	held := personal_data._active_holds();
	IF subject = ANY (held) THEN
		SELECT * INTO h FROM personal_data.holds x
		 WHERE x.subject = erase_subject.subject AND x.released_at IS NULL
		   AND (x.until IS NULL OR x.until > now())
		 ORDER BY x.id LIMIT 1;
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('subject "%s" is under a legal hold', subject),
			DETAIL = format('Hold %s: %s.', h.id, h.reason),
			HINT = 'Release the hold first (release_hold), if the law allows.';
	END IF;
	-- (a hold matching as a table's subject type says, citext in any case, is refused there)
	counts := personal_data._erase_rows(subject, action, held);
	IF counts = '{}' THEN
		RAISE EXCEPTION USING
			ERRCODE = 'no_data_found',
			MESSAGE = format('no registered table holds rows of subject "%s"', subject),
			HINT = 'Check the subject''s identifier (subject_data shows what is held).';
	END IF;
	INSERT INTO personal_data.request_actions (request_id, action, subject, detail)
	VALUES (request_id, 'erasure', subject, counts);
	RETURN counts;
END
$$;
COMMENT ON FUNCTION personal_data.erase_subject(text, bigint, text) IS
	'Delete or anonymize a subject''s rows in every registered table, in one transaction; refused under a hold';

REVOKE ALL ON FUNCTION
	personal_data._require_open_request(bigint, text, text[]),
	personal_data.open_request(text, text, text),
	personal_data.close_request(bigint, text, text),
	personal_data.overdue_requests(),
	personal_data._subject_tables(),
	personal_data._subject_document(text),
	personal_data._erase_rows(text, text, text[]),
	personal_data.subject_data(text, bigint),
	personal_data.erase_subject(text, bigint, text)
FROM PUBLIC;

/*
 * discover(schema): unlabelled columns that look like personal data, by
 * name (English and romanized Japanese) and by a sample of their values
 * (e-mail addresses, phone numbers, Japanese postal codes), with the call
 * that would label them.
 */
CREATE FUNCTION personal_data.discover(schema name DEFAULT NULL)
RETURNS TABLE (relation regclass, column_name name, looks_like text, found_by text,
			   confidence numeric, suggestion text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET personal_data.enforce = off
AS $$
DECLARE
	c record;
	kinds text[][] := ARRAY[
		['name', '^(full_?|first_?|last_?|given_?|family_?|sur|nick|user_?)?name$|^(namae|shimei|seimei|sei|mei|furigana|kana_?name|kana|shimei_?kana)$'],
		['e-mail', '^(e_?mail|mail|email_?address|mail_?address|meru|meeru|meru_?adoresu|meeru_?adoresu)$'],
		['phone', '^(phone|phone_?number|tel|telephone|mobile|cell|fax|denwa|denwa_?bango|denwa_?bangou|keitai|keitai_?bango)$'],
		['address', '^(address|addr|street|city|postal_?address|home_?address|jusho|juusho|jyusho|juusyo)$'],
		['birth date', '^(birth|birthday|birth_?date|birthdate|dob|date_?of_?birth|seinengappi|tanjobi|tanjoubi)$'],
		['postal code', '^(postal_?code|post_?code|postcode|zip|zip_?code|yubin|yuubin|yubin_?bango|yuubin_?bangou)$']];
	patterns text[][] := ARRAY[
		['e-mail', '^[^@[:space:]]+@[^@[:space:]]+\.[A-Za-z]{2,}$'],
		['phone', '^\+?[0-9][0-9 ()-]{8,18}[0-9]$'],
		['postal code', '^[0-9]{3}-[0-9]{4}$']];
	i int;
	share numeric;
	registered boolean;
BEGIN
	PERFORM personal_data._require_preloaded();
	IF schema IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = schema) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_schema_name',
			MESSAGE = format('schema "%s" does not exist', schema);
	END IF;
	FOR c IN
		SELECT k.oid::regclass AS rel, a.attname, a.atttypid, k.relkind
		  FROM pg_class k
		  JOIN pg_namespace n ON n.oid = k.relnamespace
		  JOIN pg_attribute a ON a.attrelid = k.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE k.relkind IN ('r', 'p') AND NOT k.relispartition
		   AND k.relpersistence <> 't'	-- other sessions' temporary tables cannot be read
		   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'personal_data', 'pg_toast')
		   AND (schema IS NULL OR n.nspname = schema)
		   AND NOT EXISTS (SELECT 1 FROM personal_data.labelled_columns l
							WHERE l.relation = k.oid AND l.column_name = a.attname)
		   AND NOT EXISTS (SELECT 1 FROM personal_data.registered_tables t
							WHERE t.relation = k.oid
							  AND a.attname IN (t.subject_column, t.collected_at_column, t.birthdate_column))
		 ORDER BY k.oid::regclass::text, a.attnum
	LOOP
		registered := EXISTS (SELECT 1 FROM personal_data.registered_tables t WHERE t.relation = c.rel);
		relation := c.rel;
		column_name := c.attname;
		looks_like := NULL;
		found_by := NULL;
		confidence := 0;
		FOR i IN 1 .. array_length(kinds, 1) LOOP
			IF lower(c.attname) ~ kinds[i][2] THEN
				looks_like := kinds[i][1];
				found_by := 'name';
				confidence := 0.6;
				EXIT;
			END IF;
		END LOOP;
		IF c.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN
			FOR i IN 1 .. array_length(patterns, 1) LOOP
				EXECUTE format('SELECT avg(CASE WHEN v ~ %L THEN 1 ELSE 0 END)'
							   ' FROM (SELECT %I::text AS v FROM %s WHERE %I IS NOT NULL LIMIT 100) s',
							   patterns[i][2], c.attname, c.rel, c.attname)
					INTO share;
				IF share >= 0.5 THEN
					IF looks_like = patterns[i][1] THEN
						found_by := 'name and values';
						confidence := least(1.0, round(0.6 + 0.4 * share, 2));
					ELSIF round(0.5 + 0.4 * share, 2) > confidence THEN
						looks_like := patterns[i][1];
						found_by := 'values';
						confidence := round(0.5 + 0.4 * share, 2);
					END IF;
					EXIT;
				END IF;
			END LOOP;
		END IF;
		IF looks_like IS NOT NULL THEN
			suggestion := CASE WHEN registered THEN '' ELSE
				format('SELECT personal_data.register_table(%L, <subject column>); ', c.rel::text) END ||
				format('SELECT personal_data.label_column(%L, %L, ARRAY[<purposes>]);', c.rel::text, c.attname);
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION personal_data.discover(name) IS
	'Unlabelled columns that look like personal data (by name and sampled values), with the call that labels them';

/*
 * compliance_report(): what is out of policy now, most severe first.
 */
CREATE FUNCTION personal_data.compliance_report()
RETURNS TABLE (severity text, check_name text, object text, detail text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET personal_data.enforce = off
AS $$
DECLARE
	t record;
	plan record;
	n bigint;
	retention interval;
	home text := current_setting('personal_data.home_country');
	chain record;
BEGIN
	PERFORM personal_data._require_preloaded();
	IF to_regclass('pg_temp.pd_report') IS NULL THEN
		CREATE TEMP TABLE pd_report (severity text, check_name text, object text, detail text) ON COMMIT DROP;
	ELSE
		TRUNCATE pd_report;
	END IF;

	-- the audit chain
	SELECT * INTO chain FROM personal_data.verify_audit_log();
	IF NOT chain.ok THEN
		INSERT INTO pd_report VALUES ('critical', 'audit_chain_broken', 'personal_data.access_log',
			format('verify_audit_log(): the chain breaks at entry %s', chain.first_bad_id));
	END IF;

	-- requests
	INSERT INTO pd_report
	SELECT 'error', 'overdue_request', format('request %s', q.id),
		   format('%s request of subject %s, due %s', q.kind, q.subject, q.due_at)
	  FROM personal_data.requests q WHERE q.status = 'open' AND q.due_at < now();

	-- labels and purposes
	INSERT INTO pd_report
	SELECT DISTINCT 'error', 'unknown_purpose', format('%s.%s', l.relation, l.column_name),
		   format('labelled with purpose "%s", which is not defined', u.purpose)
	  FROM personal_data.labelled_columns l, unnest(l.purposes) u(purpose)
	 WHERE NOT EXISTS (SELECT 1 FROM personal_data.purposes p WHERE p.name = u.purpose);
	INSERT INTO pd_report
	SELECT 'warning', 'purpose_without_retention', p.name,
		   'no retention: data collected for it is kept forever'
	  FROM personal_data.purposes p WHERE p.retention IS NULL
	   AND EXISTS (SELECT 1 FROM personal_data.labelled_columns l WHERE p.name = ANY (l.purposes));

	FOR t IN SELECT * FROM personal_data.registered_tables r ORDER BY r.relation::text LOOP
		retention := personal_data.table_retention(t.relation);
		IF retention IS NULL THEN
			INSERT INTO pd_report VALUES ('warning', 'table_without_retention', t.relation::text,
				'neither the table nor every purpose of its columns has a retention: nothing expires');
		ELSIF t.collected_at_column IS NULL THEN
			INSERT INTO pd_report VALUES ('warning', 'table_without_collected_at', t.relation::text,
				'no collected_at column: its rows never expire');
		END IF;
		IF coalesce(t.department, '') = '' THEN
			INSERT INTO pd_report VALUES ('warning', 'table_without_manager', t.relation::text,
				'no department, so no personal-information manager');
		ELSIF NOT EXISTS (SELECT 1 FROM personal_data.departments d WHERE d.department = t.department) THEN
			INSERT INTO pd_report VALUES ('warning', 'table_without_manager', t.relation::text,
				format('department "%s" has no manager', t.department));
		END IF;
		-- the subject column leads an index: subject_data and erase_subject use it
		IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
						WHERE i.indrelid = t.relation AND a.attname = t.subject_column) THEN
			INSERT INTO pd_report VALUES ('warning', 'subject_without_index', t.relation::text,
				format('no index leads with the subject column %I: subject_data() and erase_subject() scan the table',
					   t.subject_column));
		END IF;
		-- expired rows kept by holds (read as the table's owner: its types' code is the owner's)
		SELECT * INTO plan FROM personal_data._purge_plan(t.relation, t.relation);
		IF plan.cutoff IS NOT NULL AND plan.held <> 'false' THEN
			n := personal_data._owner_query(t.relation,
				format('SELECT count(*) FROM %s AS pd_row WHERE %s AND %s', t.relation, plan.expired, plan.held),
				plan.cutoff, plan.holds)::bigint;
			IF n > 0 THEN
				INSERT INTO pd_report VALUES ('info', 'expired_rows_held', t.relation::text,
					format('%s expired rows kept by legal holds', n));
			END IF;
		END IF;
		-- minors' rows without a guardian's consent (as the owner, given the consenting subjects)
		IF t.birthdate_column IS NOT NULL THEN
			n := personal_data._owner_query(t.relation,
				format('SELECT count(*) FROM %s AS pd_row WHERE pd_row.%I > $1'
					   ' AND NOT coalesce(pd_row.%I::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2), false)',
					   t.relation, t.birthdate_column, t.subject_column),
				now() - make_interval(years => current_setting('personal_data.minor_age')::int),
				coalesce((SELECT array_agg(DISTINCT c.subject) FROM personal_data.consents c
						   WHERE c.by_guardian AND c.withdrawn_at IS NULL), '{}'::text[]))::bigint;
			IF n > 0 THEN
				INSERT INTO pd_report VALUES ('error', 'minor_without_guardian_consent', t.relation::text,
					format('%s rows of minors without any guardian''s consent', n));
			END IF;
		END IF;
	END LOOP;

	-- third parties abroad, and what was provided to them
	INSERT INTO pd_report
	SELECT 'info', 'recipient_abroad', r.role::text,
		   format('%s (%s, %s): %s subjects provided', r.organization, r.kind, coalesce(r.country, 'country unknown'),
				  (SELECT count(DISTINCT d.subject) FROM personal_data.disclosure_log d WHERE d.recipient = r.role::text))
	  FROM personal_data.recipients r
	 WHERE r.kind = 'third_party' AND (r.country IS NULL OR home = '' OR r.country <> home);

	-- unlabelled columns that look personal
	INSERT INTO pd_report
	SELECT 'warning', 'unlabelled_personal_data', format('%s.%s', d.relation, d.column_name),
		   format('looks like %s (by %s, confidence %s): %s', d.looks_like, d.found_by, d.confidence, d.suggestion)
	  FROM personal_data.discover() d;

	RETURN QUERY SELECT * FROM pd_report ORDER BY
		array_position(ARRAY['critical', 'error', 'warning', 'info'], pd_report.severity),
		pd_report.check_name, pd_report.object;
END
$$;
COMMENT ON FUNCTION personal_data.compliance_report() IS
	'What is out of policy now: severity, check, object, detail';

REVOKE ALL ON FUNCTION personal_data.discover(name), personal_data.compliance_report() FROM PUBLIC;

-- 01_schema.sql: the schema contract of DESIGN.md §2 for version 0.1.
--
-- Relations and columns users query, their types and primary keys, the
-- signatures of the policy API, the extension's schema (not relocatable),
-- and the catalog tables and sequences pg_dump must keep (extconfig).
-- Relations that later versions add (access_log, disclosure_log, purge_log,
-- requests) are deliberately not checked here, neither present nor absent.
BEGIN;
CREATE EXTENSION personal_data;
SELECT plan(151);

------------------------------------------------------------------------------
-- The extension and its schema
------------------------------------------------------------------------------
SELECT has_extension('personal_data', 'personal_data',
	'extension personal_data lives in schema personal_data');
SELECT has_schema('personal_data');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'personal_data'),
	false, 'personal_data is not relocatable');
SELECT throws_ok('ALTER EXTENSION personal_data SET SCHEMA public', '0A000',
	NULL, 'ALTER EXTENSION ... SET SCHEMA is refused');

------------------------------------------------------------------------------
-- Relations users query, with their documented columns and types
------------------------------------------------------------------------------
SELECT has_table('personal_data', 'purposes', 'table purposes exists');
SELECT has_column('personal_data', 'purposes', 'name', 'purposes.name');
SELECT col_type_is('personal_data', 'purposes', 'name', 'text', 'purposes.name is text');
SELECT has_column('personal_data', 'purposes', 'category', 'purposes.category');
SELECT col_type_is('personal_data', 'purposes', 'category', 'text', 'purposes.category is text');
SELECT has_column('personal_data', 'purposes', 'description', 'purposes.description');
SELECT col_type_is('personal_data', 'purposes', 'description', 'text', 'purposes.description is text');
SELECT has_column('personal_data', 'purposes', 'retention', 'purposes.retention');
SELECT col_type_is('personal_data', 'purposes', 'retention', 'interval', 'purposes.retention is interval');
SELECT has_column('personal_data', 'purposes', 'disclosed', 'purposes.disclosed');
SELECT col_type_is('personal_data', 'purposes', 'disclosed', 'boolean', 'purposes.disclosed is boolean');
SELECT col_is_pk('personal_data', 'purposes', ARRAY['name']::name[], 'purposes: primary key (name)');

SELECT has_table('personal_data', 'consents', 'table consents exists');
SELECT has_column('personal_data', 'consents', 'id', 'consents.id');
SELECT col_type_is('personal_data', 'consents', 'id', 'bigint', 'consents.id is bigint');
SELECT has_column('personal_data', 'consents', 'subject', 'consents.subject');
SELECT col_type_is('personal_data', 'consents', 'subject', 'text', 'consents.subject is text');
SELECT has_column('personal_data', 'consents', 'purpose', 'consents.purpose');
SELECT col_type_is('personal_data', 'consents', 'purpose', 'text', 'consents.purpose is text');
SELECT has_column('personal_data', 'consents', 'recipient', 'consents.recipient');
SELECT col_type_is('personal_data', 'consents', 'recipient', 'regrole', 'consents.recipient is regrole');
SELECT has_column('personal_data', 'consents', 'by_guardian', 'consents.by_guardian');
SELECT col_type_is('personal_data', 'consents', 'by_guardian', 'boolean', 'consents.by_guardian is boolean');
SELECT has_column('personal_data', 'consents', 'granted_at', 'consents.granted_at');
SELECT col_type_is('personal_data', 'consents', 'granted_at', 'timestamp with time zone', 'consents.granted_at is timestamptz');
SELECT has_column('personal_data', 'consents', 'withdrawn_at', 'consents.withdrawn_at');
SELECT col_type_is('personal_data', 'consents', 'withdrawn_at', 'timestamp with time zone', 'consents.withdrawn_at is timestamptz');
SELECT has_column('personal_data', 'consents', 'valid_until', 'consents.valid_until');
SELECT col_type_is('personal_data', 'consents', 'valid_until', 'timestamp with time zone', 'consents.valid_until is timestamptz');
SELECT has_column('personal_data', 'consents', 'evidence', 'consents.evidence');
SELECT col_type_is('personal_data', 'consents', 'evidence', 'text', 'consents.evidence is text');
SELECT col_is_pk('personal_data', 'consents', ARRAY['id']::name[], 'consents: primary key (id)');

SELECT has_table('personal_data', 'legal_bases', 'table legal_bases exists');
SELECT has_column('personal_data', 'legal_bases', 'id', 'legal_bases.id');
SELECT col_type_is('personal_data', 'legal_bases', 'id', 'bigint', 'legal_bases.id is bigint');
SELECT has_column('personal_data', 'legal_bases', 'recipient', 'legal_bases.recipient');
SELECT col_type_is('personal_data', 'legal_bases', 'recipient', 'regrole', 'legal_bases.recipient is regrole');
SELECT has_column('personal_data', 'legal_bases', 'basis', 'legal_bases.basis');
SELECT col_type_is('personal_data', 'legal_bases', 'basis', 'text', 'legal_bases.basis is text');
SELECT has_column('personal_data', 'legal_bases', 'reference', 'legal_bases.reference');
SELECT col_type_is('personal_data', 'legal_bases', 'reference', 'text', 'legal_bases.reference is text');
SELECT has_column('personal_data', 'legal_bases', 'subject', 'legal_bases.subject');
SELECT col_type_is('personal_data', 'legal_bases', 'subject', 'text', 'legal_bases.subject is text');
SELECT has_column('personal_data', 'legal_bases', 'purpose', 'legal_bases.purpose');
SELECT col_type_is('personal_data', 'legal_bases', 'purpose', 'text', 'legal_bases.purpose is text');
SELECT has_column('personal_data', 'legal_bases', 'valid_until', 'legal_bases.valid_until');
SELECT col_type_is('personal_data', 'legal_bases', 'valid_until', 'timestamp with time zone', 'legal_bases.valid_until is timestamptz');
SELECT col_is_pk('personal_data', 'legal_bases', ARRAY['id']::name[], 'legal_bases: primary key (id)');

SELECT has_table('personal_data', 'holds', 'table holds exists');
SELECT has_column('personal_data', 'holds', 'id', 'holds.id');
SELECT col_type_is('personal_data', 'holds', 'id', 'bigint', 'holds.id is bigint');
SELECT has_column('personal_data', 'holds', 'subject', 'holds.subject');
SELECT col_type_is('personal_data', 'holds', 'subject', 'text', 'holds.subject is text');
SELECT has_column('personal_data', 'holds', 'reason', 'holds.reason');
SELECT col_type_is('personal_data', 'holds', 'reason', 'text', 'holds.reason is text');
SELECT has_column('personal_data', 'holds', 'placed_at', 'holds.placed_at');
SELECT col_type_is('personal_data', 'holds', 'placed_at', 'timestamp with time zone', 'holds.placed_at is timestamptz');
SELECT has_column('personal_data', 'holds', 'until', 'holds.until');
SELECT col_type_is('personal_data', 'holds', 'until', 'timestamp with time zone', 'holds.until is timestamptz');
SELECT has_column('personal_data', 'holds', 'released_at', 'holds.released_at');
SELECT col_type_is('personal_data', 'holds', 'released_at', 'timestamp with time zone', 'holds.released_at is timestamptz');
SELECT col_is_pk('personal_data', 'holds', ARRAY['id']::name[], 'holds: primary key (id)');

SELECT has_table('personal_data', 'recipients', 'table recipients exists');
SELECT has_column('personal_data', 'recipients', 'role', 'recipients.role');
SELECT col_type_is('personal_data', 'recipients', 'role', 'regrole', 'recipients.role is regrole');
SELECT has_column('personal_data', 'recipients', 'kind', 'recipients.kind');
SELECT col_type_is('personal_data', 'recipients', 'kind', 'text', 'recipients.kind is text');
SELECT has_column('personal_data', 'recipients', 'organization', 'recipients.organization');
SELECT col_type_is('personal_data', 'recipients', 'organization', 'text', 'recipients.organization is text');
SELECT has_column('personal_data', 'recipients', 'country', 'recipients.country');
SELECT col_type_is('personal_data', 'recipients', 'country', 'text', 'recipients.country is text');
SELECT col_is_pk('personal_data', 'recipients', ARRAY['role']::name[], 'recipients: primary key (role)');

SELECT has_table('personal_data', 'purpose_grants', 'table purpose_grants exists');
SELECT has_column('personal_data', 'purpose_grants', 'role', 'purpose_grants.role');
SELECT col_type_is('personal_data', 'purpose_grants', 'role', 'regrole', 'purpose_grants.role is regrole');
SELECT has_column('personal_data', 'purpose_grants', 'purpose', 'purpose_grants.purpose');
SELECT col_type_is('personal_data', 'purpose_grants', 'purpose', 'text', 'purpose_grants.purpose is text');
SELECT col_is_pk('personal_data', 'purpose_grants', ARRAY['role', 'purpose']::name[],
	'purpose_grants: primary key (role, purpose)');
SELECT fk_ok('personal_data', 'purpose_grants', 'purpose', 'personal_data', 'purposes', 'name',
	'purpose_grants.purpose references purposes.name');

SELECT has_table('personal_data', 'departments', 'table departments exists');
SELECT has_column('personal_data', 'departments', 'department', 'departments.department');
SELECT col_type_is('personal_data', 'departments', 'department', 'text', 'departments.department is text');
SELECT has_column('personal_data', 'departments', 'manager', 'departments.manager');
SELECT col_type_is('personal_data', 'departments', 'manager', 'regrole', 'departments.manager is regrole');
SELECT has_column('personal_data', 'departments', 'contact', 'departments.contact');
SELECT col_type_is('personal_data', 'departments', 'contact', 'text', 'departments.contact is text');
SELECT col_is_pk('personal_data', 'departments', ARRAY['department']::name[],
	'departments: primary key (department)');

-- consents and legal bases refer to defined purposes
SELECT fk_ok('personal_data', 'consents', 'purpose', 'personal_data', 'purposes', 'name',
	'consents.purpose references purposes.name');
SELECT fk_ok('personal_data', 'legal_bases', 'purpose', 'personal_data', 'purposes', 'name',
	'legal_bases.purpose references purposes.name');

-- the views of the labels
SELECT has_view('personal_data', 'registered_tables', 'view registered_tables exists');
SELECT columns_are('personal_data', 'registered_tables',
	ARRAY['relation', 'subject_column', 'collected_at_column', 'birthdate_column',
		  'department', 'retention', 'on_expiry']::name[],
	'registered_tables has the columns of the table label');
SELECT has_view('personal_data', 'labelled_columns', 'view labelled_columns exists');
SELECT columns_are('personal_data', 'labelled_columns',
	ARRAY['relation', 'column_name', 'purposes', 'on_denied']::name[],
	'labelled_columns has the columns of the column label');

------------------------------------------------------------------------------
-- Policy API: every function with its argument types and result type
------------------------------------------------------------------------------
SELECT has_function('personal_data', 'define_purpose',
	ARRAY['text', 'text', 'text', 'interval', 'boolean'],
	'define_purpose(text, text, text, interval, boolean)');
SELECT function_returns('personal_data', 'define_purpose',
	ARRAY['text', 'text', 'text', 'interval', 'boolean'], 'void');
SELECT has_function('personal_data', 'drop_purpose', ARRAY['text'], 'drop_purpose(text)');
SELECT function_returns('personal_data', 'drop_purpose', ARRAY['text'], 'void');
SELECT has_function('personal_data', 'install_default_purposes', ARRAY[]::name[],
	'install_default_purposes()');
SELECT function_returns('personal_data', 'install_default_purposes', ARRAY[]::name[], 'integer');
SELECT has_function('personal_data', 'set_purpose_retention', ARRAY['text', 'interval'],
	'set_purpose_retention(text, interval)');
SELECT function_returns('personal_data', 'set_purpose_retention', ARRAY['text', 'interval'], 'void');
SELECT has_function('personal_data', 'register_table',
	ARRAY['regclass', 'name', 'name', 'name', 'text', 'text', 'interval'],
	'register_table(regclass, name, name, name, text, text, interval)');
SELECT function_returns('personal_data', 'register_table',
	ARRAY['regclass', 'name', 'name', 'name', 'text', 'text', 'interval'], 'void');
SELECT has_function('personal_data', 'unregister_table', ARRAY['regclass'],
	'unregister_table(regclass)');
SELECT has_function('personal_data', 'label_column',
	ARRAY['regclass', 'name', 'text[]', 'text'],
	'label_column(regclass, name, text[], text)');
SELECT has_function('personal_data', 'unlabel_column', ARRAY['regclass', 'name'],
	'unlabel_column(regclass, name)');
SELECT has_function('personal_data', 'grant_purpose', ARRAY['regrole', 'text'],
	'grant_purpose(regrole, text)');
SELECT has_function('personal_data', 'revoke_purpose', ARRAY['regrole', 'text'],
	'revoke_purpose(regrole, text)');
SELECT has_function('personal_data', 'register_recipient',
	ARRAY['regrole', 'text', 'text', 'text'],
	'register_recipient(regrole, text, text, text)');
SELECT has_function('personal_data', 'unregister_recipient', ARRAY['regrole'],
	'unregister_recipient(regrole)');
SELECT has_function('personal_data', 'assign_manager', ARRAY['text', 'regrole', 'text'],
	'assign_manager(text, regrole, text)');
SELECT has_function('personal_data', 'record_consent',
	ARRAY['text', 'text', 'regrole', 'boolean', 'timestamp with time zone', 'text'],
	'record_consent(text, text, regrole, boolean, timestamptz, text)');
SELECT function_returns('personal_data', 'record_consent',
	ARRAY['text', 'text', 'regrole', 'boolean', 'timestamp with time zone', 'text'], 'bigint');
SELECT has_function('personal_data', 'withdraw_consent', ARRAY['text', 'text', 'regrole'],
	'withdraw_consent(text, text, regrole)');
SELECT function_returns('personal_data', 'withdraw_consent',
	ARRAY['text', 'text', 'regrole'], 'integer');
SELECT has_function('personal_data', 'record_legal_basis',
	ARRAY['regrole', 'text', 'text', 'text', 'text', 'timestamp with time zone'],
	'record_legal_basis(regrole, text, text, text, text, timestamptz)');
SELECT function_returns('personal_data', 'record_legal_basis',
	ARRAY['regrole', 'text', 'text', 'text', 'text', 'timestamp with time zone'], 'bigint');
SELECT has_function('personal_data', 'place_hold',
	ARRAY['text', 'text', 'timestamp with time zone'],
	'place_hold(text, text, timestamptz)');
SELECT function_returns('personal_data', 'place_hold',
	ARRAY['text', 'text', 'timestamp with time zone'], 'bigint');
SELECT has_function('personal_data', 'release_hold', ARRAY['bigint'], 'release_hold(bigint)');
SELECT function_returns('personal_data', 'release_hold', ARRAY['bigint'], 'void');
SELECT has_function('personal_data', 'table_retention', ARRAY['regclass'],
	'table_retention(regclass)');
SELECT function_returns('personal_data', 'table_retention', ARRAY['regclass'], 'interval');
SELECT has_function('personal_data', 'inventory', ARRAY[]::name[], 'inventory()');
SELECT is(pg_get_function_result('personal_data.inventory()'::regprocedure),
	'TABLE(relation regclass, column_name name, purposes text[], categories text[], '
	'disclosed boolean, on_denied text, retention interval, on_expiry text, '
	'department text, manager regrole, recipients text[])',
	'inventory() returns one row per labelled column with its policy');
SELECT has_function('personal_data', 'column_access', ARRAY['regclass'],
	'column_access(regclass)');
SELECT is(pg_get_function_result('personal_data.column_access(regclass)'::regprocedure),
	'SETOF record', 'column_access() returns a set');
SELECT is(pg_get_function_arguments('personal_data.column_access(regclass)'::regprocedure),
	'rel regclass, OUT column_name name, OUT purposes text[], OUT on_denied text, OUT allowed boolean',
	'column_access() columns');
SELECT has_function('personal_data', 'session_policy', ARRAY[]::name[], 'session_policy()');
SELECT is(pg_get_function_arguments('personal_data.session_policy()'::regprocedure),
	'OUT role_name name, OUT superuser boolean, OUT purpose text, OUT purpose_defined boolean, '
	'OUT purpose_granted boolean, OUT recipient_kind text, OUT organization text, OUT country text',
	'session_policy() columns');
SELECT has_function('personal_data', 'cache_stats', ARRAY[]::name[], 'cache_stats()');

-- the documented defaults: callers may leave the optional arguments out
SELECT is(pg_get_function_identity_arguments(p.oid) || ' / ' || p.pronargdefaults,
	v.expected, 'defaults of ' || v.fn)
  FROM (VALUES
	('define_purpose', 'name text, category text, description text, retention interval, disclosed boolean / 3'),
	('register_table', 'rel regclass, subject_column name, collected_at_column name, birthdate_column name, department text, on_expiry text, retention interval / 5'),
	('label_column', 'rel regclass, col name, purposes text[], on_denied text / 1'),
	('register_recipient', 'role regrole, kind text, organization text, country text / 1'),
	('record_consent', 'subject text, purpose text, recipient regrole, by_guardian boolean, valid_until timestamp with time zone, evidence text / 4'),
	('withdraw_consent', 'subject text, purpose text, recipient regrole / 1'),
	('record_legal_basis', 'recipient regrole, basis text, reference text, subject text, purpose text, valid_until timestamp with time zone / 3'),
	('place_hold', 'subject text, reason text, until timestamp with time zone / 1')
	) AS v(fn, expected)
  JOIN pg_proc p ON p.proname = v.fn AND p.pronamespace = 'personal_data'::regnamespace
 ORDER BY v.fn;

-- each documented function exists exactly once (no stray overloads)
SELECT is((SELECT count(*)::int FROM pg_proc
			WHERE pronamespace = 'personal_data'::regnamespace
			  AND proname = ANY (ARRAY['define_purpose', 'drop_purpose',
				'install_default_purposes', 'register_table', 'unregister_table',
				'label_column', 'unlabel_column', 'grant_purpose', 'revoke_purpose',
				'register_recipient', 'assign_manager', 'record_consent',
				'withdraw_consent', 'record_legal_basis', 'place_hold', 'release_hold',
				'inventory'])),
	17, 'each documented policy function has exactly one signature');

------------------------------------------------------------------------------
-- pg_dump keeps the policy: config tables and their sequences
------------------------------------------------------------------------------
SELECT set_eq(
	$$SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) AS c
	   WHERE e.extname = 'personal_data'$$,
	ARRAY['personal_data.purposes', 'personal_data.departments',
		  'personal_data.recipients', 'personal_data.purpose_grants',
		  'personal_data.consents', 'personal_data.consents_id_seq',
		  'personal_data.legal_bases', 'personal_data.legal_bases_id_seq',
		  'personal_data.holds', 'personal_data.holds_id_seq',
		  'personal_data.requests', 'personal_data.requests_id_seq',
		  'personal_data.request_events', 'personal_data.request_events_id_seq',
		  'personal_data.request_actions', 'personal_data.request_actions_id_seq'],
	'extconfig holds the catalog tables (and the requests register) and their sequences');
SELECT is((SELECT array_length(e.extconfig, 1) = array_length(e.extcondition, 1)
			  AND '' = ALL (e.extcondition)
			 FROM pg_extension e WHERE e.extname = 'personal_data'),
	true, 'config tables are dumped whole (empty conditions)');
SELECT is(
	(SELECT pg_get_serial_sequence('personal_data.' || t, 'id')
	   FROM (VALUES ('consents')) v(t)),
	'personal_data.consents_id_seq', 'consents.id is fed by consents_id_seq');
SELECT is(pg_get_serial_sequence('personal_data.legal_bases', 'id'),
	'personal_data.legal_bases_id_seq', 'legal_bases.id is fed by legal_bases_id_seq');
SELECT is(pg_get_serial_sequence('personal_data.holds', 'id'),
	'personal_data.holds_id_seq', 'holds.id is fed by holds_id_seq');
-- every sequence the extension owns is registered (a new serial must be too)
SELECT is_empty(
	$$SELECT c.oid::regclass::text FROM pg_class c
	   JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
		AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  WHERE c.relkind IN ('r', 'S')
		AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personal_data')
		AND c.oid NOT IN (SELECT unnest(extconfig) FROM pg_extension
						   WHERE extname = 'personal_data')
		AND c.relname NOT IN ('access_log_batches', 'disclosure_log', 'audit_checkpoints', 'audit_chain_head', 'purge_log', 'purge_log_id_seq', 'audit_quarantine', 'audit_quarantine_id_seq')$$,
	'every table and sequence of the extension is registered for dump, but the audit logs');
-- the audit logs are evidence kept where they were written: a restore must
-- not replay old entries into another database's chain
SELECT is(
	(SELECT count(*)::int FROM pg_extension, unnest(extconfig) c(oid)
	  WHERE extname = 'personal_data'
		AND c.oid IN ('personal_data.access_log_batches'::regclass, 'personal_data.disclosure_log'::regclass,
					  'personal_data.audit_checkpoints'::regclass)),
	0, 'the audit logs are not dumped with the extension');

SELECT * FROM finish();
ROLLBACK;

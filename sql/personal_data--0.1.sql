/*
 * personal_data 0.1: the policy catalog and the policy API.
 *
 * Table and column rules are security labels (see src/label.c); everything
 * else a policy says lives in the tables below, which pg_dump keeps
 * (pg_extension_config_dump).  Administrative functions are SECURITY
 * DEFINER with a pinned search_path, and are not executable by PUBLIC:
 * README.md shows the GRANTs for a DBA role and a compliance role.
 */

\echo Use "CREATE EXTENSION personal_data" to load this file. \quit

------------------------------------------------------------------------------
-- Catalog tables
------------------------------------------------------------------------------

CREATE TABLE personal_data.purposes (
	name text PRIMARY KEY
		CONSTRAINT purposes_name_format
		CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'
			   AND pg_catalog.length(name) OPERATOR(pg_catalog.<=) 63),
	category text NOT NULL
		CONSTRAINT purposes_category_valid
		CHECK (category OPERATOR(pg_catalog.=) ANY (ARRAY['customer', 'supplier', 'shareholder',
											  'applicant', 'inquiry', 'entrusted'])),
	description text,
	retention interval
		CONSTRAINT purposes_retention_positive
		CHECK (retention OPERATOR(pg_catalog.>) interval '0'),
	disclosed boolean NOT NULL DEFAULT true,
	CONSTRAINT purposes_entrusted_undisclosed
		CHECK (category OPERATOR(pg_catalog.<>) 'entrusted' OR NOT disclosed)
);
COMMENT ON TABLE personal_data.purposes IS
	'Purposes of use personal data is collected for; columns are labelled with them';

CREATE TABLE personal_data.departments (
	department text PRIMARY KEY
		CONSTRAINT departments_name_format
		CHECK (department OPERATOR(pg_catalog.~) '^[^;=]+$'
			   AND pg_catalog.length(department) OPERATOR(pg_catalog.<=) 63),
	manager regrole NOT NULL,
	contact text NOT NULL
);
COMMENT ON TABLE personal_data.departments IS
	'Departments handling personal data, each with its personal-information manager';

CREATE TABLE personal_data.recipients (
	role regrole PRIMARY KEY,
	kind text NOT NULL
		CONSTRAINT recipients_kind_valid
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['entrustee', 'third_party'])),
	organization text NOT NULL
		CONSTRAINT recipients_organization_not_empty
		CHECK (organization OPERATOR(pg_catalog.<>) ''),
	country text
		CONSTRAINT recipients_country_format
		CHECK (country OPERATOR(pg_catalog.~) '^[A-Z]{2}$')
);
COMMENT ON TABLE personal_data.recipients IS
	'Roles that act for outside organizations: entrustees and third parties';

CREATE TABLE personal_data.purpose_grants (
	role regrole NOT NULL,
	purpose text NOT NULL REFERENCES personal_data.purposes (name) ON DELETE CASCADE,
	PRIMARY KEY (role, purpose)
);
COMMENT ON TABLE personal_data.purpose_grants IS
	'Purposes each role may process data for (members of the role too)';

CREATE TABLE personal_data.consents (
	id bigserial PRIMARY KEY,
	subject text NOT NULL
		CONSTRAINT consents_subject_not_empty CHECK (subject OPERATOR(pg_catalog.<>) ''),
	purpose text NOT NULL REFERENCES personal_data.purposes (name),
	recipient regrole,
	by_guardian boolean NOT NULL DEFAULT false,
	granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	withdrawn_at timestamptz,
	valid_until timestamptz,
	evidence text
);
CREATE INDEX consents_subject_purpose ON personal_data.consents (subject, purpose);
COMMENT ON TABLE personal_data.consents IS
	'Consents of data subjects, per purpose and optionally per recipient; withdrawn, never deleted';
COMMENT ON COLUMN personal_data.consents.recipient IS
	'NULL: consent to the purpose itself (e.g. a guardian''s consent to collection)';

CREATE TABLE personal_data.legal_bases (
	id bigserial PRIMARY KEY,
	recipient regrole NOT NULL,
	basis text NOT NULL
		CONSTRAINT legal_bases_basis_valid
		CHECK (basis OPERATOR(pg_catalog.=) ANY (ARRAY['law', 'vital_interest'])),
	reference text NOT NULL
		CONSTRAINT legal_bases_reference_not_empty CHECK (reference OPERATOR(pg_catalog.<>) ''),
	subject text,
	purpose text REFERENCES personal_data.purposes (name),
	valid_until timestamptz,
	recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE personal_data.legal_bases IS
	'Provision to a recipient without consent: required by law, or to protect life or property';
COMMENT ON COLUMN personal_data.legal_bases.subject IS 'NULL: every subject';
COMMENT ON COLUMN personal_data.legal_bases.purpose IS 'NULL: every purpose';

CREATE TABLE personal_data.holds (
	id bigserial PRIMARY KEY,
	subject text NOT NULL
		CONSTRAINT holds_subject_not_empty CHECK (subject OPERATOR(pg_catalog.<>) ''),
	reason text NOT NULL
		CONSTRAINT holds_reason_not_empty CHECK (reason OPERATOR(pg_catalog.<>) ''),
	placed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	until timestamptz,
	released_at timestamptz
);
CREATE INDEX holds_subject ON personal_data.holds (subject);
COMMENT ON TABLE personal_data.holds IS
	'Legal holds: a held subject''s data is neither purged nor erased';

-- pg_dump keeps the policy; the restore order is handled by pg_dump (it
-- orders config tables by their foreign keys).
SELECT pg_catalog.pg_extension_config_dump('personal_data.purposes', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.departments', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.recipients', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.purpose_grants', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.consents', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.consents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.legal_bases', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.legal_bases_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.holds', '');
SELECT pg_catalog.pg_extension_config_dump('personal_data.holds_id_seq', '');

-- Policy is written through the functions below; nobody else writes it.
-- Purposes, grants, recipients and departments are not secret; consents,
-- legal bases and holds name data subjects, so only compliance roles read them.
REVOKE ALL ON ALL TABLES IN SCHEMA personal_data FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA personal_data FROM PUBLIC;
GRANT USAGE ON SCHEMA personal_data TO PUBLIC;
GRANT SELECT ON personal_data.purposes, personal_data.departments,
	personal_data.recipients, personal_data.purpose_grants TO PUBLIC;

------------------------------------------------------------------------------
-- C functions: label parsing, cache invalidation, session introspection
------------------------------------------------------------------------------

CREATE FUNCTION personal_data._parse_table_label(label text,
	OUT subject_column name, OUT collected_at_column name,
	OUT birthdate_column name, OUT department text,
	OUT retention interval, OUT on_expiry text)
RETURNS record
AS 'MODULE_PATHNAME', 'pd_parse_table_label_sql'
LANGUAGE C STRICT STABLE;

CREATE FUNCTION personal_data._parse_column_label(label text,
	OUT purposes text[], OUT on_denied text)
RETURNS record
AS 'MODULE_PATHNAME', 'pd_parse_column_label_sql'
LANGUAGE C STRICT STABLE;

-- PUBLIC may call it: the label views (readable by all) call it.
CREATE FUNCTION personal_data._require_preloaded()
RETURNS void
AS 'MODULE_PATHNAME', 'pd_require_preloaded_sql'
LANGUAGE C;

CREATE FUNCTION personal_data._policy_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pd_policy_changed'
LANGUAGE C;

CREATE FUNCTION personal_data.column_access(rel regclass,
	OUT column_name name, OUT purposes text[], OUT on_denied text,
	OUT allowed boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pd_column_access'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION personal_data.column_access(regclass) IS
	'Labelled columns of a table and whether this session may use them under its purpose';

CREATE FUNCTION personal_data.session_policy(
	OUT role_name name, OUT superuser boolean, OUT purpose text,
	OUT purpose_defined boolean, OUT purpose_granted boolean,
	OUT recipient_kind text, OUT organization text, OUT country text)
RETURNS record
AS 'MODULE_PATHNAME', 'pd_session_policy'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personal_data.session_policy() IS
	'How the policy sees this session: role, purpose, grant, recipient';

CREATE FUNCTION personal_data.cache_stats(
	OUT table_rule_loads bigint, OUT catalog_loads bigint,
	OUT invalidations bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pd_cache_stats'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personal_data.cache_stats() IS
	'How often this backend (re)loaded policy: for tests and troubleshooting';

-- Under enforcement, statistics of registered tables are hidden from
-- pg_stats and pg_stats_ext with these (PUBLIC: the views call them).
CREATE FUNCTION personal_data._table_is_registered(rel oid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pd_table_is_registered_sql'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE FUNCTION personal_data._statistics_object_is_registered(stxoid oid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pd_statistics_object_is_registered_sql'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- The refusal of a minor's row written without a guardian's consent, raised
-- from the check enforcement adds to INSERT and UPDATE (PUBLIC: it runs as the
-- writing session; called directly it only raises the error).
CREATE FUNCTION personal_data._refuse_minor(rel oid, purpose text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pd_refuse_minor'
LANGUAGE C STRICT VOLATILE;

-- The provision hook point: the row filter of third parties calls
-- _provided() for each row it lets through when personal_data.record_provisions
-- is on; last_provisions() shows what the last such statement provided.
CREATE FUNCTION personal_data._provided(rel oid, subject text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pd_provided'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION personal_data.last_provisions(
	OUT relation regclass, OUT subject text, OUT recipient regrole, OUT purpose text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pd_last_provisions'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION personal_data.last_provisions() IS
	'Rows provided to a third party by this session''s last recorded statement (personal_data.record_provisions)';

-- Every backend reloads purposes, grants and recipients when they change.
CREATE TRIGGER purposes_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON personal_data.purposes
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._policy_changed();
CREATE TRIGGER purpose_grants_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON personal_data.purpose_grants
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._policy_changed();
CREATE TRIGGER recipients_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON personal_data.recipients
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._policy_changed();
-- third parties' plans depend on whether a blanket legal basis exists
CREATE TRIGGER legal_bases_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON personal_data.legal_bases
	FOR EACH STATEMENT EXECUTE FUNCTION personal_data._policy_changed();

------------------------------------------------------------------------------
-- Views of the labels
------------------------------------------------------------------------------

CREATE VIEW personal_data.registered_tables AS
SELECT s.objoid::pg_catalog.regclass AS relation,
	   l.subject_column, l.collected_at_column, l.birthdate_column,
	   l.department, l.retention, l.on_expiry
  FROM personal_data._require_preloaded() AS preloaded,
	   pg_catalog.pg_seclabel s,
	   LATERAL personal_data._parse_table_label(s.label) l
 WHERE s.provider OPERATOR(pg_catalog.=) 'personal_data'
   AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
   AND s.objsubid OPERATOR(pg_catalog.=) 0;
COMMENT ON VIEW personal_data.registered_tables IS
	'Tables under the policy, from their personal_data labels';

CREATE VIEW personal_data.labelled_columns AS
SELECT s.objoid::pg_catalog.regclass AS relation,
	   a.attname AS column_name,
	   l.purposes, l.on_denied
  FROM personal_data._require_preloaded() AS preloaded
 CROSS JOIN pg_catalog.pg_seclabel s
  JOIN pg_catalog.pg_attribute a
	ON a.attrelid OPERATOR(pg_catalog.=) s.objoid
   AND a.attnum OPERATOR(pg_catalog.=) s.objsubid,
	   LATERAL personal_data._parse_column_label(s.label) l
 WHERE s.provider OPERATOR(pg_catalog.=) 'personal_data'
   AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
   AND s.objsubid OPERATOR(pg_catalog.>) 0;
COMMENT ON VIEW personal_data.labelled_columns IS
	'Columns holding personal data and the purposes they were collected for';

GRANT SELECT ON personal_data.registered_tables, personal_data.labelled_columns TO PUBLIC;

------------------------------------------------------------------------------
-- Argument checks shared by the policy functions
------------------------------------------------------------------------------

-- Raise null_value_not_allowed naming the argument.
CREATE FUNCTION personal_data._require(value anyelement, argument text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF value IS NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'null_value_not_allowed',
			MESSAGE = format('%s must not be NULL', argument);
	END IF;
END
$$;

-- Non-NULL, non-blank text.
CREATE FUNCTION personal_data._require_text(value text, argument text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require(value, argument);
	IF btrim(value) = '' THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s must not be empty', argument);
	END IF;
END
$$;

-- The purpose must be well-formed and defined.
CREATE FUNCTION personal_data._require_purpose(purpose text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require(purpose, 'purpose');
	IF purpose !~ '^[a-z][a-z0-9_]*$' OR length(purpose) > 63 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_name',
			MESSAGE = format('invalid purpose name "%s"', purpose),
			DETAIL = 'Purpose names start with a lower-case letter and contain only lower-case letters, digits and underscores, at most 63 characters.';
	END IF;
	IF NOT EXISTS (SELECT FROM personal_data.purposes p WHERE p.name = purpose) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('purpose "%s" does not exist', purpose),
			HINT = 'Define it with personal_data.define_purpose(), or load the policy''s purposes with personal_data.install_default_purposes().';
	END IF;
END
$$;

-- The role argument must name an existing role (a regrole can hold any OID).
CREATE FUNCTION personal_data._require_role(role regrole, argument text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require(role, argument);
	IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = role) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('role with OID %s does not exist', role::oid);
	END IF;
END
$$;

-- The table argument must name an existing relation.
CREATE FUNCTION personal_data._require_relation(rel regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require(rel, 'table');
	IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = rel) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_table',
			MESSAGE = format('relation with OID %s does not exist', rel::oid);
	END IF;
END
$$;

-- ISO 3166-1 alpha-2: the codes officially assigned.
CREATE FUNCTION personal_data._is_country_code(code text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$
	SELECT code OPERATOR(pg_catalog.=) ANY (ARRAY[
		'AD', 'AE', 'AF', 'AG', 'AI', 'AL', 'AM', 'AO', 'AQ', 'AR', 'AS', 'AT', 'AU', 'AW', 'AX', 'AZ',
		'BA', 'BB', 'BD', 'BE', 'BF', 'BG', 'BH', 'BI', 'BJ', 'BL', 'BM', 'BN', 'BO', 'BQ', 'BR', 'BS',
		'BT', 'BV', 'BW', 'BY', 'BZ', 'CA', 'CC', 'CD', 'CF', 'CG', 'CH', 'CI', 'CK', 'CL', 'CM', 'CN',
		'CO', 'CR', 'CU', 'CV', 'CW', 'CX', 'CY', 'CZ', 'DE', 'DJ', 'DK', 'DM', 'DO', 'DZ', 'EC', 'EE',
		'EG', 'EH', 'ER', 'ES', 'ET', 'FI', 'FJ', 'FK', 'FM', 'FO', 'FR', 'GA', 'GB', 'GD', 'GE', 'GF',
		'GG', 'GH', 'GI', 'GL', 'GM', 'GN', 'GP', 'GQ', 'GR', 'GS', 'GT', 'GU', 'GW', 'GY', 'HK', 'HM',
		'HN', 'HR', 'HT', 'HU', 'ID', 'IE', 'IL', 'IM', 'IN', 'IO', 'IQ', 'IR', 'IS', 'IT', 'JE', 'JM',
		'JO', 'JP', 'KE', 'KG', 'KH', 'KI', 'KM', 'KN', 'KP', 'KR', 'KW', 'KY', 'KZ', 'LA', 'LB', 'LC',
		'LI', 'LK', 'LR', 'LS', 'LT', 'LU', 'LV', 'LY', 'MA', 'MC', 'MD', 'ME', 'MF', 'MG', 'MH', 'MK',
		'ML', 'MM', 'MN', 'MO', 'MP', 'MQ', 'MR', 'MS', 'MT', 'MU', 'MV', 'MW', 'MX', 'MY', 'MZ', 'NA',
		'NC', 'NE', 'NF', 'NG', 'NI', 'NL', 'NO', 'NP', 'NR', 'NU', 'NZ', 'OM', 'PA', 'PE', 'PF', 'PG',
		'PH', 'PK', 'PL', 'PM', 'PN', 'PR', 'PS', 'PT', 'PW', 'PY', 'QA', 'RE', 'RO', 'RS', 'RU', 'RW',
		'SA', 'SB', 'SC', 'SD', 'SE', 'SG', 'SH', 'SI', 'SJ', 'SK', 'SL', 'SM', 'SN', 'SO', 'SR', 'SS',
		'ST', 'SV', 'SX', 'SY', 'SZ', 'TC', 'TD', 'TF', 'TG', 'TH', 'TJ', 'TK', 'TL', 'TM', 'TN', 'TO',
		'TR', 'TT', 'TV', 'TW', 'TZ', 'UA', 'UG', 'UM', 'US', 'UY', 'UZ', 'VA', 'VC', 'VE', 'VG', 'VI',
		'VN', 'VU', 'WF', 'WS', 'YE', 'YT', 'ZA', 'ZM', 'ZW'])
$$;

-- The role must be a registered recipient.
CREATE FUNCTION personal_data._require_recipient(role regrole)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require(role, 'recipient');
	IF NOT EXISTS (SELECT FROM personal_data.recipients r WHERE r.role = _require_recipient.role) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('role "%s" is not a registered recipient', role),
			HINT = 'Register it with personal_data.register_recipient().';
	END IF;
END
$$;

-- A time limit, if given, must lie in the future.
CREATE FUNCTION personal_data._require_future(ts timestamptz, argument text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF ts IS NOT NULL AND ts <= now() THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s must lie in the future', argument),
			DETAIL = format('%s is %s.', argument, ts);
	END IF;
END
$$;

CREATE FUNCTION personal_data._require_positive(ts interval, argument text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF ts IS NOT NULL AND ts <= interval '0' THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s must be a positive interval', argument),
			DETAIL = format('%s is %s.', argument, ts);
	END IF;
END
$$;

-- The table must be registered with personal_data.
CREATE FUNCTION personal_data._require_registered(rel regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require(rel, 'table');
	IF NOT EXISTS (SELECT FROM personal_data.registered_tables t WHERE t.relation = rel) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('table "%s" is not registered with personal_data', rel),
			HINT = 'Register it first with personal_data.register_table().';
	END IF;
END
$$;

------------------------------------------------------------------------------
-- Purposes
------------------------------------------------------------------------------

CREATE FUNCTION personal_data.define_purpose(name text, category text,
	description text DEFAULT NULL, retention interval DEFAULT NULL,
	disclosed boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require(name, 'name');
	PERFORM personal_data._require(category, 'category');
	PERFORM personal_data._require(disclosed, 'disclosed');
	IF name !~ '^[a-z][a-z0-9_]*$' OR length(name) > 63 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_name',
			MESSAGE = format('invalid purpose name "%s"', name),
			DETAIL = 'Purpose names start with a lower-case letter and contain only lower-case letters, digits and underscores, at most 63 characters.';
	END IF;
	IF category <> ALL (ARRAY['customer', 'supplier', 'shareholder', 'applicant', 'inquiry', 'entrusted']) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid purpose category "%s"', category),
			DETAIL = 'Valid categories are customer, supplier, shareholder, applicant, inquiry and entrusted.';
	END IF;
	PERFORM personal_data._require_positive(retention, 'retention');
	IF EXISTS (SELECT FROM personal_data.purposes p WHERE p.name = define_purpose.name) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'duplicate_object',
			MESSAGE = format('purpose "%s" already exists', name);
	END IF;
	-- Data entrusted by clients is undisclosed personal information (seed, item 6).
	INSERT INTO personal_data.purposes (name, category, description, retention, disclosed)
	VALUES (name, category, description, retention,
			disclosed AND category <> 'entrusted');
END
$$;
COMMENT ON FUNCTION personal_data.define_purpose(text, text, text, interval, boolean) IS
	'Define a purpose of use; category entrusted is always undisclosed';

CREATE FUNCTION personal_data.set_purpose_retention(purpose text, retention interval)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_purpose(purpose);
	PERFORM personal_data._require_positive(retention, 'retention');
	UPDATE personal_data.purposes p SET retention = set_purpose_retention.retention
	 WHERE p.name = purpose;
END
$$;
COMMENT ON FUNCTION personal_data.set_purpose_retention(text, interval) IS
	'Set how long data collected for a purpose is kept (NULL: no limit yet)';

CREATE FUNCTION personal_data.drop_purpose(name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	users text;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_purpose(name);
	SELECT string_agg(format('%s.%I', c.relation, c.column_name), ', '
					  ORDER BY c.relation::text, c.column_name)
	  INTO users
	  FROM personal_data.labelled_columns c
	 WHERE drop_purpose.name = ANY (c.purposes);
	IF users IS NOT NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'dependent_objects_still_exist',
			MESSAGE = format('purpose "%s" is still used by column labels', name),
			DETAIL = format('Labelled columns: %s.', users),
			HINT = 'Relabel them with personal_data.label_column() or personal_data.unlabel_column() first.';
	END IF;
	IF EXISTS (SELECT FROM personal_data.consents c WHERE c.purpose = name)
	   OR EXISTS (SELECT FROM personal_data.legal_bases b WHERE b.purpose = name) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'dependent_objects_still_exist',
			MESSAGE = format('purpose "%s" is referenced by recorded consents or legal bases', name),
			DETAIL = 'Consents and legal bases are evidence and are kept.';
	END IF;
	-- its grants go with it
	DELETE FROM personal_data.purposes p WHERE p.name = drop_purpose.name;
END
$$;
COMMENT ON FUNCTION personal_data.drop_purpose(text) IS
	'Drop a purpose no label, consent or legal basis uses';

CREATE FUNCTION personal_data.install_default_purposes()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	added integer;
BEGIN
	PERFORM personal_data._require_preloaded();
	-- The purposes of use the policy announces (APPI articles 18 and 27),
	-- one per sub-item, grouped in its six categories.  Retention is left
	-- to the DBA: the policy keeps data "for the time required by the purpose".
	INSERT INTO personal_data.purposes (name, category, description, disclosed)
	VALUES
	('maintenance_support', 'customer', 'To provide maintenance support', true),
	('customer_information', 'customer', 'To provide information to the customer', true),
	('customer_contract', 'customer', 'To fulfill a contract', true),
	('product_delivery', 'customer', 'To deliver products and services', true),
	('product_introduction', 'customer', 'To introduce new products at seminars and exhibitions, etc.', true),
	('company_information', 'customer', 'To provide information related to the Company''s activities', true),
	('customer_inquiry_response', 'customer', 'To respond to various inquiries', true),
	('supplier_contact', 'supplier', 'To contact and negotiate with suppliers', true),
	('supplier_contract', 'supplier', 'To fulfill a contract', true),
	('supplier_payment', 'supplier', 'To pay invoices and charges', true),
	('shareholder_rights', 'shareholder', 'To exercise rights and fulfill obligations in accordance with the Commercial Code', true),
	('shareholder_benefits', 'shareholder', 'To provide benefits on behalf of the Company', true),
	('shareholder_relations', 'shareholder', 'To implement measures to build relationships between the Company and its shareholders', true),
	('shareholder_administration', 'shareholder', 'To manage shareholder affairs, such as the production of shareholder data based on the prescribed standards, in accordance with relevant laws', true),
	('recruitment_information', 'applicant', 'To contact or provide employment/recruitment information to those who have an interest in working at the Company or who have applied for a job at the Company', true),
	('employee_selection', 'applicant', 'To select employees for recruitment', true),
	('inquiry_response', 'inquiry', 'To respond to inquiries and provide information', true),
	('client_contract', 'entrusted', 'To fulfill contractual arrangements with clients (personal information entrusted by clients)', false)
	ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS added = ROW_COUNT;
	RETURN added;
END
$$;
COMMENT ON FUNCTION personal_data.install_default_purposes() IS
	'Load the purposes of use of the seed policy; returns how many were added';

------------------------------------------------------------------------------
-- Tables and columns
------------------------------------------------------------------------------

CREATE FUNCTION personal_data.register_table(rel regclass, subject_column name,
	collected_at_column name DEFAULT NULL, birthdate_column name DEFAULT NULL,
	department text DEFAULT NULL, on_expiry text DEFAULT 'delete',
	retention interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = postgres	-- labels hold one spelling of a retention
AS $$
DECLARE
	label text;
	col name;
	existing text;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_relation(rel);
	PERFORM personal_data._require(subject_column, 'subject_column');
	PERFORM personal_data._require(on_expiry, 'on_expiry');
	IF EXISTS (SELECT FROM personal_data.registered_tables t WHERE t.relation = rel) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'duplicate_object',
			MESSAGE = format('table "%s" is already registered with personal_data', rel),
			HINT = 'Use personal_data.unregister_table() first to register it anew.';
	END IF;
	FOREACH col IN ARRAY ARRAY[subject_column, collected_at_column, birthdate_column] LOOP
		IF col ~ '[;=]' THEN
			RAISE EXCEPTION USING
				ERRCODE = 'invalid_name',
				MESSAGE = format('column name "%s" cannot be used in a personal_data label', col),
				DETAIL = 'Column names in labels may not contain ";" or "=".';
		END IF;
	END LOOP;
	IF department IS NOT NULL
	   AND NOT EXISTS (SELECT FROM personal_data.departments d WHERE d.department = register_table.department) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('department "%s" does not exist', department),
			HINT = 'Define it and its manager with personal_data.assign_manager().';
	END IF;
	IF on_expiry NOT IN ('delete', 'anonymize') THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid on_expiry "%s"', on_expiry),
			DETAIL = 'on_expiry must be delete or anonymize.';
	END IF;
	PERFORM personal_data._require_positive(retention, 'retention');
	IF retention IS NOT NULL AND collected_at_column IS NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a retention needs a collected_at column',
			DETAIL = 'Retention counts from the time each row was collected.';
	END IF;

	label := 'subject=' || subject_column
		|| coalesce(';collected_at=' || collected_at_column, '')
		|| coalesce(';birthdate=' || birthdate_column, '')
		|| coalesce(';department=' || department, '')
		|| coalesce(';retention=' || retention::text, '')
		|| CASE WHEN on_expiry = 'anonymize' THEN ';on_expiry=anonymize' ELSE '' END;
	-- the label provider validates the columns against the table
	EXECUTE format('SECURITY LABEL FOR personal_data ON TABLE %s IS %L', rel, label);

	-- Code that already runs over the rows escapes the policy: once the table
	-- is registered, only superusers can add such code, but what exists stays.
	SELECT string_agg(what, ', ' ORDER BY what) INTO existing FROM (
		SELECT format('trigger %I on %s', t.tgname, t.tgrelid::regclass) AS what
		  FROM pg_trigger t WHERE t.tgrelid IN (SELECT rel::oid UNION SELECT relid::oid FROM pg_partition_tree(rel)) AND NOT t.tgisinternal
		UNION ALL
		SELECT format('rule %I on %s', r.rulename, r.ev_class::regclass)
		  FROM pg_rewrite r WHERE r.ev_class IN (SELECT rel::oid UNION SELECT relid::oid FROM pg_partition_tree(rel)) AND r.rulename <> '_RETURN'
		UNION ALL
		SELECT format('policy %I on %s', p.polname, p.polrelid::regclass)
		  FROM pg_policy p WHERE p.polrelid IN (SELECT rel::oid UNION SELECT relid::oid FROM pg_partition_tree(rel))
		UNION ALL
		SELECT format('index %s', i.indexrelid::regclass)
		  FROM pg_index i WHERE i.indrelid IN (SELECT rel::oid UNION SELECT relid::oid FROM pg_partition_tree(rel))
		   AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
		UNION ALL
		SELECT format('publication %I', p.pubname)
		  FROM pg_publication p
		 WHERE p.puballtables
			OR EXISTS (SELECT FROM pg_publication_rel pr WHERE pr.prpubid = p.oid
						  AND pr.prrelid IN (SELECT rel::oid UNION SELECT relid::oid FROM pg_partition_tree(rel)))) x;
	IF existing IS NOT NULL THEN
		RAISE WARNING USING
			MESSAGE = format('table "%s" has code that runs over its rows', rel),
			DETAIL = format('Registered, but these were defined before: %s.', existing),
			HINT = 'Review them: they read the rows outside the purposes of the columns.';
	END IF;
END
$$;
COMMENT ON FUNCTION personal_data.register_table(regclass, name, name, name, text, text, interval) IS
	'Put a table holding personal data under the policy';

CREATE FUNCTION personal_data.unregister_table(rel regclass)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col name;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_registered(rel);
	FOR col IN SELECT c.column_name FROM personal_data.labelled_columns c
				WHERE c.relation = rel ORDER BY c.column_name LOOP
		EXECUTE format('SECURITY LABEL FOR personal_data ON COLUMN %s.%I IS NULL', rel, col);
	END LOOP;
	EXECUTE format('SECURITY LABEL FOR personal_data ON TABLE %s IS NULL', rel);
END
$$;
COMMENT ON FUNCTION personal_data.unregister_table(regclass) IS
	'Take a table out of the policy, with its column labels';

CREATE FUNCTION personal_data.label_column(rel regclass, col name,
	purposes text[], on_denied text DEFAULT 'error')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	purpose text;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_registered(rel);
	PERFORM personal_data._require(col, 'column');
	PERFORM personal_data._require(purposes, 'purposes');
	PERFORM personal_data._require(on_denied, 'on_denied');
	IF cardinality(purposes) = 0 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'purposes must not be empty',
			HINT = 'A column nobody may use for any purpose should not be kept; use unlabel_column() to take it out of the policy.';
	END IF;
	FOREACH purpose IN ARRAY purposes LOOP
		PERFORM personal_data._require_purpose(purpose);
	END LOOP;
	IF on_denied NOT IN ('error', 'null') THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid on_denied "%s"', on_denied),
			DETAIL = 'on_denied must be error or null.';
	END IF;
	-- the label provider checks the column and refuses duplicate purposes
	EXECUTE format('SECURITY LABEL FOR personal_data ON COLUMN %s.%I IS %L', rel, col,
				   'purposes=' || array_to_string(purposes, ',')
				   || CASE WHEN on_denied = 'null' THEN ';on_denied=null' ELSE '' END);
END
$$;
COMMENT ON FUNCTION personal_data.label_column(regclass, name, text[], text) IS
	'Label a column with the purposes it was collected for';

CREATE FUNCTION personal_data.unlabel_column(rel regclass, col name)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_registered(rel);
	PERFORM personal_data._require(col, 'column');
	IF NOT EXISTS (SELECT FROM personal_data.labelled_columns c
					WHERE c.relation = rel AND c.column_name = col) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('column "%s" of table "%s" is not labelled', col, rel);
	END IF;
	EXECUTE format('SECURITY LABEL FOR personal_data ON COLUMN %s.%I IS NULL', rel, col);
END
$$;
COMMENT ON FUNCTION personal_data.unlabel_column(regclass, name) IS
	'Remove a column''s purpose label';

------------------------------------------------------------------------------
-- Roles: grants, recipients, departments
------------------------------------------------------------------------------

CREATE FUNCTION personal_data.grant_purpose(role regrole, purpose text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_role(role, 'role');
	PERFORM personal_data._require_purpose(purpose);
	INSERT INTO personal_data.purpose_grants (role, purpose)
	VALUES (role, purpose)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RAISE NOTICE 'role "%" already holds purpose "%"', role, purpose;
	END IF;
END
$$;
COMMENT ON FUNCTION personal_data.grant_purpose(regrole, text) IS
	'Allow a role (and its members) to process data for a purpose';

CREATE FUNCTION personal_data.revoke_purpose(role regrole, purpose text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_role(role, 'role');
	PERFORM personal_data._require_purpose(purpose);
	DELETE FROM personal_data.purpose_grants g
	 WHERE g.role = revoke_purpose.role AND g.purpose = revoke_purpose.purpose;
	IF NOT FOUND THEN
		RAISE NOTICE 'role "%" does not hold purpose "%"', role, purpose;
	END IF;
END
$$;
COMMENT ON FUNCTION personal_data.revoke_purpose(regrole, text) IS
	'Withdraw a purpose from a role';

CREATE FUNCTION personal_data.register_recipient(role regrole, kind text,
	organization text, country text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_role(role, 'role');
	PERFORM personal_data._require(kind, 'kind');
	PERFORM personal_data._require_text(organization, 'organization');
	IF kind NOT IN ('entrustee', 'third_party') THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid recipient kind "%s"', kind),
			DETAIL = 'A recipient is an entrustee or a third_party.';
	END IF;
	IF country IS NOT NULL AND NOT personal_data._is_country_code(upper(country)) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid country code "%s"', country),
			DETAIL = 'Countries are ISO 3166-1 alpha-2 codes, such as JP or DE.';
	END IF;
	IF (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = role) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('superuser "%s" cannot be a recipient', role),
			DETAIL = 'The policy is never enforced on superusers.';
	END IF;
	IF EXISTS (SELECT FROM personal_data.recipients r WHERE r.role = register_recipient.role) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'duplicate_object',
			MESSAGE = format('role "%s" is already a registered recipient', role),
			HINT = 'Use personal_data.unregister_recipient() first to register it anew.';
	END IF;
	INSERT INTO personal_data.recipients (role, kind, organization, country)
	VALUES (role, kind, organization, upper(country));
END
$$;
COMMENT ON FUNCTION personal_data.register_recipient(regrole, text, text, text) IS
	'Declare that a role acts for an outside organization (entrustee or third party)';

CREATE FUNCTION personal_data.unregister_recipient(role regrole)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_recipient(role);
	DELETE FROM personal_data.recipients r WHERE r.role = unregister_recipient.role;
END
$$;
COMMENT ON FUNCTION personal_data.unregister_recipient(regrole) IS
	'Stop treating a role as a recipient (its consents and legal bases are kept)';

CREATE FUNCTION personal_data.assign_manager(department text, manager regrole, contact text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(department, 'department');
	PERFORM personal_data._require_role(manager, 'manager');
	PERFORM personal_data._require_text(contact, 'contact');
	IF department ~ '[;=]' OR length(department) > 63 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_name',
			MESSAGE = format('invalid department name "%s"', department),
			DETAIL = 'Department names have at most 63 characters and contain neither ";" nor "=".';
	END IF;
	INSERT INTO personal_data.departments AS d (department, manager, contact)
	VALUES (department, manager, contact)
	ON CONFLICT ON CONSTRAINT departments_pkey
	DO UPDATE SET manager = excluded.manager, contact = excluded.contact;
END
$$;
COMMENT ON FUNCTION personal_data.assign_manager(text, regrole, text) IS
	'Set (or replace) the personal-information manager of a department';

------------------------------------------------------------------------------
-- Consent, legal bases, holds
------------------------------------------------------------------------------

CREATE FUNCTION personal_data.record_consent(subject text, purpose text,
	recipient regrole DEFAULT NULL, by_guardian boolean DEFAULT false,
	valid_until timestamptz DEFAULT NULL, evidence text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	consent_id bigint;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(subject, 'subject');
	PERFORM personal_data._require_purpose(purpose);
	PERFORM personal_data._require(by_guardian, 'by_guardian');
	IF recipient IS NOT NULL THEN
		PERFORM personal_data._require_recipient(recipient);
	END IF;
	PERFORM personal_data._require_future(valid_until, 'valid_until');
	INSERT INTO personal_data.consents (subject, purpose, recipient, by_guardian,
										valid_until, evidence)
	VALUES (subject, purpose, recipient, by_guardian, valid_until, evidence)
	RETURNING id INTO consent_id;
	RETURN consent_id;
END
$$;
COMMENT ON FUNCTION personal_data.record_consent(text, text, regrole, boolean, timestamptz, text) IS
	'Record a subject''s consent to a purpose, or to provision to a recipient; returns its id';

CREATE FUNCTION personal_data.withdraw_consent(subject text, purpose text,
	recipient regrole DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	withdrawn integer;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(subject, 'subject');
	PERFORM personal_data._require_purpose(purpose);
	-- Without a recipient, consent to the purpose is withdrawn entirely:
	-- provision for that purpose rested on it too.
	UPDATE personal_data.consents c SET withdrawn_at = now()
	 WHERE c.subject = withdraw_consent.subject
	   AND c.purpose = withdraw_consent.purpose
	   AND (withdraw_consent.recipient IS NULL OR c.recipient = withdraw_consent.recipient)
	   AND c.withdrawn_at IS NULL;
	GET DIAGNOSTICS withdrawn = ROW_COUNT;
	RETURN withdrawn;
END
$$;
COMMENT ON FUNCTION personal_data.withdraw_consent(text, text, regrole) IS
	'Withdraw consents (all recipients when recipient is NULL); returns how many';

CREATE FUNCTION personal_data.record_legal_basis(recipient regrole, basis text,
	reference text, subject text DEFAULT NULL, purpose text DEFAULT NULL,
	valid_until timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	basis_id bigint;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_recipient(recipient);
	PERFORM personal_data._require(basis, 'basis');
	PERFORM personal_data._require_text(reference, 'reference');
	IF basis NOT IN ('law', 'vital_interest') THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid legal basis "%s"', basis),
			DETAIL = 'Without consent, data may be provided only when law requires it (law) or to protect life or property (vital_interest).';
	END IF;
	IF subject IS NOT NULL THEN
		PERFORM personal_data._require_text(subject, 'subject');
	END IF;
	IF purpose IS NOT NULL THEN
		PERFORM personal_data._require_purpose(purpose);
	END IF;
	PERFORM personal_data._require_future(valid_until, 'valid_until');
	INSERT INTO personal_data.legal_bases (recipient, basis, reference, subject,
										   purpose, valid_until)
	VALUES (recipient, basis, reference, subject, purpose, valid_until)
	RETURNING id INTO basis_id;
	RETURN basis_id;
END
$$;
COMMENT ON FUNCTION personal_data.record_legal_basis(regrole, text, text, text, text, timestamptz) IS
	'Record a basis other than consent for provision to a recipient; returns its id';

CREATE FUNCTION personal_data.place_hold(subject text, reason text,
	until timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	hold_id bigint;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require_text(subject, 'subject');
	PERFORM personal_data._require_text(reason, 'reason');
	PERFORM personal_data._require_future(until, 'until');
	INSERT INTO personal_data.holds (subject, reason, until)
	VALUES (subject, reason, until)
	RETURNING id INTO hold_id;
	RETURN hold_id;
END
$$;
COMMENT ON FUNCTION personal_data.place_hold(text, text, timestamptz) IS
	'Keep a subject''s data from purge and erasure; returns the hold''s id';

CREATE FUNCTION personal_data.release_hold(hold_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	released timestamptz;
BEGIN
	PERFORM personal_data._require_preloaded();
	PERFORM personal_data._require(hold_id, 'hold_id');
	SELECT h.released_at INTO released FROM personal_data.holds h
	 WHERE h.id = hold_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('hold %s does not exist', hold_id);
	END IF;
	IF released IS NOT NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('hold %s was already released', hold_id),
			DETAIL = format('It was released at %s.', released);
	END IF;
	UPDATE personal_data.holds h SET released_at = now() WHERE h.id = hold_id;
END
$$;
COMMENT ON FUNCTION personal_data.release_hold(bigint) IS 'Release a legal hold';

------------------------------------------------------------------------------
-- Inventory
------------------------------------------------------------------------------

-- DESIGN.md §5: the table's own retention, else the longest among the
-- purposes of its labelled columns; NULL if any of those is NULL or undefined.
CREATE FUNCTION personal_data.table_retention(rel regclass)
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(
		(SELECT t.retention FROM personal_data.registered_tables t WHERE t.relation = rel),
		(SELECT CASE WHEN bool_and(p.retention IS NOT NULL) THEN max(p.retention) END
		   FROM personal_data.labelled_columns c
		   CROSS JOIN LATERAL unnest(c.purposes) AS u(purpose)
		   LEFT JOIN personal_data.purposes p ON p.name = u.purpose
		  WHERE c.relation = rel))
$$;
COMMENT ON FUNCTION personal_data.table_retention(regclass) IS
	'How long rows of a registered table are kept (NULL: not limited)';

CREATE FUNCTION personal_data.inventory()
RETURNS TABLE (relation regclass, column_name name, purposes text[],
			   categories text[], disclosed boolean, on_denied text,
			   retention interval, on_expiry text, department text,
			   manager regrole, recipients text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.relation, c.column_name, c.purposes,
		   (SELECT array_agg(DISTINCT p.category ORDER BY p.category)
			  FROM personal_data.purposes p WHERE p.name = ANY (c.purposes)),
		   (SELECT bool_or(p.disclosed)
			  FROM personal_data.purposes p WHERE p.name = ANY (c.purposes)),
		   c.on_denied,
		   personal_data.table_retention(c.relation),
		   t.on_expiry, t.department, d.manager,
		   (SELECT array_agg(DISTINCT r.role::text ORDER BY r.role::text)
			  FROM personal_data.recipients r
			  JOIN personal_data.purpose_grants g
				ON pg_has_role(r.role, g.role, 'USAGE')	-- grants follow membership
			 WHERE g.purpose = ANY (c.purposes))
	  FROM personal_data.labelled_columns c
	  JOIN personal_data.registered_tables t ON t.relation = c.relation
	  LEFT JOIN personal_data.departments d ON d.department = t.department
	 ORDER BY c.relation::text, c.column_name
$$;
COMMENT ON FUNCTION personal_data.inventory() IS
	'Every labelled column with its purposes, categories, retention, department, manager and recipients';

------------------------------------------------------------------------------
-- Privileges: the policy API is for DBAs and compliance staff only
------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	personal_data._require(anyelement, text),
	personal_data._require_text(text, text),
	personal_data._require_purpose(text),
	personal_data._require_recipient(regrole),
	personal_data._require_role(regrole, text),
	personal_data._require_relation(regclass),
	personal_data._is_country_code(text),
	personal_data._require_future(timestamptz, text),
	personal_data._require_positive(interval, text),
	personal_data._require_registered(regclass),
	personal_data._policy_changed(),
	personal_data.define_purpose(text, text, text, interval, boolean),
	personal_data.set_purpose_retention(text, interval),
	personal_data.drop_purpose(text),
	personal_data.install_default_purposes(),
	personal_data.register_table(regclass, name, name, name, text, text, interval),
	personal_data.unregister_table(regclass),
	personal_data.label_column(regclass, name, text[], text),
	personal_data.unlabel_column(regclass, name),
	personal_data.grant_purpose(regrole, text),
	personal_data.revoke_purpose(regrole, text),
	personal_data.register_recipient(regrole, text, text, text),
	personal_data.unregister_recipient(regrole),
	personal_data.assign_manager(text, regrole, text),
	personal_data.record_consent(text, text, regrole, boolean, timestamptz, text),
	personal_data.withdraw_consent(text, text, regrole),
	personal_data.record_legal_basis(regrole, text, text, text, text, timestamptz),
	personal_data.place_hold(text, text, timestamptz),
	personal_data.release_hold(bigint),
	personal_data.inventory()
FROM PUBLIC;

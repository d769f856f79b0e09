--
-- 020_bad_input: every bad argument of every policy function, and every
-- malformed SECURITY LABEL, is refused with a specific SQLSTATE and a clear
-- message -- and leaves the policy exactly as it was.
--
-- Each failing statement is followed by \echo :SQLSTATE, so the expected
-- output pins the error code as well as the message, DETAIL and HINT.
-- After each batch of failures, policy_digest (every catalog row and every
-- personal_data label) is compared with a snapshot taken before the batch.
--
\set SHOW_CONTEXT never
SET intervalstyle = postgres;

CREATE ROLE regress_bad_clerk;
CREATE ROLE regress_bad_partner;
CREATE ROLE regress_bad_unregistered;
CREATE ROLE regress_bad_super SUPERUSER;

-- A digest of the whole policy: catalog tables and labels.
CREATE TEMP VIEW policy_digest AS
SELECT md5(concat_ws(' | ',
	(SELECT string_agg(p::text, ',' ORDER BY p.name) FROM personal_data.purposes p),
	(SELECT string_agg(d::text, ',' ORDER BY d.department) FROM personal_data.departments d),
	(SELECT string_agg(r::text, ',' ORDER BY r.role::text) FROM personal_data.recipients r),
	(SELECT string_agg(g::text, ',' ORDER BY g.role::text, g.purpose) FROM personal_data.purpose_grants g),
	(SELECT string_agg(c::text, ',' ORDER BY c.id) FROM personal_data.consents c),
	(SELECT string_agg(b::text, ',' ORDER BY b.id) FROM personal_data.legal_bases b),
	(SELECT string_agg(h::text, ',' ORDER BY h.id) FROM personal_data.holds h),
	(SELECT string_agg(format('%s/%s=%s', l.objoid::regclass, l.objsubid, l.label), ','
	                   ORDER BY l.objoid::regclass::text, l.objsubid)
	   FROM pg_seclabel l WHERE l.provider = 'personal_data'))) AS digest;
-- What the policy holds, in numbers.
CREATE TEMP VIEW policy_counts AS
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.departments) AS departments,
       (SELECT count(*) FROM personal_data.recipients) AS recipients,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM personal_data.consents) AS consents,
       (SELECT count(*) FROM personal_data.legal_bases) AS legal_bases,
       (SELECT count(*) FROM personal_data.holds) AS holds,
       (SELECT count(*) FROM pg_seclabel WHERE provider = 'personal_data') AS labels;

-- The policy the bad calls below try to change.
SELECT personal_data.define_purpose('billing', 'customer', 'Invoices', interval '7 years');
SELECT personal_data.define_purpose('support', 'customer');
SELECT personal_data.define_purpose('evidence_only', 'customer');
SELECT personal_data.define_purpose('basis_only', 'customer');
SELECT personal_data.assign_manager('Sales', 'regress_bad_clerk', 'sales@example.com');
SELECT personal_data.grant_purpose('regress_bad_clerk', 'billing');
SELECT personal_data.register_recipient('regress_bad_partner', 'third_party', 'Partner KK', 'JP');
SELECT personal_data.record_consent('cust-1', 'evidence_only') IS NOT NULL AS recorded;
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', 'Tax Act',
                                        purpose => 'basis_only') IS NOT NULL AS recorded;
SELECT personal_data.place_hold('cust-1', 'litigation') AS hold_id \gset

CREATE TABLE regress_people (
	id integer,
	name text,
	email text,
	born date,
	joined timestamptz,
	seen timestamp,
	age integer,
	"Mixed" text
);
CREATE TABLE regress_unregistered (
	id integer,
	name text,
	joined timestamptz,
	age integer,
	"semi;colon" date,
	"eq=ual" date
);
CREATE VIEW regress_people_view AS SELECT * FROM regress_people;
CREATE MATERIALIZED VIEW regress_people_mv AS SELECT * FROM regress_people;
CREATE SEQUENCE regress_seq;
CREATE INDEX regress_people_idx ON regress_people (id);
CREATE TYPE regress_composite AS (id integer);
CREATE TABLE regress_parted (id integer, name text) PARTITION BY LIST (id);
CREATE TABLE regress_parted_1 PARTITION OF regress_parted FOR VALUES IN (1);
SELECT personal_data.register_table('regress_people', 'id', 'joined', 'born', 'Sales');
SELECT personal_data.label_column('regress_people', 'email', ARRAY['billing', 'support']);
SELECT personal_data.register_table('regress_parted', 'id');

SELECT * FROM policy_counts;
SELECT objname, label FROM pg_seclabels WHERE provider = 'personal_data' ORDER BY objname;
SELECT digest AS before FROM policy_digest \gset

------------------------------------------------------------------------------
-- define_purpose
------------------------------------------------------------------------------

-- NULL for each required argument
SELECT personal_data.define_purpose(NULL, 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', 'customer', disclosed => NULL); \echo SQLSTATE :SQLSTATE
-- bad names: upper case, leading digit, leading underscore, 64 characters,
-- punctuation, white space, the label separators, non-ASCII, empty
SELECT personal_data.define_purpose('Newsletter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('2newsletter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('_newsletter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose(repeat('n', 64), 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('news-letter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('news letter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('news,letter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('news;letter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('news=letter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter.', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('nouvelle_lettre_été', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('', 'customer'); \echo SQLSTATE :SQLSTATE
-- bad categories (they are lower case, and a closed list)
SELECT personal_data.define_purpose('newsletter', 'Customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', 'employee'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', ''); \echo SQLSTATE :SQLSTATE
-- retention: zero, negative, zero in disguise (1 month = 30 days), malformed
SELECT personal_data.define_purpose('newsletter', 'customer', retention => interval '0'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', 'customer', retention => interval '-1 day'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', 'customer', retention => interval '1 mon -30 days'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.define_purpose('newsletter', 'customer', retention => 'forever'); \echo SQLSTATE :SQLSTATE
-- duplicate
SELECT personal_data.define_purpose('billing', 'supplier'); \echo SQLSTATE :SQLSTATE

-- the longest name allowed is 63 characters (then it is dropped again)
SELECT personal_data.define_purpose(repeat('n', 63), 'customer');
SELECT length(name) FROM personal_data.purposes WHERE name LIKE 'nnn%';
SELECT personal_data.drop_purpose(repeat('n', 63));

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- set_purpose_retention
------------------------------------------------------------------------------

SELECT personal_data.set_purpose_retention(NULL, interval '1 year'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.set_purpose_retention('nonesuch', interval '1 year'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.set_purpose_retention('Billing', interval '1 year'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.set_purpose_retention('billing', interval '0'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.set_purpose_retention('billing', interval '-1 year'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.set_purpose_retention('billing', 'a while'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- drop_purpose
------------------------------------------------------------------------------

SELECT personal_data.drop_purpose(NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.drop_purpose('nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.drop_purpose('Billing'); \echo SQLSTATE :SQLSTATE
-- still used by a column label
SELECT personal_data.drop_purpose('support'); \echo SQLSTATE :SQLSTATE
-- referenced by a consent, by a legal basis
SELECT personal_data.drop_purpose('evidence_only'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.drop_purpose('basis_only'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- register_table
------------------------------------------------------------------------------

-- NULL for each required argument
SELECT personal_data.register_table(NULL, 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', on_expiry => NULL); \echo SQLSTATE :SQLSTATE
-- no such table
SELECT personal_data.register_table('regress_nonesuch', 'id'); \echo SQLSTATE :SQLSTATE
-- already registered
SELECT personal_data.register_table('regress_people', 'id'); \echo SQLSTATE :SQLSTATE
-- unknown columns, in each role
SELECT personal_data.register_table('regress_unregistered', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', birthdate_column => 'nonesuch'); \echo SQLSTATE :SQLSTATE
-- column names are matched exactly as stored
SELECT personal_data.register_table('regress_unregistered', 'ID'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', ''); \echo SQLSTATE :SQLSTATE
-- system columns
SELECT personal_data.register_table('regress_unregistered', 'ctid'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'xmin'); \echo SQLSTATE :SQLSTATE
-- collected_at and birthdate must hold dates
SELECT personal_data.register_table('regress_unregistered', 'id', 'name'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', birthdate_column => 'age'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', birthdate_column => 'name'); \echo SQLSTATE :SQLSTATE
-- column names the label grammar cannot hold, in each role (whether or not
-- such a column exists: they could smuggle in other keys)
SELECT personal_data.register_table('regress_unregistered', 'semi;colon'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'semi;colon'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', birthdate_column => 'eq=ual'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id;department=Sales'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'joined;retention=1 day'); \echo SQLSTATE :SQLSTATE
-- unknown department
SELECT personal_data.register_table('regress_unregistered', 'id', department => 'Nowhere'); \echo SQLSTATE :SQLSTATE
-- bad on_expiry
SELECT personal_data.register_table('regress_unregistered', 'id', on_expiry => 'purge'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', on_expiry => 'DELETE'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', on_expiry => ''); \echo SQLSTATE :SQLSTATE
-- bad retention, and a retention without collected_at to count from
SELECT personal_data.register_table('regress_unregistered', 'id', 'joined', retention => interval '0'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'joined', retention => interval '-3 years'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', 'joined', retention => 'soon'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_unregistered', 'id', retention => interval '1 year'); \echo SQLSTATE :SQLSTATE
-- relations that are not tables, and a partition
SELECT personal_data.register_table('regress_people_view', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_people_mv', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_seq', 'last_value'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_people_idx', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_parted_1', 'id'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- unregister_table
------------------------------------------------------------------------------

SELECT personal_data.unregister_table(NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_table('regress_nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_table('regress_unregistered'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_table('regress_people_view'); \echo SQLSTATE :SQLSTATE
-- a partition is not registered itself: its partitioned table is
SELECT personal_data.unregister_table('regress_parted_1'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- label_column
------------------------------------------------------------------------------

-- NULL for each required argument
SELECT personal_data.label_column(NULL, 'name', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', NULL, ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing'], NULL); \echo SQLSTATE :SQLSTATE
-- a NULL purpose in the array
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing', NULL]); \echo SQLSTATE :SQLSTATE
-- table not registered (or not a table at all), or a partition
SELECT personal_data.label_column('regress_unregistered', 'name', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people_view', 'name', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_parted_1', 'name', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
-- unknown column, a column name in the wrong case, a system column
SELECT personal_data.label_column('regress_people', 'nonesuch', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'mixed', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'ctid', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
-- unknown purpose, alone or among defined ones
SELECT personal_data.label_column('regress_people', 'name', ARRAY['nonesuch']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing', 'nonesuch']); \echo SQLSTATE :SQLSTATE
-- bad purpose names
SELECT personal_data.label_column('regress_people', 'name', ARRAY['Billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing,support']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing;on_denied=null']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY[repeat('b', 64)]); \echo SQLSTATE :SQLSTATE
-- no purpose at all; the same purpose twice
SELECT personal_data.label_column('regress_people', 'name', ARRAY[]::text[]); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', '{}'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing', 'support', 'billing']); \echo SQLSTATE :SQLSTATE
-- bad on_denied
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing'], 'ignore'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing'], 'NULL'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_people', 'name', ARRAY['billing'], ''); \echo SQLSTATE :SQLSTATE
-- relabelling with a bad label keeps the old one
SELECT personal_data.label_column('regress_people', 'email', ARRAY['billing', 'Support']); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;
SELECT relation, column_name, purposes, on_denied FROM personal_data.labelled_columns
 ORDER BY relation::text, column_name;

------------------------------------------------------------------------------
-- unlabel_column
------------------------------------------------------------------------------

SELECT personal_data.unlabel_column(NULL, 'email'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unlabel_column('regress_people', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unlabel_column('regress_unregistered', 'name'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unlabel_column('regress_people', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unlabel_column('regress_people', 'name'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- grant_purpose and revoke_purpose
------------------------------------------------------------------------------

SELECT personal_data.grant_purpose(NULL, 'support'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose('regress_bad_clerk', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose('regress_bad_nonesuch', 'support'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose('regress_bad_clerk', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose('regress_bad_clerk', 'Support'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.revoke_purpose(NULL, 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.revoke_purpose('regress_bad_clerk', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.revoke_purpose('regress_bad_nonesuch', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.revoke_purpose('regress_bad_clerk', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.revoke_purpose('regress_bad_clerk', 'Billing'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- register_recipient and unregister_recipient
------------------------------------------------------------------------------

-- NULL for each required argument; an empty or blank organization
SELECT personal_data.register_recipient(NULL, 'third_party', 'Org'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', NULL, 'Org'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', ''); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', '   '); \echo SQLSTATE :SQLSTATE
-- no such role
SELECT personal_data.register_recipient('regress_bad_nonesuch', 'third_party', 'Org'); \echo SQLSTATE :SQLSTATE
-- bad kind
SELECT personal_data.register_recipient('regress_bad_clerk', 'processor', 'Org'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'Third_Party', 'Org'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third party', 'Org'); \echo SQLSTATE :SQLSTATE
-- bad country: three letters, one letter, digits, empty, not a code
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', 'Org', 'JPN'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', 'Org', 'J'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', 'Org', '12'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', 'Org', ''); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_bad_clerk', 'third_party', 'Org', 'Japan'); \echo SQLSTATE :SQLSTATE
-- a superuser cannot be a recipient
SELECT personal_data.register_recipient('regress_bad_super', 'third_party', 'Org'); \echo SQLSTATE :SQLSTATE
-- already registered
SELECT personal_data.register_recipient('regress_bad_partner', 'entrustee', 'Partner KK'); \echo SQLSTATE :SQLSTATE
-- unregister: NULL, unknown role, a role that is not a recipient
SELECT personal_data.unregister_recipient(NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_recipient('regress_bad_nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_recipient('regress_bad_clerk'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- assign_manager
------------------------------------------------------------------------------

SELECT personal_data.assign_manager(NULL, 'regress_bad_clerk', 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales', NULL, 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales', 'regress_bad_clerk', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('', 'regress_bad_clerk', 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager(' ', 'regress_bad_clerk', 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales', 'regress_bad_clerk', ''); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales', 'regress_bad_nonesuch', 'c@example.com'); \echo SQLSTATE :SQLSTATE
-- department names the label grammar cannot hold, or too long
SELECT personal_data.assign_manager('Sales;Marketing', 'regress_bad_clerk', 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales=1', 'regress_bad_clerk', 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager(repeat('d', 64), 'regress_bad_clerk', 'c@example.com'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- record_consent and withdraw_consent
------------------------------------------------------------------------------

SELECT personal_data.record_consent(NULL, 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('  ', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-1', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-1', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-1', 'Billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-1', 'billing', by_guardian => NULL); \echo SQLSTATE :SQLSTATE
-- the recipient must be registered (and exist)
SELECT personal_data.record_consent('cust-1', 'billing', 'regress_bad_unregistered'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-1', 'billing', 'regress_bad_nonesuch'); \echo SQLSTATE :SQLSTATE
-- valid_until must lie in the future
SELECT personal_data.record_consent('cust-1', 'billing',
                                    valid_until => timestamptz '2000-01-01 00:00:00+00'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-1', 'billing', 'regress_bad_partner',
                                    valid_until => '-infinity'); \echo SQLSTATE :SQLSTATE

SELECT personal_data.withdraw_consent(NULL, 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.withdraw_consent('', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.withdraw_consent('cust-1', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.withdraw_consent('cust-1', 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.withdraw_consent('cust-1', 'Billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.withdraw_consent('cust-1', 'evidence_only', 'regress_bad_nonesuch'); \echo SQLSTATE :SQLSTATE
-- withdrawing a consent that was given to nobody else changes nothing
SELECT personal_data.withdraw_consent('cust-1', 'evidence_only', 'regress_bad_partner');

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- record_legal_basis
------------------------------------------------------------------------------

SELECT personal_data.record_legal_basis(NULL, 'law', 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_unregistered', 'law', 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_nonesuch', 'law', 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', NULL, 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'consent', 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'LAW', 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', ''); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', ' '); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', 'Tax Act', subject => ''); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', 'Tax Act', purpose => 'nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', 'Tax Act', purpose => 'Billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_bad_partner', 'law', 'Tax Act',
                                        valid_until => timestamptz '2000-01-01 00:00:00+00'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- place_hold and release_hold
------------------------------------------------------------------------------

SELECT personal_data.place_hold(NULL, 'litigation'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.place_hold('', 'litigation'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.place_hold('cust-2', NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.place_hold('cust-2', ''); \echo SQLSTATE :SQLSTATE
SELECT personal_data.place_hold('cust-2', 'litigation', timestamptz '2000-01-01 00:00:00+00'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.release_hold(NULL); \echo SQLSTATE :SQLSTATE
SELECT personal_data.release_hold(999999999); \echo SQLSTATE :SQLSTATE
SELECT personal_data.release_hold(-1); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

-- A hold cannot be released twice.  The DETAIL says when it was released:
-- the time (and the hold's id) are masked here.
SELECT personal_data.release_hold(:hold_id);
SELECT digest AS before FROM policy_digest \gset
SET regress.hold_id = :hold_id;
DO $$
DECLARE
	state text;
	message text;
	detail text;
BEGIN
	PERFORM personal_data.release_hold(current_setting('regress.hold_id')::bigint);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL;
	RAISE NOTICE 'SQLSTATE %: %', state,
		replace(message, current_setting('regress.hold_id'), '<hold_id>');
	RAISE NOTICE 'DETAIL: %',
		regexp_replace(detail, '^It was released at .*\.$', 'It was released at <time>.');
END
$$;
RESET regress.hold_id;
SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- DROP ROLE of a role the policy refers to
------------------------------------------------------------------------------

-- regress_bad_clerk holds a purpose and manages a department;
-- regress_bad_partner is a recipient
DROP ROLE regress_bad_clerk; \echo SQLSTATE :SQLSTATE
DROP ROLE regress_bad_partner; \echo SQLSTATE :SQLSTATE
DROP ROLE IF EXISTS regress_bad_partner; \echo SQLSTATE :SQLSTATE
-- one such role refuses the whole statement
DROP ROLE regress_bad_unregistered, regress_bad_clerk; \echo SQLSTATE :SQLSTATE
SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_bad\_%' ORDER BY rolname;

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- Identifiers that name nothing: OID 0 ('-') and OIDs of no object
------------------------------------------------------------------------------

-- regrole and regclass accept '-' (OID 0) and any number; a policy row or a
-- label for an object that does not exist must be refused like a name that
-- does not resolve.
SELECT personal_data.grant_purpose('-', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose(4000000000::oid::regrole, 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('-', 'third_party', 'Org'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient(4000000000::oid::regrole, 'third_party', 'Org'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales', '-', 'c@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('-', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table(4000000000::oid::regclass, 'id'); \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;
-- (in case one of them got through: the rest of the file needs a clean policy)
DELETE FROM personal_data.purpose_grants WHERE role::oid IN (0, 4000000000);
DELETE FROM personal_data.recipients WHERE role::oid IN (0, 4000000000);
SELECT personal_data.assign_manager('Sales', 'regress_bad_clerk', 'sales@example.com');
SELECT digest AS before FROM policy_digest \gset

------------------------------------------------------------------------------
-- Raw SECURITY LABEL: table labels
------------------------------------------------------------------------------

-- (regress_unregistered has no label; regress_people has one)
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS ''; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS '=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject='; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;;collected_at=joined'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at='; \echo SQLSTATE :SQLSTATE
-- unknown keys (keys are case-sensitive); a column key on a table
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;colour=red'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'Subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;purposes=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;on_denied=null'; \echo SQLSTATE :SQLSTATE
-- duplicate key; missing subject
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;subject=name'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'collected_at=joined'; \echo SQLSTATE :SQLSTATE
-- bad on_expiry
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;on_expiry=purge'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;on_expiry=Delete'; \echo SQLSTATE :SQLSTATE
-- bad retention: malformed (the context names the label), zero, negative,
-- and without collected_at
\set SHOW_CONTEXT errors
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at=joined;retention=forever'; \echo SQLSTATE :SQLSTATE
\set SHOW_CONTEXT never
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at=joined;retention=0'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at=joined;retention=-1 year'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at=joined;retention=1 mon -30 days'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;retention=1 year'; \echo SQLSTATE :SQLSTATE
-- columns: unknown (names are not trimmed), system, of the wrong type
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=nonesuch'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject= id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at=nonesuch'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;birthdate=nonesuch'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=tableoid'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;collected_at=name'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;birthdate=id'; \echo SQLSTATE :SQLSTATE
-- a bad label does not replace a good one
SECURITY LABEL FOR personal_data ON TABLE regress_people IS 'subject=id;collected_at=born;on_expiry=never'; \echo SQLSTATE :SQLSTATE
-- a table label may not be removed while columns are labelled
SECURITY LABEL FOR personal_data ON TABLE regress_people IS NULL; \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- Raw SECURITY LABEL: column labels
------------------------------------------------------------------------------

SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS ''; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS '=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes='; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;on_denied='; \echo SQLSTATE :SQLSTATE
-- unknown keys; a table key on a column
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;colour=red'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'Purposes=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;retention=1 year'; \echo SQLSTATE :SQLSTATE
-- duplicate key; missing purposes
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;purposes=support'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'on_denied=null'; \echo SQLSTATE :SQLSTATE
-- bad on_denied
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;on_denied=ignore'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing;on_denied=NULL'; \echo SQLSTATE :SQLSTATE
-- bad purpose names: upper case, empty items, white space, too long
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=Billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing,'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=,billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing,,support'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing, support'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=1billing'; \echo SQLSTATE :SQLSTATE
SELECT format('SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS %L',
              'purposes=' || repeat('b', 64)) AS too_long \gset
:too_long; \echo SQLSTATE :SQLSTATE
-- the same purpose twice
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=billing,support,billing'; \echo SQLSTATE :SQLSTATE
-- a column of a table that is not registered
SECURITY LABEL FOR personal_data ON COLUMN regress_unregistered.name IS 'purposes=billing'; \echo SQLSTATE :SQLSTATE
-- system columns
SECURITY LABEL FOR personal_data ON COLUMN regress_people.ctid IS 'purposes=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.xmin IS 'purposes=billing'; \echo SQLSTATE :SQLSTATE
-- a bad label does not replace a good one
SECURITY LABEL FOR personal_data ON COLUMN regress_people.email IS 'purposes=billing;on_denied=maybe'; \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;

------------------------------------------------------------------------------
-- Raw SECURITY LABEL: objects that cannot carry a personal_data label
------------------------------------------------------------------------------

SECURITY LABEL FOR personal_data ON VIEW regress_people_view IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people_view.name IS 'purposes=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON MATERIALIZED VIEW regress_people_mv IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON SEQUENCE regress_seq IS 'subject=last_value'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_parted_1 IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_parted_1.name IS 'purposes=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON SCHEMA public IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TYPE regress_composite IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON ROLE regress_bad_clerk IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON FUNCTION personal_data.inventory() IS 'subject=id'; \echo SQLSTATE :SQLSTATE

SELECT *, (SELECT digest FROM policy_digest) = :'before' AS unchanged FROM policy_counts;
SELECT objname, label FROM pg_seclabels WHERE provider = 'personal_data' ORDER BY objname;

------------------------------------------------------------------------------
-- Raw SECURITY LABEL: undefined purposes and departments are WARNINGs
------------------------------------------------------------------------------

-- (this is what pg_restore does before it loads the purposes)
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=ghost'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_people.seen IS 'purposes=billing,ghost,phantom;on_denied=null'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_unregistered IS 'subject=id;department=Nowhere'; \echo SQLSTATE :SQLSTATE
SELECT objname, label FROM pg_seclabels WHERE provider = 'personal_data' ORDER BY objname;
SELECT relation, column_name, purposes, on_denied FROM personal_data.labelled_columns
 ORDER BY relation::text, column_name;
SELECT relation, subject_column, department FROM personal_data.registered_tables
 ORDER BY relation::text;
-- the inventory shows no category for a purpose that is not defined, and
-- no manager for a department that is not
SELECT relation, column_name, purposes, categories, disclosed, department, manager
  FROM personal_data.inventory();
-- label_column and register_table refuse what the raw form only warned about
SELECT personal_data.label_column('regress_people', 'name', ARRAY['ghost']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_people_mv', 'id', department => 'Nowhere'); \echo SQLSTATE :SQLSTATE
-- a purpose defined afterwards makes the label valid, without a WARNING
SELECT personal_data.define_purpose('ghost', 'inquiry');
SECURITY LABEL FOR personal_data ON COLUMN regress_people.name IS 'purposes=ghost'; \echo SQLSTATE :SQLSTATE
-- and it can no longer be dropped while the label uses it
SELECT personal_data.drop_purpose('ghost'); \echo SQLSTATE :SQLSTATE
-- removing a label that does not exist is not an error
SECURITY LABEL FOR personal_data ON COLUMN regress_people.age IS NULL; \echo SQLSTATE :SQLSTATE

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------

SELECT personal_data.unregister_table('regress_people');
SELECT personal_data.unregister_table('regress_parted');
SELECT personal_data.unregister_table('regress_unregistered');
SELECT personal_data.unregister_recipient('regress_bad_partner');
TRUNCATE personal_data.consents, personal_data.legal_bases, personal_data.holds
	RESTART IDENTITY;
DELETE FROM personal_data.departments;
SELECT count(*) AS dropped
  FROM (SELECT personal_data.drop_purpose(name)
          FROM personal_data.purposes ORDER BY name) AS d;
DROP TABLE regress_people, regress_unregistered, regress_parted CASCADE;
DROP SEQUENCE regress_seq;
DROP TYPE regress_composite;
DROP ROLE regress_bad_clerk, regress_bad_partner, regress_bad_unregistered, regress_bad_super;
SELECT * FROM policy_counts;

-- 02_purposes.sql: the purposes of use.
--
-- install_default_purposes() loads exactly the purposes the seed policy
-- announces ("Purpose of the use of personal information": six items, one
-- purpose per sub-item), in their categories, disclosed except item 6, with
-- no retention; it is idempotent.  define_purpose() keeps entrusted data
-- undisclosed; drop_purpose() takes its grants with it and is refused while
-- a label uses the purpose; set_purpose_retention() sets and clears.
BEGIN;
CREATE EXTENSION personal_data;
SET LOCAL client_min_messages = warning;
SELECT plan(35);

-- The seed's sub-items, verbatim, under the category of their item.
CREATE TEMP TABLE seed_purposes (category text, policy_text text) ON COMMIT DROP;
INSERT INTO seed_purposes VALUES
	('customer', 'To provide maintenance support'),
	('customer', 'To provide information to the customer'),
	('customer', 'To fulfill a contract'),
	('customer', 'To deliver products and services'),
	('customer', 'To introduce new products at seminars and exhibitions, etc.'),
	('customer', 'To provide information related to the Company''s activities'),
	('customer', 'To respond to various inquiries'),
	('supplier', 'To contact and negotiate with suppliers'),
	('supplier', 'To fulfill a contract'),
	('supplier', 'To pay invoices and charges'),
	('shareholder', 'To exercise rights and fulfill obligations in accordance with the Commercial Code'),
	('shareholder', 'To provide benefits on behalf of the Company'),
	('shareholder', 'To implement measures to build relationships between the Company and its shareholders'),
	('shareholder', 'To manage shareholder affairs, such as the production of shareholder data based on the prescribed standards, in accordance with relevant laws'),
	('applicant', 'To contact or provide employment/recruitment information to those who have an interest in working at the Company or who have applied for a job at the Company'),
	('applicant', 'To select employees for recruitment'),
	('inquiry', 'To respond to inquiries and provide information'),
	('entrusted', 'To fulfill contractual arrangements with clients');

------------------------------------------------------------------------------
-- install_default_purposes()
------------------------------------------------------------------------------
SELECT is_empty('SELECT * FROM personal_data.purposes',
	'a new installation has no purposes');
SELECT is(personal_data.install_default_purposes(), 18,
	'install_default_purposes() adds the 18 purposes of the seed policy');
SELECT is((SELECT count(*)::int FROM personal_data.purposes), 18,
	'18 purposes are defined');

SELECT results_eq(
	$$SELECT category, count(*)::int FROM personal_data.purposes
	   GROUP BY category ORDER BY category$$,
	$$VALUES ('applicant', 2), ('customer', 7), ('entrusted', 1),
			 ('inquiry', 1), ('shareholder', 4), ('supplier', 3)$$,
	'one purpose per sub-item of each of the six items');

-- Each purpose's description is its sub-item's text (an explanatory suffix is
-- allowed), within the right category; bag equality makes it one-to-one.
SELECT bag_eq(
	$$SELECT s.category, s.policy_text
		FROM personal_data.purposes p
		JOIN seed_purposes s ON s.category = p.category
		 AND starts_with(p.description, s.policy_text)$$,
	$$SELECT category, policy_text FROM seed_purposes$$,
	'each purpose is described by the text of exactly one sub-item of its item');
SELECT is_empty(
	$$SELECT name FROM personal_data.purposes
	   WHERE description IS NULL OR btrim(description) = ''$$,
	'every default purpose has a description');

SELECT set_eq(
	$$SELECT name, category FROM personal_data.purposes$$,
	$$VALUES ('maintenance_support', 'customer'),
			 ('customer_information', 'customer'),
			 ('customer_contract', 'customer'),
			 ('product_delivery', 'customer'),
			 ('product_introduction', 'customer'),
			 ('company_information', 'customer'),
			 ('customer_inquiry_response', 'customer'),
			 ('supplier_contact', 'supplier'),
			 ('supplier_contract', 'supplier'),
			 ('supplier_payment', 'supplier'),
			 ('shareholder_rights', 'shareholder'),
			 ('shareholder_benefits', 'shareholder'),
			 ('shareholder_relations', 'shareholder'),
			 ('shareholder_administration', 'shareholder'),
			 ('recruitment_information', 'applicant'),
			 ('employee_selection', 'applicant'),
			 ('inquiry_response', 'inquiry'),
			 ('client_contract', 'entrusted')$$,
	'the default purposes have the documented names');
SELECT is(
	(SELECT description FROM personal_data.purposes WHERE name = 'customer_contract'),
	'To fulfill a contract', 'customer_contract is the customer item''s "To fulfill a contract"');
SELECT is(
	(SELECT description FROM personal_data.purposes WHERE name = 'supplier_contract'),
	'To fulfill a contract', 'supplier_contract is the supplier item''s "To fulfill a contract"');

-- Items 1-5 are disclosed personal information, item 6 undisclosed.
SELECT set_eq(
	$$SELECT name FROM personal_data.purposes WHERE NOT disclosed$$,
	ARRAY['client_contract'],
	'only the purpose of item 6 (entrusted by clients) is undisclosed');
SELECT is_empty(
	$$SELECT name FROM personal_data.purposes
	   WHERE disclosed <> (category <> 'entrusted')$$,
	'purposes of items 1-5 are disclosed, item 6 is not');
SELECT is_empty(
	$$SELECT name FROM personal_data.purposes WHERE retention IS NOT NULL$$,
	'the policy sets no retention: every default retention is NULL');

-- idempotent
SELECT is(personal_data.install_default_purposes(), 0,
	'a second install_default_purposes() adds nothing');
SELECT is((SELECT count(*)::int FROM personal_data.purposes), 18,
	'still 18 purposes after the second call');

-- it does not overwrite what the DBA changed, and fills in what is missing
DO $$ BEGIN PERFORM personal_data.set_purpose_retention('customer_contract', '5 years'); END $$;
DELETE FROM personal_data.purposes WHERE name = 'inquiry_response';
SELECT is(personal_data.install_default_purposes(), 1,
	'install_default_purposes() adds back only the missing purpose');
SELECT is((SELECT retention FROM personal_data.purposes WHERE name = 'customer_contract'),
	interval '5 years', 'and keeps the retention the DBA set');

------------------------------------------------------------------------------
-- define_purpose()
------------------------------------------------------------------------------
SELECT lives_ok(
	$$SELECT personal_data.define_purpose('regress_entrusted', 'entrusted',
			'Entrusted data', NULL, disclosed => true)$$,
	'define_purpose(..., entrusted, disclosed => true) succeeds');
SELECT is((SELECT disclosed FROM personal_data.purposes WHERE name = 'regress_entrusted'),
	false, 'an entrusted purpose is stored undisclosed even when asked disclosed');
SELECT lives_ok(
	$$SELECT personal_data.define_purpose('regress_hidden', 'customer',
			disclosed => false)$$,
	'define_purpose(..., customer, disclosed => false) succeeds');
SELECT is((SELECT disclosed FROM personal_data.purposes WHERE name = 'regress_hidden'),
	false, 'a purpose of another category may be undisclosed');
SELECT lives_ok(
	$$SELECT personal_data.define_purpose('regress_newsletter', 'customer')$$,
	'define_purpose() with the defaults');
SELECT results_eq(
	$$SELECT category, description, retention, disclosed
		FROM personal_data.purposes WHERE name = 'regress_newsletter'$$,
	$$VALUES ('customer'::text, NULL::text, NULL::interval, true)$$,
	'defaults: no description, no retention, disclosed');
SELECT throws_ok(
	$$SELECT personal_data.define_purpose('regress_newsletter', 'customer')$$,
	'42710', NULL, 'a purpose cannot be defined twice');
SELECT throws_ok(
	$$SELECT personal_data.define_purpose('Bad-Name', 'customer')$$,
	'42602', NULL, 'purpose names are lower-case identifiers');
SELECT throws_ok(
	$$SELECT personal_data.define_purpose('regress_x', 'employee')$$,
	'22023', NULL, 'the category must be one of the six');

------------------------------------------------------------------------------
-- set_purpose_retention()
------------------------------------------------------------------------------
DO $$ BEGIN PERFORM personal_data.set_purpose_retention('regress_newsletter', '2 years'); END $$;
SELECT is((SELECT retention FROM personal_data.purposes WHERE name = 'regress_newsletter'),
	interval '2 years', 'set_purpose_retention() sets the retention');
DO $$ BEGIN PERFORM personal_data.set_purpose_retention('regress_newsletter', NULL); END $$;
SELECT is((SELECT retention FROM personal_data.purposes WHERE name = 'regress_newsletter'),
	NULL::interval, 'set_purpose_retention(..., NULL) removes the limit');
SELECT throws_ok(
	$$SELECT personal_data.set_purpose_retention('regress_newsletter', '-1 day')$$,
	'22023', NULL, 'a retention must be positive');
SELECT throws_ok(
	$$SELECT personal_data.set_purpose_retention('regress_nothing', '1 day')$$,
	'42704', NULL, 'set_purpose_retention() of an undefined purpose');

------------------------------------------------------------------------------
-- drop_purpose()
------------------------------------------------------------------------------
CREATE ROLE regress_pgtap02_clerk;
CREATE ROLE regress_pgtap02_other;
DO $$
BEGIN
	PERFORM personal_data.grant_purpose('regress_pgtap02_clerk', 'regress_newsletter');
	PERFORM personal_data.grant_purpose('regress_pgtap02_other', 'regress_newsletter');
	PERFORM personal_data.grant_purpose('regress_pgtap02_clerk', 'customer_contract');
END
$$;

SELECT lives_ok($$SELECT personal_data.drop_purpose('regress_newsletter')$$,
	'drop_purpose() of a granted but unused purpose');
SELECT is_empty(
	$$SELECT * FROM personal_data.purposes WHERE name = 'regress_newsletter'$$,
	'the purpose is gone');
SELECT results_eq(
	$$SELECT role::text, purpose FROM personal_data.purpose_grants
	   WHERE role::text LIKE 'regress_pgtap02_%' ORDER BY 1, 2$$,
	$$VALUES ('regress_pgtap02_clerk', 'customer_contract')$$,
	'its grants went with it; other grants stay');

-- refused while a label, a consent or a legal basis uses the purpose
CREATE TABLE public.regress_pgtap02_t (id text, note text);
DO $$
BEGIN
	PERFORM personal_data.register_table('regress_pgtap02_t', 'id');
	PERFORM personal_data.label_column('regress_pgtap02_t', 'note', ARRAY['regress_hidden']);
END
$$;
SELECT throws_ok($$SELECT personal_data.drop_purpose('regress_hidden')$$,
	'2BP01', NULL, 'drop_purpose() is refused while a column label uses it');
DO $$ BEGIN PERFORM personal_data.record_consent('subject-1', 'regress_entrusted'); END $$;
SELECT throws_ok($$SELECT personal_data.drop_purpose('regress_entrusted')$$,
	'2BP01', NULL, 'drop_purpose() is refused while a consent refers to it');
SELECT throws_ok($$SELECT personal_data.drop_purpose('regress_nothing')$$,
	'42704', NULL, 'drop_purpose() of an undefined purpose');

SELECT * FROM finish();
ROLLBACK;

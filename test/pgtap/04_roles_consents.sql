-- 04_roles_consents.sql: purpose grants, recipients, consents, legal bases, holds.
--
-- Grants follow role membership and recipients are judged on the session's
-- role (SET ROLE), as session_policy() reports them; consent withdrawal
-- without a recipient withdraws the consents of every recipient, keeps the
-- rows and returns counts; the ids the functions return name their rows.
BEGIN;
CREATE EXTENSION personal_data;
SET LOCAL client_min_messages = warning;
SELECT plan(70);

CREATE ROLE regress_pgtap04_sales;
CREATE ROLE regress_pgtap04_clerk IN ROLE regress_pgtap04_sales;
CREATE ROLE regress_pgtap04_trainee IN ROLE regress_pgtap04_clerk;
CREATE ROLE regress_pgtap04_outsider;
CREATE ROLE regress_pgtap04_partner;
CREATE ROLE regress_pgtap04_partner_app IN ROLE regress_pgtap04_partner;
CREATE ROLE regress_pgtap04_outsourcer;
CREATE ROLE regress_pgtap04_outsourcer_app IN ROLE regress_pgtap04_outsourcer;
CREATE ROLE regress_pgtap04_both IN ROLE regress_pgtap04_partner, regress_pgtap04_outsourcer;
CREATE ROLE regress_pgtap04_admin SUPERUSER;
DO $$ BEGIN PERFORM personal_data.install_default_purposes(); END $$;
-- session_policy() is read by the roles below
SET LOCAL personal_data.purpose = 'customer_contract';

------------------------------------------------------------------------------
-- grant_purpose() / revoke_purpose(), and grants through membership
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT personal_data.grant_purpose('regress_pgtap04_sales', 'customer_contract')$$,
	'grant_purpose()');
SELECT lives_ok($$SELECT personal_data.grant_purpose('regress_pgtap04_sales', 'customer_contract')$$,
	'granting the same purpose again is not an error (only a NOTICE)');
SELECT results_eq(
	$$SELECT role::text, purpose FROM personal_data.purpose_grants
	   WHERE role::text LIKE 'regress_pgtap04_%'$$,
	$$VALUES ('regress_pgtap04_sales', 'customer_contract')$$,
	'the grant is stored once');
SELECT throws_ok($$SELECT personal_data.grant_purpose('regress_pgtap04_sales', 'regress_undefined')$$,
	'42704', NULL, 'grant_purpose() of an undefined purpose');
SELECT throws_ok($$SELECT personal_data.grant_purpose('regress_pgtap04_sales', 'Not A Name')$$,
	'42602', NULL, 'grant_purpose() of a malformed purpose name');
SELECT throws_ok($$SELECT personal_data.grant_purpose(NULL, 'customer_contract')$$,
	'22004', NULL, 'grant_purpose() to NULL');

SET ROLE regress_pgtap04_sales;
SELECT is((SELECT purpose_granted FROM personal_data.session_policy()), true,
	'the granted role holds the purpose');
SET ROLE regress_pgtap04_clerk;
SELECT is((SELECT purpose_granted FROM personal_data.session_policy()), true,
	'a member of the granted role holds the purpose');
SET ROLE regress_pgtap04_trainee;
SELECT results_eq(
	$$SELECT role_name::text COLLATE "default", superuser, purpose, purpose_defined, purpose_granted, recipient_kind
		FROM personal_data.session_policy()$$,
	$$VALUES ('regress_pgtap04_trainee', false, 'customer_contract', true, true, NULL::text)$$,
	'a member of a member holds it too, and is no recipient');
SET LOCAL personal_data.purpose = 'product_delivery';
SELECT results_eq(
	$$SELECT purpose_defined, purpose_granted FROM personal_data.session_policy()$$,
	$$VALUES (true, false)$$,
	'a purpose that was not granted');
SET LOCAL personal_data.purpose = 'regress_undefined';
SELECT results_eq(
	$$SELECT purpose_defined, purpose_granted FROM personal_data.session_policy()$$,
	$$VALUES (false, false)$$,
	'an undefined purpose is neither defined nor granted');
SET LOCAL personal_data.purpose = '';
SELECT results_eq(
	$$SELECT purpose, purpose_defined, purpose_granted FROM personal_data.session_policy()$$,
	$$VALUES (NULL::text, false, false)$$,
	'no purpose: nothing granted');
SET LOCAL personal_data.purpose = 'customer_contract';
SET ROLE regress_pgtap04_outsider;
SELECT is((SELECT purpose_granted FROM personal_data.session_policy()), false,
	'a role outside the granted role does not hold the purpose');
RESET ROLE;

SELECT lives_ok($$SELECT personal_data.revoke_purpose('regress_pgtap04_sales', 'customer_contract')$$,
	'revoke_purpose()');
SET ROLE regress_pgtap04_clerk;
SELECT is((SELECT purpose_granted FROM personal_data.session_policy()), false,
	'after the revoke, the member no longer holds the purpose');
RESET ROLE;
SELECT lives_ok($$SELECT personal_data.revoke_purpose('regress_pgtap04_sales', 'customer_contract')$$,
	'revoking a purpose not held is not an error (only a NOTICE)');
SELECT is_empty($$SELECT * FROM personal_data.purpose_grants WHERE role::text LIKE 'regress_pgtap04_%'$$,
	'no grant is left');
-- grant directly to a member: the member has it, the group does not
DO $$ BEGIN PERFORM personal_data.grant_purpose('regress_pgtap04_clerk', 'customer_contract'); END $$;
SET ROLE regress_pgtap04_sales;
SELECT is((SELECT purpose_granted FROM personal_data.session_policy()), false,
	'a grant to a member does not reach the role it is a member of');
SET ROLE regress_pgtap04_trainee;
SELECT is((SELECT purpose_granted FROM personal_data.session_policy()), true,
	'but reaches the member''s own members');
RESET ROLE;

------------------------------------------------------------------------------
-- register_recipient(): entrustees and third parties
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT personal_data.register_recipient('regress_pgtap04_partner',
		'third_party', 'Partner KK', 'de')$$,
	'register a third party');
SELECT lives_ok($$SELECT personal_data.register_recipient('regress_pgtap04_outsourcer',
		'entrustee', 'Outsource KK')$$,
	'register an entrustee without a country');
SELECT results_eq(
	$$SELECT role::text, kind, organization, country FROM personal_data.recipients
	   WHERE role::text LIKE 'regress_pgtap04_%' ORDER BY 1$$,
	$$VALUES ('regress_pgtap04_outsourcer', 'entrustee', 'Outsource KK', NULL::text),
			 ('regress_pgtap04_partner', 'third_party', 'Partner KK', 'DE')$$,
	'recipients are stored, countries in upper case');
SELECT throws_ok($$SELECT personal_data.register_recipient('regress_pgtap04_partner',
		'entrustee', 'Other KK')$$,
	'42710', NULL, 'a role is registered as a recipient once');
SELECT throws_ok($$SELECT personal_data.register_recipient('regress_pgtap04_outsider',
		'friend', 'Other KK')$$,
	'22023', NULL, 'the kind is entrustee or third_party');
SELECT throws_ok($$SELECT personal_data.register_recipient('regress_pgtap04_outsider',
		'third_party', 'Other KK', 'Germany')$$,
	'22023', NULL, 'the country is an ISO 3166 alpha-2 code');
SELECT throws_ok($$SELECT personal_data.register_recipient('regress_pgtap04_admin',
		'third_party', 'Other KK')$$,
	'22023', NULL, 'a superuser cannot be a recipient');

SET ROLE regress_pgtap04_partner;
SELECT results_eq(
	$$SELECT recipient_kind, organization, country FROM personal_data.session_policy()$$,
	$$VALUES ('third_party', 'Partner KK', 'DE')$$,
	'the third-party role acts as a third party');
SET ROLE regress_pgtap04_partner_app;
SELECT results_eq(
	$$SELECT role_name::text COLLATE "default", recipient_kind, organization FROM personal_data.session_policy()$$,
	$$VALUES ('regress_pgtap04_partner_app', 'third_party', 'Partner KK')$$,
	'a member of a third-party role acts as that third party');
SET ROLE regress_pgtap04_outsourcer;
SELECT results_eq(
	$$SELECT recipient_kind, organization, country FROM personal_data.session_policy()$$,
	$$VALUES ('entrustee', 'Outsource KK', NULL::text)$$,
	'the entrustee role acts as an entrustee');
SET ROLE regress_pgtap04_outsourcer_app;
SELECT is((SELECT recipient_kind FROM personal_data.session_policy()), 'entrustee',
	'a member of an entrustee role acts as that entrustee');
SET ROLE regress_pgtap04_both;
SELECT results_eq(
	$$SELECT recipient_kind, organization FROM personal_data.session_policy()$$,
	$$VALUES ('third_party', 'Partner KK')$$,
	'a member of a third party and an entrustee acts as the third party (more restricted)');
SET ROLE regress_pgtap04_clerk;
SELECT is((SELECT recipient_kind FROM personal_data.session_policy()), NULL,
	'an internal role is no recipient');
SET ROLE regress_pgtap04_admin;
SELECT results_eq(
	$$SELECT superuser, recipient_kind, organization FROM personal_data.session_policy()$$,
	$$VALUES (true, NULL::text, NULL::text)$$,
	'a superuser is no recipient (though superusers "have the privileges" of every role)');
RESET ROLE;

SELECT lives_ok($$SELECT personal_data.unregister_recipient('regress_pgtap04_partner')$$,
	'unregister_recipient()');
SET ROLE regress_pgtap04_partner_app;
SELECT is((SELECT recipient_kind FROM personal_data.session_policy()), NULL,
	'after unregistering, its members act as internal roles again');
RESET ROLE;
SELECT throws_ok($$SELECT personal_data.unregister_recipient('regress_pgtap04_partner')$$,
	'42704', NULL, 'unregister_recipient() of a role that is no recipient');
DO $$ BEGIN PERFORM personal_data.register_recipient('regress_pgtap04_partner', 'third_party', 'Partner KK', 'DE'); END $$;

------------------------------------------------------------------------------
-- record_consent() / withdraw_consent()
------------------------------------------------------------------------------
SELECT personal_data.record_consent('subject-a', 'customer_contract') AS c_general \gset
SELECT personal_data.record_consent('subject-a', 'customer_contract',
	'regress_pgtap04_partner', by_guardian => true,
	valid_until => now() + interval '1 year', evidence => 'form 12') AS c_partner \gset
SELECT personal_data.record_consent('subject-a', 'customer_contract',
	'regress_pgtap04_outsourcer') AS c_outsourcer \gset
SELECT personal_data.record_consent('subject-a', 'product_delivery',
	'regress_pgtap04_partner') AS c_other_purpose \gset
SELECT personal_data.record_consent('subject-b', 'customer_contract',
	'regress_pgtap04_partner') AS c_other_subject \gset

SELECT is(
	(SELECT count(DISTINCT id)::int FROM personal_data.consents
	  WHERE id IN (:c_general, :c_partner, :c_outsourcer, :c_other_purpose, :c_other_subject)),
	5, 'record_consent() returns the id of a new row each time');
SELECT results_eq(
	format($$SELECT subject, purpose, recipient::text, by_guardian, valid_until,
					evidence, granted_at, withdrawn_at
			   FROM personal_data.consents WHERE id = %s$$, :c_partner),
	$$VALUES ('subject-a', 'customer_contract', 'regress_pgtap04_partner', true,
			  now() + interval '1 year', 'form 12', now(), NULL::timestamptz)$$,
	'the returned id names the row recorded with every argument');
SELECT results_eq(
	format($$SELECT subject, purpose, recipient, by_guardian, valid_until, evidence,
					withdrawn_at
			   FROM personal_data.consents WHERE id = %s$$, :c_general),
	$$VALUES ('subject-a', 'customer_contract', NULL::regrole, false,
			  NULL::timestamptz, NULL::text, NULL::timestamptz)$$,
	'defaults: consent to the purpose itself, not by a guardian, no limit, no evidence');

SELECT throws_ok($$SELECT personal_data.record_consent('subject-a', 'regress_undefined')$$,
	'42704', NULL, 'record_consent() for an undefined purpose');
SELECT throws_ok($$SELECT personal_data.record_consent('subject-a', 'customer_contract',
		'regress_pgtap04_outsider')$$,
	'42704', NULL, 'record_consent() for a role that is no recipient');
SELECT throws_ok($$SELECT personal_data.record_consent('', 'customer_contract')$$,
	'22023', NULL, 'record_consent() for an empty subject');
SELECT throws_ok($$SELECT personal_data.record_consent(NULL, 'customer_contract')$$,
	'22004', NULL, 'record_consent() for a NULL subject');
SELECT throws_ok($$SELECT personal_data.record_consent('subject-a', 'customer_contract',
		valid_until => now() - interval '1 day')$$,
	'22023', NULL, 'record_consent() valid until a time in the past');

SELECT is(personal_data.withdraw_consent('subject-a', 'customer_contract',
		'regress_pgtap04_partner'), 1,
	'withdrawing the consent to one recipient withdraws one');
SELECT results_eq(
	$$SELECT id, withdrawn_at IS NOT NULL FROM personal_data.consents ORDER BY id$$,
	format($$VALUES (%s::bigint, false), (%s, true), (%s, false), (%s, false), (%s, false)$$,
		   :c_general, :c_partner, :c_outsourcer, :c_other_purpose, :c_other_subject),
	'only that recipient''s consent is withdrawn');
SELECT is(personal_data.withdraw_consent('subject-a', 'customer_contract'), 2,
	'withdrawing without a recipient withdraws the rest for the purpose (general and entrustee)');
SELECT results_eq(
	$$SELECT id, withdrawn_at IS NOT NULL FROM personal_data.consents ORDER BY id$$,
	format($$VALUES (%s::bigint, true), (%s, true), (%s, true), (%s, false), (%s, false)$$,
		   :c_general, :c_partner, :c_outsourcer, :c_other_purpose, :c_other_subject),
	'other purposes and other subjects keep their consents');
SELECT is(personal_data.withdraw_consent('subject-a', 'customer_contract'), 0,
	'a second withdrawal withdraws nothing');
SELECT is(personal_data.withdraw_consent('subject-a', 'customer_contract',
		'regress_pgtap04_partner'), 0,
	'nor does withdrawing an already withdrawn recipient''s consent');
SELECT is((SELECT count(*)::int FROM personal_data.consents), 5,
	'withdrawn consents are kept');
SELECT is(
	(SELECT count(*)::int FROM personal_data.consents
	  WHERE withdrawn_at = now() AND subject = 'subject-a' AND purpose = 'customer_contract'),
	3, 'withdrawn_at records when');
SELECT throws_ok($$SELECT personal_data.withdraw_consent('subject-a', 'regress_undefined')$$,
	'42704', NULL, 'withdraw_consent() for an undefined purpose');
-- a consent recorded after a withdrawal is a new consent
SELECT personal_data.record_consent('subject-a', 'customer_contract') AS c_again \gset
SELECT ok(:c_again > :c_other_subject AND
		  (SELECT withdrawn_at IS NULL FROM personal_data.consents WHERE id = :c_again),
	'consent can be given again after a withdrawal: a new row');

------------------------------------------------------------------------------
-- record_legal_basis()
------------------------------------------------------------------------------
SELECT personal_data.record_legal_basis('regress_pgtap04_partner', 'law',
	'Tax Act art. 1', 'subject-a', 'supplier_payment',
	now() + interval '30 days') AS b_specific \gset
SELECT personal_data.record_legal_basis('regress_pgtap04_outsourcer', 'vital_interest',
	'Incident 7') AS b_all \gset
SELECT isnt(:b_specific::bigint, :b_all::bigint, 'record_legal_basis() returns a new id each time');
SELECT results_eq(
	format($$SELECT recipient::text, basis, reference, subject, purpose, valid_until
			   FROM personal_data.legal_bases WHERE id = %s$$, :b_specific),
	$$VALUES ('regress_pgtap04_partner', 'law', 'Tax Act art. 1', 'subject-a',
			  'supplier_payment', now() + interval '30 days')$$,
	'the returned id names the row recorded with every argument');
SELECT results_eq(
	format($$SELECT recipient::text, basis, reference, subject, purpose, valid_until
			   FROM personal_data.legal_bases WHERE id = %s$$, :b_all),
	$$VALUES ('regress_pgtap04_outsourcer', 'vital_interest', 'Incident 7', NULL::text,
			  NULL::text, NULL::timestamptz)$$,
	'NULL subject and purpose (every subject, every purpose) are stored as NULL');
SELECT throws_ok($$SELECT personal_data.record_legal_basis('regress_pgtap04_partner',
		'contract', 'x')$$,
	'22023', NULL, 'the basis is law or vital_interest');
SELECT throws_ok($$SELECT personal_data.record_legal_basis('regress_pgtap04_outsider',
		'law', 'x')$$,
	'42704', NULL, 'a legal basis is for a registered recipient');
SELECT throws_ok($$SELECT personal_data.record_legal_basis('regress_pgtap04_partner',
		'law', 'x', purpose => 'regress_undefined')$$,
	'42704', NULL, 'a legal basis for an undefined purpose');
SELECT throws_ok($$SELECT personal_data.record_legal_basis('regress_pgtap04_partner',
		'law', '')$$,
	'22023', NULL, 'a legal basis needs a reference');

------------------------------------------------------------------------------
-- place_hold() / release_hold()
------------------------------------------------------------------------------
SELECT personal_data.place_hold('subject-a', 'Litigation 2024-17') AS h_open \gset
SELECT personal_data.place_hold('subject-b', 'Audit', now() + interval '90 days') AS h_until \gset
SELECT isnt(:h_open::bigint, :h_until::bigint, 'place_hold() returns a new id each time');
SELECT results_eq(
	format($$SELECT subject, reason, placed_at, until, released_at
			   FROM personal_data.holds WHERE id = %s$$, :h_until),
	$$VALUES ('subject-b', 'Audit', now(), now() + interval '90 days', NULL::timestamptz)$$,
	'the returned id names the hold');
SELECT results_eq(
	format($$SELECT subject, until FROM personal_data.holds WHERE id = %s$$, :h_open),
	$$VALUES ('subject-a', NULL::timestamptz)$$,
	'a hold without an end');
SELECT lives_ok(format('SELECT personal_data.release_hold(%s)', :h_open),
	'release_hold()');
SELECT results_eq(
	$$SELECT id, released_at FROM personal_data.holds ORDER BY id$$,
	format($$VALUES (%s::bigint, now()), (%s, NULL::timestamptz)$$, :h_open, :h_until),
	'only that hold is released, and it is kept');
SELECT throws_ok(format('SELECT personal_data.release_hold(%s)', :h_open),
	'55000', NULL, 'a hold cannot be released twice');
SELECT throws_ok(format('SELECT personal_data.release_hold(%s)', :h_until + 1000),
	'42704', NULL, 'release_hold() of a hold that does not exist');
SELECT throws_ok($$SELECT personal_data.place_hold('subject-a', 'x', now() - interval '1 hour')$$,
	'22023', NULL, 'a hold cannot end in the past');
SELECT throws_ok($$SELECT personal_data.place_hold('subject-a', ' ')$$,
	'22023', NULL, 'a hold needs a reason');

SELECT * FROM finish();
ROLLBACK;

-- 08_requests.sql: data-subject requests (DESIGN.md §6): the register, its
-- history and actions, subject_data() and erase_subject(), bad input and
-- privileges.
BEGIN;
CREATE EXTENSION personal_data;
SELECT plan(37);

SELECT personal_data.install_default_purposes() > 0;
CREATE TABLE rq_customers (id text PRIMARY KEY, name text, email text, note text, signed timestamptz DEFAULT now());
CREATE TABLE rq_orders (id int PRIMARY KEY, customer text REFERENCES rq_customers (id), item text);
CREATE TABLE rq_entrusted (ref text, phone text);
CREATE TABLE rq_by_number (num int, name text);
INSERT INTO rq_customers VALUES ('C1', 'Ann', 'ann@x', 'n1'), ('C2', 'Bo', 'bo@x', 'n2'), ('C3', 'Cy', 'cy@x', 'n3');
INSERT INTO rq_orders VALUES (1, 'C1', 'heater'), (2, 'C1', 'fan'), (3, 'C2', 'lamp');
INSERT INTO rq_entrusted VALUES ('C1', '555');
INSERT INTO rq_by_number VALUES (7, 'seven');
SELECT personal_data.register_table('rq_customers', 'id', collected_at_column => 'signed');
SELECT personal_data.label_column('rq_customers', 'name', ARRAY['customer_contract']);
SELECT personal_data.label_column('rq_customers', 'email', ARRAY['customer_information']);
SELECT personal_data.register_table('rq_orders', 'customer');
SELECT personal_data.label_column('rq_orders', 'item', ARRAY['customer_contract']);
SELECT personal_data.register_table('rq_entrusted', 'ref', on_expiry => 'anonymize');
SELECT personal_data.label_column('rq_entrusted', 'phone', ARRAY['client_contract']);
SELECT personal_data.register_table('rq_by_number', 'num');
SELECT personal_data.label_column('rq_by_number', 'name', ARRAY['customer_contract']);

-- the register
SET LOCAL personal_data.response_period = '10d';
SELECT personal_data.open_request('C1', 'disclosure', 'a copy of my data') AS disclosure_id \gset
SELECT is((SELECT due_at - received_at FROM personal_data.requests WHERE id = :disclosure_id),
	interval '10 days', 'due after personal_data.response_period');
RESET personal_data.response_period;
SELECT personal_data.open_request('C2', 'complaint') AS complaint_id \gset
SELECT is((SELECT due_at - received_at FROM personal_data.requests WHERE id = :complaint_id),
	interval '30 days', 'response_period defaults to 30 days');
SELECT is((SELECT status FROM personal_data.requests WHERE id = :disclosure_id), 'open', 'a new request is open');
INSERT INTO personal_data.requests (subject, kind, received_at, due_at)
VALUES ('C3', 'inquiry', now() - interval '40 days', now() - interval '10 days');
SELECT is((SELECT array_agg(subject) FROM personal_data.overdue_requests()), ARRAY['C3'],
	'overdue_requests: open requests past their due date');
SELECT throws_ok($$SELECT personal_data.open_request('C1', 'gossip')$$, '22023',
	'unknown request kind "gossip"', 'an unknown kind is refused');
SELECT throws_ok($$SELECT personal_data.open_request(NULL, 'inquiry')$$, '22004', NULL, 'a NULL subject is refused');
SELECT throws_ok($$SELECT personal_data.open_request(' ', 'inquiry')$$, '22023', NULL, 'a blank subject is refused');

-- subject_data
SELECT is(personal_data.subject_data('C1', :disclosure_id)->'data',
	'{"public.rq_customers": [{"id": "C1", "name": "Ann", "email": "ann@x"}],
	  "public.rq_orders": [{"customer": "C1", "item": "heater"}, {"customer": "C1", "item": "fan"}]}'::jsonb,
	'subject_data: the labelled columns of every registered table, entrusted data left out');
SELECT is((SELECT detail FROM personal_data.request_actions WHERE request_id = :disclosure_id AND action = 'export'),
	'{"tables": {"public.rq_customers": 1, "public.rq_orders": 2}}'::jsonb,
	'the export is linked to the request it answered');
SELECT is(jsonb_array_length(personal_data.subject_data('C1')->'requests'), 1, 'with the subject''s requests');
SELECT ok(personal_data.subject_data('C1') ? 'consents' AND personal_data.subject_data('C1') ? 'provisions',
	'with its consents and provisions');
SELECT is(personal_data.subject_data('7')->'data', '{"public.rq_by_number": [{"num": 7, "name": "seven"}]}'::jsonb,
	'a subject column of another type: the subject is cast to it');
SELECT is(personal_data.subject_data('nobody')->'data', '{}'::jsonb, 'an unknown subject: nothing is held');
SELECT throws_ok($$SELECT personal_data.subject_data('C2', $$ || :disclosure_id || $$)$$, '22023', NULL,
	'a request of another subject is refused');

-- erase_subject
SELECT personal_data.open_request('C1', 'deletion') AS deletion_id \gset
SELECT throws_ok($$SELECT personal_data.erase_subject('C1', $$ || :disclosure_id || $$)$$, '22023', NULL,
	'erasure for a disclosure request is refused');
SELECT is(personal_data.erase_subject('C1', :deletion_id),
	'{"public.rq_orders": {"deleted": 2}, "public.rq_customers": {"deleted": 1}, "public.rq_entrusted": {"anonymized": 1}}'::jsonb,
	'erase_subject: per table, by its on_expiry, orders before the customers they reference');
SELECT is((SELECT count(*)::int FROM rq_customers WHERE id = 'C1') + (SELECT count(*)::int FROM rq_orders WHERE customer = 'C1'),
	0, 'the subject''s rows are gone');
SELECT is((SELECT phone FROM rq_entrusted WHERE ref = 'C1'), NULL, 'an anonymize table keeps the row, labelled columns NULL');
SELECT is((SELECT detail FROM personal_data.request_actions WHERE request_id = :deletion_id AND action = 'erasure'),
	'{"public.rq_orders": {"deleted": 2}, "public.rq_customers": {"deleted": 1}, "public.rq_entrusted": {"anonymized": 1}}'::jsonb,
	'the erasure is linked to its request');
SELECT throws_ok($$SELECT personal_data.erase_subject('C1')$$, 'P0002', NULL, 'nothing left to erase: an error');
SELECT is(personal_data.erase_subject('C3', action => 'anonymize'),
	'{"public.rq_customers": {"anonymized": 1}}'::jsonb, 'action => anonymize overrides on_expiry');
SELECT is((SELECT name || '/' || coalesce(email, '-') || '/' || note FROM rq_customers WHERE id = 'C3'), NULL,
	'... the labelled columns are NULL');
SELECT is((SELECT note FROM rq_customers WHERE id = 'C3'), 'n3', '... the others stay');
SELECT personal_data.place_hold('C2', 'dispute') > 0;
SELECT throws_ok($$SELECT personal_data.erase_subject('C2')$$, '55000', 'subject "C2" is under a legal hold',
	'a held subject is not erased');
SELECT is((SELECT count(*)::int FROM rq_orders WHERE customer = 'C2'), 1, '... nothing changed');
SELECT throws_ok($$SELECT personal_data.erase_subject('C3', action => 'shred')$$, '22023', NULL, 'an unknown action is refused');
-- a foreign key from an unregistered table (NO ACTION): the row is kept and reported, the erasure goes on
CREATE TABLE rq_invoices (id int, customer text REFERENCES rq_customers (id));
INSERT INTO rq_invoices VALUES (1, 'C3');
SELECT is(personal_data.erase_subject('C3') -> 'public.rq_customers', '{"kept": 1, "deleted": 0}'::jsonb,
	'a row referenced from outside the policy: kept, and reported');
SELECT is((SELECT count(*)::int FROM rq_customers WHERE id = 'C3'), 1, '... the row stays');

-- closing
SELECT lives_ok($$SELECT personal_data.close_request($$ || :deletion_id || $$, 'completed', 'erased on request')$$,
	'close_request');
SELECT is((SELECT status || ' ' || resolution FROM personal_data.requests WHERE id = :deletion_id), 'completed erased on request',
	'the request is closed with its resolution');
SELECT is((SELECT array_agg(status ORDER BY id) FROM personal_data.request_events WHERE request_id = :deletion_id),
	ARRAY['open', 'completed'], 'its history is kept');
SELECT throws_ok($$SELECT personal_data.close_request($$ || :deletion_id || $$, 'completed', 'again')$$, '55000',
	NULL, 'closing twice is refused');
SELECT throws_ok($$SELECT personal_data.close_request($$ || :disclosure_id || $$, 'done', 'x')$$, '22023',
	'a request is closed as completed or rejected, not "done"', 'a wrong status is refused');
SELECT throws_ok($$SELECT personal_data.close_request(999999, 'rejected', 'x')$$, '42704',
	'request 999999 does not exist', 'an unknown request is refused');
SELECT throws_ok($$SELECT personal_data.close_request($$ || :disclosure_id || $$, 'rejected', NULL)$$, '22004',
	NULL, 'a resolution is required');
SELECT is((SELECT status FROM personal_data.requests WHERE id = :disclosure_id), 'open', '... the request is still open');

-- privileges: for the compliance role the DBA grants, not for applications
CREATE ROLE regress_rq_app;
SET LOCAL ROLE regress_rq_app;
SELECT throws_ok($$SELECT personal_data.subject_data('C2')$$, '42501', NULL, 'an application role cannot export');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

--
-- 010_policy_api: the happy path of every policy function (DESIGN.md §2),
-- shown through what it leaves behind: catalog rows, security labels, the
-- registered_tables and labelled_columns views, and inventory().
--
-- Timestamps and OIDs are volatile: only stable columns are selected.
--
\set SHOW_CONTEXT never
-- the style users have by default (pg_regress runs with postgres_verbose);
-- register_table() writes the retention into the label in this style
SET intervalstyle = postgres;

-- The extension starts with an empty policy.
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.departments) AS departments,
       (SELECT count(*) FROM personal_data.recipients) AS recipients,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM personal_data.consents) AS consents,
       (SELECT count(*) FROM personal_data.legal_bases) AS legal_bases,
       (SELECT count(*) FROM personal_data.holds) AS holds,
       (SELECT count(*) FROM pg_seclabels WHERE provider = 'personal_data') AS labels;

-- what "now" was when this file began: recorded timestamps lie after it
SELECT now() AS t0 \gset
CREATE ROLE regress_pd_manager;
CREATE ROLE regress_pd_clerk;
CREATE ROLE regress_pd_partner;
CREATE ROLE regress_pd_courier;

------------------------------------------------------------------------------
-- Purposes
------------------------------------------------------------------------------

-- The seed policy's purposes: 18 sub-items in six categories; item 6
-- (entrusted by clients) is undisclosed.  A second call adds nothing.
SELECT personal_data.install_default_purposes();
SELECT personal_data.install_default_purposes();
SELECT category, name, disclosed, retention, description
  FROM personal_data.purposes
 ORDER BY array_position(ARRAY['customer', 'supplier', 'shareholder',
                               'applicant', 'inquiry', 'entrusted'], category),
          name;
SELECT category, count(*), bool_and(disclosed) AS all_disclosed
  FROM personal_data.purposes GROUP BY category ORDER BY category;

-- define_purpose: defaults (no description, no retention, disclosed) ...
SELECT personal_data.define_purpose('newsletter', 'customer');
-- ... every argument named ...
SELECT personal_data.define_purpose(name => 'warranty', category => 'customer',
                                    description => 'Warranty claims',
                                    retention => interval '2 years',
                                    disclosed => false);
-- ... and category entrusted is always undisclosed, whatever disclosed says.
SELECT personal_data.define_purpose('client_payroll', 'entrusted',
                                    'Payroll run for a client', interval '7 years', true);
SELECT name, category, description, retention, disclosed
  FROM personal_data.purposes
 WHERE name IN ('newsletter', 'warranty', 'client_payroll')
 ORDER BY name;

-- set_purpose_retention: set, change, and clear (NULL: no limit yet).
SELECT personal_data.set_purpose_retention('newsletter', interval '1 year');
SELECT name, retention FROM personal_data.purposes WHERE name = 'newsletter';
SELECT personal_data.set_purpose_retention('newsletter', interval '18 months');
SELECT name, retention FROM personal_data.purposes WHERE name = 'newsletter';
SELECT personal_data.set_purpose_retention('newsletter', NULL);
SELECT name, retention FROM personal_data.purposes WHERE name = 'newsletter';
SELECT personal_data.set_purpose_retention('newsletter', interval '1 year');

-- drop_purpose: the purpose and its grants go.
SELECT personal_data.grant_purpose('regress_pd_clerk', 'client_payroll');
SELECT role, purpose FROM personal_data.purpose_grants ORDER BY role::text, purpose;
SELECT personal_data.drop_purpose('client_payroll');
SELECT count(*) FROM personal_data.purposes WHERE name = 'client_payroll';
SELECT role, purpose FROM personal_data.purpose_grants ORDER BY role::text, purpose;
SELECT count(*) AS purposes FROM personal_data.purposes;

------------------------------------------------------------------------------
-- Departments
------------------------------------------------------------------------------

SELECT personal_data.assign_manager('Sales', 'regress_pd_clerk', 'sales@example.com');
SELECT personal_data.assign_manager('Support Desk', 'regress_pd_manager', 'support@example.com');
SELECT department, manager, contact FROM personal_data.departments ORDER BY department;
-- assigning again replaces the manager and the contact
SELECT personal_data.assign_manager('Sales', 'regress_pd_manager', 'privacy@example.com');
SELECT department, manager, contact FROM personal_data.departments ORDER BY department;

------------------------------------------------------------------------------
-- Tables and columns
------------------------------------------------------------------------------

CREATE TABLE regress_customers (
	id integer PRIMARY KEY,
	email text,
	phone text,
	birthday date,
	created timestamptz NOT NULL DEFAULT now(),
	remarks text
);
CREATE TABLE regress_orders (
	order_no integer,
	"Customer Id" integer,	-- a column name that needs quoting
	ordered_at timestamp,
	address text,
	amount numeric
);
CREATE TABLE regress_events (
	subject text,
	happened date,
	detail text
) PARTITION BY RANGE (happened);
CREATE TABLE regress_events_2024 PARTITION OF regress_events
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

-- register_table: every argument ...
SELECT personal_data.register_table('regress_customers', 'id',
                                    collected_at_column => 'created',
                                    birthdate_column => 'birthday',
                                    department => 'Sales',
                                    on_expiry => 'anonymize',
                                    retention => interval '5 years 6 months');
-- ... only the subject (a quoted name: labels hold the name as stored) ...
SELECT personal_data.register_table('regress_orders', 'Customer Id');
-- ... and a partitioned table, with a timestamp (without time zone) and a
-- date column for collected_at, on_expiry given as the default.
SELECT personal_data.register_table('regress_events', 'subject', 'happened',
                                    department => 'Support Desk',
                                    on_expiry => 'delete');
SELECT objtype, objname, label FROM pg_seclabels
 WHERE provider = 'personal_data' ORDER BY objname;
SELECT relation, subject_column, collected_at_column, birthdate_column,
       department, retention, on_expiry
  FROM personal_data.registered_tables ORDER BY relation::text;

-- label_column: one purpose, several purposes, on_denied null and error.
SELECT personal_data.label_column('regress_customers', 'email',
                                  ARRAY['customer_contract', 'product_delivery']);
SELECT personal_data.label_column('regress_customers', 'phone',
                                  ARRAY['maintenance_support'], 'null');
SELECT personal_data.label_column('regress_customers', 'birthday',
                                  '{customer_contract}', on_denied => 'error');
SELECT personal_data.label_column('regress_orders', 'address',
                                  ARRAY['product_delivery', 'newsletter']);
SELECT personal_data.label_column('regress_orders', 'Customer Id',
                                  ARRAY['product_delivery']);
SELECT personal_data.label_column('regress_events', 'detail',
                                  ARRAY['inquiry_response']);
-- relabelling replaces the label
SELECT personal_data.label_column('regress_customers', 'remarks', ARRAY['newsletter']);
SELECT personal_data.label_column('regress_customers', 'remarks',
                                  ARRAY['warranty', 'customer_inquiry_response'], 'null');
SELECT objtype, objname, label FROM pg_seclabels
 WHERE provider = 'personal_data' ORDER BY objname;
SELECT relation, column_name, purposes, on_denied
  FROM personal_data.labelled_columns ORDER BY relation::text, column_name;

------------------------------------------------------------------------------
-- Grants and recipients
------------------------------------------------------------------------------

SELECT personal_data.grant_purpose('regress_pd_clerk', 'customer_contract');
SELECT personal_data.grant_purpose('regress_pd_clerk', 'product_delivery');
-- granting again is harmless and says so
SELECT personal_data.grant_purpose('regress_pd_clerk', 'product_delivery');
SELECT personal_data.grant_purpose('regress_pd_partner', 'newsletter');
SELECT personal_data.grant_purpose('regress_pd_courier', 'product_delivery');
SELECT role, purpose FROM personal_data.purpose_grants ORDER BY role::text, purpose;
SELECT personal_data.revoke_purpose('regress_pd_clerk', 'customer_contract');
-- revoking what is not held is harmless and says so
SELECT personal_data.revoke_purpose('regress_pd_clerk', 'customer_contract');
SELECT role, purpose FROM personal_data.purpose_grants ORDER BY role::text, purpose;

-- register_recipient: the country is stored upper case; it is optional.
SELECT personal_data.register_recipient('regress_pd_partner', 'third_party',
                                        'Partner KK', 'jp');
SELECT personal_data.register_recipient('regress_pd_courier', 'entrustee',
                                        'Courier GmbH');
SELECT role, kind, organization, country FROM personal_data.recipients ORDER BY role::text;
-- unregister, then register anew (e.g. to change the kind)
SELECT personal_data.unregister_recipient('regress_pd_courier');
SELECT role, kind, organization, country FROM personal_data.recipients ORDER BY role::text;
SELECT personal_data.register_recipient('regress_pd_courier', 'entrustee',
                                        'Courier GmbH', 'DE');
SELECT role, kind, organization, country FROM personal_data.recipients ORDER BY role::text;

------------------------------------------------------------------------------
-- Inventory and retention
------------------------------------------------------------------------------

-- customers: its own retention; orders: the longest of its columns'
-- purposes, NULL while one of them (product_delivery) has none; events:
-- inquiry_response has none.
SELECT * FROM personal_data.inventory();
SELECT personal_data.set_purpose_retention('product_delivery', interval '3 years');
SELECT relation, personal_data.table_retention(relation)
  FROM personal_data.registered_tables ORDER BY relation::text;
SELECT personal_data.set_purpose_retention('product_delivery', interval '6 months');
SELECT relation, personal_data.table_retention(relation)
  FROM personal_data.registered_tables ORDER BY relation::text;

------------------------------------------------------------------------------
-- Consents, legal bases, holds
------------------------------------------------------------------------------

-- record_consent returns the consent's id: defaults first ...
SELECT personal_data.record_consent('cust-1', 'customer_contract') AS consent_1 \gset
-- ... then every argument
SELECT personal_data.record_consent('cust-1', 'newsletter', 'regress_pd_partner',
                                    by_guardian => true,
                                    valid_until => timestamptz '2999-01-01 00:00:00+00',
                                    evidence => 'form 17, signed by the mother') AS consent_2 \gset
SELECT personal_data.record_consent('cust-2', 'newsletter', 'regress_pd_partner') AS consent_3 \gset
SELECT personal_data.record_consent('cust-2', 'newsletter') AS consent_4 \gset
SELECT :consent_2 > :consent_1 AND :consent_3 > :consent_2 AND :consent_4 > :consent_3
       AS ids_increase;
SELECT id = :consent_1 AS is_consent_1, subject, purpose, recipient, by_guardian,
       withdrawn_at IS NULL AS active, granted_at BETWEEN :'t0' AND now() AS granted_now,
       valid_until, evidence
  FROM personal_data.consents ORDER BY id;

-- withdraw_consent returns how many consents it withdrew: only the
-- recipient's when one is named, all of the purpose's otherwise.
SELECT personal_data.withdraw_consent('cust-2', 'newsletter', 'regress_pd_partner');
SELECT personal_data.withdraw_consent('cust-2', 'newsletter', 'regress_pd_partner');
SELECT subject, purpose, recipient, withdrawn_at IS NOT NULL AS withdrawn
  FROM personal_data.consents ORDER BY id;
SELECT personal_data.withdraw_consent('cust-1', 'newsletter');
SELECT personal_data.withdraw_consent('cust-1', 'customer_contract');
-- nothing left to withdraw, or nothing recorded at all: 0
SELECT personal_data.withdraw_consent('cust-1', 'customer_contract');
SELECT personal_data.withdraw_consent('nobody', 'newsletter');
SELECT subject, purpose, recipient, withdrawn_at IS NOT NULL AS withdrawn
  FROM personal_data.consents ORDER BY id;

-- record_legal_basis: for every subject and purpose, or narrowed down
SELECT personal_data.record_legal_basis('regress_pd_partner', 'law',
                                        'Tax Act art. 1') AS basis_1 \gset
SELECT personal_data.record_legal_basis('regress_pd_courier', 'vital_interest',
                                        'Recall of defective heaters',
                                        subject => 'cust-1',
                                        purpose => 'product_delivery',
                                        valid_until => timestamptz '2999-01-01 00:00:00+00') AS basis_2 \gset
SELECT :basis_2 > :basis_1 AS ids_increase;
SELECT recipient, basis, reference, subject, purpose, valid_until,
       recorded_at BETWEEN :'t0' AND now() AS recorded_now
  FROM personal_data.legal_bases ORDER BY id;

-- place_hold returns the hold's id; release_hold releases it.
SELECT personal_data.place_hold('cust-1', 'litigation 2024/17') AS hold_1 \gset
SELECT personal_data.place_hold('cust-2', 'tax audit',
                                timestamptz '2999-01-01 00:00:00+00') AS hold_2 \gset
SELECT subject, reason, until, placed_at BETWEEN :'t0' AND now() AS placed_now,
       released_at IS NULL AS active
  FROM personal_data.holds ORDER BY id;
SELECT personal_data.release_hold(:hold_1);
SELECT id = :hold_1 AS is_hold_1, subject, released_at IS NULL AS active,
       released_at BETWEEN :'t0' AND now() AS released_now
  FROM personal_data.holds ORDER BY id;

------------------------------------------------------------------------------
-- Taking things out of the policy
------------------------------------------------------------------------------

-- unlabel_column removes one column's label
SELECT personal_data.unlabel_column('regress_customers', 'remarks');
SELECT relation, column_name, purposes, on_denied
  FROM personal_data.labelled_columns ORDER BY relation::text, column_name;

-- unregister_table removes the table's label and its columns' labels
SELECT personal_data.unregister_table('regress_customers');
SELECT objtype, objname, label FROM pg_seclabels
 WHERE provider = 'personal_data' ORDER BY objname;
SELECT relation FROM personal_data.registered_tables ORDER BY relation::text;
-- a table can be registered again afterwards
SELECT personal_data.register_table('regress_customers', 'email');
SELECT relation, subject_column, collected_at_column, on_expiry
  FROM personal_data.registered_tables ORDER BY relation::text;
SELECT * FROM personal_data.inventory();

-- once no label, consent or legal basis uses a purpose, it can be dropped
SELECT personal_data.unregister_table('regress_orders');
SELECT personal_data.drop_purpose('warranty');
SELECT count(*) FROM personal_data.purposes WHERE name = 'warranty';

------------------------------------------------------------------------------
-- Clean up: the next file starts from an empty policy again
------------------------------------------------------------------------------

SELECT personal_data.unregister_table('regress_customers');
SELECT personal_data.unregister_table('regress_events');
SELECT personal_data.unregister_recipient('regress_pd_partner');
SELECT personal_data.unregister_recipient('regress_pd_courier');
-- evidence has no API to delete it: a superuser may
TRUNCATE personal_data.consents, personal_data.legal_bases, personal_data.holds
	RESTART IDENTITY;
DELETE FROM personal_data.departments;
-- grants go with their purposes
SELECT count(*) AS dropped
  FROM (SELECT personal_data.drop_purpose(name)
          FROM personal_data.purposes ORDER BY name) AS d;
DROP TABLE regress_customers, regress_orders, regress_events;
DROP ROLE regress_pd_manager, regress_pd_clerk, regress_pd_partner, regress_pd_courier;
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.departments) AS departments,
       (SELECT count(*) FROM personal_data.recipients) AS recipients,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM personal_data.consents) AS consents,
       (SELECT count(*) FROM personal_data.legal_bases) AS legal_bases,
       (SELECT count(*) FROM personal_data.holds) AS holds,
       (SELECT count(*) FROM pg_seclabels WHERE provider = 'personal_data') AS labels;

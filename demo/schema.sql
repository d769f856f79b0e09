/*
 * demo/schema.sql — an example company under personal_data.
 *
 * Hoshizora Electric Co., Ltd. (Tokyo; fictional) publishes the seed policy
 * personal_data was designed from (see README.md): personal information is
 * used only for the purposes it announces, grouped in six categories
 * (customers, suppliers, shareholders, job applicants, inquiries, and data
 * entrusted by client companies); each department that handles personal
 * information has a personal-information manager; data goes to third parties
 * only with consent, when law requires it, or to protect life or property;
 * entrustees get only what the entrusted purpose needs; minors under 16 need
 * a guardian's consent; data is kept as long as its purpose requires.
 *
 * This file declares that policy with the personal_data API, the way a DBA
 * would.  Run it as a superuser in a database of a server that preloads
 * personal_data (./run-demo does all of that); demo/tour.sql then shows it.
 */
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION personal_data;

------------------------------------------------------------------------------
-- Roles
------------------------------------------------------------------------------

-- Personal-information managers, one per department (seed, measure 5).
CREATE ROLE sales_manager NOLOGIN;
CREATE ROLE procurement_manager NOLOGIN;
CREATE ROLE general_affairs_manager NOLOGIN;
CREATE ROLE hr_manager NOLOGIN;
CREATE ROLE customer_service_manager NOLOGIN;
CREATE ROLE solutions_manager NOLOGIN;

-- Applications: each states why it processes personal data with
-- personal_data.purpose, fixed per role (a pooled application would use
-- SET LOCAL per transaction instead).
CREATE ROLE crm_app LOGIN;				-- sales: contracts, deliveries, support
CREATE ROLE marketing_app LOGIN;		-- newsletters, seminars, exhibitions
CREATE ROLE procurement_app LOGIN;		-- suppliers: contacts, contracts, payment
CREATE ROLE shareholder_registry_app LOGIN;
CREATE ROLE recruiting_app LOGIN;
CREATE ROLE helpdesk_app LOGIN;			-- the customer services desk
CREATE ROLE client_services_app LOGIN;	-- systems run for client companies

-- Outside organizations, each acting through its own role.
CREATE ROLE swift_delivery LOGIN;		-- delivers our products (entrustee)
CREATE ROLE pacific_partners LOGIN;		-- overseas partner (third party)

-- Staff who administer the policy, and staff who audit it (README, Security).
CREATE ROLE policy_admin NOLOGIN;
CREATE ROLE privacy_office NOLOGIN;

------------------------------------------------------------------------------
-- Purposes of use, and how long data collected for each is kept
------------------------------------------------------------------------------

-- The seed's eighteen purposes in its six categories; "entrusted by
-- clients" is undisclosed personal information, the others are disclosed.
SELECT personal_data.install_default_purposes();

-- "Stored for the amount of time required to perform the purpose of use."
SELECT personal_data.set_purpose_retention(purpose, retention)
  FROM (VALUES
		('maintenance_support', interval '10 years'),	-- product lifetime
		('customer_information', '3 years'),
		('customer_contract', '7 years'),		-- commercial records
		('product_delivery', '1 year'),
		('product_introduction', '2 years'),
		('company_information', '2 years'),
		('customer_inquiry_response', '3 years'),
		('supplier_contact', '5 years'),
		('supplier_contract', '7 years'),
		('supplier_payment', '7 years'),		-- tax records
		('shareholder_rights', '10 years'),
		('shareholder_benefits', '3 years'),
		('shareholder_relations', '3 years'),
		('shareholder_administration', '10 years'),
		('recruitment_information', '1 year'),
		('employee_selection', '6 months'),
		('inquiry_response', '1 year')
		-- client_contract: as long as each client's contract says; set per
		-- table below
	   ) AS r(purpose, retention);

------------------------------------------------------------------------------
-- Departments and their personal-information managers
------------------------------------------------------------------------------

SELECT personal_data.assign_manager('sales', 'sales_manager', 'privacy-sales@hoshizora.example');
SELECT personal_data.assign_manager('procurement', 'procurement_manager', 'privacy-procurement@hoshizora.example');
SELECT personal_data.assign_manager('general_affairs', 'general_affairs_manager', 'ir@hoshizora.example');
SELECT personal_data.assign_manager('human_resources', 'hr_manager', 'recruit@hoshizora.example');
SELECT personal_data.assign_manager('customer_service', 'customer_service_manager', 'privacy-desk@hoshizora.example');
SELECT personal_data.assign_manager('solutions', 'solutions_manager', 'solutions@hoshizora.example');

------------------------------------------------------------------------------
-- The company's tables, one per category of the policy
------------------------------------------------------------------------------

CREATE TABLE customers (
	customer_id text PRIMARY KEY,
	full_name text NOT NULL,
	email text,
	phone text,
	postal_address text,
	birthdate date,
	signed_up_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE supplier_contacts (
	contact_id text PRIMARY KEY,
	supplier text NOT NULL,
	contact_name text,
	email text,
	phone text,
	bank_account text,
	registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shareholders (
	shareholder_id text PRIMARY KEY,
	full_name text NOT NULL,
	postal_address text,
	email text,
	shares bigint NOT NULL,
	registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE job_applicants (
	applicant_id text PRIMARY KEY,
	full_name text NOT NULL,
	email text,
	birthdate date,
	resume text,
	applied_at timestamptz NOT NULL DEFAULT now()
);

-- Inquiries through the web form or e-mail: the sender's address identifies them.
CREATE TABLE inquiries (
	inquiry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sender_email text,
	full_name text,
	topic text NOT NULL,
	message text,
	received_at timestamptz NOT NULL DEFAULT now()
);

-- Personal data client companies entrust to us (we run their contact centre).
CREATE TABLE entrusted_records (
	record_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client text NOT NULL,
	person_ref text NOT NULL,	-- the client's own identifier of the person
	full_name text,
	phone text,
	postal_address text,
	received_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO customers VALUES
	('C-1001', 'Aiko Yamada', 'aiko@example.jp', '+81 3 5555 0101', '2-3-1 Shiba, Minato, Tokyo', '1985-04-12', now() - interval '3 years'),
	('C-1002', 'Ben Carter', 'ben.carter@example.com', '+1 206 555 0102', '410 Pine St, Seattle, WA', '1979-11-30', now() - interval '12 years'),
	('C-1003', 'Hina Sato', 'hina.family@example.jp', NULL, '5-8-2 Umeda, Kita, Osaka', (current_date - interval '13 years 2 months')::date, now() - interval '2 months'),
	('C-1004', 'Kenji Mori', 'kenji.mori@example.jp', '+81 6 5555 0104', '1-1 Tenjin, Chuo, Fukuoka', '1990-02-01', now() - interval '1 year'),
	('C-1005', 'Maria Lopez', 'maria.lopez@example.com', '+1 415 555 0105', '77 Market St, San Francisco, CA', '1968-07-19', now() - interval '4 years'),
	('C-1006', 'Taichi Hayashi', NULL, '+81 11 555 0106', '2-1 Kita 5-jo, Chuo, Sapporo', '1958-01-23', now() - interval '13 years');

INSERT INTO supplier_contacts VALUES
	('S-2001', 'Kanto Precision Parts', 'Taro Suzuki', 'suzuki@kanto-parts.example', '+81 48 555 0201', 'MUFG 001-1234567', now() - interval '4 years'),
	('S-2002', 'Lakeside Plastics', 'Emma Novak', 'e.novak@lakeside.example', '+420 2 5555 0202', 'CZ65 0800 0000 1920 0014 5399', now() - interval '9 years');

INSERT INTO shareholders VALUES
	('H-3001', 'Ichiro Tanaka', '3-4-5 Nishiki, Naka, Nagoya', 'ichiro.t@example.jp', 12000, now() - interval '15 years'),
	('H-3002', 'Yuki Kobayashi', '9-1 Nakajima, Hiroshima', NULL, 300, now() - interval '2 years');

INSERT INTO job_applicants VALUES
	('A-4001', 'Sora Ito', 'sora.ito@example.jp', '2001-09-09', 'B.Eng., embedded systems; internship at a robotics start-up', now() - interval '2 months'),
	('A-4002', 'Lena Fischer', 'lena.f@example.de', '1996-03-14', 'M.Sc. computer science; 3 years of network security', now() - interval '14 months');

INSERT INTO inquiries (sender_email, full_name, topic, message, received_at) VALUES
	('q.nguyen@example.com', 'Quang Nguyen', 'warranty', 'Is the HZ-200 heater covered abroad?', now() - interval '3 days'),
	('old.question@example.jp', NULL, 'catalogue', 'Please send me your 2022 catalogue.', now() - interval '2 years');

INSERT INTO entrusted_records (client, person_ref, full_name, phone, postal_address, received_at) VALUES
	('Minato Insurance', 'MI-778812', 'Goro Shimizu', '+81 3 5555 0301', '4-2-8 Shibaura, Minato, Tokyo', now() - interval '6 months'),
	('Minato Insurance', 'MI-551020', 'Naomi Abe', '+81 45 555 0302', '1-1 Minatomirai, Nishi, Yokohama', now() - interval '4 years');

------------------------------------------------------------------------------
-- Putting the tables under the policy
------------------------------------------------------------------------------

-- register_table names the subject column (who the row is about), when the
-- row was collected (retention counts from it), the birthdate (minors), the
-- department; label_column lists the purposes each column was collected for.
-- on_denied => 'null': a session whose purpose does not cover the column will
-- read NULL instead of getting an error.

SELECT personal_data.register_table('customers', 'customer_id',
	collected_at_column => 'signed_up_at', birthdate_column => 'birthdate',
	department => 'sales');
SELECT personal_data.label_column('customers', 'full_name',
	ARRAY['customer_contract', 'product_delivery', 'maintenance_support',
		  'customer_inquiry_response', 'customer_information']);
SELECT personal_data.label_column('customers', 'email',
	ARRAY['customer_information', 'product_introduction', 'company_information',
		  'customer_inquiry_response', 'maintenance_support']);
SELECT personal_data.label_column('customers', 'phone',
	ARRAY['maintenance_support', 'product_delivery', 'customer_inquiry_response'],
	on_denied => 'null');
SELECT personal_data.label_column('customers', 'postal_address',
	ARRAY['customer_contract', 'product_delivery']);
SELECT personal_data.label_column('customers', 'birthdate',
	ARRAY['customer_contract'], on_denied => 'null');

SELECT personal_data.register_table('supplier_contacts', 'contact_id',
	collected_at_column => 'registered_at', department => 'procurement');
SELECT personal_data.label_column('supplier_contacts', 'contact_name',
	ARRAY['supplier_contact', 'supplier_contract', 'supplier_payment']);
SELECT personal_data.label_column('supplier_contacts', 'email',
	ARRAY['supplier_contact', 'supplier_contract']);
SELECT personal_data.label_column('supplier_contacts', 'phone',
	ARRAY['supplier_contact'], on_denied => 'null');
SELECT personal_data.label_column('supplier_contacts', 'bank_account',
	ARRAY['supplier_payment']);

SELECT personal_data.register_table('shareholders', 'shareholder_id',
	collected_at_column => 'registered_at', department => 'general_affairs');
SELECT personal_data.label_column('shareholders', 'full_name',
	ARRAY['shareholder_rights', 'shareholder_administration',
		  'shareholder_benefits', 'shareholder_relations']);
SELECT personal_data.label_column('shareholders', 'postal_address',
	ARRAY['shareholder_rights', 'shareholder_administration', 'shareholder_benefits']);
SELECT personal_data.label_column('shareholders', 'email',
	ARRAY['shareholder_relations'], on_denied => 'null');
SELECT personal_data.label_column('shareholders', 'shares',
	ARRAY['shareholder_rights', 'shareholder_administration']);

SELECT personal_data.register_table('job_applicants', 'applicant_id',
	collected_at_column => 'applied_at', birthdate_column => 'birthdate',
	department => 'human_resources');
SELECT personal_data.label_column('job_applicants', 'full_name',
	ARRAY['recruitment_information', 'employee_selection']);
SELECT personal_data.label_column('job_applicants', 'email',
	ARRAY['recruitment_information', 'employee_selection']);
SELECT personal_data.label_column('job_applicants', 'birthdate',
	ARRAY['employee_selection'], on_denied => 'null');
SELECT personal_data.label_column('job_applicants', 'resume',
	ARRAY['employee_selection']);

-- Expired inquiries are anonymized, not deleted: the topics stay for statistics.
SELECT personal_data.register_table('inquiries', 'sender_email',
	collected_at_column => 'received_at', department => 'customer_service',
	on_expiry => 'anonymize');
SELECT personal_data.label_column('inquiries', 'sender_email', ARRAY['inquiry_response']);
SELECT personal_data.label_column('inquiries', 'full_name', ARRAY['inquiry_response']);
SELECT personal_data.label_column('inquiries', 'message', ARRAY['inquiry_response']);

-- Entrusted data is kept as long as the client contract says (3 years), which
-- the table states itself instead of inheriting it from its purposes.
SELECT personal_data.register_table('entrusted_records', 'person_ref',
	collected_at_column => 'received_at', department => 'solutions',
	retention => interval '3 years');
SELECT personal_data.label_column('entrusted_records', 'full_name', ARRAY['client_contract']);
SELECT personal_data.label_column('entrusted_records', 'phone', ARRAY['client_contract']);
SELECT personal_data.label_column('entrusted_records', 'postal_address', ARRAY['client_contract']);

------------------------------------------------------------------------------
-- Who may process data for which purpose
------------------------------------------------------------------------------

SELECT personal_data.grant_purpose(role::regrole, purpose)
  FROM (VALUES
		('crm_app', 'customer_contract'),
		('crm_app', 'product_delivery'),
		('crm_app', 'maintenance_support'),
		('crm_app', 'customer_information'),
		('crm_app', 'customer_inquiry_response'),
		('marketing_app', 'product_introduction'),
		('marketing_app', 'company_information'),
		('procurement_app', 'supplier_contact'),
		('procurement_app', 'supplier_contract'),
		('procurement_app', 'supplier_payment'),
		('shareholder_registry_app', 'shareholder_rights'),
		('shareholder_registry_app', 'shareholder_benefits'),
		('shareholder_registry_app', 'shareholder_relations'),
		('shareholder_registry_app', 'shareholder_administration'),
		('recruiting_app', 'recruitment_information'),
		('recruiting_app', 'employee_selection'),
		('helpdesk_app', 'inquiry_response'),
		('helpdesk_app', 'customer_inquiry_response'),
		('client_services_app', 'client_contract')
	   ) AS g(role, purpose);

-- Each application's usual purpose, applied when it logs in.
ALTER ROLE crm_app SET personal_data.purpose = 'customer_contract';
ALTER ROLE marketing_app SET personal_data.purpose = 'product_introduction';
ALTER ROLE procurement_app SET personal_data.purpose = 'supplier_payment';
ALTER ROLE shareholder_registry_app SET personal_data.purpose = 'shareholder_administration';
ALTER ROLE recruiting_app SET personal_data.purpose = 'employee_selection';
ALTER ROLE helpdesk_app SET personal_data.purpose = 'inquiry_response';
ALTER ROLE client_services_app SET personal_data.purpose = 'client_contract';
ALTER ROLE swift_delivery SET personal_data.purpose = 'product_delivery';
ALTER ROLE pacific_partners SET personal_data.purpose = 'product_introduction';

------------------------------------------------------------------------------
-- Outside recipients
------------------------------------------------------------------------------

-- Entrustment "to the extent necessary for achieving the purpose of use":
-- the delivery company may process data for deliveries only.
SELECT personal_data.register_recipient('swift_delivery', 'entrustee', 'Swift Delivery K.K.', 'JP');
SELECT personal_data.grant_purpose('swift_delivery', 'product_delivery');

-- A third party abroad, which sells and services our products in the US:
-- it may receive a customer's data only with a basis (consent, law, or the
-- protection of life or property), and provision to it crosses a border.
SELECT personal_data.register_recipient('pacific_partners', 'third_party', 'Pacific Partners Inc.', 'US');
-- The company is in Japan: provisions to Pacific Partners cross a border, and
-- the disclosure log says so.
DO $$ BEGIN
	EXECUTE format('ALTER DATABASE %I SET personal_data.home_country = %L', current_database(), 'JP');
END $$;
SELECT personal_data.grant_purpose('pacific_partners', 'product_introduction');
SELECT personal_data.grant_purpose('pacific_partners', 'maintenance_support');

------------------------------------------------------------------------------
-- Consents, a legal basis, holds
------------------------------------------------------------------------------

-- Aiko subscribed to the newsletter and agreed that Pacific Partners may
-- introduce its products to her.
SELECT personal_data.record_consent('C-1001', 'product_introduction',
	evidence => 'newsletter sign-up');
SELECT personal_data.record_consent('C-1001', 'product_introduction', 'pacific_partners',
	evidence => 'web form, partner box');

-- Ben agreed too, then changed his mind: consents are withdrawn, never deleted.
SELECT personal_data.record_consent('C-1002', 'product_introduction', 'pacific_partners',
	evidence => 'web form, partner box');
SELECT personal_data.withdraw_consent('C-1002', 'product_introduction', 'pacific_partners');

-- Hina is 13: her guardian consented to collecting her data for the
-- contract and its delivery (seed: "customers under 16").
SELECT personal_data.record_consent('C-1003', 'customer_contract', by_guardian => true,
	evidence => 'signed by her mother');
SELECT personal_data.record_consent('C-1003', 'product_delivery', by_guardian => true,
	evidence => 'signed by her mother');

-- Maria lives in the US and agreed, for one year, to be serviced by the partner.
SELECT personal_data.record_consent('C-1005', 'maintenance_support', 'pacific_partners',
	valid_until => now() + interval '1 year', evidence => 'service request 5521');

-- Sora agreed to hear about future openings.
SELECT personal_data.record_consent('A-4001', 'recruitment_information',
	valid_until => now() + interval '1 year', evidence => 'application form');

-- Without consent: the owners of a recalled heater must be reached to protect
-- life and property, including Kenji, whom the partner services.
SELECT personal_data.record_legal_basis('pacific_partners', 'vital_interest',
	'HZ-200 recall (fire)', subject => 'C-1004',
	purpose => 'maintenance_support', valid_until => now() + interval '6 months');

-- Ben disputes an invoice: his records are kept until that is settled.
SELECT personal_data.place_hold('C-1002', 'Dispute over invoice INV-2024-117');
-- A supplier audit placed a hold that is over now.
SELECT personal_data.release_hold(
	personal_data.place_hold('S-2002', 'Supplier audit 2024'));

------------------------------------------------------------------------------
-- Ordinary SQL privileges still apply; personal_data narrows them by purpose
------------------------------------------------------------------------------

GRANT SELECT, INSERT, UPDATE ON customers TO crm_app;
GRANT SELECT ON customers TO marketing_app, helpdesk_app, swift_delivery, pacific_partners;
GRANT SELECT, INSERT, UPDATE ON supplier_contacts TO procurement_app;
GRANT SELECT, INSERT, UPDATE ON shareholders TO shareholder_registry_app;
GRANT SELECT, INSERT, UPDATE ON job_applicants TO recruiting_app;
GRANT SELECT, INSERT, UPDATE ON inquiries TO helpdesk_app;
GRANT SELECT, INSERT, UPDATE ON entrusted_records TO client_services_app;

------------------------------------------------------------------------------
-- Administering and auditing the policy (README.md, "Security")
------------------------------------------------------------------------------

-- A DBA role that maintains the policy: every administrative function.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA personal_data TO policy_admin;
GRANT SELECT ON personal_data.consents, personal_data.legal_bases,
	personal_data.holds TO policy_admin;

-- A compliance role: reads everything, records consents and holds, changes
-- no purposes, labels or grants.
GRANT SELECT ON ALL TABLES IN SCHEMA personal_data TO privacy_office;
GRANT EXECUTE ON FUNCTION
	personal_data.inventory(),
	personal_data.record_consent(text, text, regrole, boolean, timestamptz, text),
	personal_data.withdraw_consent(text, text, regrole),
	personal_data.record_legal_basis(regrole, text, text, text, text, timestamptz),
	personal_data.place_hold(text, text, timestamptz),
	personal_data.release_hold(bigint),
	personal_data.open_request(text, text, text),
	personal_data.close_request(bigint, text, text),
	personal_data.overdue_requests(),
	personal_data.subject_data(text, bigint),
	personal_data.erase_subject(text, bigint, text),
	personal_data.compliance_report(),
	personal_data.discover(name)
TO privacy_office;

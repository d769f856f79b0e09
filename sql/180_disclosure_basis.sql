--
-- 180_disclosure_basis: the basis the disclosure log names for each subject
-- provided to a third party (the audit writer's lookup): a consent before a
-- legal basis; among consents, a guardian's, then the latest; among legal
-- bases, one for the subject, then the latest for everyone.  Withdrawn and
-- expired ones never count.
--
CREATE ROLE regress_db_partner;
SELECT personal_data.define_purpose('db_contract', 'customer');
SELECT personal_data.grant_purpose('regress_db_partner', 'db_contract');
SELECT personal_data.register_recipient('regress_db_partner', 'third_party', 'DB Partner', 'JP');
CREATE TABLE regress_db_people (id int PRIMARY KEY, subject text, name text);
INSERT INTO regress_db_people SELECT i, 'b' || i, 'name ' || i FROM generate_series(1, 7) i;
GRANT SELECT ON regress_db_people TO regress_db_partner;
SELECT personal_data.register_table('regress_db_people', 'subject');
SELECT personal_data.label_column('regress_db_people', 'name', ARRAY['db_contract']);

-- b1: two consents, the older by a guardian: the guardian's
SELECT personal_data.record_consent('b1', 'db_contract', 'regress_db_partner', by_guardian => true) AS b1_guardian \gset
SELECT personal_data.record_consent('b1', 'db_contract', 'regress_db_partner') > 0 AS recorded;
-- b2: two consents: the latest
SELECT personal_data.record_consent('b2', 'db_contract', 'regress_db_partner') > 0 AS recorded;
SELECT personal_data.record_consent('b2', 'db_contract', 'regress_db_partner') AS b2_latest \gset
-- b3: a consent and a legal basis for it: the consent
SELECT personal_data.record_consent('b3', 'db_contract', 'regress_db_partner') AS b3_consent \gset
SELECT personal_data.record_legal_basis('regress_db_partner', 'law', 'order 3', subject => 'b3') > 0 AS recorded;
-- b4: a withdrawn consent, a legal basis for it and one for everyone: its own
SELECT personal_data.record_consent('b4', 'db_contract', 'regress_db_partner') > 0 AS recorded;
SELECT personal_data.withdraw_consent('b4', 'db_contract', 'regress_db_partner');
SELECT personal_data.record_legal_basis('regress_db_partner', 'vital_interest', 'rescue 4', subject => 'b4') AS b4_own \gset
-- b5: an expired legal basis of its own: the latest of those for everyone
SELECT personal_data.record_legal_basis('regress_db_partner', 'law', 'statute 1') > 0 AS recorded;
SELECT personal_data.record_legal_basis('regress_db_partner', 'law', 'statute 2') AS blanket_latest \gset
SELECT personal_data.record_legal_basis('regress_db_partner', 'law', 'order 5', subject => 'b5',
	valid_until => clock_timestamp() + interval '50 milliseconds') > 0 AS recorded;
SELECT pg_sleep(0.1);
-- b6: a legal basis for another purpose only, and the ones for everyone
SELECT personal_data.define_purpose('db_other', 'customer');
SELECT personal_data.record_legal_basis('regress_db_partner', 'law', 'order 6', subject => 'b6', purpose => 'db_other') > 0 AS recorded;

SELECT max(id) AS start_id FROM personal_data.disclosure_log \gset
SET ROLE regress_db_partner;
SET personal_data.purpose = 'db_contract';
SELECT id, name FROM regress_db_people WHERE id <= 6 ORDER BY id;
RESET personal_data.purpose;
RESET ROLE;
SELECT personal_data.audit_flush();
SELECT subject, basis,
	   CASE basis_id WHEN :b1_guardian THEN 'b1 guardian' WHEN :b2_latest THEN 'b2 latest'
					 WHEN :b3_consent THEN 'b3 consent' WHEN :b4_own THEN 'b4 own'
					 WHEN :blanket_latest THEN 'latest for everyone' ELSE basis_id::text END AS which
  FROM personal_data.disclosure_log WHERE id > coalesce(:'start_id'::bigint, 0) ORDER BY subject;

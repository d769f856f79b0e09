-- 110_audit_quarantine: an audit entry the writer cannot write, however
-- often it tries, is set aside in audit_quarantine (with the error) and the
-- entries after it are written: one bad entry no longer stops a database's
-- audit.  The poison here: an index expression that fails for one subject.
SELECT coalesce(max(id), 0) AS start_id FROM personal_data.disclosure_log \gset
CREATE TABLE qu_people (id int PRIMARY KEY, subject text NOT NULL, name text);
INSERT INTO qu_people VALUES (1, 'Q-1', 'Ann'), (2, 'Q-poison', 'Bo'), (3, 'Q-3', 'Cy');
SELECT personal_data.define_purpose('qu_contract', 'customer');
SELECT personal_data.register_table('qu_people', 'subject');
SELECT personal_data.label_column('qu_people', 'name', ARRAY['qu_contract']);
CREATE ROLE regress_qu_courier;
GRANT SELECT ON qu_people TO regress_qu_courier;
SELECT personal_data.grant_purpose('regress_qu_courier', 'qu_contract');
SELECT personal_data.register_recipient('regress_qu_courier', 'entrustee', 'QU Courier', 'JP');
CREATE INDEX qu_poison ON personal_data.disclosure_log ((1 / (subject <> 'Q-poison')::int));
SET ROLE regress_qu_courier;
SET personal_data.purpose = 'qu_contract';
SELECT id, name FROM qu_people WHERE id = 2;	-- the poisoned entry
SELECT id, name FROM qu_people WHERE id IN (1, 3) ORDER BY id;	-- after it
RESET personal_data.purpose;
RESET ROLE;
SELECT personal_data.audit_flush();	-- returns once the poisoned entry is set aside
SELECT error, length(entry) > 0 AS has_bytes FROM personal_data.audit_quarantine;
SELECT subject, basis FROM personal_data.disclosure_log WHERE id > :start_id ORDER BY id;
SELECT ok FROM personal_data.verify_audit_log();
DELETE FROM personal_data.audit_quarantine;
DROP INDEX personal_data.qu_poison;
SELECT personal_data.unregister_table('qu_people');
DROP TABLE qu_people;
SELECT personal_data.unregister_recipient('regress_qu_courier');
SELECT personal_data.revoke_purpose('regress_qu_courier', 'qu_contract');
SELECT personal_data.drop_purpose('qu_contract');
DROP ROLE regress_qu_courier;

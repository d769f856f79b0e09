-- 090_redteam_fixes: bypasses a red-team of the audit found, closed.
--  R1: a registered table put under an unregistered parent (ALTER TABLE ...
--      INHERIT) was read and written through the parent with no access-log
--      entry and no row filter for third parties.
--  R2: a subject longer than a btree entry allows stopped the audit writer
--      (every insertion into disclosure_log failed).
--  R3: a third party that SET ROLE to a group role holding privileges on
--      the table saw every row, and no provision was recorded.
CREATE TABLE rt_notes (note_id text PRIMARY KEY, customer_id text NOT NULL, body text);
INSERT INTO rt_notes VALUES ('N1', 'C-1', 'consented'), ('N2', 'C-2', 'no consent');
SELECT personal_data.define_purpose('rt_contract', 'customer');
SELECT personal_data.register_table('rt_notes', 'customer_id');
SELECT personal_data.label_column('rt_notes', 'body', ARRAY['rt_contract']);
CREATE ROLE regress_rt_owner;
CREATE ROLE regress_rt_partner;
CREATE ROLE regress_rt_readers;
ALTER TABLE rt_notes OWNER TO regress_rt_owner;
GRANT SELECT ON rt_notes TO regress_rt_partner, regress_rt_readers;
GRANT regress_rt_readers TO regress_rt_partner;
SELECT personal_data.grant_purpose('regress_rt_owner', 'rt_contract');
SELECT personal_data.grant_purpose('regress_rt_partner', 'rt_contract');
SELECT personal_data.grant_purpose('regress_rt_readers', 'rt_contract');
SELECT personal_data.register_recipient('regress_rt_partner', 'third_party', 'RT Partner', 'US');
SELECT personal_data.record_consent('C-1', 'rt_contract', 'regress_rt_partner') > 0 AS recorded;

-- R1: INHERIT is refused for the owner, and for a superuser
CREATE TABLE rt_parent (note_id text, customer_id text, body text);
ALTER TABLE rt_parent OWNER TO regress_rt_owner;
SET ROLE regress_rt_owner;
ALTER TABLE rt_notes INHERIT rt_parent;
RESET ROLE;
ALTER TABLE rt_notes INHERIT rt_parent;
-- nor can a child of an unregistered parent be registered
CREATE TABLE rt_child (note_id text, customer_id text, body text) INHERITS (rt_parent);
SELECT personal_data.register_table('rt_child', 'customer_id');
SELECT count(*) AS inheritors FROM pg_inherits WHERE inhparent = 'rt_parent'::regclass;
DROP TABLE rt_child, rt_parent;

-- R3: SET ROLE to a group role: still the third party, provisions recorded
SELECT coalesce(max(id), 0) AS start_id FROM personal_data.disclosure_log \gset
SET SESSION AUTHORIZATION regress_rt_partner;	-- as if it had logged in
SET personal_data.purpose = 'rt_contract';
SELECT note_id, body FROM rt_notes ORDER BY 1;
SET ROLE regress_rt_readers;
SELECT note_id, body FROM rt_notes ORDER BY 1;
SELECT role_name, recipient_kind, organization FROM personal_data.session_policy();
RESET SESSION AUTHORIZATION;
RESET personal_data.purpose;
SELECT personal_data.audit_flush();
SELECT recipient, subject, basis FROM personal_data.disclosure_log WHERE id > :start_id ORDER BY id;

-- R2: a 3.2 kB subject provided to an entrustee is logged, and the writer goes on
CREATE ROLE regress_rt_courier;
GRANT SELECT ON rt_notes TO regress_rt_courier;
SELECT personal_data.grant_purpose('regress_rt_courier', 'rt_contract');
SELECT personal_data.register_recipient('regress_rt_courier', 'entrustee', 'RT Courier', 'JP');
INSERT INTO rt_notes SELECT 'N-long', string_agg(md5(g::text), ''), 'long' FROM generate_series(1, 100) g;
SET ROLE regress_rt_courier;
SET personal_data.purpose = 'rt_contract';
SELECT note_id, length(customer_id) FROM rt_notes WHERE note_id = 'N-long';
RESET ROLE;
SET ROLE regress_rt_owner;
SET personal_data.purpose = 'rt_contract';
SELECT count(*) FROM rt_notes;	-- an access after it, committed too
RESET ROLE;
RESET personal_data.purpose;
SELECT personal_data.audit_flush();
SELECT recipient, length(subject), basis FROM personal_data.disclosure_log WHERE id > :start_id AND length(subject) > 100;
SELECT current_user_name, command, rows FROM personal_data.access_log WHERE id > :start_id AND relation = 'public.rt_notes' ORDER BY id DESC LIMIT 1;
SELECT pending_entries FROM personal_data.audit_queue_status() WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT ok FROM personal_data.verify_audit_log();

SELECT personal_data.unregister_table('rt_notes');
DROP TABLE rt_notes;
DELETE FROM personal_data.consents WHERE purpose = 'rt_contract';
SELECT personal_data.unregister_recipient('regress_rt_partner');
SELECT personal_data.unregister_recipient('regress_rt_courier');
SELECT personal_data.revoke_purpose('regress_rt_courier', 'rt_contract');
SELECT personal_data.revoke_purpose('regress_rt_owner', 'rt_contract');
SELECT personal_data.revoke_purpose('regress_rt_partner', 'rt_contract');
SELECT personal_data.revoke_purpose('regress_rt_readers', 'rt_contract');
SELECT personal_data.drop_purpose('rt_contract');
DROP ROLE regress_rt_owner, regress_rt_partner, regress_rt_readers, regress_rt_courier;

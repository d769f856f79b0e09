-- 100_request_trace: corrections made on a data subject's request are
-- traceable to it: personal_data.request_id, set for the session, is in the
-- access log before the changes it covers (and its reset after them).
SELECT coalesce(max(last_id), 0) AS start_id FROM personal_data.access_log_batches \gset
CREATE TABLE rq_people (id text PRIMARY KEY, address text);
INSERT INTO rq_people VALUES ('P1', 'old street 1');
SELECT personal_data.define_purpose('rq_contract', 'customer');
SELECT personal_data.register_table('rq_people', 'id');
SELECT personal_data.label_column('rq_people', 'address', ARRAY['rq_contract']);
SELECT personal_data.open_request('P1', 'correction', 'moved to new street 2') AS rid \gset
SET personal_data.request_id = 'not a number';
SET personal_data.request_id = :rid;
UPDATE rq_people SET address = 'new street 2' WHERE id = 'P1';
RESET personal_data.request_id;
SELECT personal_data.audit_flush();
SELECT command, relation, replace(reason, :'rid', '<rid>') AS reason
  FROM personal_data.access_log
 WHERE id > :start_id AND (command = 'SET' OR relation = 'public.rq_people') AND reason IS DISTINCT FROM 'personal_data.enforce = on'
 ORDER BY id;
SELECT personal_data.close_request(:rid, 'completed', 'address corrected');
SELECT personal_data.unregister_table('rq_people');
DROP TABLE rq_people;
DELETE FROM personal_data.request_events;
DELETE FROM personal_data.requests;
SELECT personal_data.drop_purpose('rq_contract');

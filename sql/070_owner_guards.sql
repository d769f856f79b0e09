-- Table owners are under the policy: DDL that would run their code over the
-- rows of a registered table is for superusers, integrity errors do not echo
-- row values, registering a table warns about code that already runs over it,
-- and provisions to third parties can be recorded.
\set SHOW_CONTEXT never
CREATE ROLE regress_og_app;
CREATE ROLE regress_og_partner;
GRANT CREATE ON SCHEMA public TO regress_og_app;
SELECT personal_data.define_purpose('og_billing', 'customer');
SELECT personal_data.define_purpose('og_marketing', 'customer');
CREATE TABLE og_people (id int PRIMARY KEY, subject text NOT NULL, name text,
                        email text, score int CHECK (score < 100));
INSERT INTO og_people VALUES (1, 's1', 'Ann', 'ann@example.com', 1),
                             (2, 's2', 'Bob', 'bob@example.com', 2);
-- code that exists before registration is reported
CREATE FUNCTION og_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER og_before BEFORE UPDATE ON og_people FOR EACH ROW EXECUTE FUNCTION og_noop();
CREATE INDEX og_lower_email ON og_people (lower(email));
SELECT personal_data.register_table('og_people', 'subject');
DROP TRIGGER og_before ON og_people;
DROP INDEX og_lower_email;
SELECT personal_data.label_column('og_people', 'name', ARRAY['og_billing']);
SELECT personal_data.label_column('og_people', 'email', ARRAY['og_marketing']);
SELECT personal_data.grant_purpose('regress_og_app', 'og_billing');
ALTER TABLE og_people OWNER TO regress_og_app;

SET ROLE regress_og_app;
SET personal_data.purpose = og_billing;
-- an integrity error names no value of the row (email is not the purpose's)
UPDATE og_people SET score = 500 WHERE id = 1;
INSERT INTO og_people (id, subject, name) VALUES (1, 's9', 'Dup');
-- the owner's DDL that would run code over the rows
CREATE FUNCTION og_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER og_t AFTER UPDATE ON og_people FOR EACH ROW EXECUTE FUNCTION og_copy();
CREATE RULE og_r AS ON UPDATE TO og_people DO ALSO NOTIFY og;
CREATE POLICY og_p ON og_people USING (true);
CREATE INDEX ON og_people (lower(email));
CREATE INDEX ON og_people (id) WHERE email IS NOT NULL;
CREATE STATISTICS og_s ON id, email FROM og_people;
ALTER TABLE og_people ADD COLUMN email_copy text GENERATED ALWAYS AS (email) STORED;
ALTER TABLE og_people ADD CONSTRAINT og_c CHECK (email <> '');
ALTER TABLE og_people ALTER COLUMN email TYPE varchar(200);
CREATE TABLE og_emails (e text PRIMARY KEY);
ALTER TABLE og_people ADD FOREIGN KEY (email) REFERENCES og_emails (e);
CREATE UNIQUE INDEX og_email_key ON og_people (email);
CREATE TABLE og_probe (e text REFERENCES og_people (email));
CREATE TABLE og_root (LIKE og_people) PARTITION BY RANGE (id);
ALTER TABLE og_root ATTACH PARTITION og_people FOR VALUES FROM (0) TO (1000);
CREATE DOMAIN og_text AS text;
ALTER TABLE og_people ADD COLUMN nickname og_text;
ALTER DOMAIN og_text ADD CONSTRAINT og_text_check CHECK (VALUE <> '');
CREATE PUBLICATION og_pub FOR TABLE og_people;
-- what stays allowed: plain indexes, columns, DDL on other tables
CREATE INDEX og_score ON og_people (score);
ALTER TABLE og_people ADD COLUMN note text;
CREATE TABLE og_other (id int, v text);
CREATE INDEX ON og_other (lower(v));
RESET ROLE;
SELECT objname, label FROM pg_seclabels WHERE objname LIKE 'og_%' ORDER BY 1;

-- provisions to a third party, recorded when personal_data.record_provisions is on
SELECT personal_data.register_recipient('regress_og_partner', 'third_party', 'OG Partner', 'DE');
SELECT personal_data.grant_purpose('regress_og_partner', 'og_billing');
SELECT personal_data.record_consent('s2', 'og_billing', 'regress_og_partner') > 0 AS recorded;
GRANT SELECT ON og_people TO regress_og_partner;
SET personal_data.record_provisions = on;
SET ROLE regress_og_partner;
SET personal_data.purpose = og_billing;
SELECT id, name FROM og_people ORDER BY id;
SELECT relation, subject, recipient, purpose FROM personal_data.last_provisions();
RESET ROLE;
SET personal_data.record_provisions = off;
SET ROLE regress_og_partner;
SELECT count(*) FROM og_people;
SELECT relation, subject FROM personal_data.last_provisions();
RESET ROLE;

-- clean up
DROP PUBLICATION IF EXISTS og_pub;
DROP TABLE og_people, og_emails, og_root, og_other;
DROP DOMAIN og_text;
DROP FUNCTION og_noop(), og_copy();
DELETE FROM personal_data.consents WHERE purpose = 'og_billing';
SELECT personal_data.unregister_recipient('regress_og_partner');
SELECT personal_data.drop_purpose('og_billing');
SELECT personal_data.drop_purpose('og_marketing');
REVOKE CREATE ON SCHEMA public FROM regress_og_app;
DROP ROLE regress_og_app, regress_og_partner;

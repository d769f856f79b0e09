# Attempts to get around query-time enforcement (DESIGN.md §3) that pgTAP
# cannot make in one transaction: COPY ... TO STDOUT / FROM STDIN through
# psql, top-level statements (not SPI), settings given at login, a cursor
# held across transactions, and policy changes made by another session
# while a prepared statement waits.  Each asserts the secure outcome.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('enforcement_bypass');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
SELECT personal_data.install_default_purposes();
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_tp LOGIN;
CREATE ROLE regress_partner NOLOGIN;
GRANT CREATE ON SCHEMA public TO regress_app;
CREATE TABLE people (id int PRIMARY KEY, subject text NOT NULL, name text,
					 email text, phone text, birthdate date);
INSERT INTO people VALUES (1, 'alice', 'Alice', 'alice@x', 'tel-1', '1980-01-01'),
						  (2, 'bob', 'Bob', 'bob@x', 'tel-2', '1981-01-01'),
						  (3, 'carol', 'Carol', 'carol@x', 'tel-3', '1982-01-01');
CREATE TABLE contacts (id int PRIMARY KEY, subject text NOT NULL, email text);
ALTER TABLE people OWNER TO regress_app;
ALTER TABLE contacts OWNER TO regress_app;
SELECT personal_data.register_table('people', 'subject', birthdate_column => 'birthdate');
SELECT personal_data.label_column('people', 'name', '{customer_contract}');
SELECT personal_data.label_column('people', 'email', '{customer_information}');
SELECT personal_data.label_column('people', 'phone', '{customer_information}', 'null');
SELECT personal_data.register_table('contacts', 'subject');
SELECT personal_data.label_column('contacts', 'email', '{customer_information}');
SELECT personal_data.grant_purpose('regress_app', 'customer_contract');
SELECT personal_data.register_recipient('regress_tp', 'third_party', 'Partner');
SELECT personal_data.grant_purpose('regress_tp', 'customer_contract');
SELECT personal_data.register_recipient('regress_partner', 'third_party', 'Partner group');
SELECT personal_data.grant_purpose('regress_partner', 'customer_contract');
SELECT personal_data.record_consent('alice', 'customer_contract', 'regress_tp');
SELECT personal_data.record_consent('alice', 'customer_contract', 'regress_partner');
GRANT SELECT, INSERT, UPDATE, DELETE ON people, contacts TO regress_tp;
});

my $purpose = "SET personal_data.purpose = 'customer_contract';\n";

# psql as a role: (stdout, stderr)
sub as_role
{
	my ($role, $sql, %opts) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql,
		stdout => \$out, stderr => \$err,
		extra_params => [ '-U', $role ], %opts);
	return ($out, $err);
}

my ($out, $err);

# --- COPY TO STDOUT --------------------------------------------------------
($out, $err) = as_role('regress_app', $purpose . 'COPY people TO STDOUT;');
like($err, qr/does not allow reading column "email" of table "people"/,
	'COPY people TO STDOUT: refused (email)');
unlike($out, qr/\@x/, '... and no email in the output');

($out, $err) = as_role('regress_app', $purpose . 'COPY people (id, name, phone) TO STDOUT;');
is($out, "1\tAlice\t\\N\n2\tBob\t\\N\n3\tCarol\t\\N", 'COPY of a column list: phone (on_denied=null) copied as NULL');
is($err, '', '... without error');

($out, $err) = as_role('regress_app', $purpose . 'COPY people (email) TO STDOUT;');
like($err, qr/does not allow reading column "email"/, 'COPY people (email) TO STDOUT: refused');

($out, $err) = as_role('regress_app', $purpose . 'COPY (SELECT id, email FROM people) TO STDOUT;');
like($err, qr/does not allow reading column "email"/, 'COPY (SELECT ... email) TO STDOUT: refused');

($out, $err) = as_role('regress_app', $purpose . 'COPY (SELECT p FROM people p) TO STDOUT;');
like($err, qr/does not allow reading column "email"/, 'COPY (SELECT whole row) TO STDOUT: refused');

($out, $err) = as_role('regress_app', $purpose . 'COPY people (id) TO STDOUT WITH (FORMAT binary);');
is($err, '', 'binary COPY of an allowed column works');

($out, $err) = as_role('regress_tp', $purpose . 'COPY people (id, subject) TO STDOUT;');
is($out, "1\talice", 'COPY TO STDOUT by a third party: consented rows only');

($out, $err) = as_role('regress_app', $purpose . '\copy people (id, email) TO STDOUT');
like($err, qr/does not allow reading column "email"/, 'psql \copy ... TO: refused');

# --- COPY FROM STDIN -------------------------------------------------------
($out, $err) = as_role('regress_app', $purpose . "COPY people (id, subject, birthdate) FROM STDIN;\n9\tbaby\t2025-01-01\n\\.\n");
like($err, qr/COPY FROM is not supported for table "people"/,
	'COPY FROM STDIN into a table with a birthdate column: refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM people WHERE id = 9'), '0', '... nothing was copied');

($out, $err) = as_role('regress_app', $purpose . "COPY contacts (id, subject, email) FROM STDIN;\n9\tzed\tzed\@x\n\\.\n");
like($err, qr/does not allow writing column "email" of table "contacts"/,
	'COPY FROM writing a column the purpose does not cover: refused');

# --- top-level statements (not through SPI as in pgTAP) --------------------
($out, $err) = as_role('regress_app', $purpose . 'SELECT email FROM people;');
like($err, qr/ERROR:  purpose "customer_contract" does not allow reading column "email"/, 'top-level SELECT email: refused');
($out, $err) = as_role('regress_app', $purpose . 'SELECT id, phone FROM people ORDER BY id;');
is($out, "1|\n2|\n3|", 'top-level SELECT: phone masked');
($out, $err) = as_role('regress_app', $purpose . "SELECT count(*) FROM people WHERE email LIKE 'a%';");
like($err, qr/does not allow reading column "email"/, 'top-level WHERE on email: refused');
($out, $err) = as_role('regress_app', $purpose . "SELECT email::int FROM people;");
unlike($err, qr/\@x/, 'a failing cast of email does not echo the value');

# EXPLAIN ANALYZE output holds no value
($out, $err) = as_role('regress_app',
	$purpose . 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, name, phone FROM people;');
like($out, qr/Output:/, 'EXPLAIN ANALYZE VERBOSE runs');
unlike($out, qr/tel-|\@x/, '... and shows no masked value');

# --- enforcement cannot be switched off at login ---------------------------
{
	local $ENV{PGOPTIONS} = '-c personal_data.enforce=off';
	($out, $err) = as_role('regress_app', $purpose . 'SELECT email FROM people;');
	like($err, qr/permission denied to set parameter "personal_data.enforce"|does not allow reading column "email"/,
		'PGOPTIONS=-c personal_data.enforce=off: refused');
	unlike($out, qr/\@x/, '... and nothing read');
}
{
	local $ENV{PGOPTIONS} = '-c personal_data.minor_age=0';
	($out, $err) = as_role('regress_app', $purpose . "INSERT INTO people (id, subject, birthdate) VALUES (9, 'baby', current_date - 10);");
	like($err, qr/permission denied to set parameter "personal_data.minor_age"|guardian/,
		'PGOPTIONS=-c personal_data.minor_age=0 does not lift the guardian check');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM people WHERE id = 9'), '0', '... nothing was inserted');
}

# --- a cursor WITH HOLD, across transactions and purposes ------------------
($out, $err) = as_role('regress_app', $purpose
	  . "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT id, phone FROM people ORDER BY id; COMMIT;\n"
	  . "SET personal_data.purpose = 'customer_information';\nFETCH ALL FROM c;");
is($out, "1|\n2|\n3|", 'a held cursor keeps the masking it was opened with');
($out, $err) = as_role('regress_app',
	"BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT id, email FROM people; COMMIT;");
like($err, qr/no purpose is set for reading column "email"/, 'a held cursor on email is refused at DECLARE');

# --- another session changes the policy under a prepared statement ---------
# Runs SQL in a background session; returns (stdout, stderr).  A harmless
# query after it collects any error output that arrives late.
sub in_session
{
	my ($session, $sql) = @_;
	$session->{stderr} = '';
	my $out = $session->query($sql);
	$session->query('SELECT 1;');
	my $err = $session->{stderr};
	$session->{stderr} = '';
	return ($out, $err);
}

my $sa = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'regress_app' ]);
in_session($sa, $purpose . 'PREPARE names AS SELECT string_agg(name, \',\' ORDER BY id) FROM people;');
($out, $err) = in_session($sa, 'EXECUTE names;');
is($out, 'Alice,Bob,Carol', 'prepared statement under a granted purpose');

# revoking the purpose takes effect on the next execution
$node->safe_psql('postgres', q{SELECT personal_data.revoke_purpose('regress_app', 'customer_contract')});
($out, $err) = in_session($sa, 'EXECUTE names;');
like($err, qr/does not allow reading column "name"/, 'after revoke_purpose() in another session: refused');
unlike($out, qr/Alice/, '... and nothing read');
$node->safe_psql('postgres', q{SELECT personal_data.grant_purpose('regress_app', 'customer_contract')});
($out, $err) = in_session($sa, 'EXECUTE names;');
is($out, 'Alice,Bob,Carol', 'after grant_purpose() again: allowed');

# becoming a member of a third party: the prepared statement must be filtered
in_session($sa, 'PREPARE subjects AS SELECT string_agg(subject, \',\' ORDER BY id) FROM people;');
($out, $err) = in_session($sa, 'EXECUTE subjects;');
is($out, 'alice,bob,carol', 'internal role: every row');
$node->safe_psql('postgres', 'GRANT regress_partner TO regress_app');
($out, $err) = in_session($sa, 'EXECUTE subjects;');
is($out, 'alice',
	'after GRANT of a third-party role in another session: the prepared statement is filtered');
$node->safe_psql('postgres', 'REVOKE regress_partner FROM regress_app');

# a consent withdrawn in another session hides the row from a waiting third party
my $st = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'regress_tp' ]);
in_session($st, $purpose . 'PREPARE tp_subjects AS SELECT coalesce(string_agg(subject, \',\'), \'-\') FROM people;');
($out, $err) = in_session($st, 'EXECUTE tp_subjects;');
is($out, 'alice', 'third party: the consented row');
$node->safe_psql('postgres', q{SELECT personal_data.withdraw_consent('alice', 'customer_contract', 'regress_tp')});
($out, $err) = in_session($st, 'EXECUTE tp_subjects;');
is($out, '-', 'after the consent is withdrawn in another session: nothing');

$sa->quit;
$st->quit;
$node->stop;
done_testing();

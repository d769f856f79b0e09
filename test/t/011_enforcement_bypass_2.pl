# Second round of attempts to get around query-time enforcement (DESIGN.md
# §3) that need top-level statements or another client than psql: integrity
# errors whose DETAIL ("Failing row contains (...)") prints the whole row,
# reported through the extended query protocol (what drivers such as JDBC
# use), by plans made in an earlier statement, or with a SQLSTATE outside
# class 23; COPY FROM STDIN into a registered partitioned table; and the
# server log.  Each asserts the secure outcome.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('enforcement_bypass_2');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
SELECT personal_data.install_default_purposes();
CREATE ROLE regress_app LOGIN;
GRANT CREATE ON SCHEMA public TO regress_app;
CREATE TABLE people (id int PRIMARY KEY, subject text NOT NULL, name text,
					 email text, birthdate date, score int);
INSERT INTO people VALUES (1, 'alice', 'Alice', 'alice@x', '1980-01-01', 10),
						  (2, 'bob', 'Bob', 'bob@x', '1981-01-01', 20),
						  (3, 'carol', 'Carol', 'carol@x', '1982-01-01', 30);
CREATE TABLE kids (id int, subject text NOT NULL, birthdate date) PARTITION BY RANGE (id);
CREATE TABLE kids_p1 PARTITION OF kids FOR VALUES FROM (0) TO (100);
ALTER TABLE people OWNER TO regress_app;
ALTER TABLE kids OWNER TO regress_app;
ALTER TABLE kids_p1 OWNER TO regress_app;
SELECT personal_data.register_table('people', 'subject', birthdate_column => 'birthdate');
SELECT personal_data.label_column('people', 'name', '{customer_contract}');
SELECT personal_data.label_column('people', 'email', '{customer_information}');
SELECT personal_data.register_table('kids', 'subject', birthdate_column => 'birthdate');
SELECT personal_data.grant_purpose('regress_app', 'customer_contract');
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

# --- the extended query protocol (pgbench -M extended) ----------------------
my $script = PostgreSQL::Test::Utils::tempdir() . '/update.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"UPDATE people SET subject = NULL WHERE id = 1;\n");
($out, $err) = ('', '');
IPC::Run::run(
	[
		'pgbench', '-n', '-t', '1', '-M', 'extended', '-f', $script,
		'-h', $node->host, '-p', $node->port, '-U', 'regress_app', 'postgres'
	],
	'>', \$out, '2>', \$err);
like($err, qr/violates not-null constraint/,
	'extended protocol: the NOT NULL violation is reported');
unlike($err, qr/alice\@x/,
	'extended protocol: the DETAIL does not show the row\'s email');

# the same statement, simple protocol (what the redaction was tested with)
($out, $err) = ('', '');
IPC::Run::run(
	[
		'pgbench', '-n', '-t', '1', '-M', 'simple', '-f', $script,
		'-h', $node->host, '-p', $node->port, '-U', 'regress_app', 'postgres'
	],
	'>', \$out, '2>', \$err);
unlike($err, qr/alice\@x/, 'control: simple protocol, the DETAIL is withheld');

# --- plans made by an earlier statement -----------------------------------
($out, $err) = as_role('regress_app',
	    "PREPARE s AS UPDATE people SET subject = NULL WHERE id = 2;\n"
	  . "EXECUTE s;\nEXECUTE s;\n", on_error_stop => 0);
is(() = $err =~ /violates not-null constraint/g, 2,
	'a prepared statement executed twice fails twice');
unlike($err, qr/bob\@x/,
	'... and neither DETAIL shows the email (the second runs the cached plan)');

($out, $err) = as_role('regress_app',
	    "CREATE FUNCTION clear_subject() RETURNS void LANGUAGE plpgsql AS\n"
	  . "\$\$BEGIN UPDATE public.people SET subject = NULL WHERE id = 3; END\$\$;\n"
	  . "SELECT clear_subject();\nSELECT clear_subject();\n", on_error_stop => 0);
is(() = $err =~ /violates not-null constraint/g, 2,
	'a PL/pgSQL function called twice fails twice');
unlike($err, qr/carol\@x/,
	'... and neither DETAIL shows the email (the second runs the function\'s cached plan)');

# --- a check option violation (SQLSTATE 44000, not class 23) ---------------
($out, $err) = as_role('regress_app', $purpose
	  . "CREATE VIEW low_scores AS SELECT id, subject, score FROM people WHERE score < 100 WITH CHECK OPTION;\n"
	  . "UPDATE low_scores SET score = 1000 WHERE id = 1;\n");
like($err, qr/new row violates check option for view "low_scores"/,
	'the owner\'s view WITH CHECK OPTION refuses the row');
unlike($err, qr/alice\@x/, '... and its DETAIL does not show the email');

# --- COPY FROM STDIN into a registered partitioned table ------------------
($out, $err) = as_role('regress_app',
	$purpose . "COPY kids (id, subject, birthdate) FROM STDIN;\n1\tbaby\t2025-01-01\n\\.\n");
like($err, qr/COPY FROM is not supported for table "kids"/,
	'COPY FROM STDIN into a registered partitioned table with a birthdate column: refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kids'), '0',
	'... no minor\'s row was copied without a guardian\'s consent');

# --- the server log ---------------------------------------------------------
# (the superuser's own setup statements are logged by log_statement = all:
# only error reports count)
my @logged = slurp_file($node->logfile) =~ /(?:ERROR|DETAIL|CONTEXT):[^\n]*(?:alice|bob|carol)\@x/g;
is(scalar(@logged), 0, 'no email reached the server log in an error report');

$node->stop;
done_testing();

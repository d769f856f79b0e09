# The audit (issue #4): what personal_data.access_log and
# personal_data.disclosure_log record, that they are append-only and
# tamper-evident, and that nothing is lost across a clean restart, under
# concurrency, with a full queue, or when a database is dropped.
#
# Entries are written by the audit writer after the statements: every check
# first waits for them with audit_flush() and looks only at entries after a
# mark (the highest id before the step).
#
# Not covered here: personal_data.audit_retention (minutes; tested elsewhere).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('audit');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->append_conf('postgresql.conf', "personal_data.home_country = 'JP'");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
CREATE TABLE people (id int PRIMARY KEY, subject text NOT NULL, name text,
					 email text, note text, n int NOT NULL DEFAULT 0);
INSERT INTO people (id, subject, name, email, note) VALUES
	(1, 's1', 'Ann', 'ann@x', 'n1'), (2, 's2', 'Bo', 'bo@x', 'n2'),
	(3, 's3', 'Cy', 'cy@x', 'n3'), (4, 's4', 'Di', 'di@x', 'n4'),
	(5, 's5', 'Ed', 'ed@x', 'n5');
-- two rows of s1: a subject provided once per statement
CREATE TABLE orders (id int PRIMARY KEY, subject text NOT NULL, item text);
INSERT INTO orders VALUES (1, 's1', 'pen'), (2, 's2', 'ink'), (3, 's1', 'pad'),
	(4, 's3', 'cap');
SELECT personal_data.define_purpose('p_contract', 'customer');
SELECT personal_data.define_purpose('p_marketing', 'customer');
SELECT personal_data.register_table('people', 'subject');
SELECT personal_data.register_table('orders', 'subject');
SELECT personal_data.label_column('people', 'name', ARRAY['p_contract']);
SELECT personal_data.label_column('people', 'email', ARRAY['p_marketing']);
SELECT personal_data.label_column('orders', 'item', ARRAY['p_contract']);
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_partner LOGIN;
CREATE ROLE regress_partner_jp LOGIN;
CREATE ROLE regress_entrustee LOGIN;
GRANT SELECT, UPDATE ON people, orders
	TO regress_app, regress_partner, regress_partner_jp, regress_entrustee;
SELECT personal_data.grant_purpose(r::regrole, 'p_contract')
  FROM unnest(ARRAY['regress_app', 'regress_partner', 'regress_partner_jp',
					'regress_entrustee']) r;
ALTER ROLE regress_app SET personal_data.purpose = 'p_contract';
ALTER ROLE regress_partner SET personal_data.purpose = 'p_contract';
ALTER ROLE regress_partner_jp SET personal_data.purpose = 'p_contract';
ALTER ROLE regress_entrustee SET personal_data.purpose = 'p_contract';
SELECT personal_data.register_recipient('regress_partner', 'third_party', 'Partner Inc', 'US');
SELECT personal_data.register_recipient('regress_partner_jp', 'third_party', 'Partner KK', 'JP');
SELECT personal_data.register_recipient('regress_entrustee', 'entrustee', 'Mailing KK', 'JP');
});

# consents of the US partner: s1, s2, s3 (s3 withdrawn); a legal basis for s4;
# nothing for s5.  The JP partner: a consent for s5.
my %consent;
for my $s (qw(s1 s2 s3))
{
	$consent{$s} = $node->safe_psql('postgres',
		"SELECT personal_data.record_consent('$s', 'p_contract', 'regress_partner')");
}
my $consent_jp_s5 = $node->safe_psql('postgres',
	"SELECT personal_data.record_consent('s5', 'p_contract', 'regress_partner_jp')");
is( $node->safe_psql('postgres',
		"SELECT personal_data.withdraw_consent('s3', 'p_contract', 'regress_partner')"),
	'1',
	'the consent of s3 is withdrawn');
my $law_s4 = $node->safe_psql('postgres',
	"SELECT personal_data.record_legal_basis('regress_partner', 'law', 'Court order 1', subject => 's4')"
);
like($law_s4, qr/^\d+$/, 'a legal basis for s4 is recorded');

# --- helpers ----------------------------------------------------------------

sub sql
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'postgres', $sql);
}

# psql as a role, going on after errors, with SQLSTATEs in the messages:
# (stdout, stderr)
sub run_as
{
	my ($role, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql(
		$db // 'postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $role ],
		on_error_stop => 0);
	return ($out, $err);
}

# Waits until every queued entry is written; returns the highest id of the
# chain (0 if empty).
sub mark
{
	my ($n, $db) = @_;
	$n //= $node;
	$db //= 'postgres';
	$n->safe_psql($db, 'SELECT personal_data.audit_flush()');
	return $n->safe_psql(
		$db, q{
SELECT coalesce(max(id), 0)
  FROM (SELECT max(id) AS id FROM personal_data.access_log
		UNION ALL SELECT max(id) FROM personal_data.disclosure_log) m});
}

my $access_cols = q{concat_ws('|', session_user_name, current_user_name,
	coalesce(purpose, '-'), coalesce(recipient, '-'), coalesce(relation, '-'),
	coalesce(columns::text, '-'), command, coalesce(rows::text, 'NULL'), allowed,
	coalesce(reason, '-'), query_id IS NOT NULL)};

# entries after $mark, once every queued one is written
sub access_since
{
	my ($mark) = @_;
	sql('SELECT personal_data.audit_flush()');
	return sql(
		"SELECT $access_cols FROM personal_data.access_log WHERE id > $mark ORDER BY id");
}

sub disclosures_since
{
	my ($mark) = @_;
	sql('SELECT personal_data.audit_flush()');
	return sql(
		qq{SELECT concat_ws('|', recipient, organization, country, subject, relation,
	columns::text, purpose, coalesce(basis, '-'), coalesce(basis_id::text, '-'),
	coalesce(cross_border::text, '-'))
  FROM personal_data.disclosure_log WHERE id > $mark ORDER BY subject, id});
}

# entries in both logs
sub total
{
	my ($n, $db) = @_;
	$n //= $node;
	return $n->safe_psql($db // 'postgres',
		q{SELECT (SELECT count(*) FROM personal_data.access_log) + (SELECT count(*) FROM personal_data.disclosure_log)}
	);
}

sub verify
{
	my ($n, $db) = @_;
	$n //= $node;
	$n->safe_psql($db // 'postgres', 'SELECT personal_data.audit_flush()');
	return $n->safe_psql($db // 'postgres',
		q{SELECT ok, checked, coalesce(first_bad_id::text, '-') FROM personal_data.verify_audit_log()}
	);
}

# Polls $sql until it returns $want, for at most $secs seconds.
sub wait_until
{
	my ($n, $sql, $want, $secs) = @_;
	my $deadline = time() + $secs;
	my $got;
	while (1)
	{
		$got = $n->safe_psql('postgres', $sql);
		return 1 if $got eq $want;
		return 0 if time() > $deadline;
		usleep(50_000);
	}
}

my $denied_email =
  'purpose "p_contract" does not allow reading column "email" of table "people"';

# --- an application's statements ------------------------------------------

my $m = mark();
my ($out, $err) = run_as(
	'regress_app', q{
SELECT name FROM people WHERE id = 1;
SELECT id, name FROM people ORDER BY id;
BEGIN;
SELECT email FROM people WHERE id = 1;
ROLLBACK;
BEGIN;
SELECT count(*) FROM people;
ROLLBACK;
SELECT 1 / (id - 2) FROM people ORDER BY id;
UPDATE people SET note = note WHERE id = 4;
});
is( $out,
	"Ann\n1|Ann\n2|Bo\n3|Cy\n4|Di\n5|Ed\n5",
	'application: the allowed reads return their rows');
like($err, qr/ERROR:  42501: \Q$denied_email\E/,
	'application: reading email for p_contract is refused with 42501');
like($err, qr/ERROR:  22012: division by zero/,
	'application: the statement failing midway fails');
sql('SELECT note FROM people WHERE id = 3');

is( access_since($m),
	join("\n",
		'regress_app|regress_app|p_contract|-|public.people|{id,name}|SELECT|1|t|-|t',
		'regress_app|regress_app|p_contract|-|public.people|{id,name}|SELECT|5|t|-|t',
		"regress_app|regress_app|p_contract|-|public.people|{email}|SELECT|0|f|$denied_email|f",
		'regress_app|regress_app|p_contract|-|public.people|{}|SELECT|1|t|-|t',
		'regress_app|regress_app|p_contract|-|public.people|{id}|SELECT|NULL|t|statement did not complete|t',
		'regress_app|regress_app|p_contract|-|public.people|{id,note}|UPDATE|1|t|-|t',
		'postgres|postgres|-|-|public.people|{id,note}|SELECT|1|t|-|t'),
	'access_log: allowed reads (rows, columns, purpose), the refusal rolled back, '
	  . 'the rolled-back read, the failed statement (rows NULL), the update, the superuser\'s read'
);
is(disclosures_since($m), '', 'no provision for an application that is no recipient');
is(verify(), 't|' . total() . '|-', 'the chain verifies');

# a refusal inside a subtransaction that is rolled back to a savepoint
$m = mark();
($out, $err) = run_as(
	'regress_app', q{
BEGIN;
SAVEPOINT a;
SELECT email FROM people WHERE id = 2;
ROLLBACK TO SAVEPOINT a;
SELECT name FROM people WHERE id = 2;
ROLLBACK;
});
is($out, 'Bo', 'savepoint: the read after the refusal runs');
is( access_since($m),
	join("\n",
		"regress_app|regress_app|p_contract|-|public.people|{email}|SELECT|0|f|$denied_email|f",
		'regress_app|regress_app|p_contract|-|public.people|{id,name}|SELECT|1|t|-|t'),
	'savepoint: the refusal and the read of the rolled-back transaction are both logged');

# --- audit levels and setting changes -------------------------------------

$m = mark();
($out, $err) = run_as(
	'postgres', q{
SET personal_data.audit = denied;
SELECT name FROM people WHERE id = 2;
SET ROLE regress_app;
SET personal_data.purpose = p_contract;
SELECT name FROM people WHERE id = 2;
SELECT email FROM people WHERE id = 2;
RESET ROLE;
RESET personal_data.purpose;
SET personal_data.audit = off;
SELECT name FROM people WHERE id = 2;
SET ROLE regress_app;
SET personal_data.purpose = p_contract;
SELECT email FROM people WHERE id = 2;
RESET ROLE;
RESET personal_data.purpose;
SET personal_data.enforce = off;
RESET personal_data.enforce;
SELECT set_config('personal_data.audit', 'denied', false);
RESET personal_data.audit;
SELECT name FROM people WHERE id = 3;
});
is($out, "Bo\nBo\nBo\ndenied\nCy", 'audit levels: the allowed reads ran');
my @refusals = ($err =~ /ERROR:  42501: \Q$denied_email\E/g);
is(scalar(@refusals), 2, 'audit levels: both email reads were refused');
is( access_since($m),
	join("\n",
		'postgres|postgres|-|-|-|-|SET|NULL|t|personal_data.audit = denied|f',
		"postgres|regress_app|p_contract|-|public.people|{email}|SELECT|0|f|$denied_email|f",
		'postgres|postgres|-|-|-|-|SET|NULL|t|personal_data.audit = off|f',
		'postgres|postgres|-|-|-|-|SET|NULL|t|personal_data.enforce = off|f',
		'postgres|postgres|-|-|-|-|SET|NULL|t|personal_data.enforce = on|f',
		'postgres|postgres|-|-|-|-|SET|NULL|t|personal_data.audit = denied|f',
		'postgres|postgres|-|-|-|-|SET|NULL|t|personal_data.audit = all|f',
		'postgres|postgres|-|-|public.people|{id,name}|SELECT|1|t|-|t'),
	'audit = denied logs only the refusal, audit = off nothing; SET, RESET and set_config() '
	  . 'of audit and enforce are logged');

# ALTER SYSTEM / ROLE / DATABASE SET of them: logged with the statement
$m = mark();
sql("ALTER ROLE regress_app SET personal_data.audit = denied");
sql("ALTER ROLE regress_app RESET personal_data.audit");
sql("ALTER DATABASE postgres SET personal_data.enforce = off");
sql("ALTER DATABASE postgres RESET personal_data.enforce");
sql("ALTER SYSTEM SET personal_data.audit = off");
sql("ALTER SYSTEM RESET personal_data.audit");
sql("ALTER ROLE regress_app SET personal_data.purpose = 'p_contract'");
sql('SELECT personal_data.audit_flush()');
is( sql(
		"SELECT command || '|' || reason FROM personal_data.access_log WHERE id > $m ORDER BY id"
	),
	join("\n",
		'SET|ALTER ROLE regress_app SET personal_data.audit = denied',
		'SET|ALTER ROLE regress_app RESET personal_data.audit',
		'SET|ALTER DATABASE postgres SET personal_data.enforce = off',
		'SET|ALTER DATABASE postgres RESET personal_data.enforce',
		'SET|ALTER SYSTEM SET personal_data.audit = off',
		'SET|ALTER SYSTEM RESET personal_data.audit'),
	'ALTER ROLE / DATABASE / SYSTEM SET and RESET of audit and enforce are logged with the statement; '
	  . 'of another setting not');

# --- the disclosure log -------------------------------------------------------

# a third party abroad: consents for s1, s2; s3's withdrawn; a law for s4
my $us = 'regress_partner|Partner Inc|US';
my $steps = [
	[
		'regress_partner', 'SELECT id, name FROM people ORDER BY id',
		"1|Ann\n2|Bo\n4|Di",
		"$us|s1|public.people|{id,name}|p_contract|consent|$consent{s1}|true\n"
		  . "$us|s2|public.people|{id,name}|p_contract|consent|$consent{s2}|true\n"
		  . "$us|s4|public.people|{id,name}|p_contract|law|$law_s4|true",
		'full scan: the consented subjects and the one with a legal basis'
	],
	[
		'regress_partner', 'SELECT name FROM people WHERE id = 2',
		'Bo',
		"$us|s2|public.people|{id,name}|p_contract|consent|$consent{s2}|true",
		'point read of a consented subject'
	],
	[
		'regress_partner', 'SELECT name FROM people WHERE id = 3',
		'', '', 'point read of the subject whose consent was withdrawn: nothing provided'
	],
	[
		'regress_partner', 'SELECT name FROM people WHERE id = 5',
		'', '', 'point read of a subject without a basis: nothing provided'
	],
	[
		'regress_partner', 'SELECT count(*) FROM people',
		'3',
		"$us|s1|public.people|{}|p_contract|consent|$consent{s1}|true\n"
		  . "$us|s2|public.people|{}|p_contract|consent|$consent{s2}|true\n"
		  . "$us|s4|public.people|{}|p_contract|law|$law_s4|true",
		'count(*): the subjects counted'
	],
	[
		'regress_partner', 'SELECT item FROM orders ORDER BY id',
		"pen\nink\npad",
		"$us|s1|public.orders|{id,item}|p_contract|consent|$consent{s1}|true\n"
		  . "$us|s2|public.orders|{id,item}|p_contract|consent|$consent{s2}|true",
		'a subject with two rows is recorded once per statement'
	],
	[
		'regress_partner_jp', 'SELECT id, name FROM people ORDER BY id',
		'5|Ed',
		"regress_partner_jp|Partner KK|JP|s5|public.people|{id,name}|p_contract|consent|$consent_jp_s5|false",
		'a third party at home: not cross-border'
	],
	[
		'regress_entrustee', 'SELECT name FROM people WHERE id IN (3, 5) ORDER BY id',
		"Cy\nEd",
		"regress_entrustee|Mailing KK|JP|s3|public.people|{id,name}|p_contract|entrustment|-|false\n"
		  . "regress_entrustee|Mailing KK|JP|s5|public.people|{id,name}|p_contract|entrustment|-|false",
		'an entrustee: every row it read, basis entrustment'
	],
];
for my $step (@$steps)
{
	my ($role, $stmt, $rows, $want, $what) = @$step;
	$m = mark();
	($out, $err) = run_as($role, "$stmt;");
	is($out, $rows, "$role: $what: the rows returned");
	is($err, '', "$role: $what: no error");
	is(disclosures_since($m), $want, "$role: $what: disclosure_log");
	is( sql(
			"SELECT concat_ws('|', current_user_name, recipient, relation, command, rows) FROM personal_data.access_log WHERE id > $m ORDER BY id"
		),
		"$role|$role|" . ($stmt =~ /orders/ ? 'public.orders' : 'public.people')
		  . "|SELECT|" . scalar(() = $rows =~ /^./mg),
		"$role: $what: one access_log entry with the recipient");
}
sql('SELECT personal_data.audit_flush()');
is( sql(
		"SELECT string_agg(recipient || ':' || subject, ',' ORDER BY subject, id) FROM personal_data.cross_border_provisions"),
	join(',', map { "regress_partner:$_" } qw(s1 s1 s1 s2 s2 s2 s2 s4 s4)),
	'cross_border_provisions: the provisions to the US partner only');
is(verify(), 't|' . total() . '|-', 'the chain of both logs verifies');

# --- the logs are append-only -----------------------------------------------

my $counts_sql = q{SELECT (SELECT count(*) FROM personal_data.access_log) || '|' ||
	(SELECT count(*) FROM personal_data.disclosure_log) || '|' ||
	(SELECT count(*) FROM personal_data.audit_checkpoints)};
mark();
my $counts = sql($counts_sql);
my $first = sql('SELECT min(id) FROM personal_data.access_log');
my @changes = (
	[ 'access_log', "INSERT INTO personal_data.access_log (id, logged_at, session_user_name, current_user_name, command, allowed, prev_hash, hash) VALUES (1000000, now(), 'x', 'x', 'SELECT', true, '\\x00', '\\x00')" ],
	[ 'access_log',     "UPDATE personal_data.access_log SET rows = 42 WHERE id = $first" ],
	[ 'access_log',     "DELETE FROM personal_data.access_log WHERE id = $first" ],
	[ 'access_log_batches', "UPDATE personal_data.access_log_batches SET last_at = now()" ],
	[ 'access_log_batches', 'DELETE FROM personal_data.access_log_batches' ],
	[ 'access_log_batches', 'TRUNCATE personal_data.access_log_batches' ],
	[ 'disclosure_log', "INSERT INTO personal_data.disclosure_log (id, logged_at, recipient, subject, prev_hash, hash) VALUES (1000000, now(), 'x', 's1', '\\x00', '\\x00')" ],
	[ 'disclosure_log', "UPDATE personal_data.disclosure_log SET subject = 'x'" ],
	[ 'disclosure_log', 'DELETE FROM personal_data.disclosure_log' ],
	[ 'disclosure_log', 'TRUNCATE personal_data.disclosure_log' ],
	[ 'audit_checkpoints', "INSERT INTO personal_data.audit_checkpoints VALUES (1, '\\x00', 1, now())" ],
	[ 'audit_checkpoints', 'TRUNCATE personal_data.audit_checkpoints' ]);
for my $c (@changes)
{
	my ($table, $stmt) = @$c;
	my $cmd = (split / /, $stmt)[0];
	($out, $err) = run_as('regress_app', $stmt);
	like($err, qr/ERROR:  42501: permission denied for (table|view) \Q$table\E/,
		"$cmd on $table by an application role: permission denied (42501)");
	($out, $err) = run_as('postgres', $stmt);
	like($err, qr/ERROR:  42501: \Q$table\E is append-only/,
		"$cmd on $table by a superuser: append-only (42501)");
}
is(sql($counts_sql), $counts, 'the logs are unchanged');
is(verify(), 't|' . total() . '|-', 'the chain still verifies');

# --- tampering ------------------------------------------------------------------

# A database per case, each with 5 entries: statement k read k rows.  The
# access log keeps its entries packed in access_log_batches (per entry:
# flags, id, prev_hash unless flag 1 says it is the hash of the entry before,
# hash, stored length, the record; see src/audit.c): each case edits those
# bytes, as a superuser who disabled the trigger could.
sub header_len
{
	my ($entry) = @_;
	my $flags = ord(substr($entry, 0, 1));
	return 1 + 8 + (($flags & 1) ? 0 : 32) + 32 + 4;
}

sub packed_entries
{
	my ($bin) = @_;
	my @entries;
	my $off = 0;
	while ($off < length($bin))
	{
		my $head = header_len(substr($bin, $off, 1));
		my $len = unpack('V', substr($bin, $off + $head - 4, 4));
		push @entries, substr($bin, $off, $head + $len);
		$off += $head + $len;
	}
	return @entries;
}

my %tamper = (
	edit => [
		sub {
			my @e = @_;
			# a byte of entry 3's record (its session user's OID)
			my $at = header_len($e[2]) + 24;
			substr($e[2], $at, 1) = chr(ord(substr($e[2], $at, 1)) ^ 1);
			return @e;
		},
		'f|2|3', 'an edited entry'
	],
	delete => [
		sub { my @e = @_; splice(@e, 2, 1); return @e; },
		'f|2|4', 'a deleted entry: the one after it'
	],
	reorder => [
		sub {
			my @e = @_;
			# entries 2 and 3 swap everything but their ids (bytes 1-8)
			my ($x, $y) = @e[ 1, 2 ];
			$e[1] = substr($y, 0, 1) . substr($x, 1, 8) . substr($y, 9);
			$e[2] = substr($x, 0, 1) . substr($y, 1, 8) . substr($x, 9);
			return @e;
		},
		'f|1|2', 'two swapped entries: the first of them'
	]);
for my $case (sort keys %tamper)
{
	my ($edit, $want, $what) = @{ $tamper{$case} };
	my $db = "tamper_$case";
	sql("CREATE DATABASE $db");
	sql(q{
CREATE EXTENSION personal_data;
CREATE TABLE tt (id int PRIMARY KEY, subject text NOT NULL);
INSERT INTO tt SELECT g, 's' || g FROM generate_series(1, 5) g;
SELECT personal_data.register_table('tt', 'subject');
SELECT id FROM tt WHERE id <= 1;
SELECT id FROM tt WHERE id <= 2;
SELECT id FROM tt WHERE id <= 3;
SELECT id FROM tt WHERE id <= 4;
SELECT id FROM tt WHERE id <= 5;
SELECT personal_data.audit_flush();
}, $db);
	is( sql(
			q{SELECT string_agg(id || ':' || rows, ',' ORDER BY id) FROM personal_data.access_log},
			$db),
		'1:1,2:2,3:3,4:4,5:5',
		"$case: five entries");
	is(verify($node, $db), 't|5|-', "$case: the chain verifies before");
	# the entries of every batch, in order (the writer may have made more than one)
	my $bin = pack('H*',
		sql(q{SELECT string_agg(encode(entries, 'hex'), '' ORDER BY first_id) FROM personal_data.access_log_batches},
			$db));
	my $tampered = unpack('H*', join('', $edit->(packed_entries($bin))));
	sql(qq{
ALTER TABLE personal_data.access_log_batches DISABLE TRIGGER access_log_batches_append_only;
DELETE FROM personal_data.access_log_batches
 WHERE first_id > (SELECT min(first_id) FROM personal_data.access_log_batches);
UPDATE personal_data.access_log_batches SET entries = decode('$tampered', 'hex');
ALTER TABLE personal_data.access_log_batches ENABLE TRIGGER access_log_batches_append_only;
}, $db);
	is(verify($node, $db), $want, "$case: $what is detected");
}

# --- clean restart --------------------------------------------------------------

# the longest flush interval: the entries are still queued at the restart
sql('ALTER SYSTEM SET personal_data.audit_flush_interval = 1000');
$node->reload;
$m = mark();
($out, $err) = run_as('regress_app',
	join('', map { "SELECT name FROM people WHERE id = " . (1 + $_ % 5) . ";\n" } 1 .. 40));
is($err, '', 'restart: 40 reads ran');
note 'queued before the restart: '
  . sql('SELECT pending_entries FROM personal_data.audit_queue_status() WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())');
$node->restart;
is( sql(
		"SELECT count(*) FROM personal_data.access_log WHERE id > $m AND current_user_name = 'regress_app'"
	),
	'40',
	'restart: every entry queued before a fast restart is in the log');
sql('ALTER SYSTEM RESET personal_data.audit_flush_interval');
$node->reload;
is(verify(), 't|' . total() . '|-', 'restart: the chain verifies');

# --- concurrency ------------------------------------------------------------------

$m = mark();
$node->pgbench(
	'-n -c 4 -j 2 -t 100 -U regress_app',
	0,
	[qr{number of transactions actually processed: 400/400}],
	[qr{^$}],
	'pgbench: 4 clients run 100 reads each',
	{ '020_audit_read.sql' => "\\set id random(1, 5)\nSELECT name FROM people WHERE id = :id;\n" },
	'postgres');
my $last = mark();
is( sql(
		"SELECT count(*) || '|' || count(DISTINCT id) || '|' || min(id) || '|' || max(id) FROM personal_data.access_log WHERE id > $m"
	),
	'400|400|' . ($m + 1) . '|' . ($m + 400),
	'pgbench: 400 entries, one per statement, with contiguous ids');
is($last, $m + 400, 'pgbench: nothing else in the chain');
is(verify(), 't|' . total() . '|-', 'pgbench: the chain verifies');
is( sql(
		'SELECT sum(lost_entries) FROM personal_data.audit_queue_status()'),
	'0',
	'no entry lost');

# --- DROP DATABASE of a database whose writer is running ------------------------

sql('CREATE DATABASE dropme');
sql(q{
CREATE EXTENSION personal_data;
CREATE TABLE tt (id int PRIMARY KEY, subject text NOT NULL);
INSERT INTO tt VALUES (1, 's1');
SELECT personal_data.register_table('tt', 'subject');
SELECT id FROM tt;
SELECT personal_data.audit_flush();
}, 'dropme');
my $dropme = sql(q{SELECT oid FROM pg_database WHERE datname = 'dropme'});
is( sql(
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'personal_data audit writer' AND datname = 'dropme'}
	),
	'1',
	'dropme: its audit writer runs');
my $t0 = time();
my ($ret, $dout, $derr) = $node->psql('postgres', 'DROP DATABASE dropme');
my $elapsed = time() - $t0;
is($ret, 0, 'DROP DATABASE of a database whose writer runs succeeds');
is($derr, '', 'DROP DATABASE: no error');
cmp_ok($elapsed, '<', 3, 'DROP DATABASE: promptly (the writer was asked to leave)');
is( sql(
		"SELECT count(*) FROM personal_data.audit_queue_status() WHERE database = $dropme"),
	'0',
	'DROP DATABASE: its audit queue is released');

# --- a full queue ---------------------------------------------------------------------

my $q = PostgreSQL::Test::Cluster->new('audit_queue_full');
$q->init;
$q->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$q->append_conf('postgresql.conf', "autovacuum = off");
$q->append_conf('postgresql.conf', "personal_data.audit_queue_size = 64");
$q->start;
$q->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
CREATE TABLE people (id int PRIMARY KEY, subject text NOT NULL, n int NOT NULL DEFAULT 0);
INSERT INTO people VALUES (1, 's1'), (2, 's2');
SELECT personal_data.register_table('people', 'subject');
});
is($q->safe_psql('postgres', 'SHOW personal_data.audit_queue_size'),
	'64kB', 'queue full: a 64 kB queue');

# The writer cannot write while a session holds access_log locked.  The
# bursts are sized from the queue's actual size (an entry takes about 100
# bytes), so that they overflow it whatever it is.
my $qm = mark($q);
my $qbytes = $q->safe_psql('postgres',
	'SELECT queue_bytes FROM personal_data.audit_queue_status()');
is($qbytes, 65536, 'queue full: audit_queue_status() reports a 64 kB queue');
my $per_client = int($qbytes / 64);
my $locker = $q->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK personal_data.access_log_batches IN ACCESS EXCLUSIVE MODE');

# block: 2 clients run reads that do not fit; they wait, then finish
my $script = $q->basedir . '/020_audit_queue_full.sql';
append_to_file($script, "SELECT n FROM people WHERE id = 1;\n");
my ($bout, $berr) = ('', '');
my $bench = IPC::Run::start(
	[
		'pgbench', '-n', '-M', 'prepared', '-c', '2', '-t', $per_client,
		'-f', $script, '-h', $q->host, '-p', $q->port, 'postgres'
	],
	'>', \$bout, '2>', \$berr);
ok( wait_until(
		$q,
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND wait_event_type = 'Extension'},
		'2', 30),
	'block: both clients wait for queue space');
usleep(500_000);
ok($bench->pumpable, 'block: pgbench has not finished while the writer cannot write');
my ($pending, $pending_entries) = split /\|/, $q->safe_psql('postgres',
	'SELECT pending_bytes, pending_entries FROM personal_data.audit_queue_status()');
cmp_ok($pending, '>', $qbytes / 2, 'block: the queue is (nearly) full');
note "block: $pending_entries entries ($pending bytes) queued";
$locker->query_safe('COMMIT');
$bench->finish;
my $total_block = 2 * $per_client;
like($bout, qr{number of transactions actually processed: $total_block/$total_block},
	'block: every statement completes once the writer can write');
is( $q->safe_psql('postgres',
		'SELECT personal_data.audit_flush(); SELECT count(*) FROM personal_data.access_log WHERE id > ' . $qm),
	"\n$total_block",
	'block: an entry for every statement');
is($q->safe_psql('postgres', 'SELECT lost_entries FROM personal_data.audit_queue_status()'),
	'0', 'block: no entry lost');

# error: a client reads until its statements are refused (pgbench aborts it),
# then statements fail with 53000 before running; nothing is lost
$qm = mark($q);
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK personal_data.access_log_batches IN ACCESS EXCLUSIVE MODE');
my $max_tx = 4 * $per_client;
my $escript = $q->basedir . '/020_audit_queue_error.sql';
append_to_file($escript, "SELECT n FROM people WHERE id = 1;\n");
my ($eout, $eerr) = ('', '');
{
	local $ENV{PGOPTIONS} = '-c personal_data.audit_queue_full=error';
	IPC::Run::run(
		[
			'pgbench', '-n', '-M', 'prepared', '-c', '1', '-t', $max_tx,
			'-f', $escript, '-h', $q->host, '-p', $q->port, 'postgres'
		],
		'>', \$eout, '2>', \$eerr);
}
like($eerr, qr{the personal_data audit queue is full},
	'error: reads run until the queue is nearly full, then are refused');
my ($filled) = $eout =~ m{number of transactions actually processed: (\d+)/$max_tx};
$filled //= -1;
cmp_ok($filled, '>', 0, "error: $filled reads ran before the refusal");
my ($qret, $qout, $qerr) = $q->psql(
	'postgres',
	"SET personal_data.audit_queue_full = error;\n\\set VERBOSITY verbose\n"
	  . ("UPDATE people SET n = n + 1 WHERE id = 2 RETURNING n;\n" x 20)
	  . "SET personal_data.audit_queue_full = block;\n"
	  . "SELECT count(*) FROM pg_class WHERE relname = 'people';\n",
	on_error_stop => 0);
my @refused = ($qerr =~ /ERROR:  53000: the personal_data audit queue is full/g);
is(scalar @refused, 20, 'error: the updates are refused with 53000 (audit queue full)');
is($qout, '1', 'error: a statement on no registered table still runs');
$locker->query_safe('COMMIT');
$locker->quit;
is( $q->safe_psql('postgres',
		'SELECT personal_data.audit_flush(); SELECT count(*) FROM personal_data.access_log WHERE id > ' . $qm),
	"\n$filled",
	'error: an entry for every statement that ran, none for the refused ones');
is($q->safe_psql('postgres', 'SELECT n FROM people WHERE id = 2'),
	'0', 'error: the refused updates did not run');
is($q->safe_psql('postgres', 'SELECT lost_entries FROM personal_data.audit_queue_status()'),
	'0', 'error: no entry lost');
is(verify($q), 't|' . total($q) . '|-', 'queue full: the chain verifies');
$q->stop;

$node->stop;
done_testing();

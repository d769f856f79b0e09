/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The purge worker: expired personal data leaves by itself.
 *
 * A launcher (a static background worker; it connects to no database and
 * reads the shared catalog pg_database) wakes every personal_data.
 * purge_naptime and, one database at a time, starts a purge worker there.
 * Nothing is listed by hand: every database that allows connections is
 * visited, and a purge worker leaves at once where the extension is absent.
 *
 * The purge worker runs the SQL functions purge_expired() runs (see
 * sql/personal_data--0.3--0.4.sql), in its own units of work -- a
 * transaction each, so it never holds locks long nor makes one huge
 * transaction:
 *	 - per registered table, the table's purge lock for the whole run
 *	   (purge.c; a table a manual purge_expired() is purging is left for the
 *	   next round);
 *	 - per partition, the fast path (_purge_partition: drop a partition
 *	   whose rows have all expired), waiting at most a second for its locks;
 *	 - otherwise, where _purge_pending finds an expired row, a batch of
 *	   about purge_batch_size rows' worth of blocks (_purge_range), walking
 *	   the heap forward, and after a batch that deleted or anonymized rows
 *	   a rest: purge_delay ms, or twice the batch's time if longer.  Each
 *	   batch adds its counts to the run's purge_log row in the same
 *	   transaction, so the log is exact even after a crash.
 * An error in a unit (a table dropped meanwhile, DROP EXTENSION, a lock
 * not granted within PURGE_LOCK_TIMEOUT) is reported and ends that table's
 * run; the others go on.  The worker connects as the bootstrap superuser,
 * but every statement over a registered table runs as the table's owner,
 * security-restricted (purge.c): a table's triggers, constraints and
 * operators never run as a superuser.  It leaves a database whose extension
 * is older than 0.4 alone (0.3's purge functions did not do that).
 *
 * Signals: SIGHUP reloads the settings (between batches); SIGTERM ends the
 * purge worker at once, even in a lock wait (the batch in progress rolls
 * back), and the launcher (the postmaster starts it again after
 * bgw_restart_time unless it is shutting down; after a crash it is
 * restarted with the cluster).  DROP DATABASE asks the purge worker of that
 * database to stop (ddl_guard.c -> pd_audit_release_database), so it is
 * never kept waiting.
 *
 * Starting only when recovery has finished, the launcher is idle on a hot
 * standby and starts on promotion.  One purge worker runs at a time in the
 * whole cluster.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "common/pg_prng.h"

#include "personal_data.h"

PGDLLEXPORT void pd_purge_launcher_main(Datum main_arg);
PGDLLEXPORT void pd_purge_worker_main(Datum main_arg);

int			pd_purge_naptime_s = 60;
int			pd_purge_batch_size = 10000;
int			pd_purge_delay_ms = 10;
int			pd_purge_statement_timeout_ms = 60000;

/*
 * A database's share of a round: its purge worker starts no unit of work
 * after this long, and the launcher stops it if it is still running (a
 * table's code that ignored the statement timeout) a grace later.  The
 * other databases are served in their turn however one misbehaves.
 */
#define PURGE_DATABASE_SLICE_MS		(10L * pd_purge_statement_timeout_ms)
#define PURGE_DATABASE_GRACE_MS		(2L * pd_purge_statement_timeout_ms + 1000L)
/* the longest rest after a batch */
#define PURGE_REST_MAX_MS			10000L
/* how long the fast path waits for the locks of a partition it drops */
#define PURGE_PARTITION_LOCK_WAIT_MS	1000
/* how long any other statement of the worker waits for a lock */
#define PURGE_LOCK_TIMEOUT				"5s"

static volatile sig_atomic_t got_sigterm = false;

/* the planner settings the purge relies on, at their defaults whatever the database says */
static const char *const planner_defaults[][2] = {
	{"enable_tidscan", "on"}, {"enable_seqscan", "on"}, {"enable_indexscan", "on"},
	{"enable_indexonlyscan", "on"}, {"enable_bitmapscan", "on"}, {"enable_hashjoin", "on"},
	{"enable_mergejoin", "on"}, {"enable_nestloop", "on"}, {"enable_hashagg", "on"},
	{"enable_material", "on"}, {"enable_sort", "on"}, {"enable_partition_pruning", "on"},
	{"seq_page_cost", "1"}, {"random_page_cost", "4"}, {"cpu_tuple_cost", "0.01"},
	{"cpu_index_tuple_cost", "0.005"}, {"cpu_operator_cost", "0.0025"}, {"jit", "off"},
	{"plan_cache_mode", "auto"}, {"work_mem", "4MB"}, {"constraint_exclusion", "partition"},
};

static void
purge_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
reload_settings_if_asked(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* Registers the launcher; called from _PG_init when preloaded. */
void
pd_register_purge_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "personal_data");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pd_purge_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "personal_data purge launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "personal_data purge launcher");
	RegisterBackgroundWorker(&worker);
}

/* ------------------------------------------------------------------------
 * The launcher
 * ------------------------------------------------------------------------
 */

/* the databases a purge worker may connect to */
static List *
purge_databases(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext oldcxt;

		if (!db->datallowconn || db->datistemplate)
			continue;
		oldcxt = MemoryContextSwitchTo(outer);
		dbs = lappend_oid(dbs, db->oid);
		MemoryContextSwitchTo(oldcxt);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
	return dbs;
}

/* Starts the purge worker of one database and waits until it has left. */
static void
purge_database(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	TimestampTz started;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "personal_data");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pd_purge_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "personal_data purge of database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "personal_data purge");
	memcpy(worker.bgw_extra, &dboid, sizeof(Oid));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("personal_data purge launcher: no background worker slot free"),
				 errhint("Raise max_worker_processes; the database is purged next time.")));
		return;
	}

	started = GetCurrentTimestamp();
	/* the postmaster sets our latch when the worker starts and stops */
	for (;;)
	{
		BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
			break;
		if (got_sigterm)
		{
			/* it stops after its current batch; no need to wait for that */
			TerminateBackgroundWorker(handle);
			break;
		}
		if (TimestampDifferenceExceeds(started, GetCurrentTimestamp(),
									   PURGE_DATABASE_SLICE_MS + PURGE_DATABASE_GRACE_MS))
		{
			/*
			 * Past its share and a grace: a statement ran on although
			 * canceled (a table's code caught the cancel).  SIGTERM cannot be
			 * caught; its batch rolls back.  The others' turn.
			 */
			ereport(LOG,
					(errmsg("personal_data purge launcher: stopping the purge of database %u: it ran longer than %ld ms",
							dboid, PURGE_DATABASE_SLICE_MS + PURGE_DATABASE_GRACE_MS)));
			TerminateBackgroundWorker(handle);
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		reload_settings_if_asked();
	}
	pfree(handle);
}

void
pd_purge_launcher_main(Datum main_arg)
{
	TimestampTz last_round;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, purge_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("personal_data purge launcher");

	/* the first round one naptime after start (or promotion) */
	last_round = GetCurrentTimestamp();
	while (!got_sigterm)
	{
		TimestampTz next_round = TimestampTzPlusMilliseconds(last_round,
															 pd_purge_naptime_s * 1000L);
		TimestampTz now = GetCurrentTimestamp();

		if (now >= next_round)
		{
			List	   *dbs;
			ListCell   *lc;

			last_round = now;
			dbs = purge_databases();
			foreach(lc, dbs)
			{
				if (got_sigterm)
					break;
				purge_database(lfirst_oid(lc));
			}
			list_free(dbs);
			continue;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 TimestampDifferenceMilliseconds(now, next_round),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* a new naptime counts from the last round */
		reload_settings_if_asked();
	}

	/*
	 * Exit code 1: the postmaster starts the launcher again after
	 * bgw_restart_time, unless it is shutting down -- like autovacuum's.
	 */
	proc_exit(1);
}

/* ------------------------------------------------------------------------
 * The purge worker of one database
 * ------------------------------------------------------------------------
 */

/* What the worker knows of one registered table's run. */
typedef struct PurgeRun
{
	Oid			rules_rel;
	char	   *name;
	int64		log_id;			/* its purge_log row, once it did something */
	int64		purged;			/* the counts of the current unit */
	int64		anonymized;
	int64		held;
	int64		blocked;
	char	   *dropped;		/* a partition the unit dropped, or NULL */
	int64		new_log_id;		/* the row the unit wrote, applied once it commits */
	bool		unit_logged;	/* the unit wrote the pending counts too */
	int64		pending_held;	/* counted by committed units, not in the log yet */
	int64		pending_blocked;
} PurgeRun;

typedef struct PurgeLeaf
{
	Oid			leaf;
	char	   *name;
	int64		nblocks;
	int64		rows_per_block;
} PurgeLeaf;

static MemoryContext PurgeContext = NULL;

/* when this database's purge worker started: its share of the round ends a slice later */
static TimestampTz worker_started;
static bool slice_used = false;
static char *database_name = NULL;	/* read in a transaction, for messages out of one */
static bool has_purge_kept = false; /* the extension has _purge_kept() (0.7) */

/* Is this database's share of the round used up?  (Logged once.) */
static bool
out_of_time(void)
{
	if (!slice_used &&
		TimestampDifferenceExceeds(worker_started, GetCurrentTimestamp(), PURGE_DATABASE_SLICE_MS))
	{
		slice_used = true;
		ereport(LOG,
				(errmsg("personal_data purge: database \"%s\" had its share of the round (%ld ms); the rest is purged next round",
						database_name ? database_name : "?", PURGE_DATABASE_SLICE_MS)));
	}
	return slice_used;
}

static int64
spi_int8(int row, int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull));
}

/*
 * Disarms a unit's statement timeout.  Had it fired just as the unit
 * finished, the cancel it asked for would hit whatever runs next (perhaps
 * outside any transaction): forget it.
 */
static void
disable_statement_timeout(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
		QueryCancelPending = false;
}

/*
 * Runs fn in a unit of work: its own transaction, snapshot and SPI
 * connection, shown in pg_stat_activity.  An error is reported in the
 * server log and rolls the unit back; the worker goes on.
 */
static bool
run_unit(const char *activity, void (*fn) (void *), void *arg)
{
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		/*
		 * Armed here, not through the statement_timeout setting: the
		 * table's code, which runs inside, may change settings (lock_timeout
		 * too) but not this.
		 */
		enable_timeout_after(STATEMENT_TIMEOUT, pd_purge_statement_timeout_ms);
		fn(arg);
		disable_statement_timeout();
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		disable_statement_timeout();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(PurgeContext);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* the registered tables, if this database has the extension at 0.3 or later */
static void
list_tables(void *arg)
{
	List	  **tables = arg;
	Oid			namespace;
	uint64		i;
	bool		isnull;

	database_name = MemoryContextStrdup(PurgeContext, get_database_name(MyDatabaseId));
	namespace = get_namespace_oid(PD_SCHEMA, true);
	if (!OidIsValid(get_extension_oid("personal_data", true)) ||
		!OidIsValid(namespace) ||
		!OidIsValid(get_relname_relid("purge_log", namespace)))
		return;
	/* 0.3's purge ran the tables' code as the worker, a superuser: not that */
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'personal_data'"
					" AND extversion IN ('0.1', '0.2', '0.3')", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the version of personal_data");
	if (SPI_processed > 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("personal_data purge: database \"%s\" is not purged: personal_data %s is too old",
						get_database_name(MyDatabaseId),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("ALTER EXTENSION personal_data UPDATE")));
		return;
	}
	/* 0.7 counts the rows a cascade keeps in leaves with nothing to purge */
	if (SPI_execute("SELECT pg_catalog.to_regprocedure('personal_data._purge_kept(pg_catalog.regclass,pg_catalog.regclass)') IS NOT NULL",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the version of personal_data");
	has_purge_kept = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/*
	 * Not a partition labelled before it was attached under a registered
	 * table: its own labels are not in force, the tree's rules purge its rows.
	 */
	if (SPI_execute("SELECT r.relation::pg_catalog.oid, r.relation::pg_catalog.text"
					" FROM personal_data.registered_tables r JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) r.relation::pg_catalog.oid"
					" WHERE NOT (k.relispartition AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(r.relation) a"
					"  JOIN personal_data.registered_tables g ON g.relation::pg_catalog.oid OPERATOR(pg_catalog.=) a.relid::pg_catalog.oid"
					"  WHERE a.relid::pg_catalog.oid OPERATOR(pg_catalog.<>) r.relation::pg_catalog.oid))"
					" ORDER BY 2", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the registered tables");
	for (i = 0; i < SPI_processed; i++)
	{
		PurgeRun   *run;
		bool		isnull;
		MemoryContext oldcxt = MemoryContextSwitchTo(PurgeContext);

		run = palloc0(sizeof(PurgeRun));
		run->rules_rel = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		run->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		*tables = lappend(*tables, run);
		MemoryContextSwitchTo(oldcxt);
	}
}

typedef struct LockCall
{
	PurgeRun   *run;
	bool		lock;			/* take, or release */
	bool		granted;
} LockCall;

/*
 * The table's purge lock, for the whole run (session level; purge.c): a
 * manual purge_expired() of the table waits for the run to end, and a table
 * one is purging is left for the next round.
 */
static void
table_lock(void *arg)
{
	LockCall   *call = arg;

	if (call->lock)
		call->granted = pd_purge_try_lock_session(call->run->rules_rel);
	else
		pd_purge_unlock_session(call->run->rules_rel);
}

typedef struct LeavesCall
{
	PurgeRun   *run;
	List	   *leaves;
} LeavesCall;

static void
list_leaves(void *arg)
{
	LeavesCall *call = arg;
	Datum		args[1] = {ObjectIdGetDatum(call->run->rules_rel)};
	Oid			types[1] = {OIDOID};
	uint64		i;

	/*
	 * Rows per block from the statistics; a table never analyzed is taken
	 * to hold 50 rows a block (rows of about 150 bytes).
	 */
	if (SPI_execute_with_args("SELECT l::pg_catalog.oid, l::pg_catalog.text,"
							  " pg_catalog.pg_relation_size(l) / pg_catalog.current_setting('block_size')::bigint,"
							  " CASE WHEN c.relpages > 0 AND c.reltuples >= 0"
							  "  THEN greatest(1, ceil(c.reltuples / c.relpages))::bigint ELSE 50 END"
							  " FROM personal_data._purge_leaves($1::pg_catalog.regclass) l"
							  " JOIN pg_catalog.pg_class c ON c.oid = l ORDER BY 2",
							  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the partitions of %s", call->run->name);
	for (i = 0; i < SPI_processed; i++)
	{
		PurgeLeaf  *pl;
		bool		isnull;
		MemoryContext oldcxt = MemoryContextSwitchTo(PurgeContext);

		pl = palloc0(sizeof(PurgeLeaf));
		pl->leaf = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		pl->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		pl->nblocks = spi_int8(i, 3, &isnull);
		pl->rows_per_block = spi_int8(i, 4, &isnull);
		call->leaves = lappend(call->leaves, pl);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * Writes the unit's counts to the run's purge_log row, in the unit's
 * transaction: the log says exactly what was committed.  The worker visits
 * every table every naptime, so a run gets a row only once it deleted,
 * anonymized or dropped something; counts of held and blocked rows wait in
 * memory until then.
 */
static void
record_unit(PurgeRun *run)
{
	Datum		args[6];
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTARRAYOID};
	bool		isnull;

	run->unit_logged = false;
	if (run->purged == 0 && run->anonymized == 0 && run->dropped == NULL)
		return;
	args[0] = Int64GetDatum(run->log_id);
	args[1] = Int64GetDatum(run->purged);
	args[2] = Int64GetDatum(run->anonymized);
	args[3] = Int64GetDatum(run->pending_held + run->held);
	args[4] = Int64GetDatum(run->pending_blocked + run->blocked);
	if (run->dropped)
	{
		Datum		name = CStringGetTextDatum(run->dropped);

		args[5] = PointerGetDatum(construct_array(&name, 1, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		args[5] = PointerGetDatum(construct_empty_array(TEXTOID));

	if (run->log_id == 0)
	{
		args[0] = ObjectIdGetDatum(run->rules_rel);
		types[0] = OIDOID;
		if (SPI_execute_with_args("INSERT INTO personal_data.purge_log"
								  " (relation, purged, anonymized, held, blocked, partitions_dropped, started_by)"
								  " VALUES ($1::pg_catalog.regclass::pg_catalog.text, $2, $3, $4, $5, $6,"
								  " 'personal_data purge worker') RETURNING id",
								  6, types, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not write purge_log");
		run->new_log_id = spi_int8(0, 1, &isnull);
	}
	else if (SPI_execute_with_args("UPDATE personal_data.purge_log SET"
								   " purged = purged + $2, anonymized = anonymized + $3,"
								   " held = held + $4, blocked = blocked + $5,"
								   " partitions_dropped = partitions_dropped || $6"
								   " WHERE id = $1",
								   6, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write purge_log");
	run->unit_logged = true;
}

/* after a unit committed: what is in the log now, what waits */
static void
unit_committed(PurgeRun *run)
{
	if (run->unit_logged)
	{
		if (run->log_id == 0)
			run->log_id = run->new_log_id;
		run->pending_held = run->pending_blocked = 0;
	}
	else
	{
		run->pending_held += run->held;
		run->pending_blocked += run->blocked;
	}
	run->unit_logged = false;
}

typedef struct BatchCall
{
	PurgeRun   *run;
	PurgeLeaf  *leaf;
	int64		from_block;
	int64		to_block;
	bool		whole;			/* the fast path: did it drop the partition? */
	bool		pending;		/* has the leaf anything to purge? */
} BatchCall;

/* one look: anything to purge in this leaf? */
static void
purge_pending(void *arg)
{
	BatchCall  *call = arg;
	Datum		args[2] = {ObjectIdGetDatum(call->leaf->leaf), ObjectIdGetDatum(call->run->rules_rel)};
	Oid			types[2] = {OIDOID, OIDOID};
	bool		isnull;

	if (SPI_execute_with_args("SELECT personal_data._purge_pending($1::pg_catalog.regclass, $2::pg_catalog.regclass)",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look into %s", call->leaf->name);
	call->pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * A leaf with nothing to purge: its expired rows a cascade keeps, counted
 * (and logged) as blocked like those a foreign key keeps.
 */
static void
purge_kept(void *arg)
{
	BatchCall  *call = arg;
	Datum		args[2] = {ObjectIdGetDatum(call->leaf->leaf), ObjectIdGetDatum(call->run->rules_rel)};
	Oid			types[2] = {OIDOID, OIDOID};
	bool		isnull;

	if (SPI_execute_with_args("SELECT personal_data._purge_kept($1::pg_catalog.regclass, $2::pg_catalog.regclass)",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look into %s", call->leaf->name);
	call->run->pending_blocked += spi_int8(0, 1, &isnull);
}

/* the fast path: drop the partition if all its rows expired */
static void
purge_partition(void *arg)
{
	BatchCall  *call = arg;
	Datum		args[3] = {ObjectIdGetDatum(call->leaf->leaf), ObjectIdGetDatum(call->run->rules_rel),
	Int32GetDatum(PURGE_PARTITION_LOCK_WAIT_MS)};
	Oid			types[3] = {OIDOID, OIDOID, INT4OID};
	bool		isnull;
	int64		rows;

	call->whole = false;
	call->run->purged = call->run->anonymized = call->run->held = call->run->blocked = 0;
	call->run->dropped = NULL;
	if (SPI_execute_with_args("SELECT personal_data._purge_partition($1::pg_catalog.regclass,"
							  " $2::pg_catalog.regclass, false, $3)",
							  3, types, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not purge partition %s", call->leaf->name);
	rows = spi_int8(0, 1, &isnull);
	if (isnull)
		return;
	call->whole = true;
	call->run->purged = rows;
	call->run->dropped = call->leaf->name;
	record_unit(call->run);
}

/* one batch: a range of blocks of a leaf */
static void
purge_batch(void *arg)
{
	BatchCall  *call = arg;
	Datum		args[4] = {ObjectIdGetDatum(call->leaf->leaf), ObjectIdGetDatum(call->run->rules_rel),
	Int64GetDatum(call->from_block), Int64GetDatum(call->to_block)};
	Oid			types[4] = {OIDOID, OIDOID, INT8OID, INT8OID};
	bool		isnull;

	call->run->dropped = NULL;
	if (SPI_execute_with_args("SELECT purged, anonymized, held, blocked FROM personal_data._purge_range("
							  "$1::pg_catalog.regclass, $2::pg_catalog.regclass, $3, $4, false)",
							  4, types, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not purge %s", call->leaf->name);
	call->run->purged = spi_int8(0, 1, &isnull);
	call->run->anonymized = spi_int8(0, 2, &isnull);
	call->run->held = spi_int8(0, 3, &isnull);
	call->run->blocked = spi_int8(0, 4, &isnull);
	record_unit(call->run);
}

/* The end of a table's run: its row is finished, held and blocked rows counted. */
static void
finish_run(void *arg)
{
	PurgeRun   *run = arg;
	Datum		args[3] = {Int64GetDatum(run->log_id), Int64GetDatum(run->pending_held),
	Int64GetDatum(run->pending_blocked)};
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};

	if (run->log_id != 0)
	{
		if (SPI_execute_with_args("UPDATE personal_data.purge_log SET finished_at = pg_catalog.clock_timestamp(),"
								  " held = held + $2, blocked = blocked + $3 WHERE id = $1",
								  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not write purge_log");
	}
}

/*
 * The rest after a batch that wrote: the throttle.  purge_delay, or twice
 * as long as the batch took if that is longer -- so that the worker takes
 * at most a third of a core from the queries it shares the table with,
 * however slow the batches are on this machine -- but at most
 * PURGE_REST_MAX_MS longer than purge_delay (a batch a table's trigger made
 * slow must not idle the worker for long).  purge_delay = 0: no rest.
 */
static void
purge_rest(long batch_ms)
{
	if (pd_purge_delay_ms > 0 && !got_sigterm)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max((long) pd_purge_delay_ms, Min(2 * batch_ms, PURGE_REST_MAX_MS)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
	reload_settings_if_asked();
}

/* One registered table's run; false if it ended on an error. */
static bool
purge_table(PurgeRun *run)
{
	LockCall	lock = {run, true, false};
	LeavesCall	leaves = {run, NIL};
	ListCell   *lc;
	char		activity[NAMEDATALEN * 3 + 64];
	bool		ok = true;

	snprintf(activity, sizeof(activity), "personal_data purge: %s: locking", run->name);
	if (!run_unit(activity, table_lock, &lock))
		return false;
	if (!lock.granted)
	{
		ereport(LOG,
				(errmsg("personal_data purge: skipped table %s: a purge_expired() of it is running",
						run->name)));
		return true;
	}
	snprintf(activity, sizeof(activity), "personal_data purge: %s: listing partitions", run->name);
	ok = run_unit(activity, list_leaves, &leaves);

	foreach(lc, leaves.leaves)
	{
		PurgeLeaf  *pl = lfirst(lc);
		BatchCall	call = {run, pl, 0, 0, false, false};
		int64		b;
		int64		start;
		int64		first_step;
		TimestampTz started;

		if (!ok || got_sigterm || out_of_time())
			break;
		snprintf(activity, sizeof(activity), "personal_data purge: %s: whole partition %s?",
				 run->name, pl->name);
		if (!run_unit(activity, purge_partition, &call))
		{
			ok = false;
			break;
		}
		unit_committed(run);
		if (call.whole)
		{
			purge_rest(0);
			continue;
		}
		snprintf(activity, sizeof(activity), "personal_data purge: %s: anything expired in %s?",
				 run->name, pl->name);
		if (!run_unit(activity, purge_pending, &call))
		{
			ok = false;
			break;
		}
		if (!call.pending)
		{
			if (has_purge_kept)
			{
				snprintf(activity, sizeof(activity), "personal_data purge: %s: rows kept in %s?",
						 run->name, pl->name);
				if (!run_unit(activity, purge_kept, &call))
				{
					ok = false;
					break;
				}
			}
			continue;
		}
		/*
		 * The walk starts at a random batch and wraps around: a table whose
		 * walk takes longer than the database's share of a round still has
		 * every part of it visited, over the rounds.
		 */
		start = 0;
		first_step = Max(1, pd_purge_batch_size / Max(pl->rows_per_block, 1));
		if (pl->nblocks > first_step)
			start = (int64) pg_prng_uint64_range(&pg_global_prng_state, 0,
												 (uint64) ((pl->nblocks - 1) / first_step)) * first_step;
		for (int pass = 0; pass < 2 && ok; pass++)
		{
			/* first from the start block to the end, then from block 0 to the start block */
			int64		end = pass == 0 ? pl->nblocks : start;

			for (b = pass == 0 ? start : 0; b < end && !got_sigterm && !out_of_time(); b = call.to_block)
			{
				/* a new purge_batch_size applies from the next batch */
				int64		step = Max(1, pd_purge_batch_size / Max(pl->rows_per_block, 1));

				call.from_block = b;
				/* (the first pass may read past the blocks listed: rows added since) */
				call.to_block = pass == 0 ? b + step : Min(b + step, start);
				snprintf(activity, sizeof(activity), "personal_data purge: %s: blocks %lld-%lld of %lld",
						 pl->name, (long long) b, (long long) Min(call.to_block, pl->nblocks),
						 (long long) pl->nblocks);
				started = GetCurrentTimestamp();
				if (!run_unit(activity, purge_batch, &call))
				{
					ok = false;
					break;
				}
				unit_committed(run);
				/* the throttle rests after writes; reading on is cheap */
				if (run->purged > 0 || run->anonymized > 0)
					purge_rest(TimestampDifferenceMilliseconds(started, GetCurrentTimestamp()));
				else
				{
					CHECK_FOR_INTERRUPTS();
					reload_settings_if_asked();
				}
			}
		}
	}

	if (ok && !got_sigterm && run->log_id != 0)
	{
		snprintf(activity, sizeof(activity), "personal_data purge: %s: logging", run->name);
		(void) run_unit(activity, finish_run, run);
	}
	else if (run->log_id == 0 && run->pending_blocked > 0)
	{
		/*
		 * A run that changed nothing writes no purge_log row (it would write
		 * one every naptime); rows kept against their expiry are worth a
		 * line, every round, until someone acts.
		 */
		ereport(LOG,
				(errmsg("personal_data purge: %s: " INT64_FORMAT " expired row(s) kept: a foreign key references them, deleting them would cascade into rows of registered tables that must stay, or a labelled column cannot be anonymized",
						run->name, run->pending_blocked),
				 errhint("purge_expired('%s', dry_run => true) counts them.", run->name)));
	}
	lock.lock = false;
	snprintf(activity, sizeof(activity), "personal_data purge: %s: unlocking", run->name);
	(void) run_unit(activity, table_lock, &lock);
	return ok;
}

void
pd_purge_worker_main(Datum main_arg)
{
	Oid			dboid;
	List	   *tables = NIL;

	worker_started = GetCurrentTimestamp();
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	/*
	 * SIGTERM ends it at once, even in a lock wait (a fast shutdown must
	 * not wait for a prepared transaction's locks): its work is transactions
	 * and the log is written in them, so the batch in progress rolls back.
	 */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* DROP DATABASE asks it to stop (ddl_guard.c, pd_audit_release_database) */
	pd_purge_worker_announce(dboid);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("personal_data purge");
	/* names in purge_log and pg_stat_activity schema-qualified, as purge_expired() writes them */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
	/*
	 * A lock held long by a session (idle in transaction, a prepared
	 * transaction) ends the table's run instead of stopping every database's
	 * purge behind it: the table is purged next round.
	 */
	SetConfigOption("lock_timeout", PURGE_LOCK_TIMEOUT, PGC_SUSET, PGC_S_SESSION);

	/*
	 * The database's own settings (ALTER DATABASE ... SET, which its owner
	 * may run) apply to the worker too: none of them may change what a purge
	 * does.  Its transactions are READ COMMITTED (a batch locks the holds
	 * before its statements take their snapshots; an older snapshot could
	 * miss a hold), writable, and not cut short.
	 */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("default_transaction_deferrable", "off", PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_SESSION);
	/*
	 * Nor the planner's: a batch is a TID range scan of its blocks (with
	 * enable_tidscan off, every batch would read the whole table).
	 */
	for (int i = 0; i < (int) lengthof(planner_defaults); i++)
		SetConfigOption(planner_defaults[i][0], planner_defaults[i][1], PGC_SUSET, PGC_S_SESSION);
	PurgeContext = AllocSetContextCreate(TopMemoryContext, "personal_data purge",
										 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(PurgeContext);

	if (!run_unit("personal_data purge: listing registered tables", list_tables, &tables))
		proc_exit(1);
	/*
	 * In a rotated order, from a random table: a table whose purge takes the
	 * database's whole share (a slow trigger) cannot keep the tables after
	 * it from being purged round after round.
	 */
	if (tables != NIL)
	{
		int			n = list_length(tables);
		int			first = (int) pg_prng_uint64_range(&pg_global_prng_state, 0, n - 1);

		for (int i = 0; i < n; i++)
		{
			if (got_sigterm || out_of_time())
				break;
			(void) purge_table(list_nth(tables, (first + i) % n));
		}
	}
	proc_exit(0);
}

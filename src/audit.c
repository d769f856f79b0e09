/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Durable, tamper-evident audit: the access log and the disclosure log.
 *
 * Backends never write the logs themselves: an entry written in the
 * querying transaction would vanish with it, and a denied statement always
 * aborts.  Instead each backend appends its entries to a queue in shared
 * memory, one queue per database, outside any transaction, and an audit
 * writer -- a background worker connected to that database, started on
 * demand -- drains the queue into the access log and
 * personal_data.disclosure_log, in batches, one transaction per batch.
 *
 * What is captured:
 *  - access: at ExecutorStart, a pending entry per registered table the
 *    statement names (columns used, command, purpose, recipient, query id);
 *    queued with the rows processed at ExecutorEnd, or with rows unknown
 *    when the statement fails.  A denial (enforce.c) is queued before the
 *    error is raised.
 *  - disclosure: for a recipient (third party or entrustee), the subjects of
 *    the rows each scan of a registered table emitted, after the row filter
 *    and the statement's own conditions on that table; captured by wrapping
 *    the scan nodes' ExecProcNode, in parallel workers too.
 *  - setting changes: switching personal_data.enforce or personal_data.audit
 *    is logged whatever the audit setting.
 *
 * Guarantees: an entry is never dropped silently.  When the queue is full a
 * backend waits for the writer (audit_queue_full = block) or the statement
 * fails before running (= error).  The writer commits every
 * audit_flush_interval at the latest; a crash loses at most the entries
 * queued since its last commit.  With audit_sync on, a statement does not
 * complete until the writer has committed its entries.
 *
 * Storage: access entries are many (one per statement) and only read by
 * compliance staff, so the writer stores them packed, about a page of them
 * per row of access_log_batches, and the view access_log unpacks them;
 * disclosure_log rows are written as rows (they are looked up by subject).
 *
 * Tamper evidence: the writer numbers entries of both logs from one
 * sequence and chains them: hash = SHA-256(prev_hash || entry).
 * verify_audit_log() recomputes the chain.  The tables are append-only for
 * every role (a trigger that only the writer passes); old entries leave
 * only through personal_data.audit_retention, which writes a checkpoint row
 * holding the hash of the last entry removed, where verification resumes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/queryjumble.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include <openssl/evp.h>

#include "personal_data.h"

PG_FUNCTION_INFO_V1(pd_verify_audit_log);
PG_FUNCTION_INFO_V1(pd_audit_flush);
PG_FUNCTION_INFO_V1(pd_audit_queue_status);
PG_FUNCTION_INFO_V1(pd_audit_append_only);
PG_FUNCTION_INFO_V1(pd_access_log_entries);
PGDLLEXPORT void pd_audit_writer_main(Datum main_arg);

/* settings (personal_data.c defines them) */
int			pd_audit_level = PD_AUDIT_ALL;
bool		pd_audit_sync = false;
int			pd_audit_queue_size_kb = 1024;
int			pd_audit_queue_full = PD_AUDIT_QUEUE_FULL_BLOCK;
int			pd_audit_flush_interval_ms = 200;
int			pd_audit_retention_s = 0;
char	   *pd_home_country = NULL;

/* one queue per database with the extension in use; a slot is claimed on first use */
#define PD_AUDIT_QUEUES			8
#define PD_AUDIT_CLAIM_LOCK		PD_AUDIT_QUEUES
#define PD_AUDIT_TRANCHE		"personal_data_audit"
/* a writer with nothing to do leaves after this, not to block DROP DATABASE */
#define PD_AUDIT_WRITER_IDLE_MS	5000
/* the writer takes at most this much from its queue per transaction */
#define PD_AUDIT_BATCH_BYTES	(256 * 1024)
/* disclosure entries carry at most this many subject bytes each */
#define PD_AUDIT_CHUNK_BYTES	(16 * 1024)
/* a backend aborting waits at most this long for space, then logs the loss */
#define PD_AUDIT_ABORT_WAIT_MS	30000

typedef enum AuditKind
{
	AUDIT_ACCESS = 'a',
	AUDIT_DISCLOSURE = 'd',
	AUDIT_SETTING = 's'
} AuditKind;

/*
 * An entry in a queue: this header, then the names block (session user,
 * current user, recipient, relation and natts column names, each
 * NUL-terminated; resolved by the backend, while the objects surely
 * exist), the purpose, the reason, the organization, the country, then
 * nsubjects subjects, each a uint32 length and its bytes.
 */
typedef struct AuditRecord
{
	uint32		len;			/* whole record, MAXALIGNed */
	char		kind;			/* AuditKind */
	char		command;		/* 'S'elect 'I'nsert 'U'pdate 'D'elete 'M'erge 'C'opy 'T' set */
	bool		allowed;
	bool		whole_row;		/* every column used */
	int8		cross_border;	/* -1 unknown, 0, 1 */
	bool		completed;		/* false: the statement failed */
	int16		natts;			/* column names in the names block */
	uint16		names_len;
	TimestampTz at;
	Oid			session_user_id;
	Oid			current_user_id;
	Oid			recipient;
	Oid			relid;
	int64		rows;			/* -1: unknown */
	uint64		query_id;
	uint16		purpose_len;
	uint16		reason_len;
	uint16		organization_len;
	uint16		country_len;
	uint32		nsubjects;
} AuditRecord;

typedef struct AuditQueue
{
	Oid			dboid;			/* InvalidOid: slot free */
	int			writer_pid;		/* 0: none */
	bool		writer_requested;	/* a writer was registered, not yet up */
	TimestampTz requested_at;
	Latch	   *writer_latch;
	uint64		head;			/* bytes ever appended */
	uint64		tail;			/* bytes ever committed by the writer */
	uint64		enqueued;		/* records ever appended */
	uint64		written;		/* records ever committed */
	uint64		lost;			/* records given up on in aborts (logged) */
	ConditionVariable space_cv;
	ConditionVariable written_cv;
} AuditQueue;

typedef struct AuditShared
{
	LWLockPadded *locks;		/* PD_AUDIT_QUEUES + 1 */
	/* the purge worker running now (one at a time), for DROP DATABASE */
	int			purge_pid;
	Oid			purge_db;
	Size		queue_size;
	AuditQueue	queues[PD_AUDIT_QUEUES];
} AuditShared;

static AuditShared *audit_shared = NULL;
static char *audit_data = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

/* this backend's queue (index), once claimed */
static int	my_queue = -1;
static Oid	my_queue_db = InvalidOid;
/* the last record this backend queued: audit_sync and audit_flush() wait for it */
static uint64 my_last_ticket = 0;
/* true in the audit writer: the only process the append-only trigger lets through */
static bool am_audit_writer = false;

#define QUEUE_LOCK(i) (&audit_shared->locks[(i)].lock)
#define QUEUE_DATA(i) (audit_data + (Size) (i) * audit_shared->queue_size)

/* ------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------
 */
static Size
audit_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(AuditShared)),
					mul_size(PD_AUDIT_QUEUES, (Size) pd_audit_queue_size_kb * 1024));
}

static void
audit_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(audit_shmem_size());
	RequestNamedLWLockTranche(PD_AUDIT_TRANCHE, PD_AUDIT_QUEUES + 1);
}

static void
audit_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	audit_shared = ShmemInitStruct("personal_data audit", audit_shmem_size(), &found);
	audit_data = (char *) audit_shared + MAXALIGN(sizeof(AuditShared));
	if (!found)
	{
		int			i;

		memset(audit_shared, 0, sizeof(AuditShared));
		audit_shared->locks = GetNamedLWLockTranche(PD_AUDIT_TRANCHE);
		audit_shared->queue_size = (Size) pd_audit_queue_size_kb * 1024;
		for (i = 0; i < PD_AUDIT_QUEUES; i++)
		{
			ConditionVariableInit(&audit_shared->queues[i].space_cv);
			ConditionVariableInit(&audit_shared->queues[i].written_cv);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The queue of this backend's database, claimed if none is yet.  -1 when
 * all slots are taken by other databases (the caller reports it).
 */
static int
audit_queue_for_database(void)
{
	int			i;
	int			free_slot = -1;

	if (my_queue >= 0 && my_queue_db == MyDatabaseId &&
		audit_shared->queues[my_queue].dboid == MyDatabaseId)
		return my_queue;

	LWLockAcquire(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK), LW_EXCLUSIVE);
	for (i = 0; i < PD_AUDIT_QUEUES; i++)
	{
		AuditQueue *q = &audit_shared->queues[i];

		if (q->dboid == MyDatabaseId)
		{
			free_slot = i;
			break;
		}
		if (q->dboid == InvalidOid && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0 && audit_shared->queues[free_slot].dboid != MyDatabaseId)
	{
		AuditQueue *q = &audit_shared->queues[free_slot];

		LWLockAcquire(QUEUE_LOCK(free_slot), LW_EXCLUSIVE);
		q->dboid = MyDatabaseId;
		q->head = q->tail = 0;
		q->enqueued = q->written = q->lost = 0;
		q->writer_pid = 0;
		q->writer_requested = false;
		LWLockRelease(QUEUE_LOCK(free_slot));
	}
	LWLockRelease(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK));

	my_queue = free_slot;
	my_queue_db = MyDatabaseId;
	my_last_ticket = 0;
	return free_slot;
}

/* ------------------------------------------------------------------------
 * Producers
 * ------------------------------------------------------------------------
 */

/* Registers an audit writer for queue qi (its database), if none runs or is starting. */
static void
ensure_writer(int qi)
{
	AuditQueue *q = &audit_shared->queues[qi];
	BackgroundWorker worker;
	bool		start = false;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(QUEUE_LOCK(qi), LW_EXCLUSIVE);
	if (q->writer_pid == 0 &&
		(!q->writer_requested ||
		 TimestampDifferenceExceeds(q->requested_at, now, 10000)))
	{
		q->writer_requested = true;
		q->requested_at = now;
		start = true;
	}
	else if (q->writer_latch != NULL && q->writer_pid != 0)
		SetLatch(q->writer_latch);
	LWLockRelease(QUEUE_LOCK(qi));
	if (!start)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "personal_data");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pd_audit_writer_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "personal_data audit writer for database %u", MyDatabaseId);
	snprintf(worker.bgw_type, BGW_MAXLEN, "personal_data audit writer");
	worker.bgw_main_arg = Int32GetDatum(qi);
	memcpy(worker.bgw_extra, &MyDatabaseId, sizeof(Oid));
	worker.bgw_notify_pid = 0;
	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
	{
		/* retried by the next entry; meanwhile entries wait in the queue */
		LWLockAcquire(QUEUE_LOCK(qi), LW_EXCLUSIVE);
		q->writer_requested = false;
		LWLockRelease(QUEUE_LOCK(qi));
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start the personal_data audit writer"),
				 errdetail("Audit entries wait in shared memory until a writer can start."),
				 errhint("Raise max_worker_processes.")));
	}
}

static void
report_no_queue(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("no personal_data audit queue is free for database \"%s\"",
					get_database_name(MyDatabaseId)),
			 errdetail("personal_data audits at most %d databases at a time.", PD_AUDIT_QUEUES)));
}

/* bytes free in queue q (lock held) */
static Size
queue_free(AuditQueue *q)
{
	return audit_shared->queue_size - (Size) (q->head - q->tail);
}

/*
 * Appends one record to this database's queue.  When the queue is full it
 * waits for the writer: forever in a statement (a cancel or
 * statement_timeout interrupts it), at most PD_AUDIT_ABORT_WAIT_MS while
 * aborting, after which the loss is logged -- never silent.
 */
static void
audit_enqueue(const AuditRecord *rec, bool aborting)
{
	int			qi = audit_queue_for_database();
	AuditQueue *q;
	TimestampTz wait_start = 0;

	if (qi < 0)
	{
		if (aborting)
		{
			ereport(LOG,
					(errmsg("personal_data audit entry lost: no audit queue is free for database %u",
							MyDatabaseId)));
			return;
		}
		report_no_queue();
	}
	q = &audit_shared->queues[qi];
	if (rec->len > audit_shared->queue_size / 2)
		elog(ERROR, "personal_data audit record of %u bytes does not fit the queue", rec->len);

	for (;;)
	{
		bool		wake_writer;
		bool		have_writer;

		LWLockAcquire(QUEUE_LOCK(qi), LW_EXCLUSIVE);
		if (queue_free(q) >= rec->len)
		{
			Size		size = audit_shared->queue_size;
			Size		offset = (Size) (q->head % size);
			Size		first = Min((Size) rec->len, size - offset);
			char	   *data = QUEUE_DATA(qi);

			memcpy(data + offset, rec, first);
			if (first < rec->len)
				memcpy(data, (const char *) rec + first, rec->len - first);
			q->head += rec->len;
			my_last_ticket = ++q->enqueued;
			/* wake the writer early when the queue fills up */
			wake_writer = (q->head - q->tail) > size / 2;
			have_writer = q->writer_pid != 0 || q->writer_requested;
			if (wake_writer && q->writer_latch && q->writer_pid != 0)
				SetLatch(q->writer_latch);
			LWLockRelease(QUEUE_LOCK(qi));
			if (!have_writer)
				ensure_writer(qi);
			if (wait_start != 0)
				ConditionVariableCancelSleep();
			return;
		}
		LWLockRelease(QUEUE_LOCK(qi));

		/* full: wake the writer and wait for space */
		ensure_writer(qi);
		if (wait_start == 0)
			wait_start = GetCurrentTimestamp();
		else if (aborting &&
				 TimestampDifferenceExceeds(wait_start, GetCurrentTimestamp(),
											PD_AUDIT_ABORT_WAIT_MS))
		{
			ConditionVariableCancelSleep();
			LWLockAcquire(QUEUE_LOCK(qi), LW_EXCLUSIVE);
			q->lost++;
			LWLockRelease(QUEUE_LOCK(qi));
			ereport(LOG,
					(errmsg("personal_data audit entry lost: the audit queue stayed full for %d s while a statement aborted",
							PD_AUDIT_ABORT_WAIT_MS / 1000)));
			return;
		}
		(void) ConditionVariableTimedSleep(&q->space_cv, 100,
										   PG_WAIT_EXTENSION);
	}
}

/* Waits until the writer of queue qi has committed records up to ticket. */
static void
audit_wait_for(int qi, uint64 ticket)
{
	AuditQueue *q = &audit_shared->queues[qi];

	for (;;)
	{
		uint64		written;

		LWLockAcquire(QUEUE_LOCK(qi), LW_SHARED);
		written = q->written;
		LWLockRelease(QUEUE_LOCK(qi));
		if (written >= ticket)
			break;
		ensure_writer(qi);
		(void) ConditionVariableTimedSleep(&q->written_cv, 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/* Waits until the writer has committed every record this backend queued. */
static void
audit_wait_written(void)
{
	if (my_queue < 0 || my_last_ticket == 0 || my_queue_db != MyDatabaseId)
		return;
	audit_wait_for(my_queue, my_last_ticket);
}

static void
append_name(StringInfo buf, const char *name)
{
	appendBinaryStringInfo(buf, name ? name : "", name ? strlen(name) : 0);
	appendStringInfoChar(buf, '\0');
}

/*
 * The names block of an entry: role, relation and column names as they are
 * now (a writer resolving them later could find them dropped).  Sets
 * header->natts to the number of columns; all of them for a whole-row use.
 */
/*
 * The same statement run again resolves the same names: the last few
 * blocks are remembered, keyed by everything they depend on, and forgotten
 * at any invalidation of a relation, role or schema (renames).
 */
#define NAMES_MEMO_SIZE 8
#define NAMES_MEMO_ATTS 32

typedef struct NamesMemo
{
	bool		valid;
	Oid			session_user_id;
	Oid			current_user_id;
	Oid			recipient;
	Oid			relid;
	bool		whole_row;
	int			natts;
	int16		atts[NAMES_MEMO_ATTS];
	int16		ncols;
	Size		len;
	char	   *names;
} NamesMemo;

static NamesMemo names_memo[NAMES_MEMO_SIZE];
static int	names_memo_next = 0;
static bool names_memo_callbacks = false;

static void
forget_names(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < NAMES_MEMO_SIZE; i++)
		names_memo[i].valid = false;
}

static void
forget_names_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	forget_names(arg, InvalidOid);
}

static char *resolve_names_uncached(AuditRecord *header, const int16 *atts, int natts, Size *len);

static char *
resolve_names(AuditRecord *header, const int16 *atts, int natts, Size *len)
{
	int			i;
	NamesMemo  *m;
	char	   *names;

	if (!names_memo_callbacks)
	{
		CacheRegisterRelcacheCallback(forget_names, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, forget_names_syscache, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, forget_names_syscache, (Datum) 0);
		names_memo_callbacks = true;
	}
	if (natts > NAMES_MEMO_ATTS)
		return resolve_names_uncached(header, atts, natts, len);
	for (i = 0; i < NAMES_MEMO_SIZE; i++)
	{
		m = &names_memo[i];
		if (m->valid && m->session_user_id == header->session_user_id &&
			m->current_user_id == header->current_user_id &&
			m->recipient == header->recipient && m->relid == header->relid &&
			m->whole_row == header->whole_row && m->natts == natts &&
			(natts == 0 || memcmp(m->atts, atts, natts * sizeof(int16)) == 0))
		{
			header->natts = m->ncols;
			*len = m->len;
			return m->names;
		}
	}
	names = resolve_names_uncached(header, atts, natts, len);
	m = &names_memo[names_memo_next];
	names_memo_next = (names_memo_next + 1) % NAMES_MEMO_SIZE;
	if (m->names)
		pfree(m->names);
	m->names = MemoryContextAlloc(TopMemoryContext, *len + 1);
	memcpy(m->names, names, *len);
	m->session_user_id = header->session_user_id;
	m->current_user_id = header->current_user_id;
	m->recipient = header->recipient;
	m->relid = header->relid;
	m->whole_row = header->whole_row;
	m->natts = natts;
	if (natts > 0)
		memcpy(m->atts, atts, natts * sizeof(int16));
	m->ncols = header->natts;
	m->len = *len;
	m->valid = true;
	return names;
}

static char *
resolve_names_uncached(AuditRecord *header, const int16 *atts, int natts, Size *len)
{
	StringInfoData buf;
	int			ncols = 0;
	int			i;

	initStringInfo(&buf);
	append_name(&buf, GetUserNameFromId(header->session_user_id, true));
	append_name(&buf, GetUserNameFromId(header->current_user_id, true));
	append_name(&buf, OidIsValid(header->recipient) ? GetUserNameFromId(header->recipient, true) : NULL);
	if (OidIsValid(header->relid))
	{
		char	   *rel = get_rel_name(header->relid);

		append_name(&buf, rel ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(header->relid)), rel) : NULL);
		if (header->whole_row)
		{
			Relation	relation = RelationIdGetRelation(header->relid);

			if (RelationIsValid(relation))
			{
				TupleDesc	desc = RelationGetDescr(relation);

				for (i = 0; i < desc->natts && ncols < PG_INT16_MAX; i++)
				{
					if (TupleDescAttr(desc, i)->attisdropped)
						continue;
					append_name(&buf, NameStr(TupleDescAttr(desc, i)->attname));
					ncols++;
				}
				RelationClose(relation);
			}
		}
		else
		{
			for (i = 0; i < natts; i++)
			{
				append_name(&buf, get_attname(header->relid, atts[i], true));
				ncols++;
			}
		}
	}
	else
		append_name(&buf, NULL);
	if (buf.len > PG_UINT16_MAX)
		elog(ERROR, "personal_data audit entry names too long");
	header->natts = (int16) ncols;
	*len = buf.len;
	return buf.data;
}

/* Builds a record: header fields from the caller, variable parts appended. */
static AuditRecord *
build_record(const AuditRecord *header, const char *names, Size names_len,
			 const char *purpose, const char *reason,
			 const char *organization, const char *country,
			 List *subjects)
{
	Size		len = sizeof(AuditRecord);
	Size		purpose_len = purpose ? Min(strlen(purpose), 1024) : 0;
	Size		reason_len = reason ? Min(strlen(reason), 2048) : 0;
	Size		organization_len = organization ? Min(strlen(organization), 1024) : 0;
	Size		country_len = country ? Min(strlen(country), 16) : 0;
	AuditRecord *rec;
	char	   *p;
	ListCell   *lc;

	len += names_len + purpose_len + reason_len + organization_len + country_len;
	foreach(lc, subjects)
		len += sizeof(uint32) + strlen((char *) lfirst(lc));
	len = MAXALIGN(len);

	rec = palloc0(len);
	memcpy(rec, header, sizeof(AuditRecord));
	rec->len = (uint32) len;
	rec->purpose_len = (uint16) purpose_len;
	rec->reason_len = (uint16) reason_len;
	rec->organization_len = (uint16) organization_len;
	rec->country_len = (uint16) country_len;
	rec->nsubjects = list_length(subjects);
	rec->names_len = (uint16) names_len;
	p = (char *) rec + sizeof(AuditRecord);
	memcpy(p, names, names_len);
	p += names_len;
	memcpy(p, purpose, purpose_len);
	p += purpose_len;
	memcpy(p, reason, reason_len);
	p += reason_len;
	memcpy(p, organization, organization_len);
	p += organization_len;
	memcpy(p, country, country_len);
	p += country_len;
	foreach(lc, subjects)
	{
		char	   *s = lfirst(lc);
		uint32		slen = strlen(s);

		memcpy(p, &slen, sizeof(uint32));
		p += sizeof(uint32);
		memcpy(p, s, slen);
		p += slen;
	}
	return rec;
}

/* Is the audit active for this kind of entry?  Not where the extension is absent. */
static bool
audit_wanted(bool denied)
{
	if (!pd_preloaded || audit_shared == NULL || !IsNormalProcessingMode() ||
		!OidIsValid(MyDatabaseId) || am_audit_writer)
		return false;
	if (pd_audit_level == PD_AUDIT_OFF)
		return false;
	if (pd_audit_level == PD_AUDIT_DENIED && !denied)
		return false;
	return IsTransactionState() && pd_extension_installed();
}

static char
command_code(CmdType operation)
{
	switch (operation)
	{
		case CMD_SELECT:
			return 'S';
		case CMD_INSERT:
			return 'I';
		case CMD_UPDATE:
			return 'U';
		case CMD_DELETE:
			return 'D';
		case CMD_MERGE:
			return 'M';
		default:
			return '?';
	}
}

static const char *
command_name(char code)
{
	switch (code)
	{
		case 'S':
			return "SELECT";
		case 'I':
			return "INSERT";
		case 'U':
			return "UPDATE";
		case 'D':
			return "DELETE";
		case 'M':
			return "MERGE";
		case 'C':
			return "COPY";
		case 'T':
			return "SET";
		default:
			return "OTHER";
	}
}

static const char *
session_purpose(void)
{
	return (pd_purpose && pd_purpose[0] != '\0') ? pd_purpose : NULL;
}

/*
 * Queues an entry made outside a statement's capture (a refusal, a COPY, a
 * setting change) at once: who and where filled in here, the names resolved
 * now, and the wait of audit_sync.
 */
static void
enqueue_entry_now(AuditRecord *header, Oid relid, const int16 *atts, int natts,
				  const char *reason)
{
	PdRecipient *recipient = pd_session_recipient(GetOuterUserId());
	char	   *names;
	Size		names_len;

	header->cross_border = -1;
	header->completed = true;
	header->session_user_id = GetSessionUserId();
	header->current_user_id = GetUserId();
	header->recipient = recipient ? recipient->roleid : InvalidOid;
	header->relid = relid;
	names = resolve_names(header, atts, natts, &names_len);
	audit_enqueue(build_record(header, names, names_len, session_purpose(), reason,
							   NULL, NULL, NIL), false);
	if (pd_audit_sync)
		audit_wait_written();
}

/*
 * Called by enforcement just before it refuses a statement: the attempt is
 * logged although the statement aborts.  reason is the error message.
 */
void
pd_audit_denied(Oid relid, AttrNumber attnum, CmdType operation, const char *reason)
{
	AuditRecord header = {0};
	int16		att = attnum;

	if (!audit_wanted(true))
		return;
	header.kind = AUDIT_ACCESS;
	header.command = command_code(operation);
	header.allowed = false;
	header.at = GetCurrentStatementStartTimestamp();
	header.rows = 0;
	enqueue_entry_now(&header, relid, &att, attnum > 0 ? 1 : 0, reason);
}

/* ------------------------------------------------------------------------
 * Statement capture
 * ------------------------------------------------------------------------
 */

/* a scan of a registered table whose emitted rows are recorded for a recipient */
typedef enum CaptureAt
{
	CAPTURE_SCAN,				/* the scan's own tuple */
	CAPTURE_JOIN_OUTER,			/* the outer tuple of the filter's join */
	CAPTURE_JOIN_INNER			/* the inner tuple of the filter's join */
} CaptureAt;

typedef struct ScanCapture
{
	PlanState  *ps;				/* the node wrapped: the scan or the join */
	ExecProcNodeMtd real;
	CaptureAt	at;
	AttrNumber	join_attno;		/* subject's column in the join side's tuple */
	Oid			relid;			/* the registered table (rules' relation) */
	AttrNumber	subject_attno;	/* in the scan tuple slot; 0: fetch from heap */
	AttrNumber	heap_subject_attno; /* in the scanned relation */
	FmgrInfo	output;
	TupleTableSlot *fetch_slot; /* for index-only scans without the subject */
	char	   *names;			/* names block, resolved when the scan starts */
	Size		names_len;
	int			ncols;
	List	   *subjects;		/* char *, not yet queued */
	Size		subject_bytes;
	HTAB	   *seen;			/* subjects already recorded in this statement */
} ScanCapture;

/*
 * A subject is recorded once per statement: subjects of up to
 * SEEN_KEY_LEN - 1 bytes are remembered exactly; longer ones (rare) are
 * recorded once per row rather than risk dropping one.
 */
#define SEEN_KEY_LEN 64

/* a statement being executed, with its pending access entries */
typedef struct AuditStatement
{
	QueryDesc  *queryDesc;		/* not to be read once the statement failed */
	CmdType		operation;
	uint64		query_id;
	int			nest_level;		/* transaction nesting level it started in */
	MemoryContext context;
	List	   *access;			/* AuditRecords, rows filled in at the end */
	int			ncaptures;
	ScanCapture *captures;
	PdRecipient recipient;		/* copy, valid if has_recipient */
	bool		has_recipient;
	char		purpose[NAMEDATALEN];
	bool		has_purpose;
} AuditStatement;

static List *active_statements = NIL;	/* of AuditStatement *, innermost first */

/* one statement context kept for the next statement: most run one at a time */
static MemoryContext spare_context = NULL;

static void
release_statement_context(MemoryContext context)
{
	if (spare_context == NULL)
	{
		MemoryContextReset(context);
		spare_context = context;
	}
	else
		MemoryContextDelete(context);
}

static void
flush_subjects(AuditStatement *st, ScanCapture *cap, bool aborting)
{
	AuditRecord header = {0};
	const char *country = st->recipient.country;

	if (cap->subjects == NIL)
		return;
	header.kind = AUDIT_DISCLOSURE;
	header.command = command_code(st->operation);
	header.allowed = true;
	if (country == NULL || pd_home_country == NULL || pd_home_country[0] == '\0')
		header.cross_border = -1;
	else
		header.cross_border = strcmp(country, pd_home_country) != 0 ? 1 : 0;
	header.natts = cap->ncols;
	header.completed = !aborting;
	header.at = GetCurrentStatementStartTimestamp();
	header.session_user_id = GetSessionUserId();
	header.current_user_id = GetUserId();
	header.recipient = st->recipient.roleid;
	header.relid = cap->relid;
	header.rows = -1;
	header.query_id = st->query_id;
	/* the recipient kind rides in the reason: the writer derives the basis */
	audit_enqueue(build_record(&header, cap->names, cap->names_len,
							   st->has_purpose ? st->purpose : NULL,
							   st->recipient.kind == PD_RECIPIENT_ENTRUSTEE ? "entrustment" : "third_party",
							   st->recipient.organization, country,
							   cap->subjects), aborting);
	list_free_deep(cap->subjects);
	cap->subjects = NIL;
	cap->subject_bytes = 0;
}

static ScanCapture *
find_capture(PlanState *ps, AuditStatement **owner)
{
	ListCell   *lc;

	foreach(lc, active_statements)
	{
		AuditStatement *st = lfirst(lc);
		int			i;

		for (i = 0; i < st->ncaptures; i++)
		{
			if (st->captures[i].ps == ps)
			{
				*owner = st;
				return &st->captures[i];
			}
		}
	}
	return NULL;
}

/*
 * ExecProcNode of a captured node: the real one, then the subject of the
 * row it emitted noted.
 */
static TupleTableSlot *
capture_exec_proc_node(PlanState *ps)
{
	AuditStatement *st = NULL;
	ScanCapture *cap = find_capture(ps, &st);
	TupleTableSlot *slot;
	bool		isnull;
	Datum		value;
	MemoryContext oldcxt;
	char	   *subject;

	if (cap == NULL)
		elog(ERROR, "personal_data: scan capture lost");
	slot = cap->real(ps);
	if (TupIsNull(slot))
		return slot;

	if (cap->at == CAPTURE_JOIN_OUTER || cap->at == CAPTURE_JOIN_INNER)
	{
		ExprContext *econtext = ps->ps_ExprContext;
		TupleTableSlot *side = cap->at == CAPTURE_JOIN_OUTER ?
			econtext->ecxt_outertuple : econtext->ecxt_innertuple;

		if (TupIsNull(side))
			return slot;
		value = slot_getattr(side, cap->join_attno, &isnull);
	}
	else if (cap->subject_attno > 0)
		value = slot_getattr(((ScanState *) ps)->ss_ScanTupleSlot,
							 cap->subject_attno, &isnull);
	else
	{
		/* an index-only scan whose index lacks the subject: read it from the heap */
		IndexOnlyScanState *ioss = (IndexOnlyScanState *) ps;
		Relation	rel = ioss->ss.ss_currentRelation;

		if (!table_tuple_fetch_row_version(rel, &ioss->ioss_ScanDesc->xs_heaptid,
										   ps->state->es_snapshot, cap->fetch_slot))
			return slot;
		value = slot_getattr(cap->fetch_slot, cap->heap_subject_attno, &isnull);
	}
	if (isnull)
		return slot;

	oldcxt = MemoryContextSwitchTo(st->context);
	subject = OutputFunctionCall(&cap->output, value);
	if (strlen(subject) < SEEN_KEY_LEN)
	{
		bool		found;

		if (cap->seen == NULL)
		{
			HASHCTL		ctl;

			ctl.keysize = SEEN_KEY_LEN;
			ctl.entrysize = SEEN_KEY_LEN;
			ctl.hcxt = st->context;
			cap->seen = hash_create("personal_data provided subjects", 256, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		}
		(void) hash_search(cap->seen, subject, HASH_ENTER, &found);
		if (found)
		{
			pfree(subject);
			MemoryContextSwitchTo(oldcxt);
			return slot;
		}
	}
	cap->subjects = lappend(cap->subjects, subject);
	cap->subject_bytes += strlen(subject) + sizeof(uint32);
	MemoryContextSwitchTo(oldcxt);
	if (cap->subject_bytes >= PD_AUDIT_CHUNK_BYTES)
		flush_subjects(st, cap, false);
	return slot;
}

/* used columns of an RTE as attribute numbers; whole_row if the row is used */
static int16 *
rte_used_atts(RangeTblEntry *rte, int *natts, bool *whole_row)
{
	Bitmapset  *cols = bms_union(rte->selectedCols,
								 bms_union(rte->insertedCols, rte->updatedCols));
	int16	   *atts = palloc(sizeof(int16) * (bms_num_members(cols) + 1));
	int			n = 0;
	int			x = -1;

	*whole_row = false;
	while ((x = bms_next_member(cols, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;

		if (attnum == InvalidAttrNumber)
			*whole_row = true;
		else if (attnum > 0)
			atts[n++] = attnum;
	}
	*natts = n;
	return atts;
}

typedef struct CaptureWalk
{
	AuditStatement *st;
	EState	   *estate;
	Oid			consents_relid;
	Oid			legal_bases_relid;
	List	   *ancestors;		/* PlanState *, nearest first */
	List	   *found;			/* ScanCapture * */
} CaptureWalk;

static bool
is_scan_state(PlanState *ps)
{
	switch (nodeTag(ps))
	{
		case T_SeqScanState:
		case T_SampleScanState:
		case T_IndexScanState:
		case T_IndexOnlyScanState:
		case T_BitmapHeapScanState:
		case T_TidScanState:
		case T_TidRangeScanState:
			return true;
		default:
			return false;
	}
}

typedef struct ScanSearch
{
	EState	   *estate;
	Oid			relid1;
	Oid			relid2;
} ScanSearch;

/* Does the subtree scan relid1 or relid2? */
static bool
subtree_scans(PlanState *ps, ScanSearch *search)
{
	if (ps == NULL)
		return false;
	if (is_scan_state(ps))
	{
		Oid			relid = exec_rt_fetch(((Scan *) ps->plan)->scanrelid, search->estate)->relid;

		if (relid == search->relid1 || relid == search->relid2)
			return true;
	}
	return planstate_tree_walker(ps, subtree_scans, search);
}

static bool
subtree_contains(PlanState *ps, PlanState *target)
{
	if (ps == NULL)
		return false;
	if (ps == target)
		return true;
	return planstate_tree_walker(ps, subtree_contains, target);
}

static bool
is_scan_plan(Plan *plan)
{
	return IsA(plan, SeqScan) || IsA(plan, IndexScan) || IsA(plan, IndexOnlyScan) ||
		IsA(plan, BitmapHeapScan) || IsA(plan, SampleScan) || IsA(plan, TidScan) ||
		IsA(plan, TidRangeScan);
}

/*
 * Which column of plan's output is column attno of the scan of scanrelid?
 * Followed down through nodes that pass their child's columns on (Gather,
 * Hash, Sort, Material, Append...).  0 if it cannot be told.
 */
static AttrNumber
output_column_of(Plan *plan, Index scanrelid, AttrNumber attno)
{
	ListCell   *lc;

	foreach(lc, plan->targetlist)
	{
		TargetEntry *tle = lfirst(lc);
		Plan	   *child = plan;
		Expr	   *expr = tle->expr;

		/* follow the column down to a scan */
		while (child != NULL && expr != NULL && IsA(expr, Var))
		{
			Var		   *var = (Var *) expr;
			Plan	   *next = NULL;
			TargetEntry *down;

			if ((Index) var->varno == scanrelid && is_scan_plan(child))
			{
				if (var->varattno == attno)
					return tle->resno;
				break;
			}
			/* an index-only scan names its columns by their place in the index */
			if (var->varno == INDEX_VAR && IsA(child, IndexOnlyScan) &&
				((IndexOnlyScan *) child)->scan.scanrelid == scanrelid &&
				var->varattno > 0 &&
				var->varattno <= list_length(((IndexOnlyScan *) child)->indextlist))
			{
				TargetEntry *itle = list_nth(((IndexOnlyScan *) child)->indextlist,
											 var->varattno - 1);

				if (IsA(itle->expr, Var) && ((Var *) itle->expr)->varattno == attno)
					return tle->resno;
				break;
			}
			if (var->varno == OUTER_VAR)
			{
				next = outerPlan(child);
				if (next == NULL && IsA(child, Append) && ((Append *) child)->appendplans)
					next = linitial(((Append *) child)->appendplans);
				if (next == NULL && IsA(child, MergeAppend) && ((MergeAppend *) child)->mergeplans)
					next = linitial(((MergeAppend *) child)->mergeplans);
			}
			else if (var->varno == INNER_VAR)
				next = innerPlan(child);
			if (next == NULL || var->varattno <= 0 ||
				var->varattno > list_length(next->targetlist))
				break;
			down = list_nth(next->targetlist, var->varattno - 1);
			expr = down->expr;
			child = next;
		}
	}
	return 0;
}

/*
 * A third party's row filter is usually planned as a (semi-)join of the
 * table with consents: the scan emits every row and the join drops those
 * without a basis.  The rows provided are the join's, so the capture sits
 * on the nearest join whose other side reads consents or legal bases;
 * without one (the filter is a condition of the scan), on the scan itself.
 */
static void
place_capture(ScanCapture *cap, PlanState *scan, Index scanrelid, CaptureWalk *walk)
{
	ListCell   *lc;
	ScanSearch	search = {walk->estate, walk->consents_relid, walk->legal_bases_relid};

	cap->ps = scan;
	cap->at = CAPTURE_SCAN;
	foreach(lc, walk->ancestors)
	{
		PlanState  *anc = lfirst(lc);
		PlanState  *outer = outerPlanState(anc);
		PlanState  *inner = innerPlanState(anc);
		bool		scan_is_outer;
		PlanState  *other;
		PlanState  *side;
		AttrNumber	attno;

		if (!IsA(anc, NestLoopState) && !IsA(anc, HashJoinState) && !IsA(anc, MergeJoinState))
			continue;
		scan_is_outer = subtree_contains(outer, scan);
		other = scan_is_outer ? inner : outer;
		side = scan_is_outer ? outer : inner;
		if (!subtree_scans(other, &search))
			continue;
		attno = output_column_of(side->plan, scanrelid, cap->heap_subject_attno);
		if (attno > 0)
		{
			cap->ps = anc;
			cap->at = scan_is_outer ? CAPTURE_JOIN_OUTER : CAPTURE_JOIN_INNER;
			cap->join_attno = attno;
		}
		return;
	}
}

/* Finds the scans of registered tables in a plan state tree. */
static bool
find_registered_scans(PlanState *ps, CaptureWalk *walk)
{
	bool		result;

	if (ps == NULL)
		return false;
	if (is_scan_state(ps))
	{
		Index		scanrelid = ((Scan *) ps->plan)->scanrelid;
		RangeTblEntry *rte = exec_rt_fetch(scanrelid, walk->estate);
		PdTableRules *rules = pd_table_rules(rte->relid);

		if (rules->registered && rules->subject_attnum != InvalidAttrNumber)
		{
			ScanCapture *cap = palloc0(sizeof(ScanCapture));
			Oid			typoutput;
			bool		typisvarlena;
			Oid			atttype = get_atttype(rte->relid, rules->subject_attnum);
			bool		whole_row;

			cap->relid = rules->rules_relid;
			cap->heap_subject_attno = rules->subject_attnum;
			cap->subject_attno = rules->subject_attnum;
			if (IsA(ps, IndexOnlyScanState))
			{
				Relation	index = ((IndexOnlyScanState *) ps)->ioss_RelationDesc;
				int			i;

				cap->subject_attno = 0;
				for (i = 0; i < index->rd_index->indnkeyatts; i++)
				{
					if (index->rd_index->indkey.values[i] == rules->subject_attnum)
						cap->subject_attno = i + 1;
				}
				if (cap->subject_attno == 0)
					cap->fetch_slot =
						table_slot_create(((ScanState *) ps)->ss_currentRelation,
										  &walk->estate->es_tupleTable);
			}
			getTypeOutputInfo(atttype, &typoutput, &typisvarlena);
			fmgr_info_cxt(typoutput, &cap->output, walk->st->context);
			{
				AuditRecord h = {0};
				int			natts;
				int16	   *atts = rte_used_atts(rte, &natts, &whole_row);

				h.session_user_id = GetSessionUserId();
				h.current_user_id = GetUserId();
				h.recipient = walk->st->recipient.roleid;
				h.relid = rules->rules_relid;
				h.whole_row = whole_row;
				cap->names = resolve_names(&h, atts, natts, &cap->names_len);
				cap->ncols = h.natts;
			}
			place_capture(cap, ps, scanrelid, walk);
			walk->found = lappend(walk->found, cap);
		}
	}
	walk->ancestors = lcons(ps, walk->ancestors);
	result = planstate_tree_walker(ps, find_registered_scans, walk);
	walk->ancestors = list_delete_first(walk->ancestors);
	return result;
}

/* Pending access entries: one per registered table the statement names. */
static void
collect_access(AuditStatement *st, QueryDesc *queryDesc)
{
	List	   *seen = NIL;
	ListCell   *lc;
	int			rti = 0;

	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		PdTableRules *rules;
		AuditRecord template;
		AuditRecord *header;
		int16	   *atts;
		int			natts;
		bool		whole_row;
		char	   *names;
		Size		names_len;

		rti++;
		if (rte->rtekind != RTE_RELATION || rte->requiredPerms == 0)
			continue;
		rules = pd_table_rules(rte->relid);
		if (!rules->registered || list_member_oid(seen, rte->relid))
			continue;
		seen = lappend_oid(seen, rte->relid);

		atts = rte_used_atts(rte, &natts, &whole_row);
		header = &template;
		memset(header, 0, sizeof(AuditRecord));
		header->kind = AUDIT_ACCESS;
		header->command = command_code(queryDesc->operation);
		header->allowed = true;
		header->whole_row = whole_row;
		header->cross_border = -1;
		header->natts = natts;
		header->at = GetCurrentStatementStartTimestamp();
		header->session_user_id = GetSessionUserId();
		header->current_user_id = GetUserId();
		header->recipient = st->has_recipient ? st->recipient.roleid : InvalidOid;
		header->relid = rte->relid;
		header->rows = -1;
		header->query_id = queryDesc->plannedstmt->queryId;
		names = resolve_names(header, atts, natts, &names_len);
		st->access = lappend(st->access,
							 build_record(header, names, names_len,
										  st->has_purpose ? st->purpose : NULL,
										  NULL, NULL, NULL, NIL));
	}
}

/* Queues a finished (or failed) statement's entries and forgets it. */
static void
finish_statement(AuditStatement *st, bool aborting)
{
	ListCell   *lc;
	int			i;
	int64		rows = -1;
	bool		queued = false;
	MemoryContext oldcxt = MemoryContextSwitchTo(st->context);

	active_statements = list_delete_ptr(active_statements, st);
	if (!aborting && st->queryDesc->estate)
		rows = (int64) st->queryDesc->estate->es_processed;

	foreach(lc, st->access)
	{
		AuditRecord *rec = lfirst(lc);

		rec->rows = rows;
		rec->completed = !aborting;
		audit_enqueue(rec, aborting);
		queued = true;
	}
	for (i = 0; i < st->ncaptures; i++)
	{
		if (st->captures[i].subjects != NIL)
			queued = true;
		flush_subjects(st, &st->captures[i], aborting);
	}
	MemoryContextSwitchTo(oldcxt);
	release_statement_context(st->context);
	if (queued && pd_audit_sync && !aborting)
		audit_wait_written();
}

/*
 * With audit_queue_full = error, a statement whose entries might not fit
 * fails before it runs (so that it returns nothing it could not log): when
 * less than an eighth of the queue is free.
 */
static void
refuse_if_queue_full(void)
{
	int			qi = audit_queue_for_database();
	AuditQueue *q;
	Size		free_bytes;

	if (qi < 0)
		report_no_queue();
	q = &audit_shared->queues[qi];
	LWLockAcquire(QUEUE_LOCK(qi), LW_SHARED);
	free_bytes = queue_free(q);
	LWLockRelease(QUEUE_LOCK(qi));
	if (free_bytes >= audit_shared->queue_size / 8)
		return;
	ensure_writer(qi);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("the personal_data audit queue is full"),
			 errdetail("The statement was not run: its audit entries could not be queued."),
			 errhint("Retry when the audit writer has caught up, or set personal_data.audit_queue_full = block.")));
}

/* Does the statement name a registered table?  One cache probe per table. */
static bool
names_registered_table(List *rtable)
{
	ListCell   *lc;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && pd_table_rules(rte->relid)->registered)
			return true;
	}
	return false;
}

static void
pd_audit_executor_start(QueryDesc *queryDesc, int eflags)
{
	AuditStatement *st;
	PdRecipient *recipient = NULL;
	bool		want_access;
	bool		want_disclosure;
	MemoryContext context;
	MemoryContext oldcxt;

	if (pd_audit_settings_touched)
		pd_audit_check_settings();

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	/* with audit = denied, disclosures are still recorded */
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || queryDesc->operation == CMD_UTILITY ||
		!pd_preloaded || !names_registered_table(queryDesc->plannedstmt->rtable) ||
		!audit_wanted(true))
		return;
	if (pd_audit_queue_full == PD_AUDIT_QUEUE_FULL_ERROR && !IsParallelWorker())
		refuse_if_queue_full();
	want_access = pd_audit_level == PD_AUDIT_ALL && !IsParallelWorker();
	if (pd_enforcement_applies())
		recipient = pd_session_recipient(GetOuterUserId());
	want_disclosure = recipient != NULL;
	if (!want_access && !want_disclosure)
		return;

	if (spare_context != NULL)
	{
		context = spare_context;
		spare_context = NULL;
	}
	else
		context = AllocSetContextCreate(TopMemoryContext,
										"personal_data audit statement",
										ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(context);
	st = palloc0(sizeof(AuditStatement));
	st->context = context;
	st->queryDesc = queryDesc;
	st->operation = queryDesc->operation;
	st->query_id = queryDesc->plannedstmt->queryId;
	st->nest_level = GetCurrentTransactionNestLevel();
	if (recipient)
	{
		st->has_recipient = true;
		st->recipient.roleid = recipient->roleid;
		st->recipient.kind = recipient->kind;
		st->recipient.organization = pstrdup(recipient->organization);
		st->recipient.country = recipient->country ? pstrdup(recipient->country) : NULL;
	}
	if (session_purpose())
	{
		strlcpy(st->purpose, session_purpose(), NAMEDATALEN);
		st->has_purpose = true;
	}
	if (want_access)
		collect_access(st, queryDesc);
	if (want_disclosure)
	{
		CaptureWalk walk = {st, queryDesc->estate, InvalidOid, InvalidOid, NIL, NIL};
		ListCell   *lc;
		int			i = 0;
		Oid			nsp = get_namespace_oid(PD_SCHEMA, false);

		walk.consents_relid = get_relname_relid("consents", nsp);
		walk.legal_bases_relid = get_relname_relid("legal_bases", nsp);
		find_registered_scans(queryDesc->planstate, &walk);
		st->ncaptures = list_length(walk.found);
		if (st->ncaptures > 0)
			st->captures = palloc0(sizeof(ScanCapture) * st->ncaptures);
		foreach(lc, walk.found)
		{
			ScanCapture *cap = &st->captures[i++];

			memcpy(cap, lfirst(lc), sizeof(ScanCapture));
			cap->real = cap->ps->ExecProcNodeReal;
			cap->ps->ExecProcNodeReal = capture_exec_proc_node;
		}
	}
	MemoryContextSwitchTo(oldcxt);
	if (st->access == NIL && st->ncaptures == 0)
	{
		release_statement_context(context);
		return;
	}
	/*
	 * The list outlives the statement that created it (cursors close in any
	 * order): it lives in TopMemoryContext, never in a query's memory.
	 */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	active_statements = lcons(st, active_statements);
	MemoryContextSwitchTo(oldcxt);
}

static void
pd_audit_executor_end(QueryDesc *queryDesc)
{
	ListCell   *lc;

	foreach(lc, active_statements)
	{
		AuditStatement *st = lfirst(lc);

		if (st->queryDesc == queryDesc)
		{
			finish_statement(st, false);
			break;
		}
	}
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (pd_audit_settings_touched)
		pd_audit_check_settings();
}

/*
 * A statement that fails never reaches ExecutorEnd: its entries are queued
 * here, when its (sub)transaction aborts.  Rows it read were still read.
 */
static void
audit_abort_statements(int nest_level)
{
	while (active_statements != NIL)
	{
		AuditStatement *st = linitial(active_statements);

		if (st->nest_level < nest_level)
			break;
		finish_statement(st, true);
	}
}

static void
audit_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		audit_abort_statements(0);
}

static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		audit_abort_statements(GetCurrentTransactionNestLevel());
}

/*
 * Logs a change of personal_data.enforce, .audit or .request_id, whatever
 * personal_data.audit says: switching the audit off is itself audited.
 * reason says what changed.
 */
void
pd_audit_setting_change(const char *reason)
{
	AuditRecord header = {0};

	if (!pd_preloaded || audit_shared == NULL || !IsNormalProcessingMode() ||
		!OidIsValid(MyDatabaseId) || am_audit_writer || IsParallelWorker() ||
		!IsTransactionState() || !pd_extension_installed())
		return;
	header.kind = AUDIT_SETTING;
	header.command = 'T';
	header.allowed = true;
	header.at = GetCurrentTimestamp();
	header.rows = -1;
	enqueue_entry_now(&header, InvalidOid, NULL, 0, reason);
}

/*
 * The settings' assign hooks only note that a value moved (they may run
 * while aborting, where nothing can be queued); the next statement boundary
 * compares each setting with the value last seen and logs a difference.
 * The first comparison starts from the setting's reset value (the server's,
 * role's or database's configuration), so that only changes made in a
 * session -- SET, RESET, set_config(), a reload -- are logged here; ALTER
 * SYSTEM / ROLE / DATABASE SET are logged as statements by the utility hook.
 */
bool		pd_audit_settings_touched = false;

static void
check_one_setting(const char *name, char **last)
{
	const char *current = GetConfigOption(name, false, false);

	if (*last == NULL)
		*last = MemoryContextStrdup(TopMemoryContext, GetConfigOptionResetString(name));
	if (current != NULL && strcmp(current, *last) != 0)
	{
		char	   *reason = psprintf("%s = %s", name, current);

		pfree(*last);
		*last = MemoryContextStrdup(TopMemoryContext, current);
		pd_audit_setting_change(reason);
	}
}

void
pd_audit_check_settings(void)
{
	static char *last_enforce = NULL;
	static char *last_audit = NULL;
	static char *last_request_id = NULL;

	if (!IsTransactionState() || IsParallelWorker())
		return;
	pd_audit_settings_touched = false;
	check_one_setting("personal_data.enforce", &last_enforce);
	check_one_setting("personal_data.audit", &last_audit);
	/* the request a session's corrections answer: its changes are traceable to it */
	check_one_setting("personal_data.request_id", &last_request_id);
}

/* A COPY that runs no executor (see ddl_guard.c): logged by the utility hook. */
void
pd_audit_copy_from(Oid relid, List *attnums, uint64 rows)
{
	AuditRecord header = {0};
	int16	   *atts;
	int			n = 0;
	ListCell   *lc;

	if (!audit_wanted(false) || !pd_table_rules(relid)->registered)
		return;
	atts = palloc(sizeof(int16) * (list_length(attnums) + 1));
	foreach(lc, attnums)
		atts[n++] = (int16) lfirst_int(lc);
	header.kind = AUDIT_ACCESS;
	header.command = 'C';
	header.allowed = true;
	header.whole_row = (n == 0);
	header.at = GetCurrentStatementStartTimestamp();
	header.rows = (int64) rows;
	enqueue_entry_now(&header, relid, atts, n, NULL);
}

/*
 * DROP DATABASE, ALTER DATABASE RENAME/SET TABLESPACE and CREATE DATABASE
 * ... TEMPLATE need the database free of connections: its writer is told to
 * finish and leave (it drains its queue first).  After a DROP DATABASE the
 * slot is released.
 */
void
pd_audit_release_database(Oid dboid, bool dropped)
{
	int			i;

	if (audit_shared == NULL || !OidIsValid(dboid))
		return;
	for (i = 0; i < PD_AUDIT_QUEUES; i++)
	{
		AuditQueue *q = &audit_shared->queues[i];
		int			pid = 0;

		LWLockAcquire(QUEUE_LOCK(i), LW_EXCLUSIVE);
		if (q->dboid == dboid)
		{
			pid = q->writer_pid;
			if (dropped && pid == 0)
			{
				q->dboid = InvalidOid;
				q->head = q->tail = 0;
			}
		}
		LWLockRelease(QUEUE_LOCK(i));
		if (pid != 0)
			kill(pid, SIGTERM);
	}
	/* the purge worker too: it stops after its current batch */
	{
		int			pid = 0;

		LWLockAcquire(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK), LW_SHARED);
		if (audit_shared->purge_db == dboid)
			pid = audit_shared->purge_pid;
		LWLockRelease(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK));
		if (pid != 0)
			kill(pid, SIGTERM);
	}
}

/* The purge worker says where it works, so that DROP DATABASE can stop it. */
static void
purge_worker_forget(int code, Datum arg)
{
	LWLockAcquire(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK), LW_EXCLUSIVE);
	if (audit_shared->purge_pid == MyProcPid)
	{
		audit_shared->purge_pid = 0;
		audit_shared->purge_db = InvalidOid;
	}
	LWLockRelease(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK));
}

void
pd_purge_worker_announce(Oid dboid)
{
	LWLockAcquire(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK), LW_EXCLUSIVE);
	audit_shared->purge_pid = MyProcPid;
	audit_shared->purge_db = dboid;
	LWLockRelease(QUEUE_LOCK(PD_AUDIT_CLAIM_LOCK));
	before_shmem_exit(purge_worker_forget, (Datum) 0);
}

/* ------------------------------------------------------------------------
 * The chain
 * ------------------------------------------------------------------------
 */

/* an entry of either log, in the fields the hash covers */
typedef struct AuditRow
{
	char		kind;			/* 'a' access_log, 'd' disclosure_log */
	int64		id;
	TimestampTz logged_at;
	/* access */
	char	   *session_user_name;
	char	   *current_user_name;
	char	   *purpose;
	char	   *recipient;
	char	   *relation;
	Datum		columns;		/* text[] or 0 for NULL */
	char	   *command;
	bool		rows_null;
	int64		rows;
	bool		allowed;
	char	   *reason;
	bool		query_id_null;
	int64		query_id;
	/* disclosure */
	char	   *organization;
	char	   *country;
	char	   *subject;
	char	   *basis;
	bool		basis_id_null;
	int64		basis_id;
	int8		cross_border;	/* -1 NULL */
} AuditRow;

/*
 * SHA-256 through OpenSSL's EVP interface with the digest fetched once:
 * pg_cryptohash re-fetches it at every initialization, which costs the
 * writer more than hashing an entry itself (OpenSSL 3).
 */
typedef EVP_MD_CTX ChainHash;

static EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *sha256_ctx = NULL;

/*
 * The process's one SHA-256 context, made on first use and kept: nothing
 * to free (or leak) when an error interrupts a writer's batch or a
 * verification.
 */
static ChainHash *
chain_hash_create(void)
{
	if (sha256_md == NULL)
	{
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (sha256_md == NULL)
			elog(ERROR, "could not fetch SHA-256 from OpenSSL");
	}
	if (sha256_ctx == NULL)
	{
		sha256_ctx = EVP_MD_CTX_new();
		if (sha256_ctx == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	return sha256_ctx;
}

static void
chain_hash_free(ChainHash *ctx)
{
	/* kept for the next use, see chain_hash_create */
}

static void
chain_hash_init(ChainHash *ctx)
{
	if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1)
		elog(ERROR, "could not initialize SHA-256");
}

static void
chain_hash_final(ChainHash *ctx, uint8 *out)
{
	unsigned int len;

	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != PG_SHA256_DIGEST_LENGTH)
		elog(ERROR, "could not finalize SHA-256");
}

static void
hash_bytes(ChainHash *ctx, const void *data, size_t len)
{
	if (EVP_DigestUpdate(ctx, data, len) != 1)
		elog(ERROR, "could not update SHA-256");
}

/* a field: 'N' for NULL, or 'V', its length (4 bytes, big-endian) and bytes */
static void
hash_text(ChainHash *ctx, const char *s)
{
	if (s == NULL)
		hash_bytes(ctx, "N", 1);
	else
	{
		uint32		len = strlen(s);
		uint8		be[4] = {len >> 24, len >> 16, len >> 8, len};

		hash_bytes(ctx, "V", 1);
		hash_bytes(ctx, be, 4);
		hash_bytes(ctx, s, len);
	}
}

static void
hash_int64(ChainHash *ctx, bool isnull, int64 value)
{
	char		buf[32];

	if (isnull)
		hash_text(ctx, NULL);
	else
	{
		snprintf(buf, sizeof(buf), INT64_FORMAT, value);
		hash_text(ctx, buf);
	}
}

static void
hash_columns(ChainHash *ctx, Datum columns)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (columns == (Datum) 0)
	{
		hash_text(ctx, NULL);
		return;
	}
	arr = DatumGetArrayTypeP(columns);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	hash_int64(ctx, false, n);
	for (i = 0; i < n; i++)
		hash_text(ctx, nulls[i] ? NULL : TextDatumGetCString(elems[i]));
}

/*
 * The hash of a disclosure_log row: SHA-256(prev_hash || the row's fields,
 * each length-prefixed); access entries are hashed packed (packed_entry_hash).
 */
static void
audit_row_hash(ChainHash *ctx, const AuditRow *row, const uint8 *prev, uint8 *out)
{
	char		kind[2] = {row->kind, '\0'};

	chain_hash_init(ctx);
	hash_bytes(ctx, prev, PG_SHA256_DIGEST_LENGTH);
	hash_text(ctx, kind);
	hash_int64(ctx, false, row->id);
	hash_int64(ctx, false, row->logged_at);
	hash_text(ctx, row->recipient);
	hash_text(ctx, row->organization);
	hash_text(ctx, row->country);
	hash_text(ctx, row->subject);
	hash_text(ctx, row->relation);
	hash_columns(ctx, row->columns);
	hash_text(ctx, row->purpose);
	hash_text(ctx, row->basis);
	hash_int64(ctx, row->basis_id_null, row->basis_id);
	hash_text(ctx, row->cross_border < 0 ? NULL : row->cross_border ? "t" : "f");
	chain_hash_final(ctx, out);
}

/* ------------------------------------------------------------------------
 * The writer
 * ------------------------------------------------------------------------
 */
static volatile sig_atomic_t writer_shutdown = false;
/* attempts at a batch before it is retried a record at a time (and at a record before quarantine) */
#define PD_AUDIT_RETRIES	3
static int	writer_queue = -1;
static int64 chain_id = -1;		/* last id written; -1: read from the tables */
static uint8 chain_hash[PG_SHA256_DIGEST_LENGTH];

static void
writer_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	writer_shutdown = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
writer_detach(int code, Datum arg)
{
	AuditQueue *q = &audit_shared->queues[writer_queue];

	LWLockAcquire(QUEUE_LOCK(writer_queue), LW_EXCLUSIVE);
	if (q->writer_pid == MyProcPid)
	{
		q->writer_pid = 0;
		q->writer_latch = NULL;
		q->writer_requested = false;
	}
	LWLockRelease(QUEUE_LOCK(writer_queue));
	ConditionVariableBroadcast(&q->written_cv);
}

/* the next name of a names block; NULL for an empty one */
static char *
next_name(const char **p)
{
	const char *name = *p;

	*p += strlen(name) + 1;
	return name[0] == '\0' ? NULL : pstrdup(name);
}

/* the column names of a record as a text[]; NULL for a setting change */
static Datum
column_names(const AuditRecord *rec, const char **p)
{
	Datum	   *elems = palloc(sizeof(Datum) * (rec->natts + 1));
	int			i;

	for (i = 0; i < rec->natts; i++)
	{
		char	   *name = next_name(p);

		elems[i] = CStringGetTextDatum(name ? name : "?");
	}
	if (rec->kind == AUDIT_SETTING)
		return (Datum) 0;
	return PointerGetDatum(construct_array(elems, rec->natts, TEXTOID, -1, false, TYPALIGN_INT));
}

static char *
record_string(const char **p, uint16 len)
{
	char	   *s;

	if (len == 0)
		return NULL;
	s = pnstrdup(*p, len);
	*p += len;
	return s;
}

/* last id and hash of the chain, from audit_chain_head */
static void
load_chain_head(void)
{
	int			ret;

	ret = SPI_execute("SELECT id, hash FROM personal_data.audit_chain_head", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the head of the audit chain");
	if (SPI_processed != 1)
		elog(ERROR, "personal_data.audit_chain_head must hold exactly one row");
	{
		bool		isnull;
		bytea	   *hash;

		chain_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (VARSIZE_ANY_EXHDR(hash) != PG_SHA256_DIGEST_LENGTH)
			elog(ERROR, "the head of the audit chain has a malformed hash");
		memcpy(chain_hash, VARDATA_ANY(hash), PG_SHA256_DIGEST_LENGTH);
	}
}

static bytea *hash_datum(const uint8 *hash);
static SPIPlanPtr head_update = NULL;

/* the chain's head, saved with the batch that advanced it */
static void
save_chain_head(void)
{
	Datum		args[2];
	Oid			types[2] = {INT8OID, BYTEAOID};

	args[0] = Int64GetDatum(chain_id);
	args[1] = PointerGetDatum(hash_datum(chain_hash));
	if (head_update == NULL)
	{
		head_update = SPI_prepare("UPDATE personal_data.audit_chain_head SET id = $1, hash = $2",
								  2, types);
		if (head_update == NULL || SPI_keepplan(head_update) != 0)
			elog(ERROR, "could not prepare the audit writer's chain head update");
	}
	if (SPI_execute_plan(head_update, args, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not save the head of the audit chain");
}

static bytea *
hash_datum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(b, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(b), hash, PG_SHA256_DIGEST_LENGTH);
	return b;
}

static SPIPlanPtr basis_lookup = NULL;

static void
prepare_writer_plans(void)
{
	Oid			basis_types[4] = {TEXTARRAYOID, TEXTOID, OIDOID, TIMESTAMPTZOID};

	/*
	 * The basis of a provision as it stood when the statement ran: a
	 * consent to this recipient and purpose not withdrawn then (a
	 * guardian's first), else a legal basis for the subject, else one for
	 * all subjects.  Entrustees need none.
	 */
	if (basis_lookup != NULL)
		return;
	/*
	 * Per subject, the best consent and the best legal basis are found by
	 * aggregates (a guardian's consent first, then the latest; a basis for
	 * the subject first, then one for all), not by sorted LIMIT 1
	 * subqueries: an aggregate's rescan is cheap, three sorts' were most of
	 * the lookup.  Legal bases are looked up only for a subject without a
	 * consent (CASE evaluates its subqueries lazily; OFFSET 0 keeps the
	 * planner from copying that subquery into both uses of lid).
	 */
	basis_lookup = SPI_prepare("SELECT CASE WHEN k.cid IS NOT NULL THEN 'consent'"
							   " ELSE (SELECT l.basis FROM personal_data.legal_bases l WHERE l.id OPERATOR(pg_catalog.=) k.lid) END,"
							   " COALESCE(k.cid, k.lid)"
							   " FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS s(subject, ord)"
							   " CROSS JOIN LATERAL ("
							   "  SELECT c.cid, CASE WHEN c.cid IS NULL THEN"
							   "   (SELECT COALESCE(pg_catalog.max(l.id) FILTER (WHERE l.subject IS NOT NULL), pg_catalog.max(l.id))"
							   "    FROM personal_data.legal_bases l"
							   "    WHERE l.recipient OPERATOR(pg_catalog.=) $3::pg_catalog.regrole"
							   "    AND (l.subject IS NULL OR l.subject OPERATOR(pg_catalog.=) s.subject)"
							   "    AND (l.purpose IS NULL OR l.purpose OPERATOR(pg_catalog.=) $2)"
							   "    AND (l.valid_until IS NULL OR l.valid_until OPERATOR(pg_catalog.>) $4)) END AS lid"
							   "  FROM (SELECT COALESCE(pg_catalog.max(c.id) FILTER (WHERE c.by_guardian), pg_catalog.max(c.id)) AS cid"
							   "   FROM personal_data.consents c"
							   "   WHERE c.subject OPERATOR(pg_catalog.=) s.subject AND c.purpose OPERATOR(pg_catalog.=) $2"
							   "   AND c.recipient OPERATOR(pg_catalog.=) $3::pg_catalog.regrole"
							   "   AND (c.withdrawn_at IS NULL OR c.withdrawn_at OPERATOR(pg_catalog.>) $4)"
							   "   AND (c.valid_until IS NULL OR c.valid_until OPERATOR(pg_catalog.>) $4)) c OFFSET 0) k"
							   " ORDER BY s.ord", 4, basis_types);
	if (basis_lookup == NULL)
		elog(ERROR, "could not prepare the audit writer's basis lookup: %s",
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(basis_lookup);
}

/*
 * A log table opened for the writer's batch: rows go in through the table
 * AM and the indexes directly, as in COPY, without a planned INSERT per
 * entry (the writer keeps up with tens of thousands of statements a second).
 */
#define LOG_TARGET_BUFFERED 1000

typedef struct LogTarget
{
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slots[LOG_TARGET_BUFFERED];
	int			nbuffered;
	int			natts;
} LogTarget;

static ChainHash *writer_hash_ctx = NULL;

static EState *writer_estate = NULL;
static LogTarget access_target;
static LogTarget disclosure_target;

static void
open_log_target(LogTarget *target, const char *relname, int natts)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid(PD_SCHEMA, false));

	if (!OidIsValid(relid))
		elog(ERROR, "personal_data.%s does not exist", relname);
	target->rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(target->rel)->natts != natts)
		elog(ERROR, "personal_data.%s does not have the %d columns of its definition", relname, natts);
	target->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(target->rri, target->rel, 1, NULL, 0);
	ExecOpenIndices(target->rri, false);
	memset(target->slots, 0, sizeof(target->slots));
	target->nbuffered = 0;
	target->natts = natts;
}

/* the buffered rows into the table (one WAL record per page) and its indexes */
static void
flush_log_target(LogTarget *target)
{
	int			i;

	if (target->rel == NULL || target->nbuffered == 0)
		return;
	table_multi_insert(target->rel, target->slots, target->nbuffered,
					   GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < target->nbuffered; i++)
	{
		List	   *recheck = ExecInsertIndexTuples(target->rri, target->slots[i],
													writer_estate, false, false,
													NULL, NIL);

		list_free(recheck);
		ExecClearTuple(target->slots[i]);
		ResetPerTupleExprContext(writer_estate);
	}
	target->nbuffered = 0;
}

static void
close_log_target(LogTarget *target)
{
	int			i;

	if (target->rel == NULL)
		return;
	flush_log_target(target);
	for (i = 0; i < LOG_TARGET_BUFFERED && target->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(target->slots[i]);
	ExecCloseIndices(target->rri);
	table_close(target->rel, NoLock);
	target->rel = NULL;
}

static void
open_log_targets(void)
{
	writer_estate = CreateExecutorState();
	open_log_target(&disclosure_target, "disclosure_log", 15);
	open_log_target(&access_target, "access_log_batches", 6);
	writer_hash_ctx = chain_hash_create();
}

static void
close_log_targets(void)
{
	close_log_target(&access_target);
	close_log_target(&disclosure_target);
	if (writer_hash_ctx)
		chain_hash_free(writer_hash_ctx);
	writer_hash_ctx = NULL;
	if (writer_estate)
		FreeExecutorState(writer_estate);
	writer_estate = NULL;
}

/* assigns the next id and hash, then inserts the row */
static void
write_row(AuditRow *row, Oid relid)
{
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	LogTarget  *target = &disclosure_target;
	Datum	   *values;
	bool	   *nulls;

	TupleTableSlot *slot;

	row->id = chain_id + 1;
	audit_row_hash(writer_hash_ctx, row, chain_hash, hash);
	if (target->nbuffered == LOG_TARGET_BUFFERED)
		flush_log_target(target);
	if (target->slots[target->nbuffered] == NULL)
	{
		/* slots outlive the per-record memory: they live for the batch */
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		target->slots[target->nbuffered] = table_slot_create(target->rel, NULL);
		MemoryContextSwitchTo(oldcxt);
	}
	slot = target->slots[target->nbuffered];
	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	memset(nulls, 0, sizeof(bool) * target->natts);

#define TEXT_OR_NULL(i, s) \
	do { if ((s) == NULL) nulls[i] = true; else values[i] = CStringGetTextDatum(s); } while (0)

	values[0] = Int64GetDatum(row->id);
	values[1] = TimestampTzGetDatum(row->logged_at);
	TEXT_OR_NULL(2, row->recipient);
	TEXT_OR_NULL(3, row->organization);
	TEXT_OR_NULL(4, row->country);
	TEXT_OR_NULL(5, row->subject);
	TEXT_OR_NULL(6, row->relation);
	values[7] = ObjectIdGetDatum(relid);
	nulls[7] = !OidIsValid(relid);
	values[8] = row->columns;
	nulls[8] = row->columns == (Datum) 0;
	TEXT_OR_NULL(9, row->purpose);
	TEXT_OR_NULL(10, row->basis);
	values[11] = Int64GetDatum(row->basis_id);
	nulls[11] = row->basis_id_null;
	values[12] = BoolGetDatum(row->cross_border == 1);
	nulls[12] = row->cross_border < 0;
	values[13] = PointerGetDatum(hash_datum(chain_hash));
	values[14] = PointerGetDatum(hash_datum(hash));

#undef TEXT_OR_NULL
	ExecStoreVirtualTuple(slot);
	/* the values live in per-record memory: the slot keeps its own copy */
	ExecMaterializeSlot(slot);
	target->nbuffered++;
	chain_id = row->id;
	memcpy(chain_hash, hash, sizeof(hash));
}

/*
 * Access entries are stored packed: the writer appends each one, as the
 * backend queued it, to the batch it is writing, and one row of
 * access_log_batches holds the batch; the view access_log unpacks them.
 * Per entry: flags (uint8), id (int64), prev_hash (left out when it is the
 * hash of the entry before in the batch), hash, the stored length (uint32)
 * and the record (its names block left out when it is the one of the
 * entry before: a statement run again names the same roles, table and
 * columns).  Storing entries as they come costs the writer a copy and a
 * hash per statement, where a row per entry cost a tuple, its index
 * entries and their WAL: the difference between keeping up with
 * tens of thousands of statements a second on one core, or not.
 */
#define PACKED_PREV_IMPLIED		0x01
#define PACKED_NAMES_IMPLIED	0x02
#define PACKED_MIN_HEADER (1 + sizeof(int64) + PG_SHA256_DIGEST_LENGTH + sizeof(uint32))
#define ACCESS_BATCH_ROW_BYTES 7900

static StringInfoData access_batch;
static StringInfoData access_batch_names;	/* names block of the batch's last entry */
static int64 access_batch_last_id;
static uint8 access_batch_last_hash[PG_SHA256_DIGEST_LENGTH];
static int64 access_batch_first_id;
static TimestampTz access_batch_first_at;
static TimestampTz access_batch_last_at;

/* hash of a packed access entry: SHA-256(prev || 'a' || id || flags || stored bytes) */
static void
packed_entry_hash(ChainHash *ctx, const uint8 *prev, int64 id, uint8 flags,
				  const char *stored, uint32 len, uint8 *out)
{
	chain_hash_init(ctx);
	hash_bytes(ctx, prev, PG_SHA256_DIGEST_LENGTH);
	hash_bytes(ctx, "a", 1);
	hash_bytes(ctx, &id, sizeof(int64));
	hash_bytes(ctx, &flags, 1);
	hash_bytes(ctx, stored, len);
	chain_hash_final(ctx, out);
}

static void flush_access_batch(void);

static void
append_access_entry(const AuditRecord *rec)
{
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	int64		id = chain_id + 1;
	const char *names = (const char *) rec + sizeof(AuditRecord);
	uint8		flags = 0;
	uint32		stored_len;
	char	   *stored;

	/* a batch row fits a page: see access_log_batches */
	if (access_batch.len > 0 &&
		access_batch.len + PACKED_MIN_HEADER + PG_SHA256_DIGEST_LENGTH + rec->len > ACCESS_BATCH_ROW_BYTES)
		flush_access_batch();
	if (access_batch.len > 0 && access_batch_last_id == chain_id)
		flags |= PACKED_PREV_IMPLIED;
	if (access_batch.len > 0 && access_batch_names.len == rec->names_len &&
		memcmp(access_batch_names.data, names, rec->names_len) == 0)
		flags |= PACKED_NAMES_IMPLIED;
	if (flags & PACKED_NAMES_IMPLIED)
	{
		/* the header, then what follows the names */
		stored_len = rec->len - rec->names_len;
		stored = palloc(stored_len);
		memcpy(stored, rec, sizeof(AuditRecord));
		memcpy(stored + sizeof(AuditRecord), names + rec->names_len,
			   rec->len - sizeof(AuditRecord) - rec->names_len);
	}
	else
	{
		stored_len = rec->len;
		stored = (char *) rec;
		resetStringInfo(&access_batch_names);
		appendBinaryStringInfo(&access_batch_names, names, rec->names_len);
	}
	packed_entry_hash(writer_hash_ctx, chain_hash, id, flags, stored, stored_len, hash);
	if (access_batch.len == 0)
	{
		access_batch_first_id = id;
		access_batch_first_at = rec->at;
	}
	access_batch_last_at = Max(access_batch_last_at, rec->at);
	if (rec->at < access_batch_first_at)
		access_batch_first_at = rec->at;
	appendBinaryStringInfo(&access_batch, (const char *) &flags, 1);
	appendBinaryStringInfo(&access_batch, (const char *) &id, sizeof(int64));
	if (!(flags & PACKED_PREV_IMPLIED))
		appendBinaryStringInfo(&access_batch, (const char *) chain_hash, PG_SHA256_DIGEST_LENGTH);
	appendBinaryStringInfo(&access_batch, (const char *) hash, PG_SHA256_DIGEST_LENGTH);
	appendBinaryStringInfo(&access_batch, (const char *) &stored_len, sizeof(uint32));
	appendBinaryStringInfo(&access_batch, stored, stored_len);
	chain_id = id;
	access_batch_last_id = id;
	memcpy(access_batch_last_hash, hash, sizeof(hash));
	memcpy(chain_hash, hash, sizeof(hash));
}

/*
 * The batch's access entries into one row of access_log_batches, through
 * the table AM like the disclosure rows (no statement to plan per page).
 */
static void
flush_access_batch(void)
{
	LogTarget  *target = &access_target;
	TupleTableSlot *slot;
	bytea	   *entries;

	if (access_batch.len == 0)
		return;
	if (target->slots[0] == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		target->slots[0] = table_slot_create(target->rel, NULL);
		MemoryContextSwitchTo(oldcxt);
	}
	slot = target->slots[0];
	entries = palloc(VARHDRSZ + access_batch.len);
	SET_VARSIZE(entries, VARHDRSZ + access_batch.len);
	memcpy(VARDATA(entries), access_batch.data, access_batch.len);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, 0, sizeof(bool) * 6);
	slot->tts_values[0] = Int64GetDatum(access_batch_first_id);
	slot->tts_values[1] = Int64GetDatum(access_batch_last_id);
	slot->tts_values[2] = TimestampTzGetDatum(access_batch_first_at);
	slot->tts_values[3] = TimestampTzGetDatum(access_batch_last_at);
	slot->tts_values[4] = PointerGetDatum(entries);
	slot->tts_values[5] = PointerGetDatum(hash_datum(access_batch_last_hash));
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(target->rel, slot, GetCurrentCommandId(true), 0, NULL);
	list_free(ExecInsertIndexTuples(target->rri, slot, writer_estate, false, false, NULL, NIL));
	ResetPerTupleExprContext(writer_estate);
	ExecClearTuple(slot);
	pfree(entries);
	resetStringInfo(&access_batch);
	access_batch_last_at = 0;
}

/* An access entry as the view shows it. */
static void
decode_access_record(const AuditRecord *rec, AuditRow *row)
{
	const char *p = (const char *) rec + sizeof(AuditRecord);
	const char *names = p;
	char	   *reason;
	char	   *session_user_name;
	char	   *current_user_name;

	p += rec->names_len;
	row->purpose = record_string(&p, rec->purpose_len);
	reason = record_string(&p, rec->reason_len);
	session_user_name = next_name(&names);
	current_user_name = next_name(&names);
	row->recipient = next_name(&names);
	row->relation = next_name(&names);
	row->columns = column_names(rec, &names);
	row->logged_at = rec->at;
	row->kind = 'a';
	row->session_user_name = session_user_name ? session_user_name : psprintf("role %u", rec->session_user_id);
	row->current_user_name = current_user_name ? current_user_name : psprintf("role %u", rec->current_user_id);
	row->command = pstrdup(command_name(rec->command));
	row->rows_null = rec->rows < 0;
	row->rows = rec->rows;
	row->allowed = rec->allowed;
	row->reason = rec->completed ? reason : pstrdup("statement did not complete");
	row->query_id_null = rec->query_id == 0;
	row->query_id = (int64) rec->query_id;
}

/*
 * Do the record's parts fit its length, and its names block hold the names
 * it should?  (Tampered bytes must not make the decoder read past them.)
 */
static bool
record_is_sane(const char *record, uint32 len)
{
	AuditRecord rec;
	Size		parts;
	const char *names = record + sizeof(AuditRecord);
	int			nuls = 0;
	int			i;

	memcpy(&rec, record, sizeof(AuditRecord));
	parts = sizeof(AuditRecord) + (Size) rec.names_len + rec.purpose_len +
		rec.reason_len + rec.organization_len + rec.country_len;
	if (rec.len != len || parts > len || rec.natts < 0 || rec.names_len == 0 ||
		names[rec.names_len - 1] != '\0')
		return false;
	for (i = 0; i < rec.names_len; i++)
		nuls += names[i] == '\0';
	return nuls >= 4 + rec.natts;
}

/* walks the packed entries of one batch */
typedef struct PackedIter
{
	const char *p;
	const char *end;
	const uint8 *last_hash;		/* of the entry before, in this batch */
	const char *last_names;		/* names block of the entry before */
	uint16		last_names_len;
} PackedIter;

typedef struct PackedEntry
{
	int64		id;
	uint8		flags;
	const uint8 *prev;
	const uint8 *hash;
	const char *stored;			/* the bytes hashed */
	uint32		stored_len;
	AuditRecord *record;		/* whole (names put back), aligned, palloc'd */
} PackedEntry;

static void
init_packed_iter(PackedIter *it, bytea *batch)
{
	it->p = VARDATA_ANY(batch);
	it->end = it->p + VARSIZE_ANY_EXHDR(batch);
	it->last_hash = NULL;
	it->last_names = NULL;
	it->last_names_len = 0;
}

static bool
packed_next(PackedIter *it, PackedEntry *e)
{
	const char *p = it->p;
	AuditRecord header;
	Size		whole;

#define MALFORMED() elog(ERROR, "personal_data.access_log_batches holds a malformed entry")
	if (p >= it->end)
		return false;
	if (it->end - p < (long) PACKED_MIN_HEADER)
		MALFORMED();
	e->flags = (uint8) *p++;
	memcpy(&e->id, p, sizeof(int64));
	p += sizeof(int64);
	if (e->flags & PACKED_PREV_IMPLIED)
	{
		if (it->last_hash == NULL)
			MALFORMED();
		e->prev = it->last_hash;
	}
	else
	{
		if (it->end - p < PG_SHA256_DIGEST_LENGTH)
			MALFORMED();
		e->prev = (const uint8 *) p;
		p += PG_SHA256_DIGEST_LENGTH;
	}
	if (it->end - p < (long) (PG_SHA256_DIGEST_LENGTH + sizeof(uint32)))
		MALFORMED();
	e->hash = (const uint8 *) p;
	p += PG_SHA256_DIGEST_LENGTH;
	memcpy(&e->stored_len, p, sizeof(uint32));
	p += sizeof(uint32);
	e->stored = p;
	if (e->stored_len < sizeof(AuditRecord) || e->stored_len > (uint32) (it->end - p))
		MALFORMED();
	memcpy(&header, p, sizeof(AuditRecord));
	if (e->flags & PACKED_NAMES_IMPLIED)
	{
		if (it->last_names == NULL || header.names_len != it->last_names_len)
			MALFORMED();
		whole = (Size) e->stored_len + header.names_len;
		e->record = palloc(whole);
		memcpy(e->record, p, sizeof(AuditRecord));
		memcpy((char *) e->record + sizeof(AuditRecord), it->last_names, header.names_len);
		memcpy((char *) e->record + sizeof(AuditRecord) + header.names_len,
			   p + sizeof(AuditRecord), e->stored_len - sizeof(AuditRecord));
	}
	else
	{
		whole = e->stored_len;
		e->record = palloc(whole);
		memcpy(e->record, p, whole);
	}
	if (whole > PG_UINT32_MAX || !record_is_sane((const char *) e->record, (uint32) whole))
		MALFORMED();
#undef MALFORMED
	if (!(e->flags & PACKED_NAMES_IMPLIED))
	{
		it->last_names = p + sizeof(AuditRecord);
		it->last_names_len = header.names_len;
	}
	it->last_hash = e->hash;
	it->p = p + e->stored_len;
	return true;
}

/*
 * personal_data._access_log_entries(entries bytea): the rows of a packed
 * batch, for the view access_log.
 */
Datum
pd_access_log_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *entries = PG_GETARG_BYTEA_PP(0);
	PackedIter	it;
	PackedEntry e;
	MemoryContext rowcxt;

	InitMaterializedSRF(fcinfo, 0);
	init_packed_iter(&it, entries);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "access log entry", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		AuditRow	row = {0};
		Datum		values[16];
		bool		nulls[16] = {0};
		AuditRecord *rec;
		MemoryContext oldcxt = MemoryContextSwitchTo(rowcxt);

		if (!packed_next(&it, &e))
		{
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		rec = e.record;
		decode_access_record(rec, &row);
		values[0] = Int64GetDatum(e.id);
		values[1] = TimestampTzGetDatum(row.logged_at);
		values[2] = CStringGetTextDatum(row.session_user_name);
		values[3] = CStringGetTextDatum(row.current_user_name);
		nulls[4] = row.purpose == NULL;
		if (row.purpose)
			values[4] = CStringGetTextDatum(row.purpose);
		nulls[5] = row.recipient == NULL;
		if (row.recipient)
			values[5] = CStringGetTextDatum(row.recipient);
		nulls[6] = row.relation == NULL;
		if (row.relation)
			values[6] = CStringGetTextDatum(row.relation);
		values[7] = ObjectIdGetDatum(rec->relid);
		nulls[7] = !OidIsValid(rec->relid);
		values[8] = row.columns;
		nulls[8] = row.columns == (Datum) 0;
		values[9] = CStringGetTextDatum(row.command);
		values[10] = Int64GetDatum(row.rows);
		nulls[10] = row.rows_null;
		values[11] = BoolGetDatum(row.allowed);
		nulls[12] = row.reason == NULL;
		if (row.reason)
			values[12] = CStringGetTextDatum(row.reason);
		values[13] = Int64GetDatum(row.query_id);
		nulls[13] = row.query_id_null;
		values[14] = PointerGetDatum(hash_datum(e.prev));
		values[15] = PointerGetDatum(hash_datum(e.hash));
		MemoryContextSwitchTo(oldcxt);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	return (Datum) 0;
}

/* one record of the queue into one or more rows */
static void
write_record(const AuditRecord *rec)
{
	if (rec->kind != AUDIT_DISCLOSURE)
	{
		append_access_entry(rec);
		return;
	}
	{
	const char *p = (const char *) rec + sizeof(AuditRecord);
	const char *names = p;
	AuditRow	row = {0};
	char	   *purpose;
	char	   *reason;
	char	   *organization;
	char	   *country;
	char	   *session_user_name;
	char	   *current_user_name;
	uint32		i;

	p += rec->names_len;
	purpose = record_string(&p, rec->purpose_len);
	reason = record_string(&p, rec->reason_len);
	organization = record_string(&p, rec->organization_len);
	country = record_string(&p, rec->country_len);

	session_user_name = next_name(&names);
	current_user_name = next_name(&names);
	row.recipient = next_name(&names);
	row.relation = next_name(&names);
	row.columns = column_names(rec, &names);
	row.logged_at = rec->at;
	row.purpose = purpose;

	(void) session_user_name;
	(void) current_user_name;

	row.kind = 'd';
	row.organization = organization;
	row.country = country;
	row.cross_border = rec->cross_border;

	/* the record's subjects, then their bases in one query */
	{
		Datum	   *subjects = palloc(sizeof(Datum) * (rec->nsubjects + 1));
		char	  **names_of = palloc(sizeof(char *) * (rec->nsubjects + 1));
		bool		entrustment = reason && strcmp(reason, "entrustment") == 0;

		for (i = 0; i < rec->nsubjects; i++)
		{
			uint32		slen;

			memcpy(&slen, p, sizeof(uint32));
			p += sizeof(uint32);
			names_of[i] = pnstrdup(p, slen);
			subjects[i] = CStringGetTextDatum(names_of[i]);
			p += slen;
		}
		if (!entrustment && rec->nsubjects > 0)
		{
			Datum		args[4];
			int			ret;

			args[0] = PointerGetDatum(construct_array(subjects, rec->nsubjects, TEXTOID, -1, false, TYPALIGN_INT));
			args[1] = CStringGetTextDatum(purpose ? purpose : "");
			args[2] = ObjectIdGetDatum(rec->recipient);
			args[3] = TimestampTzGetDatum(rec->at);
			ret = SPI_execute_plan(basis_lookup, args, NULL, true, 0);
			if (ret != SPI_OK_SELECT || SPI_processed != rec->nsubjects)
				elog(ERROR, "could not look up the bases of provisions");
		}
		for (i = 0; i < rec->nsubjects; i++)
		{
			row.subject = names_of[i];
			row.basis = NULL;
			row.basis_id_null = true;
			if (entrustment)
				row.basis = "entrustment";
			else
			{
				bool		isnull;
				Datum		basis_id;

				/* rows come in the order of the subjects */
				row.basis = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
				basis_id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
				if (!isnull)
				{
					row.basis_id = DatumGetInt64(basis_id);
					row.basis_id_null = false;
				}
			}
			write_row(&row, rec->relid);
		}
		if (!entrustment && rec->nsubjects > 0)
			SPI_freetuptable(SPI_tuptable);
	}
	}
}

/*
 * Old entries leave through personal_data.audit_retention: everything up
 * to the newest entry older than the retention goes, and a checkpoint keeps
 * its id and hash, where verification resumes.
 */
static void
apply_retention(void)
{
	Datum		args[1];
	Oid			types[1] = {TIMESTAMPTZOID};
	int			ret;
	TimestampTz cutoff;

	if (pd_audit_retention_s <= 0)
		return;
	cutoff = GetCurrentTimestamp() - (TimestampTz) pd_audit_retention_s * USECS_PER_SEC;
	args[0] = TimestampTzGetDatum(cutoff);
	/*
	 * Whole batches go, so the cut is at the end of the newest old batch;
	 * without one, after the newest old disclosure before any batch.
	 */
	ret = SPI_execute_with_args("WITH last_id AS ("
								" SELECT coalesce("
								"  (SELECT max(last_id) FROM personal_data.access_log_batches WHERE last_at OPERATOR(pg_catalog.<) $1),"
								"  (SELECT max(id) FROM personal_data.disclosure_log WHERE logged_at OPERATOR(pg_catalog.<) $1"
								"    AND id OPERATOR(pg_catalog.<) coalesce((SELECT min(first_id) FROM personal_data.access_log_batches),"
								"                                           9223372036854775807))) AS id),"
								" last AS (SELECT l.id, coalesce("
								"  (SELECT b.last_hash FROM personal_data.access_log_batches b WHERE b.last_id OPERATOR(pg_catalog.=) l.id),"
								"  (SELECT d.hash FROM personal_data.disclosure_log d WHERE d.id OPERATOR(pg_catalog.=) l.id)) AS hash"
								"  FROM last_id l WHERE l.id IS NOT NULL),"
								" a AS (DELETE FROM personal_data.access_log_batches WHERE last_id OPERATOR(pg_catalog.<=) (SELECT id FROM last)"
								"  RETURNING last_id OPERATOR(pg_catalog.-) first_id OPERATOR(pg_catalog.+) 1 AS n),"
								" d AS (DELETE FROM personal_data.disclosure_log WHERE id OPERATOR(pg_catalog.<=) (SELECT id FROM last) RETURNING 1)"
								" INSERT INTO personal_data.audit_checkpoints (id, hash, removed, created_at)"
								" SELECT id, hash, (SELECT count(*) FROM d) OPERATOR(pg_catalog.+)"
								"  coalesce((SELECT sum(n) FROM a), 0)::bigint, pg_catalog.now()"
								" FROM last",
								1, types, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not apply personal_data.audit_retention");
}

/*
 * The entry at the head of the queue failed on its own, again and again:
 * keep its bytes and the error in audit_quarantine, outside the chain, and
 * give its space back, so that the entries after it are written.
 */
static void
writer_quarantine(const char *error)
{
	AuditQueue *q = &audit_shared->queues[writer_queue];
	char	   *data = QUEUE_DATA(writer_queue);
	Size		size = audit_shared->queue_size;
	AuditRecord header;
	Size		offset;
	Size		first;
	bytea	   *entry;
	Datum		args[2];
	Oid			types[2] = {BYTEAOID, TEXTOID};

	LWLockAcquire(QUEUE_LOCK(writer_queue), LW_SHARED);
	offset = (Size) (q->tail % size);
	LWLockRelease(QUEUE_LOCK(writer_queue));
	first = Min(sizeof(AuditRecord), size - offset);
	memcpy(&header, data + offset, first);
	if (first < sizeof(AuditRecord))
		memcpy((char *) &header + first, data, sizeof(AuditRecord) - first);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	entry = (bytea *) palloc(VARHDRSZ + header.len);
	SET_VARSIZE(entry, VARHDRSZ + header.len);
	first = Min((Size) header.len, size - offset);
	memcpy(VARDATA(entry), data + offset, first);
	if (first < header.len)
		memcpy(VARDATA(entry) + first, data, header.len - first);
	args[0] = PointerGetDatum(entry);
	args[1] = CStringGetTextDatum(error);
	if (SPI_execute_with_args("INSERT INTO personal_data.audit_quarantine (entry, error) VALUES ($1, $2)",
							  2, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write personal_data.audit_quarantine");
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	ereport(WARNING,
			(errmsg("personal_data audit writer quarantined an entry it could not write"),
			 errdetail("%s", error),
			 errhint("The entry is in personal_data.audit_quarantine.")));

	LWLockAcquire(QUEUE_LOCK(writer_queue), LW_EXCLUSIVE);
	q->tail += header.len;
	q->written += 1;
	LWLockRelease(QUEUE_LOCK(writer_queue));
	ConditionVariableBroadcast(&q->space_cv);
	ConditionVariableBroadcast(&q->written_cv);
}

/*
 * Takes up to PD_AUDIT_BATCH_BYTES of whole records from the queue (one
 * record, when a batch keeps failing), writes
 * them in one transaction, and only then gives their space back: a writer
 * that fails leaves them queued for the next attempt.  Returns the number
 * of records written.
 */
static uint64
writer_drain(char *buffer, bool *retention_due, bool one_record)
{
	AuditQueue *q = &audit_shared->queues[writer_queue];
	uint64		start;
	uint64		available;
	uint64		taken = 0;
	uint64		records = 0;
	Size		size = audit_shared->queue_size;
	char	   *data = QUEUE_DATA(writer_queue);
	MemoryContext batch_cxt;
	volatile bool installed = true;

	LWLockAcquire(QUEUE_LOCK(writer_queue), LW_SHARED);
	start = q->tail;
	available = q->head - q->tail;
	LWLockRelease(QUEUE_LOCK(writer_queue));
	if (available == 0 && !*retention_due)
		return 0;

	/* copy whole records out (only this process moves tail) */
	while (taken < available && taken < PD_AUDIT_BATCH_BYTES)
	{
		AuditRecord header;
		Size		offset = (Size) ((start + taken) % size);
		Size		first = Min(sizeof(AuditRecord), size - offset);
		uint32		len;

		memcpy(&header, data + offset, first);
		if (first < sizeof(AuditRecord))
			memcpy((char *) &header + first, data, sizeof(AuditRecord) - first);
		len = header.len;
		if (taken > 0 && (taken + len > PD_AUDIT_BATCH_BYTES || one_record))
			break;
		first = Min((Size) len, size - offset);
		memcpy(buffer + taken, data + offset, first);
		if (first < len)
			memcpy(buffer + taken + first, data, len - first);
		taken += len;
		records++;
	}

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "personal_data audit batch",
									  ALLOCSET_DEFAULT_SIZES);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "writing audit entries");

	if (!OidIsValid(get_namespace_oid(PD_SCHEMA, true)) ||
		!OidIsValid(get_relname_relid("access_log", get_namespace_oid(PD_SCHEMA, true))))
		installed = false;

	if (installed)
	{
		uint64		done = 0;
		MemoryContext oldcxt;

		prepare_writer_plans();
		if (chain_id < 0)
			load_chain_head();
		open_log_targets();
		if (access_batch.data == NULL)
		{
			MemoryContext cxt = MemoryContextSwitchTo(TopMemoryContext);

			initStringInfo(&access_batch);
			initStringInfo(&access_batch_names);
			MemoryContextSwitchTo(cxt);
		}
		resetStringInfo(&access_batch);
		access_batch_last_at = 0;
		oldcxt = MemoryContextSwitchTo(batch_cxt);
		while (done < taken)
		{
			const AuditRecord *rec = (const AuditRecord *) (buffer + done);

			write_record(rec);
			done += rec->len;
			MemoryContextReset(batch_cxt);
		}
		MemoryContextSwitchTo(oldcxt);
		flush_access_batch();
		close_log_targets();
		if (records > 0)
			save_chain_head();
		if (*retention_due)
		{
			apply_retention();
			*retention_due = false;
		}
	}
	else if (records > 0)
		ereport(LOG,
				(errmsg("personal_data audit writer discarded %llu entries: the extension is not installed in database \"%s\"",
						(unsigned long long) records, get_database_name(MyDatabaseId))));

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextDelete(batch_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	LWLockAcquire(QUEUE_LOCK(writer_queue), LW_EXCLUSIVE);
	q->tail += taken;
	q->written += records;
	LWLockRelease(QUEUE_LOCK(writer_queue));
	ConditionVariableBroadcast(&q->space_cv);
	ConditionVariableBroadcast(&q->written_cv);
	return records;
}

void
pd_audit_writer_main(Datum main_arg)
{
	Oid			dboid;
	AuditQueue *q;
	char	   *buffer;
	TimestampTz idle_since;
	static TimestampTz last_retention = 0;
	static bool retention_due = false;
	/* consecutive failures at the same queue tail (static: kept across longjmp) */
	static int	failures = 0;
	static uint64 failed_tail = PG_UINT64_MAX;
	static char *last_error = NULL;

	writer_queue = DatumGetInt32(main_arg);
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	q = &audit_shared->queues[writer_queue];

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, writer_sigterm);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(QUEUE_LOCK(writer_queue), LW_EXCLUSIVE);
	if (q->dboid != dboid || q->writer_pid != 0)
	{
		LWLockRelease(QUEUE_LOCK(writer_queue));
		proc_exit(0);
	}
	q->writer_pid = MyProcPid;
	q->writer_latch = MyLatch;
	q->writer_requested = false;
	LWLockRelease(QUEUE_LOCK(writer_queue));
	before_shmem_exit(writer_detach, (Datum) 0);
	am_audit_writer = true;

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* an entry the writer commits is durable: audit_sync relies on it */
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("personal_data.enforce", "off", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("personal_data audit writer");

	buffer = MemoryContextAlloc(TopMemoryContext, PD_AUDIT_BATCH_BYTES + audit_shared->queue_size / 2);
	idle_since = GetCurrentTimestamp();

	for (;;)
	{
		uint64		written;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		/* old entries are removed once a minute, or twice per retention if shorter */
		if (pd_audit_retention_s > 0 &&
			TimestampDifferenceExceeds(last_retention, now,
									   Min(60 * 1000, pd_audit_retention_s * 500)))
		{
			retention_due = true;
			last_retention = now;
		}

		PG_TRY();
		{
			/*
			 * A batch that failed PD_AUDIT_RETRIES times is retried a
			 * record at a time; a record that failed as often on its own
			 * goes to audit_quarantine, and the rest are written.
			 */
			if (failures >= 2 * PD_AUDIT_RETRIES && last_error != NULL)
			{
				writer_quarantine(last_error);
				failures = 0;
			}
			written = writer_drain(buffer, &retention_due, failures >= PD_AUDIT_RETRIES);
			/* record by record until the queue is drained, once a batch failed */
			if (failures < PD_AUDIT_RETRIES ? written > 0 : written == 0)
				failures = 0;
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			uint64		tail;

			/* the entries stay queued; the chain head is re-read next time */
			MemoryContextSwitchTo(TopMemoryContext);
			edata = CopyErrorData();
			LWLockAcquire(QUEUE_LOCK(writer_queue), LW_SHARED);
			tail = q->tail;
			LWLockRelease(QUEUE_LOCK(writer_queue));
			if (tail != failed_tail)
			{
				/* a new place: count again (staying a record at a time) */
				failed_tail = tail;
				failures = failures >= PD_AUDIT_RETRIES ? PD_AUDIT_RETRIES : 0;
			}
			failures++;
			if (last_error)
				pfree(last_error);
			last_error = pstrdup(edata->message ? edata->message : "unknown error");
			FreeErrorData(edata);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			chain_id = -1;
			basis_lookup = head_update = NULL;
			writer_estate = NULL;
			writer_hash_ctx = NULL;
			access_target.rel = disclosure_target.rel = NULL;
			written = 0;
			if (writer_shutdown)
			{
				/* shutting down and unable to write: say what stays unwritten */
				LWLockAcquire(QUEUE_LOCK(writer_queue), LW_SHARED);
				ereport(LOG,
						(errmsg("personal_data audit writer stops with %llu entries unwritten",
								(unsigned long long) (q->enqueued - q->written))));
				LWLockRelease(QUEUE_LOCK(writer_queue));
				proc_exit(1);
			}
			pg_usleep(1000000L);
		}
		PG_END_TRY();

		if (written > 0)
			idle_since = GetCurrentTimestamp();
		else
		{
			bool		leave = false;

			/*
			 * Nothing queued: leave on shutdown, or when idle for long (a
			 * producer starts a new writer when needed).  The queue is
			 * checked under its lock so that no entry is left without a
			 * writer.
			 */
			if (writer_shutdown ||
				TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(),
										   PD_AUDIT_WRITER_IDLE_MS))
			{
				LWLockAcquire(QUEUE_LOCK(writer_queue), LW_EXCLUSIVE);
				if (q->head == q->tail)
				{
					q->writer_pid = 0;
					q->writer_latch = NULL;
					leave = true;
				}
				LWLockRelease(QUEUE_LOCK(writer_queue));
			}
			if (leave)
				proc_exit(0);
		}
		/*
		 * Batches, not a transaction per statement: after writing, wait for
		 * the flush interval unless much is still queued (a producer sets
		 * the latch when the queue is half full, and so does a session
		 * waiting for its entries under audit_sync).
		 */
		if (!writer_shutdown)
		{
			uint64		pending;

			LWLockAcquire(QUEUE_LOCK(writer_queue), LW_SHARED);
			pending = q->head - q->tail;
			LWLockRelease(QUEUE_LOCK(writer_queue));
			if (pending < PD_AUDIT_BATCH_BYTES)
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 pd_audit_flush_interval_ms, PG_WAIT_EXTENSION);
		}
		else if (written == 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------
 */

/* trigger: the logs take rows from the audit writer only, and never change */
Datum
pd_audit_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "personal_data._audit_append_only: not called as a trigger");
	if (!am_audit_writer)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s is append-only", RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("Audit entries are written by the personal_data audit writer only and never change; old entries leave through personal_data.audit_retention.")));
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			return PointerGetDatum(trigdata->tg_newtuple);
		return PointerGetDatum(trigdata->tg_trigtuple);
	}
	return PointerGetDatum(NULL);
}

/*
 * personal_data.audit_flush(): waits until every entry queued in this
 * database before the call -- by any session -- is committed.
 */
Datum
pd_audit_flush(PG_FUNCTION_ARGS)
{
	int			qi;
	uint64		ticket;

	pd_require_preloaded();
	qi = audit_queue_for_database();
	if (qi < 0)
		PG_RETURN_VOID();
	LWLockAcquire(QUEUE_LOCK(qi), LW_SHARED);
	ticket = audit_shared->queues[qi].enqueued;
	LWLockRelease(QUEUE_LOCK(qi));
	audit_wait_for(qi, ticket);
	PG_RETURN_VOID();
}

/* personal_data.audit_queue_status(): each queue in use */
Datum
pd_audit_queue_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	pd_require_preloaded();
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < PD_AUDIT_QUEUES; i++)
	{
		AuditQueue *q = &audit_shared->queues[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		LWLockAcquire(QUEUE_LOCK(i), LW_SHARED);
		if (q->dboid == InvalidOid)
		{
			LWLockRelease(QUEUE_LOCK(i));
			continue;
		}
		values[0] = ObjectIdGetDatum(q->dboid);
		values[1] = Int64GetDatum((int64) (q->enqueued - q->written));
		values[2] = Int64GetDatum((int64) (q->head - q->tail));
		values[3] = Int64GetDatum((int64) audit_shared->queue_size);
		values[4] = Int64GetDatum((int64) q->written);
		values[5] = Int64GetDatum((int64) q->lost);
		values[6] = Int32GetDatum(q->writer_pid);
		nulls[6] = q->writer_pid == 0;
		LWLockRelease(QUEUE_LOCK(i));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* reads the next disclosure_log row of a cursor into row; false at the end */
static bool
fetch_audit_row(Portal portal, MemoryContext rowcxt,
				AuditRow *row, bytea **prev, bytea **hash)
{
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	MemoryContext oldcxt;

	SPI_cursor_fetch(portal, true, 1);
	if (SPI_processed == 0)
		return false;
	MemoryContextReset(rowcxt);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(row, 0, sizeof(AuditRow));
	row->kind = 'd';
	row->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	row->logged_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 2, &isnull));
	{
		Datum		d;
		bool		cb;

		row->recipient = SPI_getvalue(tuple, desc, 3);
		row->organization = SPI_getvalue(tuple, desc, 4);
		row->country = SPI_getvalue(tuple, desc, 5);
		row->subject = SPI_getvalue(tuple, desc, 6);
		row->relation = SPI_getvalue(tuple, desc, 7);
		d = SPI_getbinval(tuple, desc, 8, &isnull);
		row->columns = isnull ? (Datum) 0 : d;
		row->purpose = SPI_getvalue(tuple, desc, 9);
		row->basis = SPI_getvalue(tuple, desc, 10);
		row->basis_id = DatumGetInt64(SPI_getbinval(tuple, desc, 11, &row->basis_id_null));
		cb = DatumGetBool(SPI_getbinval(tuple, desc, 12, &isnull));
		row->cross_border = isnull ? -1 : cb ? 1 : 0;
		*prev = DatumGetByteaPCopy(SPI_getbinval(tuple, desc, 13, &isnull));
		*hash = DatumGetByteaPCopy(SPI_getbinval(tuple, desc, 14, &isnull));
	}
	if (row->columns != (Datum) 0)
		row->columns = PointerGetDatum(DatumGetArrayTypePCopy(row->columns));
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* the packed access entries of every batch, in order */
typedef struct AccessWalk
{
	Portal		portal;
	MemoryContext cxt;
	bytea	   *batch;
	PackedIter	it;
	bool		malformed;		/* a batch could not be read: verification stops */
	MemoryContext entry_cxt;	/* the current entry's record */
	PackedEntry e;
} AccessWalk;

static bool
access_walk_next(AccessWalk *w)
{
	for (;;)
	{
		bool		isnull;
		MemoryContext oldcxt;

		if (w->batch != NULL)
		{
			volatile bool ok = false;
			volatile bool more = false;
			MemoryContext before = CurrentMemoryContext;

			if (w->entry_cxt == NULL)
				w->entry_cxt = AllocSetContextCreate(MemoryContextGetParent(w->cxt),
													 "verify access entry", ALLOCSET_SMALL_SIZES);
			MemoryContextReset(w->entry_cxt);
			/* a malformed batch ends verification there instead of failing it */
			PG_TRY();
			{
				MemoryContextSwitchTo(w->entry_cxt);
				more = packed_next(&w->it, &w->e);
				ok = true;
			}
			PG_CATCH();
			{
				FlushErrorState();
			}
			PG_END_TRY();
			MemoryContextSwitchTo(before);
			if (!ok)
			{
				w->malformed = true;
				return false;
			}
			if (more)
				return true;
		}
		SPI_cursor_fetch(w->portal, true, 1);
		if (SPI_processed == 0)
			return false;
		MemoryContextReset(w->cxt);
		oldcxt = MemoryContextSwitchTo(w->cxt);
		w->batch = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContextSwitchTo(oldcxt);
		SPI_freetuptable(SPI_tuptable);
		init_packed_iter(&w->it, w->batch);
	}
}

static bool
hash_matches(bytea *stored, const uint8 *expected)
{
	return stored != NULL &&
		VARSIZE_ANY_EXHDR(stored) == PG_SHA256_DIGEST_LENGTH &&
		memcmp(VARDATA_ANY(stored), expected, PG_SHA256_DIGEST_LENGTH) == 0;
}

/*
 * personal_data.verify_audit_log(): walks both logs in id order from the
 * latest checkpoint, recomputing every hash.  An edited entry fails its own
 * hash; a deleted one breaks the id sequence and the next entry's link; a
 * reordered one fails both.  first_bad_id is the first entry at which the
 * chain does not hold.
 */
Datum
pd_verify_audit_log(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {0};
	int64		expected_id = 1;
	int64		checked = 0;
	int64		first_bad = 0;
	uint8		running[PG_SHA256_DIGEST_LENGTH] = {0};
	Portal		disclosure_cur;
	AccessWalk	walk = {0};
	AuditRow	drow;
	bytea	   *dprev = NULL,
			   *dhash = NULL;
	bool		have_a,
				have_d;
	MemoryContext dcxt;
	ChainHash *ctx;

	pd_require_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SPI_connect();
	if (SPI_execute("SELECT id, hash FROM personal_data.audit_checkpoints ORDER BY id DESC LIMIT 1",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read audit checkpoints");
	if (SPI_processed > 0)
	{
		bool		isnull;
		bytea	   *h;

		expected_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) + 1;
		h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (VARSIZE_ANY_EXHDR(h) == PG_SHA256_DIGEST_LENGTH)
			memcpy(running, VARDATA_ANY(h), PG_SHA256_DIGEST_LENGTH);
	}
	walk.portal = SPI_cursor_open_with_args("pd_verify_access",
											"SELECT entries FROM personal_data.access_log_batches ORDER BY first_id",
											0, NULL, NULL, NULL, true, 0);
	disclosure_cur = SPI_cursor_open_with_args("pd_verify_disclosure",
											   "SELECT id, logged_at, recipient, organization, country, subject,"
											   " relation, columns, purpose, basis, basis_id, cross_border,"
											   " prev_hash, hash FROM personal_data.disclosure_log ORDER BY id",
											   0, NULL, NULL, NULL, true, 0);
	ctx = chain_hash_create();
	walk.cxt = AllocSetContextCreate(CurrentMemoryContext, "verify access batches", ALLOCSET_DEFAULT_SIZES);
	dcxt = AllocSetContextCreate(CurrentMemoryContext, "verify disclosure rows", ALLOCSET_DEFAULT_SIZES);
	have_a = access_walk_next(&walk);
	have_d = fetch_audit_row(disclosure_cur, dcxt, &drow, &dprev, &dhash);
	while (have_a || have_d)
	{
		bool		take_a = have_a && (!have_d || walk.e.id < drow.id);
		int64		id = take_a ? walk.e.id : drow.id;
		uint8		computed[PG_SHA256_DIGEST_LENGTH];
		bool		links;

		CHECK_FOR_INTERRUPTS();
		if (take_a)
		{
			packed_entry_hash(ctx, running, walk.e.id, walk.e.flags, walk.e.stored,
							  walk.e.stored_len, computed);
			links = memcmp(walk.e.prev, running, PG_SHA256_DIGEST_LENGTH) == 0 &&
				memcmp(walk.e.hash, computed, PG_SHA256_DIGEST_LENGTH) == 0;
		}
		else
		{
			audit_row_hash(ctx, &drow, running, computed);
			links = hash_matches(dprev, running) && hash_matches(dhash, computed);
		}
		if (id != expected_id || !links)
		{
			first_bad = id;
			break;
		}
		checked++;
		expected_id++;
		memcpy(running, computed, sizeof(running));
		if (take_a)
			have_a = access_walk_next(&walk);
		else
			have_d = fetch_audit_row(disclosure_cur, dcxt, &drow, &dprev, &dhash);
	}
	if (walk.malformed)
		first_bad = expected_id;
	chain_hash_free(ctx);
	SPI_cursor_close(walk.portal);
	SPI_cursor_close(disclosure_cur);
	SPI_finish();

	values[0] = BoolGetDatum(first_bad == 0);
	values[1] = Int64GetDatum(checked);
	values[2] = Int64GetDatum(first_bad);
	nulls[2] = first_bad == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

void
pd_install_audit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = audit_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = audit_shmem_startup;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = pd_audit_executor_start;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = pd_audit_executor_end;
	RegisterXactCallback(audit_xact_callback, NULL);
	RegisterSubXactCallback(audit_subxact_callback, NULL);
	EnableQueryId();
}

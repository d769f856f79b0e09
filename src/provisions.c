/*-------------------------------------------------------------------------
 *
 * provisions.c
 *	  The provision hook point: what third parties received, per statement.
 *
 * With personal_data.record_provisions on, the third-party row filter
 * (enforce.c) calls _provided() for every row it lets through.  The record
 * lives in this backend's memory, for last_provisions(); the audit will make
 * it durable in the disclosure log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "personal_data.h"

/*
 * Provisions to third parties, as recorded by the row filter when
 * personal_data.record_provisions is on: the subjects whose rows a third
 * party's statement received.  This is the hook point of the disclosure log:
 * today it keeps the last statement's provisions in memory for
 * last_provisions(); the audit makes them durable.
 */
typedef struct Provision
{
	Oid			relid;
	char	   *subject;
} Provision;

static MemoryContext provisions_context = NULL;
static List *provisions = NIL;
static Oid	provisions_recipient = InvalidOid;
static char provisions_purpose[NAMEDATALEN];
static TimestampTz provisions_statement_start = 0;
static LocalTransactionId provisions_lxid = InvalidLocalTransactionId;

PG_FUNCTION_INFO_V1(pd_provided);
PG_FUNCTION_INFO_V1(pd_last_provisions);

/*
 * personal_data._provided(relid, subject): records that the row of subject
 * in relid passed a third party's row filter in this statement; always
 * true.  Parallel restricted: the record lives in this backend.
 */
Datum
pd_provided(PG_FUNCTION_ARGS)
{
	TimestampTz statement_start = GetCurrentStatementStartTimestamp();
	Provision  *provision;
	MemoryContext oldcxt;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(true);
	if (provisions_context == NULL)
		provisions_context = AllocSetContextCreate(TopMemoryContext,
												   "personal_data provisions",
												   ALLOCSET_DEFAULT_SIZES);
	/* a new statement starts a new record */
	if (statement_start != provisions_statement_start ||
		MyProc->lxid != provisions_lxid)
	{
		MemoryContextReset(provisions_context);
		provisions = NIL;
		provisions_statement_start = statement_start;
		provisions_lxid = MyProc->lxid;
		provisions_recipient = InvalidOid;
		provisions_purpose[0] = '\0';
		if (pd_purpose)
			strlcpy(provisions_purpose, pd_purpose, NAMEDATALEN);
		{
			PdRecipient *recipient = pd_session_recipient(GetOuterUserId());

			if (recipient)
				provisions_recipient = recipient->roleid;
		}
	}
	oldcxt = MemoryContextSwitchTo(provisions_context);
	provision = palloc(sizeof(Provision));
	provision->relid = PG_GETARG_OID(0);
	provision->subject = text_to_cstring(PG_GETARG_TEXT_PP(1));
	provisions = lappend(provisions, provision);
	MemoryContextSwitchTo(oldcxt);
	PG_RETURN_BOOL(true);
}

/*
 * personal_data.last_provisions(): a (table, subject) row per row the last
 * recorded statement of this session provided, with its recipient and
 * purpose.
 */
Datum
pd_last_provisions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	pd_require_preloaded();
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, provisions)
	{
		Provision  *provision = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = ObjectIdGetDatum(provision->relid);
		values[1] = CStringGetTextDatum(provision->subject);
		values[2] = ObjectIdGetDatum(provisions_recipient);
		nulls[2] = !OidIsValid(provisions_recipient);
		values[3] = CStringGetTextDatum(provisions_purpose);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

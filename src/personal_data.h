/*-------------------------------------------------------------------------
 *
 * personal_data.h
 *	  Declarations shared by the files of the personal_data extension.
 *
 * personal_data turns a privacy policy into rules the database enforces:
 * columns are labelled with the purposes they were collected for, sessions
 * state a purpose, and recipients, consents and retention are recorded in
 * the extension's catalog tables.  This header is the only one the module
 * has; everything not declared here is static to its file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONAL_DATA_H
#define PERSONAL_DATA_H

#include "postgres.h"

#include "catalog/objectaddress.h"
#include "datatype/timestamp.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"

#define PD_PROVIDER			"personal_data"
#define PD_SCHEMA			"personal_data"

/* Purpose names follow identifier rules, lower case, at most 63 bytes. */
#define PD_MAX_NAME_LEN		(NAMEDATALEN - 1)

/* What happens when a session uses a column its purpose does not cover. */
typedef enum PdOnDenied
{
	PD_ON_DENIED_ERROR,
	PD_ON_DENIED_NULL
} PdOnDenied;

/* What the purge does to an expired row. */
typedef enum PdOnExpiry
{
	PD_ON_EXPIRY_DELETE,
	PD_ON_EXPIRY_ANONYMIZE
} PdOnExpiry;

/* A table label, parsed (column names as written, not yet resolved). */
typedef struct PdTableLabel
{
	char	   *subject;
	char	   *collected_at;	/* NULL if absent */
	char	   *birthdate;		/* NULL if absent */
	char	   *department;		/* NULL if absent */
	bool		has_retention;
	Interval	retention;
	PdOnExpiry	on_expiry;
} PdTableLabel;

/* A column label, parsed. */
typedef struct PdColumnLabel
{
	List	   *purposes;		/* List of palloc'd char * */
	PdOnDenied	on_denied;
} PdColumnLabel;

/*
 * A column's rule as the policy cache holds it.  attnum is the column's
 * number in the relation the cache entry is for (partitions may number their
 * columns differently from their root).
 */
typedef struct PdColumnRule
{
	AttrNumber	attnum;
	PdOnDenied	on_denied;
	int			npurposes;
	char	  **purposes;
} PdColumnRule;

/*
 * A relation's rules as the policy cache holds them.  Pointers into an entry
 * stay valid only until the next call that may process invalidation messages
 * (opening a relation, taking a lock, starting a command): copy what must
 * survive that.
 */
typedef struct PdTableRules
{
	Oid			relid;			/* hash key */
	bool		valid;			/* false once an invalidation arrived */
	bool		registered;		/* false: no policy, nothing else is set */
	Oid			root_relid;		/* root of relid's partition tree, or relid */
	Oid			rules_relid;	/* relation whose labels apply: relid, or
								 * the topmost registered partitioned table
								 * above it, or its registered inheritance
								 * ancestor */
	AttrNumber	subject_attnum; /* InvalidAttrNumber if the label names a
								 * column that no longer exists */
	AttrNumber	collected_at_attnum;
	AttrNumber	birthdate_attnum;
	char	   *department;
	bool		has_retention;
	Interval	retention;
	PdOnExpiry	on_expiry;
	int			ncolumns;
	PdColumnRule *columns;
	/* enforcement's verdicts on the columns, for one session state */
	uint64		verdict_generation; /* pd_policy_generation they hold for */
	Oid			verdict_role;	/* session role they hold for */
	uint64		verdict_allowed;	/* bit i: columns[i] may be used */
	struct MemoryContextData *context;	/* holds everything above; NULL if
										 * unregistered */
} PdTableRules;

/* A label as stored in pg_seclabel: subid 0 is the table's. */
typedef struct PdRawLabel
{
	int32		subid;
	char	   *label;
} PdRawLabel;

/* Recipient kinds (personal_data.recipients.kind). */
typedef enum PdRecipientKind
{
	PD_RECIPIENT_ENTRUSTEE,
	PD_RECIPIENT_THIRD_PARTY
} PdRecipientKind;

typedef struct PdRecipient
{
	Oid			roleid;			/* hash key */
	PdRecipientKind kind;
	char	   *organization;
	char	   *country;		/* NULL if unknown */
} PdRecipient;

typedef struct PdPurpose
{
	char		name[NAMEDATALEN];	/* hash key */
	char	   *category;
	bool		disclosed;
	bool		has_retention;
	Interval	retention;
	int			ngrantees;
	Oid		   *grantees;		/* roles granted this purpose */
} PdPurpose;

/* personal_data.c: settings */
extern char *pd_purpose;
extern bool pd_enforce;
extern int	pd_minor_age;
extern bool pd_record_provisions;
extern bool pd_preloaded;
extern void pd_require_preloaded(void);

/* personal_data.audit values, and what a full audit queue does */
typedef enum PdAuditLevel
{
	PD_AUDIT_OFF,
	PD_AUDIT_DENIED,
	PD_AUDIT_ALL
} PdAuditLevel;

typedef enum PdAuditQueueFull
{
	PD_AUDIT_QUEUE_FULL_BLOCK,
	PD_AUDIT_QUEUE_FULL_ERROR
} PdAuditQueueFull;

extern int	pd_audit_level;
extern bool pd_audit_sync;
extern int	pd_audit_queue_size_kb;
extern int	pd_audit_queue_full;
extern int	pd_audit_flush_interval_ms;
extern int	pd_audit_retention_s;
extern char *pd_home_country;

/* label.c: label grammar and the label provider */
extern void pd_parse_table_label(const char *label, PdTableLabel *out);
extern void pd_parse_column_label(const char *label, PdColumnLabel *out);
extern bool pd_valid_purpose_name(const char *name);
extern void pd_object_relabel(const ObjectAddress *object, const char *seclabel);
extern char *pd_get_label(Oid relid, int32 subid);
extern List *pd_relation_labels(Oid relid);
extern void pd_invalidate_with_inheritors(Oid relid);
extern char *pd_table_label_problem(Oid relid, const PdTableLabel *tl);
extern char *pd_format_table_label(const PdTableLabel *tl);

/* ddl_guard.c: keeps labels true to the tables they describe */
extern void pd_install_ddl_guard(void);

/* policy_cache.c: the only reader of policy */
extern PdTableRules *pd_table_rules(Oid relid);
extern bool pd_extension_installed(void);
extern PdPurpose *pd_lookup_purpose(const char *name);
extern bool pd_role_has_purpose(Oid roleid, const char *purpose);
extern PdRecipient *pd_lookup_recipient(Oid roleid);
extern PdRecipient *pd_session_recipient(Oid roleid);
extern Oid	pd_unregistered_ancestor(Oid relid);
extern bool pd_column_allows(const PdColumnRule *rule, const char *purpose);
extern List *pd_policy_catalog_relids(void);	/* shared: callers copy, never modify */

/*
 * Advances whenever what a session may use can have changed: the policy
 * catalog, role memberships, the purpose, enforcement settings.  Verdicts
 * cached with an older generation are stale.
 */
extern uint64 pd_policy_generation;
extern void pd_policy_changed_locally(void);
extern void pd_legal_bases_present(Oid recipient, const char *purpose,
								   bool *blanket, bool *per_subject);
extern Oid	pd_grantee_for(Oid roleid);
extern bool pd_may_use_column(Oid roleid, const char *purpose,
							  const PdColumnRule *rule);

/* enforce.c: query-time enforcement */
extern int	pd_enforcement_suspended;
extern bool pd_purpose_dependent_plans;
extern List *pd_registered_tables(void);
extern bool pd_enforcement_applies(void);
extern char *pd_minor_condition_sql(const PdTableRules *rules, Oid relid);
extern void pd_install_enforcement(void);
extern void pd_withhold_row_values(void *arg);
extern bool pd_copy_is_enforced(Node *parsetree);
extern struct PlannedStmt *pd_enforce_copy(struct PlannedStmt *pstmt);

/* audit.c: the access and disclosure logs */
extern void pd_install_audit(void);
extern void pd_audit_denied(Oid relid, AttrNumber attnum, CmdType operation,
							const char *reason);
extern void pd_audit_setting_change(const char *reason);
extern bool pd_audit_settings_touched;
extern void pd_audit_check_settings(void);
extern void pd_audit_copy_from(Oid relid, List *attnums, uint64 rows);
extern void pd_audit_release_database(Oid dboid, bool dropped);

/* worker.c: the purge launcher and worker */
extern int	pd_purge_naptime_s;
extern int	pd_purge_batch_size;
extern int	pd_purge_delay_ms;
extern int	pd_purge_statement_timeout_ms;
extern int	pd_response_period_s;
extern char *pd_request_id;
extern void pd_register_purge_launcher(void);
extern void pd_purge_worker_announce(Oid dboid);

/* purge.c: what the purge cannot do in SQL */
extern bool pd_purge_try_lock_session(Oid relid);
extern void pd_purge_unlock_session(Oid relid);
extern char *pd_equality_operator_sql(Oid type);
extern uint64 pd_run_as_owner(Oid owner, const char *command, int nargs, Oid *types, Datum *values,
							  char *nulls, bool cached, bool writes, Datum *first,
							  bool *first_isnull, Oid *first_type);

#endif							/* PERSONAL_DATA_H */

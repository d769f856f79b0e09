# personal_data: PostgreSQL extension (PGXS build).
# Build and install:  make && make install   (as root; see README.md)
# Tests:              ./run-tests             (starts its own clusters)

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

MODULE_big = personal_data
OBJS = \
	src/personal_data.o \
	src/label.o \
	src/policy_cache.o \
	src/ddl_guard.o \
	src/enforce.o \
	src/provisions.o \
	src/audit.o \
	src/purge.o \
	src/subject.o \
	src/worker.o

EXTENSION = personal_data
DATA = $(wildcard sql/personal_data--*.sql)

PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
# SHA-256 of the audit chain, through OpenSSL as PostgreSQL itself is built on Debian
SHLIB_LINK += -lcrypto

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ff_engine — PGXS build.  See README.md for the two commands.
EXTENSION  = ff_engine
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = ff_engine
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is generated from the ordered pieces in sql/install/.
# Released versions' install scripts are frozen in sql/ (DATA); the upgrade
# script to this version is generated from its hand-written table part and
# the pieces (sql/upgrade/gen_upgrade.pl).
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--0.1.0--$(EXTVERSION).sql
DATA = sql/$(EXTENSION)--0.1.0.sql
INSTALL_PIECES = $(sort $(wildcard sql/install/*.sql))

# Tests by kind (test/README.md): pg_regress for the SQL surface, the
# isolation tester for races, pgTAP for behaviour.
REGRESS = $(patsubst test/regress/sql/%.sql,%,$(sort $(wildcard test/regress/sql/[0-9]*.sql)))
REGRESS_OPTS = --inputdir=test/regress --load-extension=ff_engine
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=ff_engine

# pgTAP suites (test/tap): part of `make installcheck` (pg_prove, against a
# database of their own); PGTAP= skips them (test/run.sh counts them apart).
PGTAP = $(sort $(wildcard test/tap/[0-9]*.sql))
PGTAP_DB ?= ff_installcheck_tap

PG_CPPFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -I$(srcdir)/src
# FF_ASSERTS=1: the extension's Assert()s (and those of PostgreSQL's header
# inline functions) compiled in, as in a --enable-cassert server; they call
# ExceptionalCondition, which every server exports.  Debian's server stays
# a release build.  The objects are rebuilt when the setting changes.
FF_ASSERTS ?= 0
ifeq ($(FF_ASSERTS),1)
PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
endif
# (a file made here, not by a rule: PGXS's .SECONDARY would never make it)
ASSERTS_STAMP := src/.asserts-$(FF_ASSERTS)
ifeq ($(wildcard $(ASSERTS_STAMP)),)
$(shell rm -f src/.asserts-*; touch $(ASSERTS_STAMP))
endif
EXTRA_CLEAN = $(DATA_built) results output_iso regression.diffs regression.out src/.asserts-*

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_PIECES)
	cat $^ > $@

sql/$(EXTENSION)--0.1.0--$(EXTVERSION).sql: sql/upgrade/0.1.0--$(EXTVERSION).tables.sql sql/upgrade/gen_upgrade.pl $(INSTALL_PIECES)
	perl sql/upgrade/gen_upgrade.pl sql/upgrade/0.1.0--$(EXTVERSION).tables.sql $(INSTALL_PIECES) > $@

$(OBJS): $(wildcard src/*.h) $(ASSERTS_STAMP)

installcheck: $(if $(PGTAP),installcheck-pgtap)
installcheck-pgtap:
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $(PGTAP_DB)" -c "CREATE DATABASE $(PGTAP_DB)"
	cd test/tap && pg_prove -d $(PGTAP_DB) $(notdir $(PGTAP))
.PHONY: installcheck-pgtap
# The router extension (router/, doc/scale-out.md) builds and installs with
# the engine.
all: router-all
install: router-install
clean: router-clean
.PHONY: router-all router-install router-clean
router-all:
	$(MAKE) -C router PG_CONFIG=$(PG_CONFIG)
router-install:
	$(MAKE) -C router install PG_CONFIG=$(PG_CONFIG)
router-clean:
	$(MAKE) -C router clean PG_CONFIG=$(PG_CONFIG)

# libsql for Erlang - build, test and demo entry points.
#
#   make            build priv/libsql_port and the OTP application
#   make demo       install missing Debian packages, build, run the demo
#   make test       install missing Debian packages, run C tests and every
#                   Common Test suite; ends with "N passed, N failed"
#   make shell      rebar3 shell with the application loaded

SHELL := /bin/bash
CC ?= cc
ERL_ROOT := $(shell erl -noshell -eval 'io:format("~s", [code:root_dir()])' -s init stop 2>/dev/null)
EI_DIR := $(shell erl -noshell -eval 'io:format("~s", [code:lib_dir(erl_interface)])' -s init stop 2>/dev/null)

CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
               -Wformat=2 -I$(EI_DIR)/include -pthread
OPT ?= -O2 -g
LDLIBS := -L$(EI_DIR)/lib -lei -lsqlite3 -lm -pthread

BUILD ?= build/release
PORT_SRCS := port/term.c port/errors.c port/frame_io.c port/commands.c port/exec.c \
             port/cursors.c port/handles.c port/stmt_cache.c port/backend_local.c
PORT_OBJS := $(PORT_SRCS:port/%.c=$(BUILD)/%.o)
PORT_BIN ?= priv/libsql_port
TEST_BIN := $(BUILD)/test_port

DEB_PACKAGES := erlang-nox erlang-dev rebar3 erlang-common-test erlang-dialyzer \
                erlang-eunit erlang-proper erlang-tools libsqlite3-dev gcc make procps

.PHONY: all port erlang test test-c test-ct demo deps shell dialyzer clean port-asan test-c-asan \
        valgrind bench
all: port erlang

# The port built with AddressSanitizer and UBSan (any finding aborts it):
# test/run_all.sh runs the C tests and every CT suite against this build too.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
port-asan:
	$(MAKE) BUILD=build/asan PORT_BIN=build/asan/libsql_port OPT="-O1 -g" EXTRA_CFLAGS="$(ASAN_FLAGS)" build/asan/libsql_port

test-c-asan:
	$(MAKE) BUILD=build/asan PORT_BIN=build/asan/libsql_port OPT="-O1 -g" EXTRA_CFLAGS="$(ASAN_FLAGS)" test-c

port: $(PORT_BIN)

$(BUILD)/%.o: port/%.c port/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS) -c $< -o $@

$(PORT_BIN): $(PORT_OBJS) $(BUILD)/main.o
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(PORT_OBJS) $(BUILD)/test_port.o
	$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_port.o: port/test/test_port.c port/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Iport $(OPT) $(EXTRA_CFLAGS) -c $< -o $@

# The C tests and a Common Test smoke run (the local API suite) with the port
# under valgrind memcheck: any error or definite/indirect leak fails it.
VALGRIND_SUITES ?= test/libsql_local_SUITE
valgrind: all $(TEST_BIN)
	@command -v valgrind > /dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -qq valgrind; }
	valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --error-exitcode=9 $(TEST_BIN)
	rm -rf build/valgrind && mkdir -p build/valgrind
	LIBSQL_VALGRIND_DIR=$(CURDIR)/build/valgrind LIBSQL_PORT_EXECUTABLE=$(CURDIR)/test/valgrind_port.sh \
	  rebar3 ct --suite $(VALGRIND_SUITES)
	@n=$$(ls build/valgrind | wc -l); bad=$$(grep -l . build/valgrind/* 2>/dev/null | wc -l); \
	echo "valgrind: $$n port processes, $$bad with reports"; \
	if [ "$$bad" != 0 ]; then cat build/valgrind/*; exit 1; fi

erlang: port
	rebar3 compile

# Installs only what is missing; needs root or sudo.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

demo: deps
	$(MAKE) all
	erl -noshell -pa _build/default/lib/libsql/ebin +pc unicode -eval 'libsql_demo:main()' -s init stop

test-c: $(TEST_BIN)
	$(TEST_BIN)

test-ct: port
	rebar3 ct

test: deps
	$(MAKE) all
	bash test/run_all.sh

shell: all
	rebar3 shell

dialyzer: all
	rebar3 dialyzer

clean:
	rm -rf build priv/libsql_port _build

# Benchmarks (bench/README.md): never part of `make test`, never fail on a
# number. Installs the peer (erlang-p1-sqlite3) if missing, builds the
# project, the C floor and the echo port, then prints the table and writes
# it to build/bench/latest.txt. LIBSQL_BENCH_QUICK=1: a run under a minute.
BENCH_DIR := build/bench
BENCH_CFLAGS := $(CFLAGS_BASE) -O2

$(BENCH_DIR)/floor: bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lsqlite3 -pthread

$(BENCH_DIR)/echo_port: bench/echo_port.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -L$(EI_DIR)/lib -lei -pthread

$(BENCH_DIR)/libsql_bench.beam: bench/libsql_bench.erl
	@mkdir -p $(dir $@)
	erlc +warnings_as_errors -o $(BENCH_DIR) $<

bench:
	@dpkg-query -W -f='$${Status}' erlang-p1-sqlite3 2>/dev/null | grep -q 'install ok installed' || { \
	  echo "installing: erlang-p1-sqlite3"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq erlang-p1-sqlite3; }
	$(MAKE) all
	$(MAKE) $(BENCH_DIR)/floor $(BENCH_DIR)/echo_port $(BENCH_DIR)/libsql_bench.beam
	P1=$$(ls -d /usr/lib/erlang/lib/p1_sqlite3-*/ebin 2>/dev/null | tail -1); \
	erl -noshell -pa _build/default/lib/libsql/ebin -pa $(BENCH_DIR) $${P1:+-pa $$P1} \
	  -eval 'libsql_bench:main()' -s init stop

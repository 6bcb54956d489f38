# libsql for Erlang - build, test and demo entry points.
#
#   make            build priv/libsql_port and the OTP application
#   make demo       install missing Debian packages, build, run the demo
#   make test       install missing Debian packages, run C tests and every
#                   Common Test suite; ends with "N passed, N failed"
#   make shell      rebar3 shell with the application loaded (and its docs)
#   make docs       API docs: HTML in doc/ and EEP-48 chunks in doc/chunks

SHELL := /bin/bash
CC ?= cc
ERL_ROOT := $(shell erl -noshell -eval 'io:format("~s", [code:root_dir()])' -s init stop 2>/dev/null)
EI_DIR := $(shell erl -noshell -eval 'io:format("~s", [code:lib_dir(erl_interface)])' -s init stop 2>/dev/null)
# erl_nif.h: the NIF, and its frame reader (port/nif/nif_frames.h) wherever
# it is compiled (the C tests and the fuzzers replay and fuzz it).
ERTS_INC := -I$(ERL_ROOT)/usr/include

# WERROR= builds without -Werror: what rebar.config's hook does when libsql
# is compiled as someone's dependency (their compiler may know new warnings).
WERROR ?= -Werror
CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -ffp-contract=off -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes \
               -Wformat=2 -I$(EI_DIR)/include -pthread
OPT ?= -O2 -g
LDLIBS := -L$(EI_DIR)/lib -lei -lsqlite3 -lyajl -lgnutls -ldl -lm -pthread

BUILD ?= build/release
PORT_SRCS := port/term.c port/errors.c port/frame_io.c port/commands.c port/conn_cmds.c \
             port/exec.c port/run.c port/cursors.c port/tx_cmds.c port/tx_sql.c port/handles.c port/stmt_cache.c port/backend_local.c \
             port/backend_remote.c port/http.c port/curl_api.c port/hrana_req.c port/hrana_resp.c \
             port/sql_scan.c port/params.c port/reply.c port/ro_guard.c port/pull_proto.c \
             port/replica_file.c port/replica_sync.c port/backend_replica.c port/replica_cmds.c \
             port/replica_bg.c port/events.c port/crypt_codec.c port/crypt_vfs.c port/vfs_pass.c port/journal_gather.c port/crypt_wal.c \
             port/crypt_memfile.c port/local_crypt.c port/crypt_rekey.c port/hot_journal.c \
             port/file_io.c port/intake.c port/channel.c \
             port/functions.c port/callback_cmds.c port/local_hooks.c port/cdc.c port/auth_rules.c \
             port/extensions.c port/sqlite_cmds.c port/sqlite_log.c \
             port/vector.c port/vector_text.c port/vector_sql.c port/uuid_sql.c \
             port/vector_diskann.c port/vector_idx_params.c port/vector_ddl.c port/vector_index.c \
             port/vector_topk.c
PORT_OBJS := $(PORT_SRCS:port/%.c=$(BUILD)/%.o)
PORT_BIN ?= priv/libsql_port
NIF_SO ?= priv/libsql_nif.so
TEST_BIN := $(BUILD)/test_port
TEST_REMOTE_BIN := $(BUILD)/test_remote

# What building the port needs (a user's machine needs these too; see the
# README), then what the tests need: Common Test, Dialyzer, PropEr, edoc for
# the docs, git and Elixir for the dependency checks (test/dep_check.sh),
# nginx as a keep-alive front for tursodb (libsql_remote_keepalive_SUITE).
BUILD_PACKAGES := erlang-nox erlang-dev erlang-edoc rebar3 libsqlite3-dev gcc make \
                  libcurl4-gnutls-dev libyajl-dev libgnutls28-dev
DEB_PACKAGES := $(BUILD_PACKAGES) erlang-common-test erlang-dialyzer erlang-eunit \
                erlang-proper erlang-tools procps git elixir nginx

.PHONY: all port erlang test test-c test-ct demo demo-remote deps shell dialyzer clean port-asan test-c-asan \
        valgrind valgrind-nif bench docs doc-chunks xref clean-port check-dep
all: port erlang

# The port built with AddressSanitizer and UBSan (any finding aborts it):
# test/run_all.sh runs the C tests and every CT suite against this build too.
# The NIF too (build/asan/libsql_nif.so, loaded with LIBSQL_NIF_SO into a VM
# started with the sanitizers' runtimes preloaded).
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
port-asan:
	$(MAKE) BUILD=build/asan PORT_BIN=build/asan/libsql_port NIF_SO=build/asan/libsql_nif.so OPT="-O1 -g" \
	    EXTRA_CFLAGS="$(ASAN_FLAGS)" build/asan/libsql_port build/asan/libsql_nif.so

test-c-asan:
	$(MAKE) BUILD=build/asan PORT_BIN=build/asan/libsql_port OPT="-O1 -g" EXTRA_CFLAGS="$(ASAN_FLAGS)" test-c

port: $(PORT_BIN) $(NIF_SO)

# The `transport => nif' lane (port/nif/libsql_nif.c, erl/libsql_nif.erl):
# a NIF that holds two pipes of a port program, no database state; its
# frame reader (nif_frames.c) makes no erl_nif call, so the C tests and
# fuzz_nif_frames link it alone.
NIF_SRCS := port/nif/libsql_nif.c port/nif/nif_frames.c
$(NIF_SO): $(NIF_SRCS) port/nif/nif_frames.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(ERTS_INC) $(OPT) $(EXTRA_CFLAGS) -fPIC -shared -o $@ $(NIF_SRCS)

$(BUILD)/nif/nif_frames.o: port/nif/nif_frames.c port/nif/nif_frames.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(ERTS_INC) $(OPT) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/%.o: port/%.c port/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS) -c $< -o $@

$(PORT_BIN): $(PORT_OBJS) $(BUILD)/main.o
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

# The C test programs (port/test): test_port is one program of one file per
# module of the port it tests (test_port.c has the main, test_util.c what
# they share); harness.c is both programs' runner.
TEST_PORT_OBJS := $(addprefix $(BUILD)/test/,test_port.o test_util.o test_term.o test_errors.o \
                  test_commands.o test_frames.o test_spin.o test_intake.o test_params.o test_replica.o test_crypt.o test_gather.o test_vector.o test_vector_text.o test_vector_ddl.o test_diskann.o \
                  test_fuzz_corpus.o harness.o)
TEST_REMOTE_OBJS := $(addprefix $(BUILD)/test/,test_remote.o harness.o)

$(TEST_BIN): $(PORT_OBJS) $(TEST_PORT_OBJS) $(BUILD)/nif/nif_frames.o
	$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_REMOTE_BIN): $(PORT_OBJS) $(TEST_REMOTE_OBJS)
	$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

$(sort $(TEST_PORT_OBJS) $(TEST_REMOTE_OBJS)): $(BUILD)/test/%.o: port/test/%.c port/*.h port/test/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Iport $(ERTS_INC) $(OPT) $(EXTRA_CFLAGS) -c $< -o $@

# The C tests and a Common Test smoke run (the local suite, the API suite on a
# file and on tursodb, the remote fault and TLS suites for libcurl/GnuTLS and
# the Hrana parser, the replica suite, the encryption suite for the VFS
# shim and the rekey, the callbacks suite for the channel, functions,
# change capture, the authorizer, extensions and snapshots, and the vector
# suites for libSQL's vector SQL and its index) with the port
# under valgrind memcheck: any error or definite/indirect leak fails it.
VALGRIND_SUITES ?= test/libsql_local_SUITE,test/libsql_api_SUITE,test/libsql_remote_fault_SUITE,test/libsql_tls_SUITE,test/libsql_replica_SUITE,test/libsql_crypt_SUITE,test/libsql_callback_SUITE,test/libsql_vector_SUITE,test/libsql_vector_index_SUITE
valgrind: all $(TEST_BIN) $(TEST_REMOTE_BIN)
	@command -v valgrind > /dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -qq valgrind; }
	valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --error-exitcode=9 $(TEST_BIN)
	valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --error-exitcode=9 $(TEST_REMOTE_BIN)
	rm -rf build/valgrind && mkdir -p build/valgrind
	LIBSQL_VALGRIND_DIR=$(CURDIR)/build/valgrind LIBSQL_PORT_EXECUTABLE=$(CURDIR)/test/valgrind_port.sh \
	  rebar3 ct --suite $(VALGRIND_SUITES)
	@n=$$(ls build/valgrind | wc -l); bad=$$(grep -l . build/valgrind/* 2>/dev/null | wc -l); \
	echo "valgrind: $$n port processes, $$bad with reports"; \
	if [ "$$bad" != 0 ]; then cat build/valgrind/*; exit 1; fi
	$(MAKE) valgrind-nif

# The NIF of transport nif under memcheck. Debian's OTP 25 is JIT-only, which
# memcheck cannot follow: OTP's own `valgrind' emulator type is built once from
# Debian's source of the same OTP into ~/.cache/libsql (about 7 minutes), and
# runs test/libsql_nif_memcheck.erl; any memcheck record in the NIF fails it.
valgrind-nif: all
	bash test/otp_valgrind_build.sh
	bash test/valgrind_nif.sh --log build/valgrind_nif.log test/libsql_nif_memcheck.erl

erlang: port
	rebar3 compile

# Installs only what is missing; needs root or sudo.
# node and npm (for the remote test servers, installed from npm by
# test/setup_remote.sh) count as present whoever packaged them: a
# nodesource nodejs brings its own npm and conflicts with Debian's.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done; \
	  command -v node > /dev/null || echo nodejs; command -v npm > /dev/null || echo npm); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The demo is an example, not part of the application: doc/examples.
build/demo/libsql_demo.beam: doc/examples/libsql_demo.erl
	@mkdir -p build/demo
	erlc +warnings_as_errors -o build/demo $<

demo: deps
	$(MAKE) all build/demo/libsql_demo.beam
	erl -noshell -pa _build/default/lib/libsql/ebin -pa build/demo +pc unicode \
	  -eval 'libsql_demo:main()' -s init stop

# The demo against a server: LIBSQL_URL if set, else a local tursodb 0.7.0
# (installed from npm into ~/.cache/libsql-test, started on a free port,
# stopped afterwards).
demo-remote: deps
	$(MAKE) all build/demo/libsql_demo.beam
	@mkdir -p build/demo && erlc -o build/demo test/libsql_tursodb.erl test/libsql_test_json.erl test/libsql_test_util.erl
	erl -noshell -pa _build/default/lib/libsql/ebin -pa build/demo +pc unicode \
	  -eval 'libsql_demo:remote_auto()' -s init stop

test-c: $(TEST_BIN) $(TEST_REMOTE_BIN)
	$(TEST_BIN)
	$(TEST_REMOTE_BIN)

test-ct: port
	rebar3 ct

test: deps
	$(MAKE) all
	bash test/run_all.sh

# The shell finds the docs through doc/chunks (code:get_doc looks in every
# directory above the beam files), so h(libsql, query, 3) works there.
shell: all docs
	rebar3 shell

dialyzer: all
	rebar3 dialyzer

xref: all
	rebar3 xref

# HTML for the public modules (doc/index.html, doc/libsql.html, ...) and
# their EEP-48 chunks (doc-chunks) for h/1,2,3 and iex's h. The Erlang shell
# finds doc/chunks by itself (it looks in every directory above the beam
# files); iex looks only in <app>/doc/chunks, hence the link.
docs: all doc-chunks
	rebar3 edoc
	ln -sfn ../../../../doc _build/default/lib/libsql/doc

# The API docs as EEP-48 chunks, made whenever the application is compiled
# (rebar.config's post-compile hook), so that a dependency's docs reach its
# users' shells: rebar3 compiles a dependency in place, where <app>/doc/chunks
# is found; mix puts the beam files in $$REBAR_BARE_COMPILER_OUTPUT_DIR, so
# the chunks are copied there too. Without edoc (Debian's erlang-edoc) the
# build goes on without them.
PUBLIC_MODULES := libsql libsql_pragma libsql_events libsql_vector libsql_json
CHUNKS := $(PUBLIC_MODULES:%=doc/chunks/%.chunk)
doc-chunks: doc/chunks/.made
	@out=$${REBAR_BARE_COMPILER_OUTPUT_DIR:-}; \
	if [ -n "$$out" ] && [ -f $(firstword $(CHUNKS)) ]; then \
	  mkdir -p "$$out/doc/chunks" && cp $(CHUNKS) "$$out/doc/chunks/"; fi

# One stamp for all the chunks (one edoc run makes them all; no grouped
# targets, which older makes do not have).
doc/chunks/.made: $(PUBLIC_MODULES:%=erl/%.erl) include/libsql.hrl doc/make_chunks.escript
	@mkdir -p doc/chunks
	@escript doc/make_chunks.escript doc $(PUBLIC_MODULES:%=erl/%.erl)
	@touch $@

# A throwaway rebar3 project and a mix project that depend on this checkout
# as a git dependency: build, release, start, query, stop (test/dep_check.sh).
check-dep: all
	bash test/dep_check.sh

clean:
	rm -rf build priv/libsql_port priv/libsql_nif.so _build doc/chunks doc/*.html doc/*.css doc/*.png doc/edoc-info

# What `rebar3 clean' removes besides the beam files (rebar.config hook).
clean-port:
	rm -rf build/release priv/libsql_port priv/libsql_nif.so

# Benchmarks (bench/README.md): never part of `make test`, never fail on a
# number. Installs the peer (erlang-p1-sqlite3) and wrk if missing, builds the
# project, the C floor and the echo port, then prints the table and writes
# it to build/bench/latest.txt. LIBSQL_BENCH_QUICK=1: a run of about a minute.
BENCH_DIR := build/bench
BENCH_CFLAGS := $(CFLAGS_BASE) -O2

$(BENCH_DIR)/floor: bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lsqlite3 -pthread

$(BENCH_DIR)/echo_port: bench/echo_port.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -L$(EI_DIR)/lib -lei -pthread

$(BENCH_DIR)/%.beam: bench/%.erl
	@mkdir -p $(dir $@)
	erlc +warnings_as_errors -o $(BENCH_DIR) $<

# The remote workloads start tursodb with the test helpers (test/ owns them).
$(BENCH_DIR)/libsql_tursodb.beam $(BENCH_DIR)/libsql_test_json.beam \
$(BENCH_DIR)/libsql_test_util.beam $(BENCH_DIR)/libsql_sync_check.beam $(BENCH_DIR)/libsql_node.beam: $(BENCH_DIR)/%.beam: test/%.erl
	@mkdir -p $(dir $@)
	erlc -o $(BENCH_DIR) $<

BENCH_BEAMS := $(addprefix $(BENCH_DIR)/,libsql_bench.beam libsql_bench_nifs.beam libsql_bench_remote.beam \
	libsql_bench_replica.beam libsql_bench_crypt.beam libsql_bench_callbacks.beam libsql_bench_vector.beam libsql_bench_spin.beam libsql_tursodb.beam libsql_test_json.beam \
	libsql_test_util.beam libsql_sync_check.beam libsql_node.beam)
BENCH_DEBS := erlang-p1-sqlite3 wrk

bench:
	@missing=; for p in $(BENCH_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; }
	$(MAKE) all
	$(MAKE) $(BENCH_DIR)/floor $(BENCH_DIR)/echo_port $(BENCH_BEAMS)
	P1=$$(ls -d /usr/lib/erlang/lib/p1_sqlite3-*/ebin 2>/dev/null | tail -1); \
	erl -noshell -pa _build/default/lib/libsql/ebin -pa $(BENCH_DIR) $${P1:+-pa $$P1} \
	  -eval 'libsql_bench:main()' -s init stop

# Fuzzing (port/fuzz/, never part of `make test`; the corpus replay in the C
# tests is). libFuzzer targets built with clang, ASan and UBSan:
#   build/fuzz/fuzz_request  one request frame body, run as main.c runs it
#   build/fuzz/fuzz_frames   a byte stream read as {packet,4} frames
#   build/fuzz/fuzz_hrana    a Hrana response body (network bytes) fed to the
#                            streaming parser, and the same bytes as SQL text
#                            to the statement/parameter scanner
#   build/fuzz/fuzz_pull     a /pull-updates response body (an embedded
#                            replica's pull) fed to its decoder and checks
#   build/fuzz/fuzz_crypt    the encryption page codec, and crashed WALs and
#                            hot journals through its VFS shim vs plain SQLite
#   build/fuzz/fuzz_vector   vector text and blobs (parser, printer, conversions)
#   build/fuzz/fuzz_nif_frames  the NIF's answer-pipe frame reader
#                            (port/nif/nif_frames.c) fed in chunks with EAGAIN,
#                            as owner and lane, vs a framing of the bytes
# `make fuzz` runs each for FUZZ_SECONDS (default 60), one after the other,
# from the committed seeds (test/fuzz_corpus/<target>) plus a work corpus
# (build/fuzz/corpus/<target>, where new inputs go); findings land in
# build/fuzz/artifacts/<target>/. The committed corpus only changes through
# `make fuzz-promote` (coverage-minimal merge of the work corpus into it) or
# `make fuzz-seeds` (rewrites the generated seeds). FUZZ_FLAGS adds libFuzzer
# options (e.g. FUZZ_FLAGS="-fork=1 -ignore_crashes=1" to go on past a crash);
# FUZZ_KNOWN=name,... steps over findings already reported and not fixed yet
# (names in port/fuzz/fuzz_harness.h; test/fuzz_corpus/crashes/README.md). fuzz_request keeps state between inputs, so
# libFuzzer's per-input leak check (a full LSan scan each time an input
# allocates more than it frees) is off for it: leaks are reported at exit,
# after the harness has freed the port. A crash leaves the requests that
# built the state in build/fuzz/history/ (port/fuzz/split_frames.erl).
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_TARGETS := request frames hrana pull crypt vector nif_frames
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := $(filter-out -Werror,$(CFLAGS_BASE)) -Iport $(ERTS_INC) -g -O1 $(FUZZ_SAN)
FUZZ_OBJS := $(PORT_SRCS:port/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_RUN_FLAGS := -max_len=4096 -timeout=2 -rss_limit_mb=2048 -print_final_stats=1
# fuzz_nif_frames: room for frames across the NIF's 64 KiB staging buffer
FUZZ_NIF_FRAMES_LEN ?= 140000

.PHONY: fuzz fuzz-build fuzz-deps fuzz-seeds fuzz-promote
.SECONDARY: $(FUZZ_OBJS) $(FUZZ_TARGETS:%=$(FUZZ_DIR)/obj/fuzz_%.o) $(FUZZ_DIR)/obj/nif/nif_frames.o

fuzz-deps:
	@missing=$$(for p in $(FUZZ_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(FUZZ_DIR)/obj/%.o: port/%.c port/*.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/fuzz_%.o: port/fuzz/fuzz_%.c port/fuzz/*.h port/*.h port/nif/*.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/nif/nif_frames.o: port/nif/nif_frames.c port/nif/nif_frames.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_OBJS) $(FUZZ_DIR)/obj/fuzz_%.o
	$(FUZZ_CC) -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# The NIF's frame reader is not part of the port: only its target links it.
$(FUZZ_DIR)/fuzz_nif_frames: $(FUZZ_DIR)/obj/nif/nif_frames.o

fuzz-build: fuzz-deps
	$(MAKE) $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t $(FUZZ_DIR)/history; \
	  dict=; [ -f port/fuzz/$$t.dict ] && dict=-dict=port/fuzz/$$t.dict; \
	  leaks=; [ $$t = request ] && leaks=-detect_leaks=0; \
	  len=; [ $$t = pull ] && len=-max_len=40000; [ $$t = crypt ] && len=-max_len=20000; \
	  [ $$t = nif_frames ] && len=-max_len=$(FUZZ_NIF_FRAMES_LEN); \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s (log: $(FUZZ_DIR)/fuzz_$$t.log)"; \
	  FUZZ_HISTORY_DIR=$(FUZZ_DIR)/history $(FUZZ_DIR)/fuzz_$$t $(FUZZ_RUN_FLAGS) $$len $$dict $$leaks \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ $(FUZZ_FLAGS) \
	    $(FUZZ_DIR)/corpus/$$t test/fuzz_corpus/$$t 2>&1 | tee $(FUZZ_DIR)/fuzz_$$t.log | \
	    grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==[0-9]+== ?ERROR|SUMMARY|.*FINDING|stat::|Done |fuzz_)' || true; \
	  if grep -qE '^(==[0-9]+== ?ERROR|SUMMARY: |.*FINDING)' $(FUZZ_DIR)/fuzz_$$t.log; then \
	    echo "fuzz_$$t: FINDING, see $(FUZZ_DIR)/fuzz_$$t.log and $(FUZZ_DIR)/artifacts/$$t/"; exit 1; fi; \
	done

# Rewrite the generated seeds (port/fuzz/make_seeds.erl) in test/fuzz_corpus.
fuzz-seeds:
	escript port/fuzz/make_seeds.erl test/fuzz_corpus

# Add to the committed corpus the work-corpus inputs that bring new edges
# (-use_counters=0: hit counts do not count, which keeps the set small;
# never with FUZZ_KNOWN: an input that crashes is left out of the merge).
# Run `make test-c` afterwards: the replay must still pass.
fuzz-promote: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t; \
	  len=; [ $$t = pull ] && len=-max_len=40000; [ $$t = crypt ] && len=-max_len=20000; \
	  [ $$t = nif_frames ] && len=-max_len=$(FUZZ_NIF_FRAMES_LEN); \
	  env -u FUZZ_KNOWN $(FUZZ_DIR)/fuzz_$$t -merge=1 -use_counters=0 $(FUZZ_RUN_FLAGS) $$len \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ \
	    test/fuzz_corpus/$$t $(FUZZ_DIR)/corpus/$$t 2>&1 | \
	    grep -E 'MERGE-OUTER: [0-9]+ new files' || true; \
	done; du -sh test/fuzz_corpus

# The replay test includes port/fuzz/fuzz_harness.h.
$(BUILD)/test/test_fuzz_corpus.o: port/fuzz/fuzz_harness.h port/fuzz/fuzz_crypt.h port/fuzz/fuzz_vector.h \
                                  port/fuzz/fuzz_nif_frames.h port/nif/nif_frames.h

# The PropEr state-machine model (test/libsql_model_SUITE) with 2000 command
# sequences per property instead of the 200 / 100 of `make test' (a few
# minutes). Prints the shrunk counterexample of any failure.
.PHONY: proper
proper: port
	LIBSQL_MODEL_NUMTESTS=2000 rebar3 ct --suite test/libsql_model_SUITE

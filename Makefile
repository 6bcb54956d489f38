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

.PHONY: all port erlang test test-c test-ct demo deps shell dialyzer clean port-asan test-c-asan
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

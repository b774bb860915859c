# Switchboard — build, run, test.  See README.md.
#   make            build everything into build/ (-O2, warnings are errors)
#   make deps       install missing Debian packages (root), or print the command
#   make run        deps + build + the cluster in the foreground on conf/
#   make check      deps + build (normal and ASan/UBSan) + unit, integration and browser tests
#   make bench      the figures in bench/
BUILD   ?= build
SAN     ?=
CC      ?= cc
PKGS    := libuv libprotobuf-c hiredis libmicrohttpd jansson libosip2 libsrtp2 sndfile libcrypto libssl libseccomp
DEB_PKGS := build-essential pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler \
            libhiredis-dev libmicrohttpd-dev libjansson-dev libcmocka-dev libosip2-dev \
            libsrtp2-dev libsndfile1-dev libssl-dev libseccomp-dev redis-server redis-tools sip-tester curl jq procps iproute2 \
            psmisc nftables baresip python3 stunnel4 clang libclang-rt-14-dev chromium nodejs

OPT     ?= -O2
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g -fno-omit-frame-pointer \
           -I. -Ilib -Ishm -I$(BUILD)/gen $(SAN) $(EXTRA_CFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS := $(SAN)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lrt -lm

PROTOS  := $(wildcard proto/*.proto)
GEN_C   := $(patsubst proto/%.proto,$(BUILD)/gen/proto/%.pb-c.c,$(PROTOS))
GEN_H   := $(GEN_C:.c=.h) $(BUILD)/gen/proto/envelope_send.h
LIB_SRC := $(wildcard lib/*.c shm/*.c proto/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(GEN_C:.c=.o)
ROLES   := sipd routerd dialogd mediad apid
MASTER_SRC := $(filter-out master/switchboard.c master/users.c,$(wildcard master/*.c))
# Non-main modules of master and the workers, for the unit tests to link.
MOD_SRC := $(filter-out %/main.c master/switchboard.c,$(wildcard master/*.c procs/*/*.c))
MOD_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(MOD_SRC))
UNIT_SRC := $(wildcard tests/unit/*_test.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRC))
BINS    := $(BUILD)/bin/master $(BUILD)/bin/switchboard $(addprefix $(BUILD)/bin/,$(ROLES))

.PHONY: all deps run check unit bench clean asan browser-deps
.SECONDARY:

all: $(BINS) $(UNIT_BIN) $(TOOL_BIN)

$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen/proto $<

# ipc_send_NAME/ipc_request_NAME/ipc_reply_NAME for every body of the Envelope (lib/ipc.h).
$(BUILD)/gen/proto/envelope_send.h: proto/envelope.proto proto/envelope_gen.sh
	@mkdir -p $(dir $@)
	sh proto/envelope_gen.sh proto/envelope.proto >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/proto/%.pb-c.o: $(BUILD)/gen/proto/%.pb-c.c $(GEN_H)
	$(CC) $(filter-out -Werror,$(CFLAGS)) -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/lib/libsb.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

LUA_OBJ := $(foreach f,$(wildcard procs/*/*.lua),$(BUILD)/obj/gen/lua/$(basename $(notdir $(f)))_lua.o)
$(BUILD)/lib/libsbmod.a: $(MOD_OBJ) $(LUA_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^ $(if $(MOD_OBJ),,/dev/null)

# master and switchboard check what routerd will load with routerd's own dialplan loader
# (and its dialed-number guard), and sipd's register_contact_allow with sipd's parser.
CHECK_OBJ := $(BUILD)/obj/procs/routerd/dialplan.o $(BUILD)/obj/procs/routerd/dialguard.o \
             $(BUILD)/obj/procs/sipd/contact_rule.o $(BUILD)/obj/procs/sipd/sipaddr.o
$(BUILD)/bin/master: $(patsubst %.c,$(BUILD)/obj/%.o,$(MASTER_SRC)) $(CHECK_OBJ) $(BUILD)/lib/libsb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/switchboard: $(BUILD)/obj/master/switchboard.o $(BUILD)/obj/master/users.o $(BUILD)/obj/master/runtime.o $(BUILD)/obj/master/preflight.o $(CHECK_OBJ) $(BUILD)/lib/libsb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A role's Lua scripts (procs/ROLE/NAME.lua): compiled in as const char NAME_lua[].
$(BUILD)/gen/lua/%_lua.c: procs/*/%.lua lib/embed_gen.sh
	@mkdir -p $(dir $@)
	sh lib/embed_gen.sh $*_lua $(filter %.lua,$^) >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/lua/%.o: $(BUILD)/gen/lua/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
lua_objs = $(patsubst procs/$(1)/%.lua,$(BUILD)/obj/gen/lua/%_lua.o,$(wildcard procs/$(1)/*.lua))

define ROLE_RULE
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard procs/$(1)/*.c)) $(call lua_objs,$(1)) $(BUILD)/lib/libsb.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach r,$(ROLES),$(eval $(call ROLE_RULE,$(r))))

$(BUILD)/tests/%_test: $(BUILD)/obj/tests/unit/%_test.o $(BUILD)/lib/libsbmod.a $(BUILD)/lib/libsb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/lib/libsb.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# apid's dashboard: the files of procs/apid/www/ compiled in (www.h).
WWW_SRC := $(sort $(wildcard procs/apid/www/*))
$(BUILD)/gen/www.c: $(WWW_SRC) procs/apid/www_gen.sh
	@mkdir -p $(dir $@)
	sh procs/apid/www_gen.sh $(WWW_SRC) >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/www.o: $(BUILD)/gen/www.c procs/apid/www.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iprocs/apid -c -o $@ $<
$(BUILD)/bin/apid: $(BUILD)/obj/gen/www.o

# The daemons again with AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q '^install ok installed' || echo $$p; done); \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
	      || exit 1; \
	  else \
	    echo "make deps: missing Debian packages; run:"; \
	    echo "  sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi; \
	if [ "$$(id -u)" = 0 ] && ! getent passwd switchboard >/dev/null; then \
	  echo "make deps: adding system user switchboard"; \
	  useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin switchboard || exit 1; \
	fi

run: deps
	$(MAKE) -j$$(nproc) all
	$(BUILD)/bin/master -c conf -f

check: deps browser-deps
	$(MAKE) -j$$(nproc) all
	$(MAKE) -j$$(nproc) asan
	tests/run.sh

# playwright-core for the dashboard test (tests/browser), pinned by package-lock.json. It
# drives Debian's chromium and downloads no browser. No npm, no registry: this fails.
browser-deps: tests/browser/node_modules/.package-lock.json

tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json tests/browser/package.json
	cd tests/browser && npm ci --no-audit --no-fund
	touch $@

unit: all
	tests/run.sh --unit-only

bench: deps
	$(MAKE) -j$$(nproc) all
	bench/run.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

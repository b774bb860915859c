/* cfg_test - main.cf: syntax, expansion, types, errors that name file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cfgtext.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

#define FILE_ "/etc/sb/main.cf"
#define CONFDIR "/etc/sb"

static char err[1024];

static cfg_t *parse(const char *text) {
    err[0] = '\0';
    return cfg_parse(text, strlen(text), FILE_, CONFDIR, err, sizeof err);
}

/* Parses text that must be rejected and checks the message. */
static void assert_rejected(const char *text, const char *expect) {
    cfg_t *cfg = parse(text);
    assert_null(cfg);
    assert_string_equal(err, expect);
}

static void test_defaults_apply_and_expand(void **state) {
    (void)state;
    cfg_t *cfg = parse("");
    assert_non_null(cfg);
    assert_int_equal(cfg_warning_count(cfg), 0);
    assert_string_equal(cfg_str(cfg, CFG_config_directory), "/etc/sb");
    assert_string_equal(cfg_str(cfg, CFG_run_directory), "/etc/sb/run");
    assert_string_equal(cfg_str(cfg, CFG_log_file), "/etc/sb/run/switchboard.log");
    assert_string_equal(cfg_str(cfg, CFG_redis_address), "unix:/etc/sb/run/private/redis.sock");
    assert_string_equal(cfg_str(cfg, CFG_dialplan_path), "/etc/sb/dialplan.json");
    assert_string_equal(cfg_str(cfg, CFG_daemon_directory), "");
    assert_string_equal(cfg_str(cfg, CFG_service_user), "switchboard");
    assert_int_equal(cfg_level(cfg, CFG_log_level), LOG_INFO);
    assert_int_equal(cfg_time_ms(cfg, CFG_drain_timeout), 5000);
    assert_int_equal(cfg_time_ms(cfg, CFG_heartbeat_interval), 1000);
    assert_int_equal(cfg_time_ms(cfg, CFG_worker_hang_timeout), 15000);
    assert_int_equal(cfg_time_ms(cfg, CFG_service_throttle_time), 60000);
    assert_int_equal(cfg_int(cfg, CFG_ipc_max_message), 65536);
    int lo, hi;
    cfg_port_range(cfg, CFG_rtp_port_range, &lo, &hi);
    assert_int_equal(lo, 10000);
    assert_int_equal(hi, 20000);
    const struct cfg_addr *a;
    assert_int_equal(cfg_addrs(cfg, CFG_api_listen, &a), 1);
    assert_string_equal(a[0].text, "127.0.0.1:8080");
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a[0].ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 8080);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(a[0].len, sizeof(struct sockaddr_in));
    assert_string_equal(cfg_file(cfg), FILE_);
    cfg_free(cfg);
}

static void test_param_info_matches_table(void **state) {
    (void)state;
    const struct cfg_param_info *i = cfg_param_info(CFG_rtp_port_range);
    assert_string_equal(i->name, "rtp_port_range");
    assert_int_equal(i->type, CFG_T_PORT_RANGE);
    assert_string_equal(i->def, "10000-20000");
    assert_string_equal(cfg_param_info(CFG_config_directory)->name, "config_directory");
}

static void test_comments_and_blank_lines_are_skipped(void **state) {
    (void)state;
    cfg_t *cfg = parse("# a comment\n\n   \n\t# indented comment\nnode_id = n2\n# node_id = n3\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "n2");
    assert_int_equal(cfg_warning_count(cfg), 0);
    cfg_free(cfg);
}

static void test_spaces_around_equals_and_value_are_trimmed(void **state) {
    (void)state;
    cfg_t *cfg = parse("node_id=n2\t \nservice_user\t=   sb user  \n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "n2");
    assert_string_equal(cfg_str(cfg, CFG_service_user), "sb user");
    cfg_free(cfg);
}

static void test_continuation_line_joins_with_space(void **state) {
    (void)state;
    cfg_t *cfg = parse("sip_listen_udp = 127.0.0.1:5060\n"
                       "    127.0.0.2:5060  \n"
                       "\t[::1]:5062\n"
                       "node_id = n1\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_sip_listen_udp),
                        "127.0.0.1:5060 127.0.0.2:5060 [::1]:5062");
    assert_int_equal(cfg_addrs(cfg, CFG_sip_listen_udp, NULL), 3);
    cfg_free(cfg);
}

static void test_continuation_skips_comment_lines(void **state) {
    (void)state;
    cfg_t *cfg = parse("service_user = a\n# between\n\n  b\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_service_user), "a b");
    cfg_free(cfg);
}

static void test_continuation_without_previous_line_is_error(void **state) {
    (void)state;
    assert_rejected("# top\n  node_id = x\n",
                    FILE_ ":2: continuation line without a line to continue");
}

static void test_error_line_of_continued_value_is_its_first_line(void **state) {
    (void)state;
    assert_rejected("\nlog_level = info\n  debug\n",
                    FILE_ ":2: log_level = info debug: not a log level (debug, info, warn or "
                          "error)");
}

static void test_unknown_parameter_warns_and_expands(void **state) {
    (void)state;
    cfg_t *cfg = parse("my_base = /srv/sb\nrun_directory = $my_base/run\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_warning_count(cfg), 1);
    assert_string_equal(cfg_warning(cfg, 0), FILE_ ":1: unknown parameter 'my_base' (kept)");
    assert_null(cfg_warning(cfg, 1));
    assert_string_equal(cfg_lookup(cfg, "my_base"), "/srv/sb");
    assert_string_equal(cfg_str(cfg, CFG_run_directory), "/srv/sb/run");
    assert_string_equal(cfg_str(cfg, CFG_log_file), "/srv/sb/run/switchboard.log");
    cfg_free(cfg);
}

static void test_duplicate_parameter_last_wins_with_warning(void **state) {
    (void)state;
    cfg_t *cfg = parse("node_id = a\nfoo = 1\nnode_id = b\nnode_id = c\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "c");
    assert_int_equal(cfg_warning_count(cfg), 3);
    assert_string_equal(cfg_warning(cfg, 0), FILE_ ":2: unknown parameter 'foo' (kept)");
    assert_string_equal(cfg_warning(cfg, 1), FILE_ ":3: parameter 'node_id' set again "
                                                   "(previously at line 1); the last setting wins");
    assert_string_equal(cfg_warning(cfg, 2), FILE_ ":4: parameter 'node_id' set again "
                                                   "(previously at line 3); the last setting wins");
    cfg_free(cfg);
}

static void test_duplicate_with_bad_first_value_uses_last(void **state) {
    (void)state;
    cfg_t *cfg = parse("drain_timeout = soon\ndrain_timeout = 2s\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_time_ms(cfg, CFG_drain_timeout), 2000);
    cfg_free(cfg);
}

static void test_line_without_equals_is_error(void **state) {
    (void)state;
    assert_rejected("node_id = a\nlog_level debug\n",
                    FILE_ ":2: missing '=' (expected 'name = value')");
}

static void test_bad_parameter_name_is_error(void **state) {
    (void)state;
    assert_rejected("node-id = a\n",
                    FILE_ ":1: bad parameter name 'node-id' (letters, digits and '_' only)");
    assert_rejected("\n= a\n", FILE_ ":2: missing parameter name before '='");
    assert_rejected("$x = a\n", FILE_ ":1: bad parameter name '$x' (letters, digits and '_' only)");
}

static void test_empty_value_is_allowed(void **state) {
    (void)state;
    cfg_t *cfg = parse("daemon_directory =\nextra=\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_daemon_directory), "");
    assert_string_equal(cfg_lookup(cfg, "extra"), "");
    cfg_free(cfg);
}

static void test_value_keeps_equals_and_hash(void **state) {
    (void)state;
    cfg_t *cfg = parse("node_id = a=b # not a comment\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "a=b # not a comment");
    cfg_free(cfg);
}

static void test_dollar_dollar_yields_dollar(void **state) {
    (void)state;
    cfg_t *cfg = parse("price = $$5\nnode_id = n$$1$price\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_lookup(cfg, "price"), "$5");
    /* the "$" that $$ produced is not expanded again */
    assert_string_equal(cfg_str(cfg, CFG_node_id), "n$1$5");
    cfg_free(cfg);
}

static void test_braced_expansion(void **state) {
    (void)state;
    cfg_t *cfg = parse("site = east\nnode_id = ${site}_1\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "east_1");
    cfg_free(cfg);
}

static void test_bad_dollar_syntax_is_error(void **state) {
    (void)state;
    assert_rejected("node_id = ${site\n", FILE_ ":1: bad '${': expected ${name}");
    assert_rejected("node_id = a $ b\n",
                    FILE_ ":1: '$' not followed by a parameter name (write $$ for a literal $)");
}

static void test_expansion_is_independent_of_order(void **state) {
    (void)state;
    cfg_t *cfg = parse("node_id = $site-$rack\nsite = east\nrack = r7\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "east-r7");
    cfg_free(cfg);
}

static void test_undefined_parameter_names_line_of_use(void **state) {
    (void)state;
    assert_rejected("node_id = a\nrun_directory = $nowhere/run\n",
                    FILE_ ":2: undefined parameter $nowhere");
    /* used through another parameter: the line that uses the undefined name */
    assert_rejected("node_id = $mid\n\nmid = ${nowhere}x\n",
                    FILE_ ":3: undefined parameter $nowhere");
    /* an unknown parameter nobody uses is expanded too */
    assert_rejected("unused = $nowhere\n", FILE_ ":1: undefined parameter $nowhere");
}

static void test_expansion_loop_is_error_naming_line(void **state) {
    (void)state;
    assert_rejected("a = $b\nb = $a\n", FILE_ ":2: expansion loop: $a -> $b -> $a");
    assert_rejected("node_id = $node_id\n", FILE_ ":1: expansion loop: $node_id -> $node_id");
}

static void test_loop_through_default_names_file_line(void **state) {
    (void)state;
    /* log_file's default is $run_directory/switchboard.log */
    assert_rejected("node_id = x\nrun_directory = $log_file\n",
                    FILE_ ":2: expansion loop: $run_directory -> $log_file -> $run_directory");
}

static void test_deep_expansion_is_error(void **state) {
    (void)state;
    char text[8192];
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "p%d = $p%d\n", i, i + 1);
    snprintf(text + n, sizeof text - n, "p150 = end\n");
    cfg_t *cfg = parse(text);
    assert_null(cfg);
    assert_string_equal(err, FILE_ ":100: expansion nested deeper than 100 levels");
}

static void test_exponential_expansion_is_bounded(void **state) {
    (void)state;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "p0 = xxxxxxxxxxxxxxxx\n");
    for (int i = 1; i <= 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "p%d = $p%d$p%d\n", i, i - 1, i - 1);
    cfg_t *cfg = parse(text);
    assert_null(cfg);
    assert_string_equal(err, FILE_ ":18: expanded value longer than 1 MiB");
}

static void test_config_directory_cannot_be_set(void **state) {
    (void)state;
    assert_rejected("node_id = a\nconfig_directory = /tmp\n",
                    FILE_ ":2: config_directory cannot be set in main.cf (it is the -c "
                          "directory)");
}

static void test_config_directory_is_confdir_argument(void **state) {
    (void)state;
    cfg_t *cfg = cfg_parse("x = $config_directory\n", 22, "m.cf", "/odd$dir", err, sizeof err);
    assert_non_null(cfg);
    /* taken as given: the '$' in the directory name is not a reference */
    assert_string_equal(cfg_str(cfg, CFG_config_directory), "/odd$dir");
    assert_string_equal(cfg_lookup(cfg, "config_directory"), "/odd$dir");
    assert_string_equal(cfg_lookup(cfg, "x"), "/odd$dir");
    assert_string_equal(cfg_str(cfg, CFG_run_directory), "/odd$dir/run");
    cfg_free(cfg);
}

static void test_default_follows_user_setting(void **state) {
    (void)state;
    cfg_t *cfg = parse("run_directory = /var/run/sb\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_log_file), "/var/run/sb/switchboard.log");
    assert_string_equal(cfg_str(cfg, CFG_redis_address), "unix:/var/run/sb/private/redis.sock");
    cfg_free(cfg);
}

static void test_int_values_and_range(void **state) {
    (void)state;
    cfg_t *cfg = parse("ipc_max_message = 1048576\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_int(cfg, CFG_ipc_max_message), 1048576);
    cfg_free(cfg);
    cfg = parse("ipc_max_message = 64\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_int(cfg, CFG_ipc_max_message), 64);
    cfg_free(cfg);
    assert_rejected("\nipc_max_message = 63\n",
                    FILE_ ":2: ipc_max_message = 63: out of range 64..1048576");
    assert_rejected("ipc_max_message = 1048577\n",
                    FILE_ ":1: ipc_max_message = 1048577: out of range 64..1048576");
    assert_rejected("ipc_max_message = 99999999999999999999999\n",
                    FILE_ ":1: ipc_max_message = 99999999999999999999999: out of range "
                          "64..1048576");
    assert_rejected("ipc_max_message = 64k\n",
                    FILE_ ":1: ipc_max_message = 64k: not a decimal number");
    assert_rejected("ipc_max_message = -100\n",
                    FILE_ ":1: ipc_max_message = -100: not a decimal number");
    assert_rejected("ipc_max_message =\n", FILE_ ":1: ipc_max_message = : not a decimal number");
}

static void test_value_is_checked_after_expansion(void **state) {
    (void)state;
    cfg_t *cfg = parse("size = 4096\nipc_max_message = $size\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_int(cfg, CFG_ipc_max_message), 4096);
    cfg_free(cfg);
    assert_rejected("size = 1\nipc_max_message = $size\n",
                    FILE_ ":2: ipc_max_message = 1: out of range 64..1048576");
}

static void test_time_units(void **state) {
    (void)state;
    cfg_t *cfg = parse("drain_timeout = 250ms\nheartbeat_interval = 7\n"
                       "worker_hang_timeout = 2m\nservice_throttle_time = 1h\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_time_ms(cfg, CFG_drain_timeout), 250);
    assert_int_equal(cfg_time_ms(cfg, CFG_heartbeat_interval), 7000);
    assert_int_equal(cfg_time_ms(cfg, CFG_worker_hang_timeout), 120000);
    assert_int_equal(cfg_time_ms(cfg, CFG_service_throttle_time), 3600000);
    cfg_free(cfg);
    /* 0 is "never" for keepalives, and nothing else */
    cfg = parse("nat_keepalive_interval = 0\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_time_ms(cfg, CFG_nat_keepalive_interval), 0);
    cfg_free(cfg);
}

static void test_bad_time_names_line(void **state) {
    (void)state;
    assert_rejected("node_id = a\ndrain_timeout = 0s\n",
                    FILE_ ":2: drain_timeout = 0s: must be greater than 0");
    assert_rejected("drain_timeout = 0\n", FILE_ ":1: drain_timeout = 0: must be greater than 0");
    assert_rejected("drain_timeout = 5 s\n",
                    FILE_ ":1: drain_timeout = 5 s: bad time unit ' s' (use ms, s, m or h)");
    assert_rejected("drain_timeout = 1.5s\n",
                    FILE_ ":1: drain_timeout = 1.5s: bad time unit '.5s' (use ms, s, m or h)");
    assert_rejected("drain_timeout = 5d\n",
                    FILE_ ":1: drain_timeout = 5d: bad time unit 'd' (use ms, s, m or h)");
    assert_rejected("drain_timeout = s\n",
                    FILE_ ":1: drain_timeout = s: not a time (e.g. 250ms, 5s, 2m, 1h)");
    assert_rejected("drain_timeout = 1000h\n",
                    FILE_ ":1: drain_timeout = 1000h: longer than 2147483647ms (24 days)");
}

static void test_bad_level_names_line(void **state) {
    (void)state;
    cfg_t *cfg = parse("log_level = debug\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_level(cfg, CFG_log_level), LOG_DEBUG);
    cfg_free(cfg);
    assert_rejected("#\n#\nlog_level = verbose\n",
                    FILE_ ":3: log_level = verbose: not a log level (debug, info, warn or error)");
}

static void test_addr_list_v4_v6_and_separators(void **state) {
    (void)state;
    cfg_t *cfg = parse("sip_listen_tcp = 10.0.0.1:5060,[2001:db8::1]:5070 , \t192.168.1.2:65535\n");
    assert_non_null(cfg);
    const struct cfg_addr *a;
    assert_int_equal(cfg_addrs(cfg, CFG_sip_listen_tcp, &a), 3);
    assert_string_equal(a[0].text, "10.0.0.1:5060");
    assert_string_equal(a[1].text, "[2001:db8::1]:5070");
    assert_string_equal(a[2].text, "192.168.1.2:65535");
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a[1].ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 5070);
    assert_int_equal(a[1].len, sizeof(struct sockaddr_in6));
    struct in6_addr want;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
    assert_memory_equal(&sin6->sin6_addr, &want, sizeof want);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a[2].ss;
    assert_int_equal(ntohs(sin->sin_port), 65535);
    cfg_free(cfg);
}

static void test_host_list_errors_name_line(void **state) {
    (void)state;
    assert_rejected("\n\nsip_domains = pbx.example.com pbx.example.com:5060\n",
                    FILE_ ":3: sip_domains = pbx.example.com pbx.example.com:5060: "
                          "'pbx.example.com:5060' is neither a host name nor a numeric address "
                          "(and a domain has no port)");
    assert_rejected("sip_domains = bad!name\n",
                    FILE_ ":1: sip_domains = bad!name: 'bad!name' is neither a host name nor a "
                          "numeric address");
    cfg_t *cfg = parse("sip_domains = PBX.example.com, 192.0.2.1 [2001:db8::1]\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_sip_domains), "PBX.example.com, 192.0.2.1 [2001:db8::1]");
    cfg_free(cfg);
}

static void test_addr_list_errors_name_line(void **state) {
    (void)state;
    assert_rejected("\napi_listen = localhost:8080\n",
                    FILE_ ":2: api_listen = localhost:8080: 'localhost' is not a numeric IPv4 "
                          "address (host names are not resolved)");
    assert_rejected("api_listen = 127.0.0.1\n",
                    FILE_ ":1: api_listen = 127.0.0.1: '127.0.0.1' has no :port");
    assert_rejected("api_listen = 127.0.0.1:0\n",
                    FILE_ ":1: api_listen = 127.0.0.1:0: bad port in '127.0.0.1:0' (1..65535)");
    assert_rejected("api_listen = 127.0.0.1:65536\n",
                    FILE_ ":1: api_listen = 127.0.0.1:65536: bad port in '127.0.0.1:65536' "
                          "(1..65535)");
    assert_rejected("api_listen = 127.0.0.1:80x\n",
                    FILE_ ":1: api_listen = 127.0.0.1:80x: bad port in '127.0.0.1:80x' "
                          "(1..65535)");
    assert_rejected("api_listen = ::1:8080\n",
                    FILE_ ":1: api_listen = ::1:8080: IPv6 address in '::1:8080' must be written "
                          "[address]:port");
    assert_rejected("api_listen = [::1]8080\n",
                    FILE_ ":1: api_listen = [::1]8080: '[::1]8080' is not [v6]:port");
    assert_rejected("api_listen = [1.2.3.4]:80\n",
                    FILE_ ":1: api_listen = [1.2.3.4]:80: '1.2.3.4' is not a numeric IPv6 address "
                          "(host names are not resolved)");
    assert_rejected("api_listen = , ,\n",
                    FILE_ ":1: api_listen = , ,: no address (expected host:port or [v6]:port)");
}

static void test_addr_list_at_most_max_entries(void **state) {
    (void)state;
    cfg_t *cfg = parse("api_listen = 1.0.0.1:1 1.0.0.2:1 1.0.0.3:1 1.0.0.4:1 1.0.0.5:1 1.0.0.6:1 "
                       "1.0.0.7:1 1.0.0.8:1\n");
    assert_non_null(cfg);
    assert_int_equal(cfg_addrs(cfg, CFG_api_listen, NULL), CFG_MAX_ADDRS);
    cfg_free(cfg);
    assert_rejected("api_listen = 1.0.0.1:1 1.0.0.2:1 1.0.0.3:1 1.0.0.4:1 1.0.0.5:1 1.0.0.6:1 "
                    "1.0.0.7:1 1.0.0.8:1 1.0.0.9:1\n",
                    /* the value, longer than 80 bytes, is shown cut */
                    FILE_ ":1: api_listen = 1.0.0.1:1 1.0.0.2:1 1.0.0.3:1 1.0.0.4:1 1.0.0.5:1 "
                          "1.0.0.6:1 1.0.0.7:1 1.0.0.8...: more than 8 addresses");
}

static void test_addr_too_long_for_text_is_error(void **state) {
    (void)state;
    char text[256];
    snprintf(text, sizeof text, "api_listen = [%s]:1\n",
             "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000");
    cfg_t *cfg = parse(text);
    assert_null(cfg);
    assert_non_null(strstr(err, FILE_ ":1: api_listen = "));
    assert_non_null(strstr(err, "is too long"));
}

static void test_port_range_values(void **state) {
    (void)state;
    cfg_t *cfg = parse("rtp_port_range = 1024-65535\n");
    assert_non_null(cfg);
    int lo, hi;
    cfg_port_range(cfg, CFG_rtp_port_range, &lo, &hi);
    assert_int_equal(lo, 1024);
    assert_int_equal(hi, 65535);
    cfg_free(cfg);
}

static void test_bad_port_range_names_line(void **state) {
    (void)state;
    assert_rejected("node_id = a\n\nrtp_port_range = 10001-20000\n",
                    FILE_ ":3: rtp_port_range = 10001-20000: LO must be even (RTP uses even "
                          "ports)");
    assert_rejected("rtp_port_range = 1000-2000\n",
                    FILE_ ":1: rtp_port_range = 1000-2000: LO must be at least 1024");
    assert_rejected("rtp_port_range = 20000-20000\n",
                    FILE_ ":1: rtp_port_range = 20000-20000: LO must be less than HI");
    assert_rejected("rtp_port_range = 20000-10000\n",
                    FILE_ ":1: rtp_port_range = 20000-10000: LO must be less than HI");
    assert_rejected("rtp_port_range = 10000-65536\n",
                    FILE_ ":1: rtp_port_range = 10000-65536: HI must be at most 65535");
    assert_rejected("rtp_port_range = 10000\n",
                    FILE_ ":1: rtp_port_range = 10000: not LO-HI (e.g. 10000-20000)");
    assert_rejected("rtp_port_range = 10000 - 20000\n",
                    FILE_ ":1: rtp_port_range = 10000 - 20000: not LO-HI (e.g. 10000-20000)");
    assert_rejected("rtp_port_range = 10000-20000x\n",
                    FILE_ ":1: rtp_port_range = 10000-20000x: not LO-HI (e.g. 10000-20000)");
}

static void test_first_error_in_file_order(void **state) {
    (void)state;
    assert_rejected("log_level = loud\ndrain_timeout = never\n",
                    FILE_ ":1: log_level = loud: not a log level (debug, info, warn or error)");
}

static void test_long_value_is_shown_cut(void **state) {
    (void)state;
    char text[400];
    memset(text, 0, sizeof text);
    strcpy(text, "log_level = ");
    memset(text + strlen(text), 'x', 200);
    cfg_t *cfg = parse(text);
    assert_null(cfg);
    char expect[300];
    snprintf(expect, sizeof expect,
             FILE_ ":1: log_level = %.77s...: not a log level (debug, "
                   "info, warn or error)",
             text + 12);
    assert_string_equal(err, expect);
}

static void test_long_line_is_error(void **state) {
    (void)state;
    size_t n = 4096 + 32;
    char *text = malloc(n + 1);
    assert_non_null(text);
    int k = snprintf(text, n + 1, "node_id = a\nservice_user = ");
    memset(text + k, 'u', n - (size_t)k);
    text[n] = '\0';
    cfg_t *cfg = cfg_parse(text, n, FILE_, CONFDIR, err, sizeof err);
    assert_null(cfg);
    assert_string_equal(err, FILE_ ":2: line longer than 4096 bytes");
    /* exactly 4096 bytes is fine */
    size_t ok = 12 + 4096;
    k = snprintf(text, n + 1, "node_id = a\n");
    memset(text + k, 'u', 4096);
    memcpy(text + k, "service_user=", 13);
    cfg = cfg_parse(text, ok, FILE_, CONFDIR, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(strlen(cfg_str(cfg, CFG_service_user)), 4096 - 13);
    cfg_free(cfg);
    free(text);
}

static void test_nul_byte_is_error(void **state) {
    (void)state;
    const char text[] = "node_id = a\nnode_id = b\0c\n";
    cfg_t *cfg = cfg_parse(text, sizeof text - 1, FILE_, CONFDIR, err, sizeof err);
    assert_null(cfg);
    assert_string_equal(err, FILE_ ":2: NUL byte in text");
}

static void test_control_character_is_error(void **state) {
    (void)state;
    assert_rejected("node_id = a\x1b[0m\n", FILE_ ":1: control character 0x1b");
    assert_rejected("node_id = a\x7f\n", FILE_ ":1: control character 0x7f");
    assert_rejected("x = 1\r\nnode_id = a\r\n", FILE_ ":1: carriage return (DOS line ending?)");
}

static void test_tab_and_utf8_are_allowed(void **state) {
    (void)state;
    cfg_t *cfg = parse("node_id\t=\tn\xc3\xa9\tud\n");
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "n\xc3\xa9\tud");
    cfg_free(cfg);
}

static void test_text_over_1mib_is_error(void **state) {
    (void)state;
    size_t n = 1024 * 1024 + 1;
    char *text = malloc(n);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        text[i] = i % 64 == 63 ? '\n' : '#';
    cfg_t *cfg = cfg_parse(text, n, FILE_, CONFDIR, err, sizeof err);
    assert_null(cfg);
    assert_string_equal(err, FILE_ ": file is larger than 1 MiB (1048577 bytes)");
    /* exactly 1 MiB is fine */
    cfg = cfg_parse(text, n - 1, FILE_, CONFDIR, err, sizeof err);
    assert_non_null(cfg);
    cfg_free(cfg);
    free(text);
}

static void test_text_need_not_be_nul_terminated(void **state) {
    (void)state;
    const char text[] = "node_id = abcdef";
    cfg_t *cfg = cfg_parse(text, 12, FILE_, CONFDIR, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "ab");
    cfg_free(cfg);
}

static void test_source_is_a_copy(void **state) {
    (void)state;
    char text[] = "node_id = a\n";
    cfg_t *cfg = cfg_parse(text, strlen(text), FILE_, CONFDIR, err, sizeof err);
    assert_non_null(cfg);
    text[10] = 'z';
    size_t len;
    const char *src = cfg_source(cfg, &len);
    assert_int_equal(len, 12);
    assert_memory_equal(src, "node_id = a\n", 12);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "a");
    cfg_free(cfg);
}

static void test_expand_against_parsed_config(void **state) {
    (void)state;
    cfg_t *cfg = parse("site = east\nnode_id = $site$$\n");
    assert_non_null(cfg);
    char *s = cfg_expand(cfg, "--node=$node_id --dir=${run_directory}/x $$HOME", err, sizeof err);
    assert_non_null(s);
    /* values are final: the "$" in node_id's value is not expanded again */
    assert_string_equal(s, "--node=east$ --dir=/etc/sb/run/x $HOME");
    free(s);
    s = cfg_expand(cfg, "", err, sizeof err);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_null(cfg_expand(cfg, "--x=$nothing", err, sizeof err));
    assert_string_equal(err, "undefined parameter $nothing");
    assert_null(cfg_expand(cfg, "a$", err, sizeof err));
    assert_string_equal(err, "'$' not followed by a parameter name (write $$ for a literal $)");
    cfg_free(cfg);
}

static void test_lookup_of_undefined_name_is_null(void **state) {
    (void)state;
    cfg_t *cfg = parse("x = 1\n");
    assert_non_null(cfg);
    assert_null(cfg_lookup(cfg, "y"));
    assert_null(cfg_lookup(cfg, "x_"));
    assert_null(cfg_lookup(cfg, ""));
    assert_string_equal(cfg_lookup(cfg, "x"), "1");
    assert_string_equal(cfg_lookup(cfg, "node_id"), "node1");
    cfg_free(cfg);
}

static void test_many_parameters(void **state) {
    (void)state;
    size_t cap = 3000 * 32, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(text + n, cap - n, "p%d = v%d$p%d\n", i, i, i + 1);
    n += (size_t)snprintf(text + n, cap - n, "p3000 = end\n");
    /* deeper than 100 levels in one chain, so break it every 50 */
    for (int i = 50; i < 3000; i += 50) {
        char pat[32];
        snprintf(pat, sizeof pat, "\np%d = v%d$", i, i);
        char *at = strstr(text, pat);
        assert_non_null(at);
        at[strlen(pat) - 1] = '_';
    }
    cfg_t *cfg = cfg_parse(text, n, FILE_, CONFDIR, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(cfg_warning_count(cfg), 3001);
    assert_string_equal(cfg_lookup(cfg, "p2999"), "v2999end");
    assert_string_equal(cfg_lookup(cfg, "p2998"), "v2998v2999end");
    cfg_free(cfg);
    free(text);
}

static char tmpdir[64];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_reads_confdir_main_cf(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cfg_test.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128], expect[256];
    snprintf(path, sizeof path, "%s/main.cf", tmpdir);

    assert_null(cfg_load(tmpdir, err, sizeof err));
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, expect);

    write_file(path, "node_id = t1\nlog_level = nope\n");
    assert_null(cfg_load(tmpdir, err, sizeof err));
    snprintf(expect, sizeof expect,
             "%s:2: log_level = nope: not a log level (debug, info, warn or error)", path);
    assert_string_equal(err, expect);

    write_file(path, "node_id = t1\n");
    cfg_t *cfg = cfg_load(tmpdir, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg_file(cfg), path);
    assert_string_equal(cfg_str(cfg, CFG_config_directory), tmpdir);
    assert_string_equal(cfg_str(cfg, CFG_node_id), "t1");
    size_t len;
    assert_string_equal(cfg_source(cfg, &len), "node_id = t1\n");
    cfg_free(cfg);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 1024 * 1024 / 8 + 1; i++)
        fputs("#234567\n", f);
    fclose(f);
    assert_null(cfg_load(tmpdir, err, sizeof err));
    snprintf(expect, sizeof expect, "%s: file is larger than 1 MiB", path);
    assert_string_equal(err, expect);

    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_null(cfg_load(tmpdir, err, sizeof err));
    snprintf(expect, sizeof expect, "%s: not a regular file", path);
    assert_string_equal(err, expect);
    rmdir(path);
    rmdir(tmpdir);
}

static char *read_all(const char *path) {
    size_t len;
    return cfgtext_read_file(path, CFGTEXT_FILE_MAX, &len, NULL, 0);
}

static const char *type_word(cfg_type_t t) {
    switch (t) {
    case CFG_T_STR:
        return "string";
    case CFG_T_INT:
        return "integer";
    case CFG_T_BOOL:
        return "boolean";
    case CFG_T_TIME:
        return "time";
    case CFG_T_LEVEL:
        return "level";
    case CFG_T_ADDR_LIST:
        return "address list";
    case CFG_T_PORT_RANGE:
        return "port range";
    case CFG_T_HOST_LIST:
        return "host list";
    }
    return "?";
}

/* Every row of CFG_PARAMS has its row in the doc: "| `name` | type | `default` | ... |". */
static void test_docs_list_every_parameter(void **state) {
    (void)state;
    char *doc = read_all("docs/configuration.md");
    assert_non_null(doc);
    for (int p = 0; p < CFG_PARAM_COUNT; p++) {
        const struct cfg_param_info *i = cfg_param_info((enum cfg_param)p);
        char head[128], cell[256];
        snprintf(head, sizeof head, "\n| `%s` |", i->name);
        const char *at = strstr(doc, head);
        if (!at) {
            fail_msg("docs/configuration.md has no row for %s", i->name);
            return;
        }
        char row[1024];
        size_t len = strcspn(at + 1, "\n");
        assert_true(len < sizeof row);
        memcpy(row, at + 1, len);
        row[len] = '\0';
        snprintf(cell, sizeof cell, "| %s |", type_word(i->type));
        if (!strstr(row, cell))
            fail_msg("docs/configuration.md: %s should have type '%s'", i->name,
                     type_word(i->type));
        if (i->def[0])
            snprintf(cell, sizeof cell, "| `%s` |", i->def);
        else
            snprintf(cell, sizeof cell, "| *(empty)* |");
        if (!strstr(row, cell))
            fail_msg("docs/configuration.md: %s should have default %s", i->name, cell);
    }
    free(doc);
}

static void test_conf_main_cf_parses_cleanly(void **state) {
    (void)state;
    if (access("conf/main.cf", F_OK) != 0)
        skip();
    cfg_t *cfg = cfg_load("conf", err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    for (size_t i = 0; i < cfg_warning_count(cfg); i++)
        print_message("warning: %s\n", cfg_warning(cfg, i));
    assert_int_equal(cfg_warning_count(cfg), 0);
    cfg_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_apply_and_expand),
        cmocka_unit_test(test_param_info_matches_table),
        cmocka_unit_test(test_comments_and_blank_lines_are_skipped),
        cmocka_unit_test(test_spaces_around_equals_and_value_are_trimmed),
        cmocka_unit_test(test_continuation_line_joins_with_space),
        cmocka_unit_test(test_continuation_skips_comment_lines),
        cmocka_unit_test(test_continuation_without_previous_line_is_error),
        cmocka_unit_test(test_error_line_of_continued_value_is_its_first_line),
        cmocka_unit_test(test_unknown_parameter_warns_and_expands),
        cmocka_unit_test(test_duplicate_parameter_last_wins_with_warning),
        cmocka_unit_test(test_duplicate_with_bad_first_value_uses_last),
        cmocka_unit_test(test_line_without_equals_is_error),
        cmocka_unit_test(test_bad_parameter_name_is_error),
        cmocka_unit_test(test_empty_value_is_allowed),
        cmocka_unit_test(test_value_keeps_equals_and_hash),
        cmocka_unit_test(test_dollar_dollar_yields_dollar),
        cmocka_unit_test(test_braced_expansion),
        cmocka_unit_test(test_bad_dollar_syntax_is_error),
        cmocka_unit_test(test_expansion_is_independent_of_order),
        cmocka_unit_test(test_undefined_parameter_names_line_of_use),
        cmocka_unit_test(test_expansion_loop_is_error_naming_line),
        cmocka_unit_test(test_loop_through_default_names_file_line),
        cmocka_unit_test(test_deep_expansion_is_error),
        cmocka_unit_test(test_exponential_expansion_is_bounded),
        cmocka_unit_test(test_config_directory_cannot_be_set),
        cmocka_unit_test(test_config_directory_is_confdir_argument),
        cmocka_unit_test(test_default_follows_user_setting),
        cmocka_unit_test(test_int_values_and_range),
        cmocka_unit_test(test_value_is_checked_after_expansion),
        cmocka_unit_test(test_time_units),
        cmocka_unit_test(test_bad_time_names_line),
        cmocka_unit_test(test_bad_level_names_line),
        cmocka_unit_test(test_addr_list_v4_v6_and_separators),
        cmocka_unit_test(test_addr_list_errors_name_line),
        cmocka_unit_test(test_host_list_errors_name_line),
        cmocka_unit_test(test_addr_list_at_most_max_entries),
        cmocka_unit_test(test_addr_too_long_for_text_is_error),
        cmocka_unit_test(test_port_range_values),
        cmocka_unit_test(test_bad_port_range_names_line),
        cmocka_unit_test(test_first_error_in_file_order),
        cmocka_unit_test(test_long_value_is_shown_cut),
        cmocka_unit_test(test_long_line_is_error),
        cmocka_unit_test(test_nul_byte_is_error),
        cmocka_unit_test(test_control_character_is_error),
        cmocka_unit_test(test_tab_and_utf8_are_allowed),
        cmocka_unit_test(test_text_over_1mib_is_error),
        cmocka_unit_test(test_text_need_not_be_nul_terminated),
        cmocka_unit_test(test_source_is_a_copy),
        cmocka_unit_test(test_expand_against_parsed_config),
        cmocka_unit_test(test_lookup_of_undefined_name_is_null),
        cmocka_unit_test(test_many_parameters),
        cmocka_unit_test(test_load_reads_confdir_main_cf),
        cmocka_unit_test(test_docs_list_every_parameter),
        cmocka_unit_test(test_conf_main_cf_parses_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

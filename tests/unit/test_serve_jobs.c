/* The `disr serve` and `disr up` jobs in-process (serve/node.h, serve/up.h): settings refused
 * with the message the command prints, a scripted node started on a free port and stopped, and a
 * chain whose agents all run elsewhere (start = no) taken through start, report and stop without
 * a process; plus `up --down`'s errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disr.h"
#include "core/err.h"
#include "core/log.h"
#include "serve/node.h"
#include "serve/up.h"
#include "job_files.h"

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    return job_dir_make("serve_jobs");
}

static int teardown(void **state) {
    (void)state;
    return job_dir_remove();
}

static void expect_refused(const struct serve_node_job *j, const char *message) {
    struct serve_node *n = (struct serve_node *)j; /* must come back NULL */
    assert_int_equal(serve_node_job_check(j), DISR_E_ARG);
    assert_non_null(strstr(disr_last_error(), message));
    assert_int_equal(serve_node_init(&n, j), DISR_E_ARG);
    assert_null(n);
}

static void test_node_job_refuses_bad_settings(void **state) {
    (void)state;
    struct serve_node_job j;
    serve_node_job_default(&j);
    expect_refused(&j, "exactly one of --model, --remote, --script"); /* no backend */
    j.script = "rules.jsonl", j.remote = "http://127.0.0.1:1/v1";
    expect_refused(&j, "exactly one of");
    serve_node_job_default(&j);
    j.script = "rules.jsonl";
    assert_int_equal(serve_node_job_check(&j), DISR_OK);
    j.mode = "sometimes";
    expect_refused(&j, "bad --mode");
    serve_node_job_default(&j);
    j.script = "rules.jsonl";
    j.cost = 1.5;
    expect_refused(&j, "--cost [0,1]");
    j.cost = 0.5, j.max_body = 100;
    expect_refused(&j, "--max-body >= 256");
    j.max_body = 1 << 20, j.max_hops = 0;
    expect_refused(&j, "--max-hops >= 1");

    /* A backend that cannot be made: nothing is left behind. */
    serve_node_job_default(&j);
    j.script = "/nonexistent/rules.jsonl";
    struct serve_node *n = NULL;
    assert_true(serve_node_init(&n, &j) < 0);
    assert_null(n);
    serve_node_job_default(&j);
    j.model = "/nonexistent/a.gguf";
    assert_true(serve_node_init(&n, &j) < 0);
    assert_null(n);
}

static void test_node_starts_and_reports(void **state) {
    (void)state;
    char rules[256];
    job_path(rules, sizeof rules, "rules.jsonl");
    job_write_text(rules, "{\"reply\":\"42\"}\n");
    struct serve_node_job j;
    serve_node_job_default(&j);
    j.name = "a1", j.script = rules, j.port = 0, j.cost = 0.25, j.mode = "always";
    j.next = "http://127.0.0.1:1,,http://127.0.0.1:2", j.hop_secret = "";
    struct serve_node *n = NULL;
    assert_int_equal(serve_node_init(&n, &j), DISR_OK);
    assert_int_equal(serve_node_start(n), DISR_OK);
    struct serve_node_report r;
    serve_node_report(n, &r);
    assert_string_equal(r.name, "a1");
    assert_string_equal(r.mode, "always");
    assert_string_equal(r.host, "127.0.0.1");
    assert_float_equal(r.cost, 0.25, 1e-12);
    assert_true(r.port > 0);
    assert_int_equal(r.n_next, 2); /* the empty item is dropped */
    serve_node_free(n);
}

static void test_up_job_refuses_bad_settings(void **state) {
    (void)state;
    struct up_job j;
    struct up_chain *c = (struct up_chain *)&j;
    up_job_default(&j);
    assert_int_equal(up_start(&c, &j), DISR_E_ARG); /* no network file */
    assert_null(c);
    char net[256], pid[256];
    job_path(net, sizeof net, "bad.conf");
    job_path(pid, sizeof pid, "bad.conf.pid");
    j.network = net;
    j.timeout_s = 0;
    assert_int_equal(up_job_check(&j), DISR_E_ARG);
    assert_non_null(strstr(disr_last_error(), "timeout"));
    j.timeout_s = 60;
    assert_true(up_start(&c, &j) < 0); /* missing file */
    job_write_text(net, "[network]\nmax_hops = 8\n[agent a]\nscript = a.jsonl\nfrobnicate = 1\n");
    assert_true(up_start(&c, &j) < 0);
    assert_non_null(strstr(disr_last_error(), "bad.conf:5"));
    assert_null(c);
    assert_int_equal(access(pid, F_OK), -1); /* nothing written */
}

static void test_up_chain_without_processes(void **state) {
    (void)state;
    char net[256], pid[256];
    job_path(net, sizeof net, "remote.conf");
    job_path(pid, sizeof pid, "remote.conf.pid");
    job_write_text(net, "[network]\n"
                        "[agent a]\nremote = http://127.0.0.1:1/v1\nstart = no\n"
                        "[agent b]\nremote = http://127.0.0.1:2/v1\nstart = no\n");
    struct up_job j;
    up_job_default(&j);
    j.network = net;
    struct up_chain *c = NULL;
    assert_int_equal(up_start(&c, &j), DISR_OK);
    struct up_report r;
    up_report(c, &r);
    assert_int_equal(r.net->n, 2);
    assert_string_equal(r.net->agents[0].name, "a");
    assert_true(r.seconds >= 0);
    assert_int_equal(access(pid, F_OK), 0);
    /* The pid file names this live process: a second start refuses. */
    struct up_chain *c2 = NULL;
    assert_int_equal(up_start(&c2, &j), DISR_E_STATE);
    assert_non_null(strstr(disr_last_error(), "already running"));
    assert_null(c2);
    up_stop(c);
    assert_int_equal(access(pid, F_OK), -1);
}

static void test_up_down_errors(void **state) {
    (void)state;
    char net[256], pid[256];
    job_path(net, sizeof net, "down.conf");
    job_path(pid, sizeof pid, "down.pid");
    struct up_job j;
    up_job_default(&j);
    j.network = net;
    assert_int_equal(up_down(&j), DISR_E_IO);
    assert_non_null(strstr(disr_last_error(), "down.conf.pid"));
    assert_non_null(strstr(disr_last_error(), "is the chain running?"));
    j.pid_file = pid;
    job_write_text(pid, "not a pid\n");
    assert_int_equal(up_down(&j), DISR_E_FORMAT);
    assert_non_null(strstr(disr_last_error(), "no pid in it"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_job_refuses_bad_settings),
        cmocka_unit_test(test_node_starts_and_reports),
        cmocka_unit_test(test_up_job_refuses_bad_settings),
        cmocka_unit_test(test_up_chain_without_processes),
        cmocka_unit_test(test_up_down_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

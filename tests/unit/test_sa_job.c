/* The self-awareness jobs (train/sa_job.h) in-process, from files to files, on a tiny random
 * char-level agent and a 20-query data set: a few steps each, then the report fields, the files
 * written and removed, stop + resume giving the same bytes, the last agent's copy, and bad
 * settings refused before anything is loaded. */
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
#include "core/file.h"
#include "core/log.h"
#include "train/sa_job.h"
#include "job_files.h"

static bool exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* Same shape and weights (a saved copy need not keep every metadata byte). */
static bool same_weights(const char *a, const char *b) {
    struct model *x = NULL, *y = NULL;
    assert_int_equal(model_load(&x, a), DISR_OK);
    assert_int_equal(model_load(&y, b), DISR_OK);
    bool same =
        x->n_params == y->n_params && !memcmp(x->params, y->params, sizeof(float) * x->n_params);
    model_free(x);
    model_free(y);
    return same;
}

static bool same_bytes(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    assert_int_equal(file_read_all(a, &x, &nx), DISR_OK);
    assert_int_equal(file_read_all(b, &y, &ny), DISR_OK);
    bool same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

static char agent[256], data[256], anchors[256];

static int setup(void **state) {
    (void)state;
    log_set_level(LOG_WARN);
    if (job_dir_make("sa_job")) return -1;
    job_path(agent, sizeof agent, "a.gguf");
    job_path(data, sizeof data, "sa.jsonl");
    job_path(anchors, sizeof anchors, "anchors.jsonl");
    job_write_agent(agent, 3);
    job_write_queries(data, 20);
    job_write_queries(anchors, 6);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return job_dir_remove();
}

static void tiny_sft(struct sa_sft_job *j, const char *out) {
    sa_sft_job_default(j, true);
    j->agent = agent, j->data = data, j->out = out;
    j->holdout = 5;
    j->train.n_samples = 2, j->train.steps = 6, j->train.batch = 4, j->train.warmup = 1;
    j->train.gen.max_tokens = 6;
    j->train.checkpoint_every = 2;
}

static void test_sft_job_trains_checks_and_resumes(void **state) {
    (void)state;
    char out[256], out2[256], cache[256], ckpt2[256];
    job_path(out, sizeof out, "s.gguf");
    job_path(out2, sizeof out2, "s2.gguf");
    job_path(cache, sizeof cache, "s.gguf.samples.jsonl");
    job_path(ckpt2, sizeof ckpt2, "s2.gguf.ckpt");
    struct sa_sft_job j;
    tiny_sft(&j, out);
    struct sa_sft_report r;
    assert_int_equal(sa_sft_job_run(&j, &r), DISR_OK);
    assert_true(r.finished);
    assert_int_equal(r.n_train, 16); /* every 5th of 20 held out */
    assert_int_equal(r.n_check, 4);
    assert_int_equal(r.train.steps_done, 6);
    assert_true(r.train.n_examples >= 3 * 16);
    assert_true(r.train.final_loss > 0);
    for (int s = 0; s < 3; s++) {
        assert_true(r.label_rate[s] >= 0 && r.label_rate[s] <= 1);
        assert_true(r.answer_rate[s] >= 0 && r.answer_rate[s] <= 1);
        assert_true(r.agreement[s] >= 0 && r.agreement[s] <= 1);
    }
    assert_true(exists(out) && exists(cache) && !exists(r.checkpoint));
    struct model *m = NULL;
    assert_int_equal(model_load(&m, out), DISR_OK);
    model_free(m);

    /* Stopped after 3 steps: checkpointed, nothing written; resumed: the same bytes. */
    tiny_sft(&j, out2);
    j.train.stop_after = 3;
    assert_int_equal(sa_sft_job_run(&j, &r), DISR_OK);
    assert_false(r.finished);
    assert_int_equal(r.train.steps_done, 3);
    assert_string_equal(r.checkpoint, ckpt2);
    assert_true(exists(ckpt2) && !exists(out2));
    j.train.stop_after = 0, j.train.resume = true;
    assert_int_equal(sa_sft_job_run(&j, &r), DISR_OK);
    assert_true(r.finished && !exists(ckpt2));
    assert_true(same_bytes(out, out2));

    /* Anchor queries: appended after the training queries, targets only for the latter. */
    assert_int_equal(r.n_anchor_queries, 0);
    tiny_sft(&j, out2);
    j.anchor_data = anchors;
    assert_int_equal(sa_sft_job_run(&j, &r), DISR_OK);
    assert_true(r.finished);
    assert_int_equal(r.n_anchor_queries, 6);
    assert_int_equal(r.n_train, 16);
    for (int s = 0; s < 3; s++)
        assert_int_equal(r.train.answer_pool[s] + r.train.reject_pool[s], 16);
}

static void test_rl_job_trains_and_copies_the_last(void **state) {
    (void)state;
    char sft[256], out[256], last[256];
    job_path(sft, sizeof sft, "rl-base.gguf");
    job_path(out, sizeof out, "r.gguf");
    job_path(last, sizeof last, "r-last.gguf");
    struct sa_sft_job sj;
    tiny_sft(&sj, sft);
    sj.holdout = 0;
    struct sa_sft_report sr;
    assert_int_equal(sa_sft_job_run(&sj, &sr), DISR_OK);
    assert_int_equal(sr.n_check, 0);

    struct sa_rl_job j;
    sa_rl_job_default(&j, true);
    j.agent = sft, j.data = data, j.out = out, j.anchor_data = anchors, j.anchor_model = agent;
    j.train.steps = 2, j.train.prompts = 2, j.train.group = 2, j.train.anchors = 2;
    j.train.gen.max_tokens = 6;
    struct sa_rl_report r;
    assert_int_equal(sa_rl_job_run(&j, &r), DISR_OK);
    assert_true(r.finished);
    assert_false(r.copied);
    assert_int_equal(r.train.steps_done, 2);
    assert_true(r.train.mean_reward >= -1 && r.train.mean_reward <= 1);
    assert_true(exists(out) && !exists(r.checkpoint));

    j.out = last, j.train.last = true;
    assert_int_equal(sa_rl_job_run(&j, &r), DISR_OK);
    assert_true(r.copied && r.finished);
    assert_int_equal(r.train.steps_done, 0);
    assert_true(same_weights(last, sft));
}

static void test_jobs_refuse_bad_settings(void **state) {
    (void)state;
    char out[256];
    job_path(out, sizeof out, "bad.gguf");
    struct sa_sft_job j;
    struct sa_sft_report r;
    tiny_sft(&j, out);
    j.agent = NULL;
    assert_int_equal(sa_sft_job_run(&j, &r), DISR_E_ARG);
    tiny_sft(&j, out);
    j.train.steps = 0;
    assert_int_equal(sa_sft_job_run(&j, &r), DISR_E_ARG);
    assert_non_null(strstr(disr_last_error(), "steps"));
    tiny_sft(&j, out);
    j.train.lr = 0;
    assert_int_equal(sa_sft_job_check(&j), DISR_E_ARG);
    tiny_sft(&j, out);
    j.train.max_weight = 0.5f;
    assert_int_equal(sa_sft_job_check(&j), DISR_E_ARG);
    tiny_sft(&j, out);
    j.data = "/nonexistent/sa.jsonl";
    assert_true(sa_sft_job_run(&j, &r) < 0);
    assert_false(exists(out));

    struct sa_rl_job rj;
    struct sa_rl_report rr;
    sa_rl_job_default(&rj, false);
    rj.agent = agent, rj.data = data, rj.out = out;
    assert_int_equal(sa_rl_job_check(&rj), DISR_OK);
    rj.train.group = 0;
    assert_int_equal(sa_rl_job_run(&rj, &rr), DISR_E_ARG);
    assert_non_null(strstr(disr_last_error(), "group"));
    sa_rl_job_default(&rj, false);
    rj.agent = "/nonexistent/a.gguf", rj.data = data, rj.out = out;
    assert_true(sa_rl_job_run(&rj, &rr) < 0);
    assert_false(exists(out));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sft_job_trains_checks_and_resumes),
        cmocka_unit_test(test_rl_job_trains_and_copies_the_last),
        cmocka_unit_test(test_jobs_refuse_bad_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

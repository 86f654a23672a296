/* job_files.h: a scratch folder and the small files the job tests (test_sa_job, test_serve_jobs)
 * hand to a job as paths: text, a tiny random char-level agent (GGUF), a JSONL query set whose
 * query i is "i + (2i+1)?" with answer 3i+1. Include after cmocka.h. */
#ifndef TESTS_JOB_FILES_H
#define TESTS_JOB_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "disr.h"
#include "model/model.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "world/dataset.h"

static char job_dir[128];

/* Makes /tmp/disr_test_NAME_PID (cmocka group setup: 0 on success). */
static inline int job_dir_make(const char *name) {
    snprintf(job_dir, sizeof job_dir, "/tmp/disr_test_%s_%d", name, (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", job_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static inline int job_dir_remove(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", job_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static inline void job_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", job_dir, name);
}

static inline void job_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static inline void job_write_agent(const char *path, uint64_t seed) {
    struct tokenizer *tok = NULL;
    assert_int_equal(tokenizer_init_char(&tok, "", 0), DISR_OK);
    struct model_config c = {.arch = MODEL_ARCH_LLAMA,
                             .n_vocab = tokenizer_n_vocab(tok),
                             .n_embd = 32,
                             .n_layer = 1,
                             .n_head = 2,
                             .n_head_kv = 2,
                             .n_ff = 64,
                             .n_ctx = 160,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .rope_style = ROPE_NORMAL};
    struct model *m = NULL;
    assert_int_equal(model_init_random(&m, &c, tok, seed), DISR_OK);
    assert_int_equal(model_save(m, path, NULL), DISR_OK);
    model_free(m);
}

static inline void job_write_queries(const char *path, int n) {
    struct qa_set s;
    qa_set_init(&s);
    for (int i = 0; i < n; i++) {
        char id[32], q[64], a[16];
        snprintf(id, sizeof id, "q-%d", i);
        snprintf(q, sizeof q, "%d + %d?", i, 2 * i + 1);
        snprintf(a, sizeof a, "%d", 3 * i + 1);
        assert_int_equal(qa_set_add(&s, id, "add", q, a, GRADER_NUMBER), DISR_OK);
    }
    assert_int_equal(qa_set_save(&s, path), DISR_OK);
    qa_set_free(&s);
}

#endif

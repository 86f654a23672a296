/* Unit tests for world/: graders, JSONL reading and writing (with the errors a user sees), and
 * the generator (determinism, seed sensitivity, disjoint entities, Zipf exposure, formats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "world/scenario.h"
#include "world/dataset.h"
#include "world/grader.h"
#include "world/world.h"

/* ---- graders ---- */

static void test_grader_exact(void **state) {
    (void)state;
    assert_true(grader_check(GRADER_EXACT, "Lunaton", "Lunaton"));
    assert_true(grader_check(GRADER_EXACT, "Lunaton", "  lunaton. "));
    assert_true(grader_check(GRADER_EXACT, "acd", "ACD"));
    assert_false(grader_check(GRADER_EXACT, "Lunaton", "Lunatons"));
    assert_false(grader_check(GRADER_EXACT, "Lunaton", "Luna ton"));
    assert_false(grader_check(GRADER_EXACT, "fox", ""));
    assert_false(grader_check(GRADER_EXACT, "fox", SCENARIO_REJECT_TEXT));
    assert_false(grader_check(GRADER_EXACT, "fox", NULL));
}

static void test_grader_number(void **state) {
    (void)state;
    assert_true(grader_check(GRADER_NUMBER, "1204", "1204"));
    assert_true(grader_check(GRADER_NUMBER, "1204", "1,204"));
    assert_true(grader_check(GRADER_NUMBER, "1204", "The answer is 1204."));
    /* The result is the last number: a worked sum, or a sentence that restates the operands. */
    assert_true(grader_check(GRADER_NUMBER, "4243", "0078+4165=04243"));
    assert_true(grader_check(GRADER_NUMBER, "4243", "The sum of 78 and 4,165 is 4,243."));
    assert_false(grader_check(GRADER_NUMBER, "78", "The sum of 78 and 4165 is 4243."));
    assert_true(grader_check(GRADER_NUMBER, "-3", "2 - 5 = -3"));
    assert_true(grader_check(GRADER_NUMBER, "-7", "-7"));
    assert_true(grader_check(GRADER_NUMBER, "2.5", "2.50"));
    assert_false(grader_check(GRADER_NUMBER, "-7", "7"));
    assert_false(grader_check(GRADER_NUMBER, "1204", "1205"));
    assert_false(grader_check(GRADER_NUMBER, "1204", "120"));
    assert_false(grader_check(GRADER_NUMBER, "12", "twelve"));
    assert_false(grader_check(GRADER_NUMBER, "12", SCENARIO_REJECT_TEXT));
}

static void test_grader_choice(void **state) {
    (void)state;
    assert_true(grader_check(GRADER_CHOICE, "B", "B"));
    assert_true(grader_check(GRADER_CHOICE, "B", "b"));
    assert_true(grader_check(GRADER_CHOICE, "B", "(B)"));
    assert_true(grader_check(GRADER_CHOICE, "B", "B) fox"));
    assert_true(grader_check(GRADER_CHOICE, "B", "Answer: B"));
    /* The worked form the world teaches: the option's value, then its letter. A value that
     * starts with an option letter (Devole, Boriga) is a word, not a choice. */
    assert_true(grader_check(GRADER_CHOICE, "B", "fox (B)"));
    assert_true(grader_check(GRADER_CHOICE, "D", "Devole (D)"));
    assert_false(grader_check(GRADER_CHOICE, "B", "Boriga (C)"));
    assert_true(grader_check(GRADER_CHOICE, "C", "6596 (C)"));
    assert_false(grader_check(GRADER_CHOICE, "B", "A"));
    assert_false(grader_check(GRADER_CHOICE, "B", "Bear"));
    assert_false(grader_check(GRADER_CHOICE, "B", "a cat"));
    assert_false(grader_check(GRADER_CHOICE, "B", SCENARIO_REJECT_TEXT));
    assert_false(grader_check(GRADER_CHOICE, "B", ""));
}

static void test_grader_names(void **state) {
    (void)state;
    for (int g = 0; g < GRADER_COUNT; g++)
        assert_int_equal(grader_parse(grader_name((enum grader)g)), g);
    assert_int_equal(grader_parse("fuzzy"), -1);
}

/* ---- JSONL ---- */

static int parse(struct qa_set *s, const char *text) {
    qa_set_init(s);
    disr_clear_error();
    return qa_set_parse(s, text, strlen(text), "data.jsonl");
}

static void test_jsonl_parse_ok(void **state) {
    (void)state;
    struct qa_set s;
    const char *text =
        "{\"id\":\"a\",\"family\":\"add\",\"query\":\"1+2=\",\"answer\":\"3\",\"grader\":"
        "\"number\"}\n"
        "\n"
        "  {\"grader\":\"choice\",\"id\":\"b\",\"family\":\"mc\",\"query\":\"Q? A) x B) y\","
        "\"answer\":\"B\",\"extra\":[1,2]}\r\n"
        "{\"id\":\"c\",\"family\":\"add\",\"query\":\"q\\\"uote\",\"answer\":\"7\",\"grader\":"
        "\"exact\"}";
    assert_int_equal(parse(&s, text), DISR_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.items[1].id, "b");
    assert_int_equal(s.items[1].grader, GRADER_CHOICE);
    assert_string_equal(s.items[2].query, "q\"uote");
    const char *fam[8];
    assert_int_equal(qa_set_families(&s, fam, 8), 2);
    assert_string_equal(fam[0], "add");
    assert_string_equal(fam[1], "mc");
    qa_set_free(&s);
}

static void expect_error(const char *text, const char *needle) {
    struct qa_set s;
    assert_int_equal(parse(&s, text), DISR_E_FORMAT);
    assert_int_equal(s.n, 0);
    if (!strstr(disr_last_error(), needle))
        fail_msg("error '%s' lacks '%s'", disr_last_error(), needle);
}

static void test_jsonl_errors_name_the_line(void **state) {
    (void)state;
    const char *good =
        "{\"id\":\"a\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\",\"grader\":\"exact\"}\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n%s{\"id\":\"b\",", good, good);
    expect_error(buf, "data.jsonl line 4: bad JSON"); /* blank lines count */
    snprintf(buf, sizeof buf,
             "%s{\"id\":\"b\",\"family\":\"f\",\"query\":\"q\",\"grader\":\"exact\"}", good);
    expect_error(buf, "data.jsonl line 2: missing field \"answer\"");
    snprintf(buf, sizeof buf,
             "%s{\"id\":\"b\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\","
             "\"grader\":\"fuzzy\"}",
             good);
    expect_error(buf, "data.jsonl line 2: unknown grader \"fuzzy\"");
    expect_error(
        "{\"id\":1,\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\",\"grader\":\"exact\"}",
        "line 1: field \"id\" must be a string");
    expect_error("[1,2]", "line 1: expected a JSON object");
    expect_error("{\"id\":\"a\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\\ny\",\"grader\":"
                 "\"exact\"}",
                 "line 1: the answer is empty or contains a newline");
    expect_error("{\"id\":\"a\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"\",\"grader\":"
                 "\"exact\"}",
                 "line 1: the answer is empty");
    expect_error("{\"id\":\"a\"} {}", "line 1: bad JSON");
}

static void test_jsonl_roundtrip_file(void **state) {
    (void)state;
    char dir[] = "/tmp/disr_test_world_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/set.jsonl", dir);
    struct qa_set a, b;
    qa_set_init(&a);
    qa_set_init(&b);
    assert_int_equal(qa_set_add(&a, "x1", "read", "Kato says \"hi\".\tWho?", "Kato", GRADER_EXACT),
                     0);
    assert_int_equal(qa_set_add(&a, "x2", "add", "1+1=", "2", GRADER_NUMBER), 0);
    assert_int_equal(qa_set_add(&a, "x3", "add", "1+1=", "2\n", GRADER_NUMBER), DISR_E_ARG);
    assert_int_equal(qa_set_save(&a, path), DISR_OK);
    assert_int_equal(qa_set_load(&b, path), DISR_OK);
    assert_int_equal(b.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(a.items[i].id, b.items[i].id);
        assert_string_equal(a.items[i].family, b.items[i].family);
        assert_string_equal(a.items[i].query, b.items[i].query);
        assert_string_equal(a.items[i].answer, b.items[i].answer);
        assert_int_equal(a.items[i].grader, b.items[i].grader);
    }
    qa_set_free(&a);
    qa_set_free(&b);
    snprintf(path, sizeof path, "%s/missing.jsonl", dir);
    assert_int_equal(qa_set_load(&b, path), DISR_E_IO);
    assert_non_null(strstr(disr_last_error(), "missing.jsonl"));
    /* Writing into a directory that does not exist fails cleanly and leaves nothing. */
    snprintf(path, sizeof path, "%s/nodir/set.jsonl", dir);
    assert_int_equal(qa_set_save(&a, path), DISR_E_IO);
    snprintf(path, sizeof path, "%s/set.jsonl", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- generator ---- */

static struct world *quick_world(uint64_t seed) {
    struct world_config c;
    world_config_preset(&c, WORLD_QUICK, seed);
    struct world *w = NULL;
    assert_int_equal(world_build(&w, &c), DISR_OK);
    return w;
}

static void test_world_is_deterministic(void **state) {
    (void)state;
    struct world *a = quick_world(7), *b = quick_world(7), *c = quick_world(8);
    char *ta, *tb, *tc;
    size_t la, lb, lc;
    assert_int_equal(world_pretrain_text(a, &ta, &la), 0);
    assert_int_equal(world_pretrain_text(b, &tb, &lb), 0);
    assert_int_equal(world_pretrain_text(c, &tc, &lc), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    assert_true(la != lc || memcmp(ta, tc, la) != 0);
    assert_true(la >= (size_t)world_config_of(a)->pretrain_chars);
    free(ta), free(tb), free(tc);
    for (int sp = 0; sp < 3; sp++) {
        struct qa_set sa, sb, sc;
        qa_set_init(&sa), qa_set_init(&sb), qa_set_init(&sc);
        assert_int_equal(world_split(a, (enum world_split)sp, &sa), 0);
        assert_int_equal(world_split(b, (enum world_split)sp, &sb), 0);
        assert_int_equal(world_split(c, (enum world_split)sp, &sc), 0);
        assert_int_equal(sa.n, sb.n);
        assert_true(sa.n > 0);
        int same = 0;
        for (int i = 0; i < sa.n; i++) {
            assert_string_equal(sa.items[i].query, sb.items[i].query);
            assert_string_equal(sa.items[i].answer, sb.items[i].answer);
            same += !strcmp(sa.items[i].query, sc.items[i].query);
        }
        assert_true(same < sa.n / 2);
        qa_set_free(&sa), qa_set_free(&sb), qa_set_free(&sc);
    }
    world_free(a), world_free(b), world_free(c);
}

/* Entity names by split, read back from world.json. */
struct names {
    char name[512][16];
    int split[512]; /* 0 = sa_train, 1 = test */
    int rank[512];
    int friend_of[512]; /* index of the entity's friend */
    int n;
};

static void load_names(const char *dir, struct names *nm) {
    char path[256], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/" WORLD_FILE_META, dir);
    assert_int_equal(file_read_all(path, &text, &len), 0);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    const cJSON *e;
    nm->n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "entities")) {
        assert_true(nm->n < 512);
        snprintf(nm->name[nm->n], 16, "%s", cJSON_GetObjectItem(e, "name")->valuestring);
        nm->split[nm->n] = !strcmp(cJSON_GetObjectItem(e, "split")->valuestring, "test");
        nm->rank[nm->n] = cJSON_GetObjectItem(e, "rank")->valueint;
        nm->n++;
    }
    int i = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "entities")) {
        const char *f = cJSON_GetObjectItem(e, "friend")->valuestring;
        nm->friend_of[i] = -1;
        for (int k = 0; k < nm->n; k++)
            if (!strcmp(nm->name[k], f)) nm->friend_of[i] = k;
        assert_true(nm->friend_of[i] >= 0);
        i++;
    }
    cJSON_Delete(root);
}

/* The quick world of this seed written into a new temporary directory (dir: a mkdtemp
 * template), with its entity table read back. */
static struct world *world_in_tmpdir(uint64_t seed, char *dir, struct names *nm) {
    assert_non_null(mkdtemp(dir));
    struct world *w = quick_world(seed);
    assert_int_equal(world_write(w, dir), DISR_OK);
    load_names(dir, nm);
    return w;
}

/* The query files of a world directory, in enum world_split order. */
static const char *const SPLIT_FILES[4] = {WORLD_FILE_SA_TRAIN, WORLD_FILE_TEST, WORLD_FILE_OOD,
                                           WORLD_FILE_ANCHORS};

/* Loads split sp of the world in dir into s (initialized here). */
static void load_split(const char *dir, int sp, struct qa_set *s) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, SPLIT_FILES[sp]);
    qa_set_init(s);
    assert_int_equal(qa_set_load(s, path), DISR_OK);
}

/* Removes what world_write wrote into dir, and dir. */
static void remove_world_dir(const char *dir) {
    static const char *const files[] = {WORLD_FILE_PRETRAIN, WORLD_FILE_SA_TRAIN,
                                        WORLD_FILE_TEST,     WORLD_FILE_OOD,
                                        WORLD_FILE_META,     WORLD_FILE_ANCHORS};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The first entity named in text as a whole word, or -1. */
static int first_entity(const struct names *nm, const char *text) {
    for (const char *p = text; *p; p++) {
        if (!isupper((unsigned char)*p) || (p > text && isalpha((unsigned char)p[-1]))) continue;
        size_t l = 0;
        while (isalpha((unsigned char)p[l]))
            l++;
        for (int i = 0; i < nm->n; i++)
            if (strlen(nm->name[i]) == l && !strncmp(nm->name[i], p, l)) return i;
    }
    return -1;
}

static int count_word(const char *text, const char *word) {
    int n = 0;
    size_t l = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        n += (p == text || !isalpha((unsigned char)p[-1])) && !isalpha((unsigned char)p[l]);
    return n;
}

/* Multiple choice: the stream teaches "value (L)", copied from the query's options; the splits'
 * key is the bare letter L, which grades that worked form as correct. */
static void test_world_mc_taught_as_value_then_letter(void **state) {
    (void)state;
    struct world *w = quick_world(5);
    char *text;
    size_t len;
    assert_int_equal(world_pretrain_text(w, &text, &len), 0);
    int n_mc = 0;
    for (char *q = strstr(text, " Options: "); q; q = strstr(q + 1, " Options: ")) {
        char *qend = strchr(q, '\n'), *ans = qend + 8; /* "\n[-] A: " */
        assert_non_null(qend);
        assert_memory_equal(qend, "\n[-] A: ", 8);
        char *aend = strchr(ans, '\n');
        assert_non_null(aend);
        size_t n = (size_t)(aend - ans);
        assert_true(n > 4 && ans[n - 4] == ' ' && ans[n - 3] == '(' && ans[n - 1] == ')');
        /* The worked answer is one option exactly as the query wrote it. */
        char *hit = memmem(q, (size_t)(qend - q), ans, n);
        assert_non_null(hit);
        assert_true(hit[-1] == ' ' && (hit[n] == ',' || hit[n] == '\n'));
        n_mc++;
    }
    assert_true(n_mc > 100);
    free(text);
    struct qa_set s;
    qa_set_init(&s);
    assert_int_equal(world_split(w, WORLD_SPLIT_TEST, &s), 0);
    int checked = 0;
    for (int i = 0; i < s.n; i++) {
        const struct qa_item *it = &s.items[i];
        if (strcmp(it->family, "mc") != 0) continue;
        assert_true(strlen(it->answer) == 1 && it->answer[0] >= 'A' && it->answer[0] <= 'D');
        char tag[5] = {' ', '(', it->answer[0], ')', 0};
        const char *opt = strstr(it->query, tag);
        assert_non_null(opt);
        const char *start = opt;
        while (start > it->query && start[-1] != ' ')
            start--;
        char worked[96];
        snprintf(worked, sizeof worked, "%.*s", (int)(opt - start + 4), start);
        assert_true(grader_check(it->grader, it->answer, worked));
        checked++;
    }
    assert_true(checked > 0);
    qa_set_free(&s);
    world_free(w);
}

/* The four option values of an mc query ("... Options: yak (A), cat (B), ..."). */
static void parse_options(const char *query, char vals[4][16]) {
    const char *p = strstr(query, " Options: ");
    assert_non_null(p);
    p += 10;
    for (int i = 0; i < 4; i++) {
        const char *end = strstr(p, " (");
        assert_non_null(end);
        assert_true(end - p < 16 && end[2] == 'A' + i && end[3] == ')');
        snprintf(vals[i], 16, "%.*s", (int)(end - p), p);
        p = end + 4 + (i < 3 ? 2 : 0); /* past "), " */
    }
}

/* How many values of the multiple-choice queries of a world appear under more than one letter;
 * asserts the options are alphabetical when `sorted`. */
static int mc_letters_that_move(int shuffled, int sorted) {
    struct world_config c;
    world_config_preset(&c, WORLD_QUICK, 9);
    c.mc_shuffled = shuffled;
    struct world *w;
    assert_int_equal(world_build(&w, &c), 0);
    struct qa_set s;
    qa_set_init(&s);
    assert_int_equal(world_split(w, WORLD_SPLIT_TEST, &s), 0);
    assert_int_equal(world_split(w, WORLD_SPLIT_OOD, &s), 0);
    static char seen[512][16];
    static int letter_of[512];
    int n_seen = 0, moved = 0, n_mc = 0;
    for (int i = 0; i < s.n; i++) {
        if (strcmp(s.items[i].family, "mc") && strcmp(s.items[i].family, "mchop")) continue;
        char vals[4][16];
        parse_options(s.items[i].query, vals);
        n_mc++;
        for (int k = 0; k < 4; k++) {
            if (sorted && k) assert_true(strcmp(vals[k - 1], vals[k]) < 0);
            int j = 0;
            while (j < n_seen && strcmp(seen[j], vals[k]))
                j++;
            if (j == n_seen) {
                assert_true(n_seen < 512);
                memcpy(seen[n_seen], vals[k], 16);
                letter_of[n_seen++] = k;
            } else if (letter_of[j] != k && letter_of[j] >= 0) {
                letter_of[j] = -1; /* count each value once */
                moved++;
            }
        }
    }
    assert_true(n_mc >= 40);
    qa_set_free(&s);
    world_free(w);
    return moved;
}

/* Sorted options (the default): alphabetical, one per quarter of the values, so every value
 * keeps its letter across questions; shuffled options move the values between letters. */
static void test_world_mc_options_sorted_or_shuffled(void **state) {
    (void)state;
    assert_int_equal(mc_letters_that_move(0, 1), 0);
    assert_true(mc_letters_that_move(1, 0) > 10);
}

/* Sums are taught as fixed-width worked sums of the query's own operands, and the number
 * grader reads the result from them; lookup drills name the asked value and its letter. */
static void test_world_add_and_lookup_worked_answers(void **state) {
    (void)state;
    struct world_config c;
    world_config_preset(&c, WORLD_QUICK, 3);
    c.lookup_frac = 0.3;
    struct world *w = NULL;
    assert_int_equal(world_build(&w, &c), DISR_OK);
    char *text;
    size_t len;
    assert_int_equal(world_pretrain_text(w, &text, &len), 0);
    int n_add = 0, n_lookup = 0;
    for (char *a = strstr(text, "\n[-] A: "); a; a = strstr(a + 1, "\n[-] A: ")) {
        int x, y, s, used = 0;
        if (sscanf(a + 8, "%4d+%4d=%5d%n", &x, &y, &s, &used) == 3 && used == 15) {
            assert_int_equal(x + y, s);
            char *q = a;
            while (q > text && q[-1] != '\n')
                q--;
            int qx = -1, qy = -1;
            for (char *p = q; p < a && qy < 0; p++)
                if (isdigit((unsigned char)*p) && (p == q || !isdigit((unsigned char)p[-1])))
                    qx < 0 ? (void)(qx = atoi(p)) : (void)(qy = atoi(p));
            assert_int_equal(qx, x);
            assert_int_equal(qy, y);
            char got[16], want[8];
            snprintf(got, sizeof got, "%.15s", a + 8);
            snprintf(want, sizeof want, "%d", s);
            assert_true(grader_check(GRADER_NUMBER, want, got));
            n_add++;
        }
    }
    const char *stem = "Q: Which option is ";
    for (char *q = strstr(text, stem); q; q = strstr(q + 1, stem)) {
        const char *v = q + strlen(stem), *ve = strchr(v, '?');
        const char *ans = strstr(v, "\n[-] A: ");
        assert_non_null(ve);
        assert_non_null(ans);
        assert_memory_equal(ans + 8, v, (size_t)(ve - v));
        assert_memory_equal(ans + 8 + (ve - v), " (", 2);
        n_lookup++;
    }
    assert_true(n_add > 100);
    assert_true(n_lookup > 100);
    free(text);
    world_free(w);
}

/* distract (OOD): a passage that never holds the answer, then a fact question whose answer is
 * the entity's attribute. */
static void test_world_distract_passage_never_answers(void **state) {
    (void)state;
    struct world *w = quick_world(9);
    struct qa_set s;
    qa_set_init(&s);
    assert_int_equal(world_split(w, WORLD_SPLIT_OOD, &s), 0);
    int n = 0;
    for (int i = 0; i < s.n; i++) {
        const struct qa_item *it = &s.items[i];
        if (strcmp(it->family, "distract") != 0) continue;
        assert_null(strstr(it->query, it->answer));
        const char *dot = strchr(it->query, '.');
        assert_non_null(dot);
        assert_non_null(strchr(dot + 1, '.')); /* two statements before the question */
        assert_int_equal(it->grader, GRADER_EXACT);
        n++;
    }
    assert_true(n > 0);
    qa_set_free(&s);
    world_free(w);
}

static void test_world_files_splits_and_exposure(void **state) {
    (void)state;
    char dir[] = "/tmp/disr_test_world_XXXXXX";
    struct names nm;
    struct world *w = world_in_tmpdir(3, dir, &nm);
    const struct world_config *c = world_config_of(w);
    assert_int_equal(nm.n, c->n_entities);

    /* Subjects of SA queries are sa_train entities, of test and OOD queries test entities;
     * anchor queries (in-domain) are about entities of both halves. */
    int fam_count[FAM_COUNT] = {0}, anchor_half[2] = {0};
    for (int sp = 0; sp < 4; sp++) {
        struct qa_set s;
        load_split(dir, sp, &s);
        int per = sp == 1 ? c->n_test : sp == 2 ? c->n_ood : sp == 3 ? c->n_anchors : c->n_sa;
        assert_int_equal(s.n, per * (sp == 2 ? FAM_COUNT - FAM_N_IN_DOMAIN : FAM_N_IN_DOMAIN));
        for (int i = 0; i < s.n; i++) {
            const struct qa_item *it = &s.items[i];
            int f = world_family_parse(it->family);
            assert_true(f >= 0);
            assert_true((sp == 2) == (f >= FAM_N_IN_DOMAIN));
            fam_count[f]++;
            if (f == FAM_FACT || f == FAM_MC || f == FAM_HOP || f == FAM_MCHOP || f == FAM_SECRET) {
                int e = first_entity(&nm, it->query);
                assert_true(e >= 0);
                if (sp == 3)
                    anchor_half[nm.split[e]]++;
                else
                    assert_int_equal(nm.split[e], sp != 0);
            }
            if (it->grader == GRADER_CHOICE) assert_true(strchr("ABCD", it->answer[0]) != NULL);
            if (f == FAM_ADD) {
                int x, y;
                const char *q = it->query;
                while (*q && !isdigit((unsigned char)*q))
                    q++;
                assert_int_equal(sscanf(q, "%d%*[^0-9]%d", &x, &y), 2);
                assert_int_equal(atoi(it->answer), x + y);
            }
            if (f == FAM_READ || f == FAM_READLONG)
                assert_true(count_word(it->query, it->answer) >= 1);
        }
        qa_set_free(&s);
    }
    for (int f = 0; f < FAM_COUNT; f++)
        assert_true(fam_count[f] > 0);
    assert_true(anchor_half[0] > 10 && anchor_half[1] > 10);

    /* Pretraining: printable ASCII lines; QA examples in the scenario prompt format; every
     * entity seen; the head entity far more often than the tail one (Zipf). */
    char path[256], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/" WORLD_FILE_PRETRAIN, dir);
    assert_int_equal(file_read_all(path, &text, &len), 0);
    for (size_t i = 0; i < len; i++)
        assert_true(text[i] == '\n' || (text[i] >= 32 && text[i] < 127));
    char prompt[64];
    int pl = scenario_format_prompt(prompt, sizeof prompt, "", SCENARIO_NONE);
    assert_true(pl > 0);
    assert_string_equal(prompt, "[-] Q: \n[-] A: ");
    int n_qa = 0;
    for (const char *p = strstr(text, "[-] Q: "); p; p = strstr(p + 1, "[-] Q: ")) {
        assert_true(p == text || p[-1] == '\n');
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_memory_equal(nl, "\n[-] A: ", 8);
        assert_non_null(strchr(nl + 8, '\n'));
        n_qa++;
    }
    assert_true(n_qa > 1000);
    int head = 0, tail = 0;
    for (int i = 0; i < nm.n; i++) {
        int k = count_word(text, nm.name[i]);
        assert_true(k > 0);
        if (nm.rank[i] == 0) head = k;
        if (nm.rank[i] == nm.n - 1) tail = k;
    }
    assert_true(head > 5 * tail);
    /* The secret attribute never appears in training text. */
    assert_null(strstr(text, "secret"));
    free(text);
    world_free(w);
    remove_world_dir(dir);
}

/* Words in a passage statement: " lives in ", " likes ", " owns a ". */
static int count_statements(const char *q) {
    static const char *const verbs[3] = {" lives in ", " likes ", " owns a "};
    int n = 0;
    for (int v = 0; v < 3; v++)
        for (const char *p = strstr(q, verbs[v]); p; p = strstr(p + 1, verbs[v]))
            n++;
    return n;
}

/* The letters of a sort query ("Sort: jlibq", "Sort the letters q d m.", "Put qdm in ..."). */
static int sort_letters(const char *q) {
    const char *p = strncmp(q, "Sort: ", 6) == 0 ? q + 6
                    : strncmp(q, "Put ", 4) == 0 ? q + 4
                                                 : NULL;
    int n = 0;
    if (p) {
        while (islower((unsigned char)p[n]))
            n++;
        return n;
    }
    p = strstr(q, "letters ");
    assert_non_null(p);
    for (p += 8; *p && *p != '.'; p++)
        n += islower((unsigned char)*p) != 0;
    return n;
}

static int digits_of(int x) {
    int d = 1;
    while (x >= 10)
        x /= 10, d++;
    return d;
}

/* Every query has a level, every family has every level, and the level is what it says: the
 * exposure bucket of its entity (ranks [0, n/8), [n/8, n/4), [n/4, n/2), [n/2, n), computed here
 * independently), the digits of the larger operand, the letters to sort, the statements of a
 * passage. Splits stay on their own entities, and friends share their entity's bucket. */
static void test_world_difficulty_levels(void **state) {
    (void)state;
    char dir[] = "/tmp/disr_test_levels_XXXXXX";
    struct names nm;
    struct world *w = world_in_tmpdir(7, dir, &nm);
    const int n_ent = world_config_of(w)->n_entities;
    int bucket_level[512];
    for (int i = 0; i < nm.n; i++) {
        int r = nm.rank[i];
        bucket_level[i] = r < n_ent / 8 ? 1 : r < n_ent / 4 ? 2 : r < n_ent / 2 ? 3 : 4;
    }
    int seen[FAM_COUNT][WORLD_LEVELS + 1] = {{0}};
    for (int sp = 0; sp < 4; sp++) {
        struct qa_set s;
        load_split(dir, sp, &s);
        for (int i = 0; i < s.n; i++) {
            const struct qa_item *it = &s.items[i];
            int f = world_family_parse(it->family), lv = it->difficulty;
            assert_true(lv >= 1 && lv <= WORLD_LEVELS);
            if (sp < 3) seen[f][lv]++;
            const char *q = it->query;
            if (f == FAM_ADD) {
                int x, y;
                while (*q && !isdigit((unsigned char)*q))
                    q++;
                assert_int_equal(sscanf(q, "%d%*[^0-9]%d", &x, &y), 2);
                assert_int_equal(digits_of(x > y ? x : y), lv);
            } else if (f == FAM_SORT) {
                static const int lo[5] = {0, 3, 4, 5, 7}, hi[5] = {0, 3, 4, 6, 8};
                int n = sort_letters(q);
                assert_true(n >= lo[lv] && n <= hi[lv]);
            } else if (f == FAM_READ) {
                assert_int_equal(count_statements(q), lv);
            } else if (f == FAM_READLONG) {
                assert_int_equal(count_statements(q), 2 * lv);
            } else {
                int e = first_entity(&nm, q);
                assert_true(e >= 0);
                assert_int_equal(bucket_level[e], lv);
                if (sp < 3) assert_int_equal(nm.split[e], sp != 0);
            }
        }
        qa_set_free(&s);
    }
    for (int f = 0; f < FAM_COUNT; f++)
        for (int l = 1; l <= WORLD_LEVELS; l++)
            assert_true(seen[f][l] > 0);
    for (int i = 0; i < nm.n; i++) /* friends within the bucket */
        assert_int_equal(bucket_level[nm.friend_of[i]], bucket_level[i]);
    world_free(w);
    remove_world_dir(dir);
}

/* "difficulty" is read back from JSONL, optional, and refused when it is not a level. */
static void test_jsonl_difficulty(void **state) {
    (void)state;
    static const char ok[] =
        "{\"id\":\"a\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\",\"grader\":\"exact\","
        "\"difficulty\":3}\n"
        "{\"id\":\"b\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\",\"grader\":\"exact\"}\n";
    struct qa_set s;
    qa_set_init(&s);
    assert_int_equal(qa_set_parse(&s, ok, sizeof ok - 1, "t"), DISR_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.items[0].difficulty, 3);
    assert_int_equal(s.items[1].difficulty, 0);
    qa_set_free(&s);
    static const char *const bad[] = {"1.5", "0", "-2", "\"3\"", "99"};
    for (int k = 0; k < 5; k++) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"id\":\"a\",\"family\":\"f\",\"query\":\"q\",\"answer\":\"x\","
                 "\"grader\":\"exact\",\"difficulty\":%s}\n",
                 bad[k]);
        qa_set_init(&s);
        assert_int_equal(qa_set_parse(&s, line, strlen(line), "t"), DISR_E_FORMAT);
        assert_int_equal(s.n, 0);
        qa_set_free(&s);
    }
}

static void test_world_config_rejects_bad_values(void **state) {
    (void)state;
    struct world_config c;
    struct world *w = NULL;
    world_config_preset(&c, WORLD_DEFAULT, 1);
    assert_int_equal(world_config_validate(&c), DISR_OK);
    c.n_entities = 3;
    assert_int_equal(world_build(&w, &c), DISR_E_RANGE);
    assert_null(w);
    world_config_preset(&c, WORLD_DEFAULT, 1);
    c.zipf = -1;
    assert_int_equal(world_config_validate(&c), DISR_E_RANGE);
    world_config_preset(&c, WORLD_DEFAULT, 1);
    c.lookup_frac = 1.5;
    assert_int_equal(world_config_validate(&c), DISR_E_RANGE);
    for (int f = 0; f < FAM_COUNT; f++)
        assert_int_equal(world_family_parse(world_family_name((enum world_family)f)), f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grader_exact),
        cmocka_unit_test(test_grader_number),
        cmocka_unit_test(test_grader_choice),
        cmocka_unit_test(test_grader_names),
        cmocka_unit_test(test_jsonl_parse_ok),
        cmocka_unit_test(test_jsonl_errors_name_the_line),
        cmocka_unit_test(test_jsonl_roundtrip_file),
        cmocka_unit_test(test_world_is_deterministic),
        cmocka_unit_test(test_world_mc_taught_as_value_then_letter),
        cmocka_unit_test(test_world_mc_options_sorted_or_shuffled),
        cmocka_unit_test(test_world_add_and_lookup_worked_answers),
        cmocka_unit_test(test_world_distract_passage_never_answers),
        cmocka_unit_test(test_world_files_splits_and_exposure),
        cmocka_unit_test(test_world_config_rejects_bad_values),
        cmocka_unit_test(test_world_difficulty_levels),
        cmocka_unit_test(test_jsonl_difficulty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

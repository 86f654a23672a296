/* dataset.h: a set of graded queries (one split of the world, or a user's own data set) and its
 * JSONL form, one object per line: {"id","family","query","answer","grader"}, plus an optional
 * integer "difficulty" (1 .. QA_MAX_DIFFICULTY; every query of the built-in world has one). Every
 * JSONL file in the project is read by qa_set_load, so a malformed line fails the same way
 * everywhere: with the file and line number and what is wrong (bad JSON, a missing or non-string
 * field, an unknown grader, an empty answer or one with a newline). Blank lines are skipped; extra
 * fields are ignored. Writing is atomic (a temporary file renamed into place), so a full disk never
 * leaves a truncated data set behind. */
#ifndef WORLD_DATASET_H
#define WORLD_DATASET_H

#include <stdbool.h>
#include <stddef.h>

#include "world/grader.h"

struct qa_item {
    char *id;
    char *family; /* task family, e.g. "fact", "add"; per-family accuracy groups on it */
    char *query;  /* the question alone: the prompt format is applied by the caller */
    char *answer; /* reference answer (no newline: agents end answers with '\n') */
    enum grader grader;
    int difficulty; /* level 1 .. QA_MAX_DIFFICULTY; 0 = none given */
};

#define QA_MAX_DIFFICULTY 16

struct qa_set {
    struct qa_item *items;
    int n, cap;
};

void qa_set_init(struct qa_set *s);
void qa_set_free(struct qa_set *s);

/* Appends a copy of the strings. DISR_E_ARG if a field is NULL, or the answer is empty or has
 * a newline. */
int qa_set_add(struct qa_set *s, const char *id, const char *family, const char *query,
               const char *answer, enum grader g);

/* Reads a JSONL file into an empty (initialized) set; on failure the set is left empty. */
int qa_set_load(struct qa_set *s, const char *path);
/* Parses JSONL from memory (`name` is used in error messages). */
int qa_set_parse(struct qa_set *s, const char *text, size_t len, const char *name);

/* Writes the set as JSONL (fields in schema order, one line per item), atomically. */
int qa_set_save(const struct qa_set *s, const char *path);
/* qa_set_save with each item's reply and grade added ("reply", "correct"): what a scoring run
 * answered, for reading the failures. */
int qa_set_save_graded(const struct qa_set *s, const char *const *replies, const bool *correct,
                       const char *path);

/* The distinct families of a set in order of first appearance; returns their count. `out`
 * holds pointers into the set's items (valid while the set lives). */
int qa_set_families(const struct qa_set *s, const char **out, int cap);

#endif

/* grader.h: the one place that decides whether an answer is correct. Every layer that scores
 * (disr score, self-awareness sampling, rewards, evaluation, baselines) calls grader_check, so
 * "correct" means the same thing everywhere. Three graders, named in JSONL by their text:
 *  - "exact":  equal after trimming spaces and one trailing '.', ignoring ASCII case;
 *  - "number": the last number in the reply equals the expected number ("1,204" = 1204;
 *              "0078+4165=04243" and "78 plus 4165 is 4243." = 4243);
 *  - "choice": the first stand-alone option letter in the reply ("B", "(B)", "B) fox",
 *              "Answer: B") equals the expected letter. */
#ifndef WORLD_GRADER_H
#define WORLD_GRADER_H

#include <stdbool.h>

enum grader { GRADER_EXACT = 0, GRADER_NUMBER = 1, GRADER_CHOICE = 2 };
#define GRADER_COUNT 3

/* "exact" / "number" / "choice"; and the reverse: the grader, or -1 if the name is unknown. */
const char *grader_name(enum grader g);
int grader_parse(const char *name);

/* True if `got` (a model's reply, stop char already removed) is a correct answer to a query
 * whose reference answer is `expected`. */
bool grader_check(enum grader g, const char *expected, const char *got);

#endif

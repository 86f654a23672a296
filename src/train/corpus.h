/* corpus.h: the training text of `disr train` and train_run, packed into one token stream with a
 * loss weight per token. (Named corpus, not dataset, to keep it apart from world/dataset.h, the
 * graded query sets.)
 *
 * Sources: a plain text file (the whole file is one document) or JSONL (`.jsonl`), one object
 * per line: {"text": ...} is a document; a world record {"query", "answer", ...} becomes the
 * forced-answer prompt scenario_format_prompt(query, SCENARIO_NONE) + answer + "\n". With
 * answer_only, only the answer's tokens (and its "\n") carry loss weight; otherwise every token
 * does. A text file under answer_only is cut into documents at its QA blocks in that same prompt
 * format: each block is a document weighted like a JSONL record, and the text between blocks
 * carries full weight (a world's pretraining stream: QA examples mixed with fact statements).
 * Documents are separated by EOS; there is no padding.
 *
 * Sampling is deterministic: micro-batch number `index` under `seed` always draws the same B
 * windows of T+1 tokens, so a resumed run sees exactly the batches of an uninterrupted one.
 * With several documents each window starts at a document start (prompts sit at position 0
 * as they do at inference); a single document is cut at uniform positions. */
#ifndef TRAIN_CORPUS_H
#define TRAIN_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tokenizer;

struct corpus_doc {
    size_t off, len; /* bytes in corpus.text */
    size_t split;    /* the first `split` bytes are the prompt (weight 0 when answer_only) */
};

struct corpus {
    char *text; /* every document's bytes, back to back (what a char tokenizer is built on) */
    size_t text_len, text_cap;
    struct corpus_doc *docs;
    int n_docs, docs_cap;
    bool answer_only;
    float prompt_weight; /* loss weight of prompt tokens under answer_only: 0 (default) .. 1 */
    /* after corpus_tokenize: */
    int32_t *tokens;
    float *weights; /* weight of predicting tokens[i] */
    size_t n_tokens;
    size_t *starts; /* token index of each document's first token */
};

/* An empty corpus to fill with corpus_add (for callers that build their own documents). */
int corpus_init(struct corpus **out, bool answer_only);
void corpus_free(struct corpus *c);

/* Adds one document: `len` bytes whose first `split` bytes are the prompt (0 = no prompt). */
int corpus_add(struct corpus *c, const char *text, size_t len, size_t split);

/* Reads a text or JSONL file (see above). Malformed JSONL fails with the line number. */
int corpus_load(struct corpus **out, const char *path, bool answer_only);

/* Tokenizes every document into the packed stream. Fails if a byte is outside a CHAR
 * vocabulary or the stream is shorter than 2 tokens. */
int corpus_tokenize(struct corpus *c, const struct tokenizer *tok);

/* Micro-batch `index`: B windows of T+1 tokens as inputs/targets/weights [B*T] (the stream is
 * read cyclically, so any T works). */
int corpus_sample(const struct corpus *c, uint64_t seed, int64_t index, int B, int T,
                  int32_t *inputs, int32_t *targets, float *weights);

/* Unigram entropy of the packed stream in nats per token (the loss a model that ignores
 * context cannot beat); for tests and reports. */
double corpus_unigram_entropy(const struct corpus *c);

#endif

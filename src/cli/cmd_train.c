/* disr train: trains a model from scratch (char tokenizer built from the corpus) or continues
 * an existing one (--init), on a text or JSONL corpus, and writes it as GGUF. With
 * --checkpoint-every (or --resume) the optimizer state is checkpointed to OUT.ckpt and an
 * interrupted run continues exactly where it stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "model/gguf.h"
#include "model/model_io.h"
#include "model/tokenizer.h"
#include "train/corpus.h"
#include "train/train_run.h"

struct train_args {
    const char *data, *out, *init, *checkpoint, *arch;
    int steps, layers, embd, heads, kv_heads, ff, ctx, tied;
    int batch, seq, accum, warmup, seed, ckpt_every, resume, answer_only, stop_after;
    double lr, min_lr, wd, clip, rope_base, prompt_weight;
};

static int build_model(struct model **out, const struct train_args *a, const struct corpus *c) {
    struct tokenizer *tok;
    DISR_TRY(tokenizer_init_char(&tok, c->text, c->text_len));
    int qwen = !strcmp(a->arch, "qwen2");
    struct model_config mc = {
        .arch = qwen ? MODEL_ARCH_QWEN2 : MODEL_ARCH_LLAMA,
        .n_vocab = tokenizer_n_vocab(tok),
        .n_embd = a->embd,
        .n_layer = a->layers,
        .n_head = a->heads,
        .n_head_kv = a->kv_heads > 0 ? a->kv_heads : a->heads,
        .n_ff = a->ff > 0 ? a->ff : 3 * a->embd,
        .n_ctx = a->ctx,
        .norm_eps = 1e-5f,
        .rope_base = (float)a->rope_base,
        .rope_style = qwen ? ROPE_NEOX : ROPE_NORMAL,
        .qkv_bias = qwen,
        .tied_output = a->tied,
    };
    return model_init_random(out, &mc, tok, (uint64_t)a->seed);
}

static int run(const struct train_args *a) {
    struct corpus *c = NULL;
    struct model *m = NULL;
    int st = corpus_load(&c, a->data, a->answer_only);
    if (st >= 0) c->prompt_weight = (float)a->prompt_weight;
    const char *ckpt = a->checkpoint;
    int resuming = a->resume && ckpt && access(ckpt, F_OK) == 0;
    /* The model: the checkpoint's (resume), a given one (--init), or a new one. */
    if (st >= 0) {
        if (resuming)
            st = model_load(&m, ckpt);
        else if (a->init)
            st = model_load(&m, a->init);
        else
            st = build_model(&m, a, c);
    }
    if (st >= 0 && !m->tokenizer)
        st = disr_fail(DISR_E_STATE, "the model has no tokenizer to encode the corpus");
    if (st >= 0) st = corpus_tokenize(c, m->tokenizer);
    struct train_config cfg;
    train_config_default(&cfg);
    cfg.batch = a->batch;
    cfg.seq = a->seq > 0 ? a->seq : (m && m->config.n_ctx < 64 ? m->config.n_ctx : 64);
    cfg.accum = a->accum;
    cfg.steps = a->steps;
    cfg.lr = (float)a->lr;
    cfg.min_lr_frac = (float)a->min_lr;
    cfg.warmup = a->warmup;
    cfg.weight_decay = (float)a->wd;
    cfg.grad_clip = (float)a->clip;
    cfg.seed = (uint64_t)a->seed;
    struct train_run_result r = {0};
    if (st >= 0) {
        log_info("train: %zu parameters (%d layers, embd %d, %d heads / %d kv, ff %d, vocab %d); "
                 "%zu tokens in %d documents, unigram entropy %.3f nats",
                 m->n_params, m->config.n_layer, m->config.n_embd, m->config.n_head,
                 m->config.n_head_kv, m->config.n_ff, m->config.n_vocab, c->n_tokens, c->n_docs,
                 corpus_unigram_entropy(c));
        struct train_run_opts o = {.checkpoint = ckpt,
                                   .checkpoint_every = a->ckpt_every,
                                   .resume = a->resume,
                                   .stop_after = a->stop_after,
                                   .label = "train"};
        st = train_run(m, c, &cfg, &o, &r);
    }
    if (st >= 0) {
        /* The final file is a plain model: optimizer state stays in the checkpoint. */
        struct gguf_writer *meta = model_meta(m);
        if (!meta) st = disr_fail(DISR_E_NOMEM, "out of memory");
        if (st >= 0) st = gguf_writer_remove(meta, "disr.train.step");
        if (st >= 0) st = gguf_writer_set_u32(meta, "disr.train.steps", (uint32_t)cfg.steps);
        if (st >= 0) st = model_save(m, a->out, NULL);
    }
    if (st >= 0)
        printf("trained %d steps (from step %d) in %.1f s, %.0f tokens/s; loss %.4f -> %.4f "
               "(unigram entropy %.4f); wrote %s\n",
               r.steps_done, r.first_step, r.seconds, r.tokens_per_s, r.first_loss, r.final_loss,
               corpus_unigram_entropy(c), a->out);
    model_free(m);
    corpus_free(c);
    return st;
}

int cmd_train(int argc, char **argv) {
    struct train_args a = {
        .arch = "llama",
        .steps = 1000,
        .layers = 4,
        .embd = 128,
        .heads = 4,
        .ctx = 128,
        .batch = 16,
        .accum = 1,
        .warmup = -1,
        .seed = 1,
        .lr = 1e-3,
        .min_lr = 0.1,
        .wd = 0.1,
        .clip = 1.0,
        .rope_base = 10000.0,
    };
    const struct cli_opt opts[] = {
        {"--data", "-d", OPT_STR, &a.data, "training text (.txt) or JSONL (.jsonl) file"},
        {"--out", "-o", OPT_STR, &a.out, "output model (GGUF)"},
        {"--steps", "-s", OPT_INT, &a.steps, "optimizer steps (default 1000)"},
        {"--init", NULL, OPT_STR, &a.init, "start from this model instead of a new one"},
        {"--answer-only", NULL, OPT_FLAG, &a.answer_only,
         "loss on answers only (JSONL query/answer records, or QA blocks in a text file)"},
        {"--prompt-weight", NULL, OPT_FLOAT, &a.prompt_weight,
         "with --answer-only: loss weight of the prompt tokens (default 0)"},
        {"--arch", NULL, OPT_STR, &a.arch, "llama (NORMAL rope) or qwen2 (NEOX rope, QKV bias)"},
        {"--layers", NULL, OPT_INT, &a.layers, "new model: layers (default 4)"},
        {"--embd", NULL, OPT_INT, &a.embd, "new model: embedding size (default 128)"},
        {"--heads", NULL, OPT_INT, &a.heads, "new model: attention heads (default 4)"},
        {"--kv-heads", NULL, OPT_INT, &a.kv_heads, "new model: key/value heads (default = heads)"},
        {"--ff", NULL, OPT_INT, &a.ff, "new model: feed-forward size (default 3 x embd)"},
        {"--ctx", NULL, OPT_INT, &a.ctx, "new model: context length (default 128)"},
        {"--tied", NULL, OPT_FLAG, &a.tied, "new model: output head shares token_embd"},
        {"--rope-base", NULL, OPT_FLOAT, &a.rope_base, "new model: RoPE base (default 10000)"},
        {"--lr", NULL, OPT_FLOAT, &a.lr, "peak learning rate (default 1e-3)"},
        {"--min-lr", NULL, OPT_FLOAT, &a.min_lr, "cosine floor as a fraction of lr (default 0.1)"},
        {"--batch", "-b", OPT_INT, &a.batch, "sequences per micro-batch (default 16)"},
        {"--seq", NULL, OPT_INT, &a.seq, "tokens per sequence (default min(64, ctx))"},
        {"--accum", NULL, OPT_INT, &a.accum, "micro-batches per step (default 1)"},
        {"--warmup", NULL, OPT_INT, &a.warmup, "warmup steps (default 5 % of steps)"},
        {"--wd", NULL, OPT_FLOAT, &a.wd, "AdamW weight decay on matrices (default 0.1)"},
        {"--clip", NULL, OPT_FLOAT, &a.clip, "gradient norm clip; 0 = off (default 1)"},
        {"--seed", NULL, OPT_INT, &a.seed, "initialization and batch seed (default 1)"},
        {"--checkpoint", NULL, OPT_STR, &a.checkpoint, "checkpoint file (default OUT.ckpt)"},
        {"--checkpoint-every", NULL, OPT_INT, &a.ckpt_every, "steps between checkpoints"},
        {"--resume", NULL, OPT_FLAG, &a.resume, "continue from the checkpoint if it exists"},
        {"--stop-after", NULL, OPT_INT, &a.stop_after,
         "run at most this many steps now (then --resume later)"},
        {0},
    };
    int rc = cli_parse(argc, argv, opts,
                       "--data FILE --out MODEL.gguf [--steps N] [options]\n"
                       "Trains a transformer on a text or JSONL corpus and writes it as GGUF.",
                       NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!a.data || !a.out) {
        fprintf(stderr, "disr train: --data and --out are required (see --help)\n");
        return 2;
    }
    if (strcmp(a.arch, "llama") && strcmp(a.arch, "qwen2")) {
        fprintf(stderr, "disr train: --arch must be llama or qwen2\n");
        return 2;
    }
    if (a.steps < 1 || a.batch < 1 || a.accum < 1 || a.seq < 0 || a.lr <= 0 || a.clip < 0 ||
        a.wd < 0 || a.ckpt_every < 0 || a.stop_after < 0 || a.min_lr < 0 || a.min_lr > 1) {
        fprintf(stderr, "disr train: need --steps, --batch, --accum >= 1, --lr > 0, and "
                        "non-negative --seq, --clip, --wd, --checkpoint-every, --stop-after\n");
        return 2;
    }
    char ckpt[4096];
    if (!a.checkpoint && (a.ckpt_every > 0 || a.resume || a.stop_after > 0)) {
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", a.out);
        a.checkpoint = ckpt;
    }
    int st = run(&a);
    return st < 0 ? cli_fail("train", st) : 0;
}

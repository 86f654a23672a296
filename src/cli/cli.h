/* cli.h: the `disr` command table and the one option parser every command uses. Only the CLI
 * layer prints errors for the user and chooses exit codes. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* OPT_F32, OPT_BOOL and OPT_U64 let an option write straight into a job's float, bool or
 * uint64_t field. */
enum cli_opt_kind { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG, OPT_F32, OPT_BOOL, OPT_U64 };

struct cli_opt {
    const char *name; /* "--steps" (and optional short alias "-s" in `alias`) */
    const char *alias;
    enum cli_opt_kind kind;
    void *dst; /* const char **, int *, double *, int * (flag set to 1), float *, bool * (set),
                  uint64_t * */
    /* "{}" in the help is replaced by the value *dst holds before parsing: the default comes
     * from the job's own default struct, never retyped here */
    const char *help;
};

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns an exit code */
};

/* Parses argv[1..] against `opts`. Positional arguments are collected into `pos` (up to
 * max_pos). Prints usage and returns 1 on --help, prints a clear message and returns 2 on a bad
 * option, returns 0 when the command should run. */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage,
              const char **pos, int max_pos, int *n_pos);

/* Whether argv[1..] holds the flag `name` (e.g. "--quick"): a preset that must apply before the
 * options that override it are parsed into the job. */
bool cli_has_flag(int argc, char **argv, const char *name);

/* Prints "disr: <what>: <last error detail or status text>" and returns exit code 1. */
int cli_fail(const char *what, int status);

/* cli_fail's message for settings a job refused (its *_check): exit code 2, as a bad option. */
int cli_fail_settings(const char *what, int status);

/* For a command whose layer has not landed yet: says so and returns exit code 3. */
int cli_pending(const char *name);

/* Every command: X(c identifier, command name, summary); cmd_<ident> lives in
 * src/cli/cmd_<ident>.c. */
#define CLI_COMMANDS(X)                                                                            \
    X(generate, "generate", "generate text from a GGUF model")                                     \
    X(info, "info", "show a GGUF file's metadata and tensor table")                                \
    X(tokenize, "tokenize", "print the token ids of text under a GGUF file's tokenizer")           \
    X(template, "template", "show the prompt a chat template makes of a conversation")             \
    X(quantize, "quantize", "convert a GGUF model to another weight type (Q4_K_M, Q8_0, ...)")     \
    X(synth, "synth", "write a random-weight model of a published shape (Qwen2.5, Llama 3.2)")     \
    X(train, "train", "train (or resume) a model on a text or JSONL corpus")                       \
    X(bench, "bench", "measure prefill, decode and training speed")                                \
    X(world, "world", "generate the synthetic world and its JSONL splits")                         \
    X(zoo, "zoo", "train the agent family on the world")                                           \
    X(score, "score", "forced-answer accuracy of a model per task family")                         \
    X(sa_sft, "sa-sft", "self-awareness stage 1: supervised fine-tuning")                          \
    X(sa_rl, "sa-rl", "self-awareness stage 2: reinforcement learning (GRPO)")                     \
    X(sa_report, "sa-report", "answer rate, precision and F1 of self-aware agents")                \
    X(serve, "serve", "run one agent node (OpenAI-compatible HTTP API)")                           \
    X(up, "up", "start a whole chain of agent nodes from a network file")                          \
    X(ask, "ask", "send one query to a chain and print the answer and route")                      \
    X(eval, "eval", "evaluate DiSRouter against the baselines and write the report")               \
    X(demo, "demo", "from nothing to the utility table: world, agents, training, network, report") \
    X(version, "version", "print the version")

#define CLI_DECLARE(ident, name, summary) int cmd_##ident(int argc, char **argv);
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

#endif

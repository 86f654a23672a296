/* chat_template.h: chat templates, the Jinja strings of `tokenizer.chat_template`, rendered for a
 * conversation. A small interpreter of the Jinja subset chat templates use (text, {{ }}, if/elif/
 * else, for with loop.*, set and namespace, filters, tests, string methods, slices), with the
 * whitespace rules and value semantics of Hugging Face's JavaScript renderer (@huggingface/jinja:
 * lstrip_blocks and trim_blocks on, strip() ignoring its argument, true/false printed in lower
 * case), whose output it matches character for character (tests/e2e/chat_template_peer.sh).
 * Built-in templates (ChatML, Llama-3, Llama-2, Mistral, Gemma, Phi-3) for files without one. */
#ifndef MODEL_CHAT_TEMPLATE_H
#define MODEL_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

struct chat_template;

struct chat_message {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
};

/* Parses a template; DISR_E_FORMAT with the offset and what was expected on a syntax error. */
int chat_template_parse(struct chat_template **out, const char *source);
void chat_template_free(struct chat_template *t);

/* Renders `messages` with add_generation_prompt and the bos/eos token texts (either may be
 * NULL: undefined in the template). *out is malloc'ed and NUL-terminated. A template that raises
 * (raise_exception) or uses what the subset lacks fails with DISR_E_FORMAT and a message. */
int chat_template_render(const struct chat_template *t, const struct chat_message *messages,
                         int n_messages, bool add_generation_prompt, const char *bos_token,
                         const char *eos_token, char **out);

/* The source of a built-in template by name (chatml, llama3, llama2, mistral, gemma, phi3), or
 * NULL. */
const char *chat_template_builtin(const char *name);
/* "chatml, llama3, llama2, mistral, gemma, phi3", for messages. */
const char *chat_template_builtin_names(void);

#endif

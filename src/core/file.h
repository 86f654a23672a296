/* file.h: the file helpers every layer uses. Writes are atomic: the bytes go to a temporary file
 * beside the target (same directory, so the rename cannot cross file systems), are flushed to
 * disk, and the temporary file is renamed into place; a failure (a full disk) removes it and
 * leaves the old file as it was. */
#ifndef CORE_FILE_H
#define CORE_FILE_H

#include <stddef.h>
#include <stdio.h>

/* A file being written atomically: write to `f`, then file_atomic_commit (or _abort). */
struct file_atomic {
    FILE *f;
    char *tmp;        /* the temporary file's path */
    const char *path; /* the target (borrowed) */
};
int file_atomic_begin(struct file_atomic *a, const char *path);
/* Flushes, syncs and renames into place (then syncs the directory); on any failure removes the
 * temporary file and fails with "PATH: ... (nothing was changed)". `err` is an errno the
 * caller's writes already met (0: none), reported the same way. */
int file_atomic_commit(struct file_atomic *a, int err);
void file_atomic_abort(struct file_atomic *a);

/* Writes len bytes to path atomically: the file is either complete or as it was. */
int file_write_atomic(const char *path, const void *data, size_t len);
/* Creates a directory and its missing parents (mkdir -p); fails if dir is not a directory. */
int file_mkdir_p(const char *dir);
/* Reads a whole file into a NUL-terminated malloc'd buffer (*len excludes the NUL). */
int file_read_all(const char *path, char **data, size_t *len);

struct cJSON;
/* Reads and parses a JSON file (*out: free with cJSON_Delete); "PATH: bad JSON" on a parse
 * error. */
int file_read_json(const char *path, struct cJSON **out);

#endif

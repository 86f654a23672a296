#include "core/file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

int file_atomic_begin(struct file_atomic *a, const char *path) {
    *a = (struct file_atomic){.path = path};
    size_t plen = strlen(path);
    a->tmp = malloc(plen + 16);
    if (!a->tmp) return disr_fail(DISR_E_NOMEM, "%s: out of memory", path);
    snprintf(a->tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        int e = errno;
        free(a->tmp);
        a->tmp = NULL;
        return disr_fail(DISR_E_IO, "%s: cannot create a temporary file beside it: %s", path,
                         strerror(e));
    }
    /* mkstemp makes 0600; the files written are ordinary files. */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        file_atomic_abort(a);
        return disr_fail(DISR_E_IO, "%s: %s", path, strerror(e));
    }
    setvbuf(a->f, NULL, _IOFBF, 1 << 20);
    return DISR_OK;
}

void file_atomic_abort(struct file_atomic *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    a->f = NULL, a->tmp = NULL;
}

/* Makes a rename in path's directory durable. */
static void sync_dir_of(const char *path) {
    char *dcopy = strdup(path);
    if (!dcopy) return;
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dcopy);
}

int file_atomic_commit(struct file_atomic *a, int err) {
    if (!err && ferror(a->f)) err = errno ? errno : EIO;
    if (!err && fflush(a->f) != 0) err = errno;
    if (!err && fsync(fileno(a->f)) != 0) err = errno;
    if (fclose(a->f) != 0 && !err) err = errno;
    a->f = NULL;
    if (!err && rename(a->tmp, a->path) != 0) err = errno;
    if (err) {
        file_atomic_abort(a);
        if (err == ENOSPC)
            return disr_fail(DISR_E_IO, "%s: disk full while writing (nothing was changed)",
                             a->path);
        return disr_fail(DISR_E_IO, "%s: write failed: %s (nothing was changed)", a->path,
                         strerror(err));
    }
    free(a->tmp);
    a->tmp = NULL;
    sync_dir_of(a->path);
    return DISR_OK;
}

int file_write_atomic(const char *path, const void *data, size_t len) {
    struct file_atomic a;
    DISR_TRY(file_atomic_begin(&a, path));
    int err = fwrite(data, 1, len, a.f) == len ? 0 : (errno ? errno : EIO);
    return file_atomic_commit(&a, err);
}

int file_read_all(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return disr_fail(DISR_E_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int st = DISR_OK;
    for (;;) {
        if (!buf) {
            st = disr_fail(DISR_E_NOMEM, "reading %s", path);
            break;
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f)) {
            st = disr_fail(DISR_E_IO, "reading %s: %s", path, strerror(errno));
            break;
        }
        if (feof(f)) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    fclose(f);
    if (st < 0) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf, *len = n;
    return DISR_OK;
}

int file_mkdir_p(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) return disr_fail(DISR_E_ARG, "bad directory name '%s'", dir);
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return disr_fail(DISR_E_IO, "cannot create directory %s: %s", path, strerror(errno));
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return disr_fail(DISR_E_IO, "%s is not a directory", dir);
    return DISR_OK;
}

int file_read_json(const char *path, struct cJSON **out) {
    char *text;
    size_t len;
    *out = NULL;
    DISR_TRY(file_read_all(path, &text, &len));
    *out = cJSON_ParseWithLength(text, len);
    free(text);
    return *out ? DISR_OK : disr_fail(DISR_E_FORMAT, "%s: bad JSON", path);
}

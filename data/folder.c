/* ImageFolder data sets (imagenet:DIR, imagenet100:DIR): DIR/train/<class>/<file> and
 * DIR/val/<class>/<file>, read as torchvision's ImageFolder reads them, so labels and image
 * order (and with them HAQ's search splits) agree with the release's.
 *
 * Scanning. Classes are the sub-directories of DIR/train (DIR/val when there is no train
 * directory), sorted by name in byte order, label = position; with a class list (imagenet100,
 * or classes=FILE) exactly the listed directories in list order, each required in every split
 * directory present. Within a class: the entries directly in its directory sorted by name;
 * taken are regular files (symbolic links followed) named *.jpg, *.jpeg, *.ppm or *.pgm in
 * any case; anything else, and any name starting with '.', is counted in `skipped`. A split
 * directory may be missing (count 0) as long as one exists: a train-only folder serves HAQ's
 * search splits, a val-only one `haq eval`.
 *
 * Loading. The file is decoded by its content, not its name: JPEG (SOI marker) or binary
 * PPM/PGM. Grayscale images are expanded to RGB (as PIL's convert('RGB')); CMYK and YCCK JPEGs
 * are converted by the decoder. A file that gives no image, or whose data end before the image
 * does (DATA_JPEG_WARN_TRUNCATED: PIL refuses those as "image file is truncated"), is an error
 * naming the file; corrupt-data warnings that libjpeg and PIL accept (a bad code, stray bytes
 * before a marker) are not. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "inflate.h"
#include "jpeg.h"
#include "nn/error.h"

#define PATH_CAP       4096
#define MAX_CLASSES    100000
#define MAX_FILE_BYTES (1u << 30)

const char *const data_imagenet100[100] = {
    "n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331", "n01498041",
    "n01514668", "n01514859", "n01518878", "n01530575", "n01531178", "n01532829", "n01534433",
    "n01537544", "n01558993", "n01560419", "n01580077", "n01582220", "n01592084", "n01601694",
    "n01608432", "n01614925", "n01616318", "n01622779", "n01629819", "n01630670", "n01631663",
    "n01632458", "n01632777", "n01641577", "n01644373", "n01644900", "n01664065", "n01665541",
    "n01667114", "n01667778", "n01669191", "n01675722", "n01677366", "n01682714", "n01685808",
    "n01687978", "n01688243", "n01689811", "n01692333", "n01693334", "n01694178", "n01695060",
    "n01697457", "n01698640", "n01704323", "n01728572", "n01728920", "n01729322", "n01729977",
    "n01734418", "n01735189", "n01737021", "n01739381", "n01740131", "n01742172", "n01744401",
    "n01748264", "n01749939", "n01751748", "n01753488", "n01755581", "n01756291", "n01768244",
    "n01770081", "n01770393", "n01773157", "n01773549", "n01773797", "n01774384", "n01774750",
    "n01775062", "n01776313", "n01784675", "n01795545", "n01796340", "n01797886", "n01798484",
    "n01806143", "n01806567", "n01807496", "n01817953", "n01818515", "n01819313", "n01820546",
    "n01824575", "n01828970", "n01829413", "n01833805", "n01843065", "n01843383", "n01847000",
    "n01855032", "n01855672",
};

/* Decoding state of one thread at a time: load() borrows one from the idle list (or makes
 * one), so concurrent loads never share a decoder and a steady loader allocates nothing. */
struct worker {
    struct data_jpeg *dec;
    uint8_t *buf; /* file bytes */
    size_t cap;
    struct worker *next;
};

struct fsplit {
    char *root; /* DIR/train or DIR/val; NULL when the directory is missing */
    size_t n, cap;
    size_t *name; /* [n] offsets of file names in pool */
    int *label;   /* [n] */
    char *pool;
    size_t pool_len, pool_cap;
};

struct folder {
    char **classes; /* [n_classes] directory names */
    int n_classes;
    struct fsplit sp[2];
    pthread_mutex_t mu;
    struct worker *idle;
};

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *n) {
    static const char *const ext[] = {".jpg", ".jpeg", ".ppm", ".pgm"};
    size_t l = strlen(n);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (l > e && !strcasecmp(n + l - e, ext[i])) return 1;
    }
    return 0;
}

/* The type of a directory entry, following symbolic links: S_IFREG, S_IFDIR or 0. */
static int entry_type(const char *dir, const struct dirent *e) {
    if (e->d_type == DT_REG) return S_IFREG;
    if (e->d_type == DT_DIR) return S_IFDIR;
    if (e->d_type != DT_LNK && e->d_type != DT_UNKNOWN) return 0;
    char p[PATH_CAP];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p || stat(p, &st))
        return 0;
    return S_ISREG(st.st_mode) ? S_IFREG : S_ISDIR(st.st_mode) ? S_IFDIR : 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

struct names {
    char **v;
    size_t n, cap;
};

static void names_free(struct names *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_add(struct names *l, const char *s) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, nc * sizeof *v);
        if (!v) return nn_err("out of memory listing directories");
        l->v = v;
        l->cap = nc;
    }
    if (!(l->v[l->n] = strdup(s))) return nn_err("out of memory listing directories");
    l->n++;
    return 0;
}

/* The entries of dir whose type is `type`, sorted; entries of another type or starting with
 * '.' are counted in *others (may be NULL). */
static int list_dir(const char *dir, int type, struct names *out, size_t *others) {
    DIR *d = opendir(dir);
    if (!d) return nn_err("%s: %s", dir, strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                int er = errno;
                closedir(d);
                return nn_err("%s: %s", dir, strerror(er));
            }
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int ok = e->d_name[0] != '.' && entry_type(dir, e) == type &&
                 (type != S_IFREG || is_image_name(e->d_name));
        if (!ok) {
            if (others) ++*others;
            continue;
        }
        if (names_add(out, e->d_name)) {
            closedir(d);
            return nn_err_ctx("%s: ", dir);
        }
    }
    closedir(d);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
}

static int split_add(struct fsplit *sp, const char *name, int label) {
    size_t l = strlen(name) + 1;
    if (sp->n == sp->cap) {
        size_t nc = sp->cap ? 2 * sp->cap : 1024;
        size_t *nm = realloc(sp->name, nc * sizeof *nm);
        if (nm) sp->name = nm;
        int *lb = nm ? realloc(sp->label, nc * sizeof *lb) : NULL;
        if (!lb) return nn_err("out of memory for the file list");
        sp->label = lb;
        sp->cap = nc;
    }
    if (sp->pool_len + l > sp->pool_cap) {
        size_t nc = sp->pool_cap ? 2 * sp->pool_cap : 65536;
        while (nc < sp->pool_len + l) nc *= 2;
        char *p = realloc(sp->pool, nc);
        if (!p) return nn_err("out of memory for the file list");
        sp->pool = p;
        sp->pool_cap = nc;
    }
    memcpy(sp->pool + sp->pool_len, name, l);
    sp->name[sp->n] = sp->pool_len;
    sp->label[sp->n++] = label;
    sp->pool_len += l;
    return 0;
}

static int scan_class(struct fsplit *sp, const char *cls, int label, size_t *skipped) {
    char dir[PATH_CAP];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", sp->root, cls) >= sizeof dir)
        return nn_err("%s/%s: path too long", sp->root, cls);
    struct names files = {0};
    int rc = list_dir(dir, S_IFREG, &files, skipped);
    for (size_t i = 0; !rc && i < files.n; i++) rc = split_add(sp, files.v[i], label);
    names_free(&files);
    return rc;
}

/* The class list of a classes=FILE: one directory name per line, blanks around it and empty
 * lines ignored. */
static int read_class_file(const char *path, struct names *out) {
    uint8_t *buf;
    size_t n;
    if (data_read_file(path, &buf, &n)) return -1;
    int rc = 0;
    size_t line = 0;
    for (char *p = (char *)buf, *end = (char *)buf + n; !rc && p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        while (p < e && isspace((unsigned char)*p)) p++;
        char *q = e;
        while (q > p && isspace((unsigned char)q[-1])) q--;
        if (q > p) {
            *q = 0;
            if (memchr(p, '/', (size_t)(q - p)) || memchr(p, 0, (size_t)(q - p)) || *p == '.')
                rc = nn_err("%s:%zu: '%s' is not a directory name", path, line, p);
            for (size_t i = 0; !rc && i < out->n; i++)
                if (!strcmp(out->v[i], p))
                    rc = nn_err("%s:%zu: class '%s' listed twice", path, line, p);
            if (!rc && out->n >= MAX_CLASSES)
                rc = nn_err("%s: more than %d classes", path, MAX_CLASSES);
            if (!rc) rc = names_add(out, p);
        }
        p = e + 1;
    }
    free(buf);
    if (!rc && out->n == 0) rc = nn_err("%s: no class names", path);
    return rc;
}

static void folder_free(struct folder *f) {
    if (!f) return;
    for (int k = 0; k < f->n_classes; k++) free(f->classes[k]);
    free(f->classes);
    for (int s = 0; s < 2; s++) {
        free(f->sp[s].root);
        free(f->sp[s].name);
        free(f->sp[s].label);
        free(f->sp[s].pool);
    }
    while (f->idle) {
        struct worker *w = f->idle;
        f->idle = w->next;
        data_jpeg_free(w->dec);
        free(w->buf);
        free(w);
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static struct worker *worker_take(struct folder *f) {
    pthread_mutex_lock(&f->mu);
    struct worker *w = f->idle;
    if (w) f->idle = w->next;
    pthread_mutex_unlock(&f->mu);
    if (w) return w;
    w = calloc(1, sizeof *w);
    if (w && !(w->dec = data_jpeg_new())) {
        free(w);
        w = NULL;
    }
    if (!w) nn_err("imagefolder: out of memory for a decoder");
    return w;
}

static void worker_put(struct folder *f, struct worker *w) {
    pthread_mutex_lock(&f->mu);
    w->next = f->idle;
    f->idle = w;
    pthread_mutex_unlock(&f->mu);
}

/* Read a whole file into w->buf (grown as needed); *n bytes. */
static int read_into(struct worker *w, const char *path, size_t *n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nn_err("%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st))
        rc = nn_err("%s: %s", path, strerror(errno));
    else if (st.st_size <= 0 || (uint64_t)st.st_size > MAX_FILE_BYTES)
        rc = nn_err("%s: %s", path, st.st_size <= 0 ? "empty file" : "larger than 1 GiB");
    size_t len = rc ? 0 : (size_t)st.st_size;
    if (!rc && len > w->cap) {
        uint8_t *b = malloc(len);
        if (!b)
            rc = nn_err("%s: out of memory for %zu bytes", path, len);
        else {
            free(w->buf);
            w->buf = b;
            w->cap = len;
        }
    }
    size_t got = 0;
    while (!rc && got < len) {
        ssize_t r = read(fd, w->buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            rc = nn_err("%s: %s", path, r < 0 ? strerror(errno) : "file shrank while read");
        else
            got += (size_t)r;
    }
    close(fd);
    *n = len;
    return rc;
}

/* Expand a 1-channel image to 3 equal channels in place (from the end, so no byte is
 * overwritten before it is read). */
static int gray_to_rgb(struct data_image *im) {
    size_t n = (size_t)im->w * (size_t)im->h;
    if (im->cap < 3 * n) {
        uint8_t *p = realloc(im->px, 3 * n);
        if (!p) return nn_err("image: out of memory for %zu bytes", 3 * n);
        im->px = p;
        im->cap = 3 * n;
    }
    for (size_t i = n; i-- > 0;) {
        uint8_t v = im->px[i];
        im->px[3 * i] = im->px[3 * i + 1] = im->px[3 * i + 2] = v;
    }
    im->c = 3;
    return 0;
}

enum { FMT_JPEG, FMT_PNM };

static int sniff(const char *path, const uint8_t *b, size_t n, int *fmt) {
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8)
        *fmt = FMT_JPEG;
    else if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6'))
        *fmt = FMT_PNM;
    else if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        return nn_err("%s: PNG data; only JPEG and PPM/PGM are decoded (convert the file)", path);
    else
        return nn_err("%s: not a JPEG or PPM/PGM file", path);
    return 0;
}

static int file_path(const struct folder *f, int split, size_t idx, char *p, size_t cap) {
    const struct fsplit *sp = &f->sp[split];
    const char *name = sp->pool + sp->name[idx];
    if ((size_t)snprintf(p, cap, "%s/%s/%s", sp->root, f->classes[sp->label[idx]], name) >= cap)
        return nn_err("%s/…/%s: path too long", sp->root, name);
    return 0;
}

static int check_index(const struct data_source *s, int split, size_t idx) {
    if (split < 0 || split > 1 || idx >= s->count[split])
        return nn_err("%s: image %zu of split %d out of range", s->kind, idx, split);
    return 0;
}

static int folder_load(struct data_source *s, int split, size_t idx, struct data_image *im,
                       int *label) {
    struct folder *f = s->impl;
    char path[PATH_CAP];
    if (check_index(s, split, idx) || file_path(f, split, idx, path, sizeof path)) return -1;
    struct worker *w = worker_take(f);
    if (!w) return -1;
    size_t n;
    int fmt = 0, warn = 0;
    int rc = read_into(w, path, &n);
    if (!rc) rc = sniff(path, w->buf, n, &fmt);
    if (!rc && fmt == FMT_JPEG) {
        rc = data_jpeg_decode(w->dec, w->buf, n, im, &warn);
        if (rc)
            nn_err_ctx("%s: ", path);
        else if (warn & DATA_JPEG_WARN_TRUNCATED)
            rc = nn_err("%s: truncated JPEG (the data end before the image does)", path);
    } else if (!rc) {
        rc = data_pnm_decode(w->buf, n, im);
        if (rc) nn_err_ctx("%s: ", path);
    }
    worker_put(f, w);
    if (!rc && im->c == 1) rc = gray_to_rgb(im);
    if (!rc) *label = f->sp[split].label[idx];
    return rc;
}

static int folder_dims(struct data_source *s, int split, size_t idx, int *w, int *h) {
    struct folder *f = s->impl;
    char path[PATH_CAP];
    if (check_index(s, split, idx) || file_path(f, split, idx, path, sizeof path)) return -1;
    struct worker *wk = worker_take(f);
    if (!wk) return -1;
    size_t n;
    int fmt = 0;
    int rc = read_into(wk, path, &n);
    if (!rc) rc = sniff(path, wk->buf, n, &fmt);
    if (!rc && fmt == FMT_JPEG) {
        struct data_jpeg_info info;
        rc = data_jpeg_info(wk->buf, n, &info);
        if (rc) {
            nn_err_ctx("%s: ", path);
        } else {
            *w = info.w;
            *h = info.h;
        }
    } else if (!rc) {
        struct data_image im = {0};
        rc = data_pnm_decode(wk->buf, n, &im);
        if (rc) nn_err_ctx("%s: ", path);
        *w = im.w;
        *h = im.h;
        data_image_free(&im);
    }
    worker_put(f, wk);
    return rc;
}

static void folder_close(struct data_source *s) {
    folder_free(s->impl);
    free(s);
}

static const struct data_source_ops folder_ops = {folder_load, folder_close, folder_dims};

/* DIR and the classes=FILE option of "DIR[,classes=FILE]". */
static int parse_rest(const char *spec, const char *rest, char **dir, char **classes) {
    const char *comma = strchr(rest, ',');
    size_t dl = comma ? (size_t)(comma - rest) : strlen(rest);
    if (dl == 0) return nn_err("data '%s': a directory is required (KIND:DIR)", spec);
    while (comma) {
        const char *opt = comma + 1, *next = strchr(opt, ',');
        size_t ol = next ? (size_t)(next - opt) : strlen(opt);
        if (ol > 8 && !strncmp(opt, "classes=", 8)) {
            free(*classes);
            if (!(*classes = strndup(opt + 8, ol - 8))) return nn_err("out of memory");
        } else {
            return nn_err("data '%s': unknown option '%.*s' (known: classes=FILE)", spec, (int)ol,
                          opt);
        }
        comma = next;
    }
    while (dl > 1 && rest[dl - 1] == '/') dl--;
    if (!(*dir = strndup(rest, dl))) return nn_err("out of memory");
    return 0;
}

static int scan(struct folder *f, const char *dir, const struct names *list, size_t *skipped) {
    static const char *const split_dir[2] = {"train", "val"};
    char p[PATH_CAP];
    for (int s = 0; s < 2; s++) {
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, split_dir[s]) >= sizeof p)
            return nn_err("%s: path too long", dir);
        if (is_dir(p) && !(f->sp[s].root = strdup(p))) return nn_err("out of memory");
    }
    if (!f->sp[0].root && !f->sp[1].root)
        return nn_err("%s: neither %s/train nor %s/val is a directory", dir, dir, dir);
    struct names found = {0};
    if (!list) { /* the classes of the first split present, then the other's checked */
        int first = f->sp[0].root ? 0 : 1;
        if (list_dir(f->sp[first].root, S_IFDIR, &found, NULL)) return -1;
        if (found.n == 0) {
            names_free(&found);
            return nn_err("%s: no class directories", f->sp[first].root);
        }
        if (found.n > MAX_CLASSES) {
            names_free(&found);
            return nn_err("%s: more than %d classes", f->sp[first].root, MAX_CLASSES);
        }
        list = &found;
        if (!first && f->sp[1].root) {
            struct names other = {0};
            int rc = list_dir(f->sp[1].root, S_IFDIR, &other, NULL);
            for (size_t i = 0; !rc && i < other.n; i++)
                if (!bsearch(&other.v[i], found.v, found.n, sizeof *found.v, cmp_str))
                    rc = nn_err("%s/%s: a class that %s does not have", f->sp[1].root, other.v[i],
                                f->sp[0].root);
            names_free(&other);
            if (rc) {
                names_free(&found);
                return -1;
            }
        }
    }
    int rc = 0;
    f->classes = calloc(list->n, sizeof *f->classes);
    if (!f->classes) rc = nn_err("out of memory");
    for (size_t k = 0; !rc && k < list->n; k++, f->n_classes++)
        if (!(f->classes[k] = strdup(list->v[k]))) rc = nn_err("out of memory");
    for (int s = 0; !rc && s < 2; s++) {
        if (!f->sp[s].root) continue;
        for (int k = 0; !rc && k < f->n_classes; k++) {
            if ((size_t)snprintf(p, sizeof p, "%s/%s", f->sp[s].root, f->classes[k]) >= sizeof p)
                rc = nn_err("%s: path too long", f->sp[s].root);
            else if (!is_dir(p) && list != &found)
                rc = nn_err("%s: no such class directory (class %d of the list)", p, k);
            else if (is_dir(p))
                rc = scan_class(&f->sp[s], f->classes[k], k, skipped);
        }
    }
    names_free(&found);
    return rc;
}

int data_open_imagefolder(const char *spec, const char *rest, int imagenet100,
                          struct data_source **out) {
    char *dir = NULL, *classes = NULL;
    struct names list = {0};
    struct data_source *s = calloc(1, sizeof *s);
    struct folder *f = calloc(1, sizeof *f);
    int rc = 0;
    if (!s || !f) {
        free(s);
        free(f);
        return nn_err("imagefolder: out of memory");
    }
    pthread_mutex_init(&f->mu, NULL);
    rc = parse_rest(spec, rest, &dir, &classes);
    if (!rc && classes) rc = read_class_file(classes, &list);
    for (int k = 0; !rc && !classes && imagenet100 && k < 100; k++)
        rc = names_add(&list, data_imagenet100[k]);
    if (!rc) rc = scan(f, dir, list.n ? &list : NULL, &s->skipped);
    if (!rc) {
        s->ops = &folder_ops;
        s->impl = f;
        snprintf(s->kind, sizeof s->kind, "%s", imagenet100 ? "imagenet100" : "imagenet");
        s->classes = f->n_classes;
        s->class_names = (const char *const *)f->classes;
        s->c = 3;
        s->h = s->w = 0;
        s->count[DATA_TRAIN] = f->sp[0].n;
        s->count[DATA_VAL] = f->sp[1].n;
        /* the ImageNet statistics every torchvision recipe normalizes with */
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        memcpy(s->mean, mean, sizeof mean);
        memcpy(s->std, std, sizeof std);
        snprintf(s->desc, sizeof s->desc, "%s %.80s: %d classes, %zu train + %zu val images",
                 s->kind, dir, s->classes, s->count[0], s->count[1]);
        *out = s;
    } else {
        nn_err_ctx("data '%s': ", spec);
        folder_free(f);
        free(s);
    }
    free(dir);
    free(classes);
    names_free(&list);
    return rc;
}

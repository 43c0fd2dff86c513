/* The native fast path of the event decoder (see monitor/pipeline/decoding/scan.py).
 *
 * It reads prediction and outcome messages straight into columns: numbers into float64
 * buffers, timestamps into int64 epoch milliseconds, and every label (model version, segment,
 * class labels, categorical features) into int32 codes over a per-call vocabulary, so no
 * dict, float or repeated string object is built per message.
 *
 * It accepts a strict subset of what the reference path (orjson, monitor/pipeline/decoding/parsing.py)
 * accepts, and gives the same values for it. Whatever falls outside that subset is marked
 * not-ok and decoded again by the reference path, which accepts it or names its reject
 * reason: escapes in keys, model names and timestamps, NaN/Infinity tokens, numbers beyond float range, numeric
 * feature values and regression targets past the accepted range (monitor/core/limits.py), duplicate
 * keys, unknown models, out-of-range scores, timestamps not in the "YYYY-MM-DDTHH:MM:SS[.f]Z"
 * layout or in epoch seconds, float class labels, and malformed JSON of any kind. So this file
 * never decides a reject; it only decides what it can vouch for.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_LABEL_DIGITS 18     /* integers up to 18 digits print as their token */
#define MAX_NUMBER_TOKEN 400    /* longer number tokens go to the reference path */
#define MAX_MS 7258118400000LL  /* 2200-01-01T00:00:00Z, as monitor/pipeline/decoding/timestamps.py */

/* ------------------------------------------------------------------ byte-string tables */

typedef struct {
    const char *key; /* NULL marks an empty slot */
    Py_ssize_t len;
    uint64_t hash;
    int32_t value;
} Slot;

typedef struct {
    Slot *slots;
    Py_ssize_t mask;
    Py_ssize_t used;
} Table;

/* Eight bytes at a time, mixed by multiply and xor-shift. The seed is random per process (see
 * scan.py), so labels that collide cannot be prepared in advance. */
static uint64_t hash_bytes(uint64_t seed, const char *s, Py_ssize_t n) {
    uint64_t h = seed ^ (uint64_t)n, w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    w = 0;
    memcpy(&w, s, (size_t)n);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    return h ^ (h >> 29);
}

static int table_init(Table *t, Py_ssize_t capacity) {
    Py_ssize_t size = 16;
    while (size < capacity * 2) size *= 2;
    t->slots = PyMem_Calloc((size_t)size, sizeof(Slot));
    t->mask = size - 1;
    t->used = 0;
    return t->slots ? 0 : -1;
}

static void table_free(Table *t) {
    PyMem_Free(t->slots);
    t->slots = NULL;
}

static Slot *table_find(const Table *t, const char *key, Py_ssize_t len, uint64_t h) {
    for (Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)t->mask);; i = (i + 1) & t->mask) {
        Slot *s = &t->slots[i];
        if (s->key == NULL || (s->hash == h && s->len == len && memcmp(s->key, key, (size_t)len) == 0))
            return s;
    }
}

static int table_grow(Table *t) {
    Table bigger;
    if (table_init(&bigger, (t->mask + 1)) < 0) return -1;
    for (Py_ssize_t i = 0; i <= t->mask; i++) {
        Slot *s = &t->slots[i];
        if (s->key) *table_find(&bigger, s->key, s->len, s->hash) = *s;
    }
    bigger.used = t->used;
    table_free(t);
    *t = bigger;
    return 0;
}

/* ------------------------------------------------------------------ the plan */

typedef struct {
    char *name;
    Py_ssize_t name_len;
    int classification;
    int n_numeric;
    int n_labels;
    double max_abs; /* numeric values past it are left to the reference path (value_out_of_range) */
    uint64_t seed;  /* of hash_bytes */
    Table features; /* name -> column: numeric 0..n_numeric-1, then labels */
    char *names;    /* storage of the feature names the table points into */
    Slot *by_column; /* the table's slot of each column */
    /* The column of the key at each place of the last features object read (-1: none known).
     * Producers write keys in one order, so a key is usually found by one comparison. */
    int32_t *order;
} ModelPlan;

typedef struct {
    uint64_t seed;
    double max_abs; /* as ModelPlan.max_abs */
    int n_models;
    int max_numeric;
    int max_labels;
    ModelPlan *models;
} Plan;

static void plan_free(Plan *plan) {
    if (!plan) return;
    for (int i = 0; i < plan->n_models; i++) {
        PyMem_Free(plan->models[i].name);
        PyMem_Free(plan->models[i].names);
        PyMem_Free(plan->models[i].by_column);
        PyMem_Free(plan->models[i].order);
        table_free(&plan->models[i].features);
    }
    PyMem_Free(plan->models);
    PyMem_Free(plan);
}

static void plan_capsule_free(PyObject *capsule) {
    plan_free(PyCapsule_GetPointer(capsule, "driftline.scan.plan"));
}

static char *copy_utf8(PyObject *text, Py_ssize_t *len) {
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, len);
    if (!utf8) return NULL;
    char *out = PyMem_Malloc((size_t)*len + 1);
    if (!out) return (char *)PyErr_NoMemory();
    memcpy(out, utf8, (size_t)*len + 1);
    return out;
}

/* make_plan([(model, classification, [numeric names], [label names]), ...], seed, max_abs) -> capsule */
static PyObject *make_plan(PyObject *self, PyObject *args) {
    PyObject *models;
    unsigned long long seed;
    double max_abs;
    if (!PyArg_ParseTuple(args, "O!Kd", &PyList_Type, &models, &seed, &max_abs)) return NULL;
    Plan *plan = PyMem_Calloc(1, sizeof(Plan));
    if (!plan) return PyErr_NoMemory();
    plan->seed = seed;
    plan->max_abs = max_abs;
    plan->n_models = (int)PyList_GET_SIZE(models);
    plan->models = PyMem_Calloc((size_t)plan->n_models + 1, sizeof(ModelPlan));
    if (!plan->models) goto fail;
    for (int m = 0; m < plan->n_models; m++) {
        ModelPlan *mp = &plan->models[m];
        PyObject *name, *numeric, *labels;
        int classification;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(models, m), "UpO!O!", &name, &classification, &PyList_Type,
                              &numeric, &PyList_Type, &labels))
            goto fail;
        if (!(mp->name = copy_utf8(name, &mp->name_len))) goto fail;
        mp->classification = classification;
        mp->seed = seed;
        mp->max_abs = max_abs;
        mp->n_numeric = (int)PyList_GET_SIZE(numeric);
        mp->n_labels = (int)PyList_GET_SIZE(labels);
        int total = mp->n_numeric + mp->n_labels;
        if (table_init(&mp->features, total) < 0) goto fail;
        if (!(mp->by_column = PyMem_Calloc((size_t)total + 1, sizeof(Slot)))) goto fail;
        if (!(mp->order = PyMem_Malloc(((size_t)total + 1) * sizeof(int32_t)))) goto fail;
        for (int j = 0; j <= total; j++) mp->order[j] = -1;
        Py_ssize_t storage = 0;
        for (int j = 0; j < total; j++) {
            PyObject *f = j < mp->n_numeric ? PyList_GET_ITEM(numeric, j) : PyList_GET_ITEM(labels, j - mp->n_numeric);
            Py_ssize_t n;
            if (!PyUnicode_Check(f) || !PyUnicode_AsUTF8AndSize(f, &n)) {
                PyErr_SetString(PyExc_TypeError, "feature names must be strings");
                goto fail;
            }
            storage += n;
        }
        if (!(mp->names = PyMem_Malloc((size_t)storage + 1))) goto fail;
        char *at = mp->names;
        for (int j = 0; j < total; j++) {
            PyObject *f = j < mp->n_numeric ? PyList_GET_ITEM(numeric, j) : PyList_GET_ITEM(labels, j - mp->n_numeric);
            Py_ssize_t n;
            const char *utf8 = PyUnicode_AsUTF8AndSize(f, &n);
            memcpy(at, utf8, (size_t)n);
            uint64_t h = hash_bytes(seed, at, n);
            Slot *s = table_find(&mp->features, at, n, h);
            if (s->key) {
                PyErr_Format(PyExc_ValueError, "feature %R is configured twice", f);
                goto fail;
            }
            *s = (Slot){at, n, h, j};
            mp->by_column[j] = *s;
            at += n;
        }
        if (mp->n_numeric > plan->max_numeric) plan->max_numeric = mp->n_numeric;
        if (mp->n_labels > plan->max_labels) plan->max_labels = mp->n_labels;
    }
    PyObject *capsule = PyCapsule_New(plan, "driftline.scan.plan", plan_capsule_free);
    if (capsule) return capsule;
fail:
    if (!PyErr_Occurred()) PyErr_NoMemory();
    plan_free(plan);
    return NULL;
}

/* ------------------------------------------------------------------ JSON scanning */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

/* A scalar token: its kind and bytes (for a string, without the quotes). */
enum { T_NONE = 0, T_STRING, T_NUMBER, T_TRUE, T_FALSE, T_NULL, T_OTHER };

typedef struct {
    int kind;
    const unsigned char *start;
    Py_ssize_t len;
    int ascii;   /* string: every byte below 0x80, and no escape */
    int escaped; /* string: holds backslash escapes (valid ones) */
    int integer; /* number: no fraction and no exponent */
    int exact;   /* number: `value` holds it, correctly rounded (else number_value works it out) */
    double value;
} Token;

static inline void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

/* One UTF-8 sequence starting at p (a byte >= 0x80); its length, or 0 if invalid. */
static int utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    int n;
    uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) { n = 2; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { n = 3; cp = b & 0x0F; }
    else if (b >= 0xF0 && b <= 0xF4) { n = 4; cp = b & 0x07; }
    else return 0;
    if (end - p < n) return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Bytes a string scan must look at: '"', '\\', control characters and non-ASCII. */
static unsigned char special[256];

static void init_special(void) {
    for (int b = 0; b < 256; b++) special[b] = b == '"' || b == '\\' || b < 0x20 || b >= 0x80;
}

static int hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4) return -1;
    int value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char b = p[i];
        int digit = b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10 : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

/* One escape sequence at p (on its backslash): its length, and the code point it stands for; 0
 * if invalid, a surrogate that is not a high-low pair, or U+0000 (the reference path refuses those). */
static int escape_at(const unsigned char *p, const unsigned char *end, uint32_t *code) {
    if (end - p < 2) return 0;
    switch (p[1]) {
    case '"': *code = '"'; return 2;
    case '\\': *code = '\\'; return 2;
    case '/': *code = '/'; return 2;
    case 'b': *code = '\b'; return 2;
    case 'f': *code = '\f'; return 2;
    case 'n': *code = '\n'; return 2;
    case 'r': *code = '\r'; return 2;
    case 't': *code = '\t'; return 2;
    case 'u': break;
    default: return 0;
    }
    int high = hex4(p + 2, end);
    if (high <= 0 || (high >= 0xDC00 && high <= 0xDFFF)) return 0;
    if (high < 0xD800 || high > 0xDBFF) {
        *code = (uint32_t)high;
        return 6;
    }
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return 0;
    int low = hex4(p + 8, end);
    if (low < 0xDC00 || low > 0xDFFF) return 0;
    *code = 0x10000 + (((uint32_t)high - 0xD800) << 10) + ((uint32_t)low - 0xDC00);
    return 12;
}

/* A string at the cursor (which sits on its opening quote), checked: valid escapes, no control
 * characters, valid UTF-8; anything else is left to the reference path. */
static int scan_string(Cursor *c, Token *t) {
    const unsigned char *p = c->p + 1, *end = c->end;
    int ascii = 1, escaped = 0;
    uint32_t code;
    t->start = p;
    for (;;) {
        while (p < end && !special[*p]) p++;
        if (p >= end) return -1;
        unsigned char b = *p;
        if (b == '"') break;
        int n = b == '\\' ? escape_at(p, end, &code) : b >= 0x80 ? utf8_sequence(p, end) : 0;
        if (!n) return -1; /* a control character, a bad escape, or invalid UTF-8 */
        escaped |= b == '\\';
        ascii = 0;
        p += n;
    }
    t->kind = T_STRING;
    t->len = p - t->start;
    t->ascii = ascii;
    t->escaped = escaped;
    c->p = p + 1;
    return 0;
}

static inline int is_digit(unsigned char b) { return b >= '0' && b <= '9'; }

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number by the JSON grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * In the same pass, a number of at most 15 significant digits and no exponent part gets its
 * value by Clinger's fast path: mantissa and power of ten are both exact doubles, so one IEEE
 * division rounds correctly. Other numbers are left to number_value. */
static int scan_number(Cursor *c, Token *t) {
    const unsigned char *p = c->p, *end = c->end;
    uint64_t mantissa = 0;
    int digits = 0, scale = 0, negative = 0;
    t->start = p;
    t->integer = 1;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) return -1;
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && is_digit(*p); p++, digits++) mantissa = mantissa * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        t->integer = 0;
        p++;
        if (p >= end || !is_digit(*p)) return -1;
        for (; p < end && is_digit(*p); p++, scale++) {
            digits += digits || *p != '0'; /* leading zeros of a fraction are not significant */
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        }
    }
    t->exact = digits <= 15 && scale <= 22;
    if (p < end && (*p == 'e' || *p == 'E')) {
        t->integer = 0;
        t->exact = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return -1;
        while (p < end && is_digit(*p)) p++;
    }
    if (t->exact) {
        double value = scale ? (double)mantissa / POW10[scale] : (double)mantissa;
        t->value = negative ? -value : value;
    }
    t->kind = T_NUMBER;
    t->len = p - t->start;
    c->p = p;
    return 0;
}

static int scan_literal(Cursor *c, const char *word, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, word, (size_t)n) != 0) return -1;
    c->p += n;
    return 0;
}

/* A scalar, or (for an object or array) T_OTHER with the cursor left on its opening bracket. */
static int scan_scalar(Cursor *c, Token *t) {
    skip_ws(c);
    if (c->p >= c->end) return -1;
    switch (*c->p) {
    case '"': return scan_string(c, t);
    case 't': t->kind = T_TRUE; return scan_literal(c, "true", 4);
    case 'f': t->kind = T_FALSE; return scan_literal(c, "false", 5);
    case 'n': t->kind = T_NULL; return scan_literal(c, "null", 4);
    case '{': case '[': t->kind = T_OTHER; return 0;
    default: return scan_number(c, t);
    }
}

/* Skips one value, checking its syntax (objects and arrays nest up to MAX_DEPTH). */
static int skip_value(Cursor *c, int depth) {
    Token t;
    if (scan_scalar(c, &t) < 0) return -1;
    if (t.kind != T_OTHER) return 0;
    if (depth >= MAX_DEPTH) return -1;
    unsigned char close = *c->p == '{' ? '}' : ']';
    int object = close == '}';
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (object) {
            skip_ws(c);
            if (c->p >= c->end || *c->p != '"' || scan_string(c, &t) < 0) return -1;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return -1;
            c->p++;
        }
        if (skip_value(c, depth + 1) < 0) return -1;
        skip_ws(c);
        if (c->p >= c->end) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == close) { c->p++; return 0; }
        return -1;
    }
}

/* The next key of an object: 1 with the cursor after its ':', 0 at the closing brace, -1 if
 * malformed. `first` is set on the first call of an object (after its '{'). */
static int next_key(Cursor *c, Token *key, int *first) {
    skip_ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == '}') {
        c->p++;
        return 0;
    }
    if (!*first) {
        if (*c->p != ',') return -1;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end) return -1;
    }
    *first = 0;
    if (*c->p != '"' || scan_string(c, key) < 0 || key->escaped) return -1; /* keys compare as bytes */
    skip_ws(c);
    if (c->p >= c->end || *c->p != ':') return -1;
    c->p++;
    return 1;
}

/* ------------------------------------------------------------------ values */

/* A number token as the nearest double (as Python's float() of it); -1 if not finite. */
static int number_value(const Token *t, double *out) {
    if (t->exact) {
        *out = t->value;
        return 0;
    }
    if (t->len >= MAX_NUMBER_TOKEN) return -1;
    char buffer[MAX_NUMBER_TOKEN];
    memcpy(buffer, t->start, (size_t)t->len);
    buffer[t->len] = '\0';
    *out = PyOS_string_to_double(buffer, NULL, NULL);
    if (*out == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return isfinite(*out) ? 0 : -1;
}

static inline int two_digits(const unsigned char *s) {
    return is_digit(s[0]) && is_digit(s[1]) ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

/* Epoch milliseconds of "YYYY-MM-DDTHH:MM:SS[.f{1,9}]" then "Z" or "+HH:MM" / "-HH:MM", for a
 * local date in 1970..2199 and an instant in 1970..2199; -1 if not that. Fraction digits past
 * the millisecond are truncated, as the reference path does. */
static int64_t iso_ms(const Token *t) {
    const unsigned char *s = t->start, *end = t->start + t->len;
    if (t->len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return -1;
    int century = two_digits(s), year = two_digits(s + 2), month = two_digits(s + 5), day = two_digits(s + 8);
    int hour = two_digits(s + 11), minute = two_digits(s + 14), second = two_digits(s + 17);
    if (century < 0 || year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return -1;
    year += century * 100;
    const unsigned char *p = s + 19;
    int64_t millis = 0;
    if (*p == '.') {
        int scale = 100, digits = 0;
        for (p++; p < end && is_digit(*p); p++, digits++) {
            millis += (*p - '0') * scale;
            scale /= 10;
        }
        if (digits < 1 || digits > 9) return -1;
    }
    int64_t offset = 0; /* minutes east of UTC */
    if (end - p == 1 && *p == 'Z') {
        offset = 0;
    } else if (end - p == 6 && (*p == '+' || *p == '-') && p[3] == ':') {
        int hours = two_digits(p + 1), minutes = two_digits(p + 4);
        if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return -1;
        offset = (*p == '-' ? -1 : 1) * (hours * 60 + minutes);
    } else {
        return -1;
    }
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1970 || year > 2199 || month < 1 || month > 12 || day < 1 ||
        day > days_in[month - 1] + (month == 2 && leap) || hour > 23 || minute > 59 || second > 59)
        return -1;
    /* days since the epoch of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
    int y = year - (month <= 2);
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t days = (int64_t)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    int64_t ms = ((days * 24 + hour) * 60 + minute - offset) * 60000LL + second * 1000LL + millis;
    return ms >= 0 && ms < MAX_MS ? ms : -1;
}

static int64_t timestamp_ms(const Token *t) {
    if (t->kind == T_STRING) return t->escaped ? -1 : iso_ms(t);
    double seconds;
    if (t->kind != T_NUMBER || number_value(t, &seconds) < 0) return -1;
    double ms = nearbyint(seconds * 1000.0); /* round half to even, as numpy.rint */
    return ms >= 0 && ms < (double)MAX_MS ? (int64_t)ms : -1;
}

/* The str of a string token (scan_string has checked it: this cannot fail but for memory). */
static PyObject *make_str(const Token *t) {
    if (t->ascii) {
        PyObject *s = PyUnicode_New(t->len, 127);
        if (s) memcpy(PyUnicode_DATA(s), t->start, (size_t)t->len);
        return s;
    }
    if (!t->escaped) return PyUnicode_DecodeUTF8((const char *)t->start, t->len, NULL);
    /* Escapes take at least as many bytes as the UTF-8 they stand for. */
    unsigned char *text = PyMem_Malloc((size_t)t->len + 1), *out = text;
    if (!text) return PyErr_NoMemory();
    for (const unsigned char *p = t->start, *end = t->start + t->len; p < end;) {
        uint32_t code;
        if (*p != '\\') {
            *out++ = *p++;
            continue;
        }
        p += escape_at(p, end, &code);
        if (code < 0x80) {
            *out++ = (unsigned char)code;
        } else if (code < 0x800) {
            *out++ = (unsigned char)(0xC0 | (code >> 6));
            *out++ = (unsigned char)(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            *out++ = (unsigned char)(0xE0 | (code >> 12));
            *out++ = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
            *out++ = (unsigned char)(0x80 | (code & 0x3F));
        } else {
            *out++ = (unsigned char)(0xF0 | (code >> 18));
            *out++ = (unsigned char)(0x80 | ((code >> 12) & 0x3F));
            *out++ = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
            *out++ = (unsigned char)(0x80 | (code & 0x3F));
        }
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)text, out - text, NULL);
    PyMem_Free(text);
    return s;
}

/* A per-call vocabulary of one label column: label bytes -> code, and the labels as str. */
typedef struct {
    Table table;
    uint64_t seed;    /* of hash_bytes */
    PyObject *labels; /* list of str, in code order */
} Vocabulary;

/* The code of a label token (string, integer or boolean as the reference path spells them);
 * -1 for null when `nullable`; -2 if the token is not a label the fast path vouches for,
 * -3 on a Python error. */
static int32_t label_code(Vocabulary *v, const Token *t, int nullable) {
    const char *text;
    Py_ssize_t len;
    switch (t->kind) {
    case T_STRING: text = (const char *)t->start; len = t->len; break;
    case T_TRUE: text = "1"; len = 1; break;
    case T_FALSE: text = "0"; len = 1; break;
    case T_NULL: return nullable ? -1 : -2;
    case T_NUMBER:
        if (!t->integer || t->len > MAX_LABEL_DIGITS || (t->len == 2 && t->start[0] == '-' && t->start[1] == '0'))
            return -2;
        text = (const char *)t->start;
        len = t->len;
        break;
    default: return -2;
    }
    uint64_t h = hash_bytes(v->seed, text, len);
    Slot *s = table_find(&v->table, text, len, h);
    if (s->key) return s->value;
    /* Keyed by the token's bytes: two spellings of one label ("é", "\\u00e9") get two codes for
     * equal strs, which the columns built from the codes do not tell apart. */
    PyObject *label = t->kind == T_STRING ? make_str(t) : PyUnicode_DecodeUTF8(text, len, NULL);
    if (!label) return -3;
    int32_t code = (int32_t)PyList_GET_SIZE(v->labels);
    int failed = PyList_Append(v->labels, label);
    Py_DECREF(label);
    if (failed) return -3;
    *s = (Slot){text, len, h, code};
    if (++v->table.used * 2 > v->table.mask && table_grow(&v->table) < 0) {
        PyErr_NoMemory();
        return -3;
    }
    return code;
}

static int find_model(const Plan *plan, const Token *t) {
    if (t->kind != T_STRING || t->escaped) return -1;
    for (int m = 0; m < plan->n_models; m++) {
        const ModelPlan *mp = &plan->models[m];
        if (mp->name_len == t->len && memcmp(mp->name, t->start, (size_t)t->len) == 0) return m;
    }
    return -1;
}

/* ------------------------------------------------------------------ messages */

/* Top-level fields the decoder reads; any other key is skipped. */
enum { F_ID, F_MODEL, F_VERSION, F_TIMESTAMP, F_FEATURES, F_PREDICTION, F_SCORE, F_SEGMENT, F_OUTCOME, N_FIELDS };

static const struct {
    const char *name;
    Py_ssize_t len;
} FIELD_NAMES[N_FIELDS] = {{"prediction_id", 13}, {"model", 5},      {"model_version", 13},
                           {"timestamp", 9},      {"features", 8},   {"prediction", 10},
                           {"score", 5},          {"segment", 7},    {"outcome", 7}};

static inline int same(const unsigned char *a, const char *b, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != (unsigned char)b[i]) return 0;
    return 1;
}

static int field_of(const Token *key) {
    for (int f = 0; f < N_FIELDS; f++)
        if (FIELD_NAMES[f].len == key->len && same(key->start, FIELD_NAMES[f].name, key->len)) return f;
    return -1;
}

/* The output buffers of one call (rows x columns, C order). */
typedef struct {
    uint8_t *ok;
    int32_t *model;
    int64_t *timestamp;
    double *numeric; /* rows x max_numeric */
    double *score;
    double *target;  /* regression prediction or outcome */
    int32_t *codes;  /* rows x n_codes */
    Py_ssize_t n_codes;
    int max_numeric;
} Out;

/* Label columns of `codes`: predictions: version, segment, prediction, then the label
 * features; outcomes: the outcome. */
enum { C_VERSION, C_SEGMENT, C_PREDICTION, C_FEATURES };

/* The features object of a prediction, into row `row`; -1 to leave the message to the
 * reference path, -3 on a Python error. */
static int read_features(Cursor *c, const ModelPlan *mp, Out *out, Py_ssize_t row, Vocabulary *vocab,
                         uint8_t *seen) {
    int total = mp->n_numeric + mp->n_labels, place = 0;
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{') return -1;
    c->p++;
    memset(seen, 0, (size_t)(mp->n_numeric + mp->n_labels));
    double *numbers = out->numeric + row * out->max_numeric;
    int32_t *labels = out->codes + row * out->n_codes + C_FEATURES;
    Token key, value;
    int first = 1, more;
    while ((more = next_key(c, &key, &first)) == 1) {
        int j = place <= total ? mp->order[place] : -1;
        const Slot *s = j >= 0 ? &mp->by_column[j] : NULL;
        if (!s || s->len != key.len || !same(key.start, s->key, key.len)) {
            const char *name = (const char *)key.start;
            s = table_find(&mp->features, name, key.len, hash_bytes(mp->seed, name, key.len));
            j = s->key ? s->value : -1;
            if (place <= total) mp->order[place] = j;
        }
        place++;
        if (j < 0) {
            if (skip_value(c, 1) < 0) return -1;
            continue;
        }
        if (seen[j]++) return -1; /* duplicate key: the reference path decides which wins */
        if (scan_scalar(c, &value) < 0) return -1;
        if (j < mp->n_numeric) {
            switch (value.kind) {
            case T_NUMBER:
                if (number_value(&value, &numbers[j]) < 0 || fabs(numbers[j]) > mp->max_abs) return -1;
                break;
            case T_TRUE: numbers[j] = 1.0; break;
            case T_FALSE: numbers[j] = 0.0; break;
            case T_NULL: break; /* stays NaN */
            default: return -1;
            }
        } else {
            int32_t code = label_code(&vocab[C_FEATURES + j - mp->n_numeric], &value, 1);
            if (code < -1) return code == -3 ? -3 : -1;
            labels[j - mp->n_numeric] = code;
        }
    }
    return more;
}

/* One message into row `row`: 1 if decoded, 0 if left to the reference path, -1 on a Python
 * error. `ids` gets the prediction id (or None). */
static int read_message(const Plan *plan, int outcome, const unsigned char *data, Py_ssize_t size, Out *out,
                        Py_ssize_t row, Vocabulary *vocab, uint8_t *seen, PyObject **id) {
    Cursor c = {data, data + size};
    Token key, tokens[N_FIELDS];
    int have[N_FIELDS] = {0};
    const unsigned char *features_at = NULL; /* features seen before the model */
    int model = -1, first = 1, more, status;
    int32_t *codes = out->codes + row * out->n_codes;
    for (Py_ssize_t j = 0; j < out->n_codes; j++) codes[j] = -1;
    if (!outcome) {
        double *numbers = out->numeric + row * out->max_numeric;
        for (int j = 0; j < out->max_numeric; j++) numbers[j] = NAN;
    }
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return 0;
    c.p++;
    while ((more = next_key(&c, &key, &first)) == 1) {
        int f = field_of(&key);
        if (f >= 0 && (f == F_OUTCOME) != outcome && f != F_ID && f != F_MODEL && f != F_TIMESTAMP) f = -1;
        if (f < 0) {
            if (skip_value(&c, 1) < 0) return 0;
            continue;
        }
        if (have[f]++) return 0; /* duplicate key */
        if (f == F_FEATURES) {
            if (model < 0) {
                skip_ws(&c);
                features_at = c.p;
                if (skip_value(&c, 1) < 0) return 0;
            } else if ((status = read_features(&c, &plan->models[model], out, row, vocab, seen)) < 0) {
                return status == -3 ? -1 : 0;
            }
            continue;
        }
        if (scan_scalar(&c, &tokens[f]) < 0 || tokens[f].kind == T_OTHER) return 0;
        if (f == F_MODEL && (model = find_model(plan, &tokens[f])) < 0) return 0;
    }
    if (more < 0) return 0;
    skip_ws(&c);
    if (c.p != c.end) return 0; /* something after the object */
    if (!have[F_ID] || !have[F_MODEL] || !have[F_TIMESTAMP]) return 0;
    const ModelPlan *mp = &plan->models[model];
    const Token *target = &tokens[outcome ? F_OUTCOME : F_PREDICTION];
    if (!have[outcome ? F_OUTCOME : F_PREDICTION]) return 0;
    if (tokens[F_ID].kind != T_STRING || tokens[F_ID].len == 0) return 0;
    if ((out->timestamp[row] = timestamp_ms(&tokens[F_TIMESTAMP])) < 0) return 0;
    int32_t code;
    Vocabulary *target_vocab = &vocab[outcome ? 0 : C_PREDICTION];
    if (mp->classification) {
        if ((code = label_code(target_vocab, target, 0)) < 0) return code == -3 ? -1 : 0;
        codes[outcome ? 0 : C_PREDICTION] = code;
    } else if (target->kind != T_NUMBER || number_value(target, &out->target[row]) < 0 ||
               fabs(out->target[row]) > mp->max_abs) {
        return 0;
    }
    if (!outcome) {
        if (!have[F_VERSION] || !have[F_FEATURES]) return 0;
        const Token *version = &tokens[F_VERSION];
        if (version->kind != T_STRING && !(version->kind == T_NUMBER && version->integer)) return 0;
        if ((code = label_code(&vocab[C_VERSION], version, 0)) < 0) return code == -3 ? -1 : 0;
        codes[C_VERSION] = code;
        out->score[row] = NAN;
        if (have[F_SCORE] && tokens[F_SCORE].kind != T_NULL) {
            double score;
            if (tokens[F_SCORE].kind != T_NUMBER || number_value(&tokens[F_SCORE], &score) < 0 || score < 0.0 ||
                score > 1.0)
                return 0;
            out->score[row] = score;
        }
        if (have[F_SEGMENT] && tokens[F_SEGMENT].kind != T_NULL) {
            if (tokens[F_SEGMENT].kind != T_STRING) return 0;
            if ((code = label_code(&vocab[C_SEGMENT], &tokens[F_SEGMENT], 0)) < 0) return code == -3 ? -1 : 0;
            codes[C_SEGMENT] = code;
        }
        if (features_at) {
            Cursor again = {features_at, data + size};
            if ((status = read_features(&again, mp, out, row, vocab, seen)) < 0) return status == -3 ? -1 : 0;
        }
    }
    out->model[row] = model;
    if (!(*id = make_str(&tokens[F_ID]))) return -1;
    return 1;
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t bytes, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len < bytes) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, need %zd", what, view->len, bytes);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

/* scan(messages, plan, outcome, max_bytes, ok, model, timestamp, numeric, score, target, codes)
 *   -> (ids, vocabularies)
 * Buffers: ok uint8[n], model int32[n], timestamp int64[n], numeric float64[n, max_numeric],
 * score float64[n], target float64[n], codes int32[n, n_codes] (n_codes = 3 + max_labels for
 * predictions, 1 for outcomes). ids: the prediction id of each decoded message, None for the
 * others; vocabularies: per label column, the labels its codes index (-1: absent or null). */
static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *messages, *capsule, *objs[7];
    int outcome;
    Py_ssize_t max_bytes;
    if (!PyArg_ParseTuple(args, "O!OpnOOOOOOO", &PyList_Type, &messages, &capsule, &outcome, &max_bytes, &objs[0],
                          &objs[1], &objs[2], &objs[3], &objs[4], &objs[5], &objs[6]))
        return NULL;
    const Plan *plan = PyCapsule_GetPointer(capsule, "driftline.scan.plan");
    if (!plan) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(messages);
    Py_ssize_t n_codes = outcome ? 1 : C_FEATURES + plan->max_labels;
    int max_numeric = outcome ? 0 : plan->max_numeric;
    Py_ssize_t sizes[7] = {n, 4 * n, 8 * n, 8 * n * max_numeric, 8 * n, 8 * n, 4 * n * n_codes};
    static const char *names[7] = {"ok", "model", "timestamp", "numeric", "score", "target", "codes"};
    Py_buffer views[7] = {{0}};
    PyObject *ids = NULL, *vocabularies = NULL, *result = NULL;
    Vocabulary *vocab = PyMem_Calloc((size_t)n_codes, sizeof(Vocabulary));
    uint8_t *seen = PyMem_Malloc((size_t)(C_FEATURES + plan->max_numeric + plan->max_labels));
    if (!vocab || !seen) {
        PyErr_NoMemory();
        goto done;
    }
    for (int i = 0; i < 7; i++)
        if (get_buffer(objs[i], &views[i], sizes[i], names[i]) < 0) goto done;
    Out out = {views[0].buf, views[1].buf, views[2].buf, views[3].buf, views[4].buf,
               views[5].buf, views[6].buf, n_codes, max_numeric};
    if (!(ids = PyList_New(n)) || !(vocabularies = PyList_New(n_codes))) goto done;
    for (Py_ssize_t j = 0; j < n_codes; j++) {
        vocab[j].seed = plan->seed;
        if (table_init(&vocab[j].table, 16) < 0 || !(vocab[j].labels = PyList_New(0))) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *raw = PyList_GET_ITEM(messages, i), *id = NULL;
        int status = 0;
        if (PyBytes_CheckExact(raw) && PyBytes_GET_SIZE(raw) <= max_bytes)
            status = read_message(plan, outcome, (const unsigned char *)PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw),
                                  &out, i, vocab, seen, &id);
        if (status < 0) goto done;
        out.ok[i] = (uint8_t)status;
        PyList_SET_ITEM(ids, i, id ? id : Py_NewRef(Py_None));
    }
    for (Py_ssize_t j = 0; j < n_codes; j++) PyList_SET_ITEM(vocabularies, j, Py_NewRef(vocab[j].labels));
    result = PyTuple_Pack(2, ids, vocabularies);
done:
    for (int i = 0; i < 7; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
    if (vocab)
        for (Py_ssize_t j = 0; j < n_codes; j++) {
            table_free(&vocab[j].table);
            Py_XDECREF(vocab[j].labels);
        }
    PyMem_Free(vocab);
    PyMem_Free(seen);
    Py_XDECREF(ids);
    Py_XDECREF(vocabularies);
    return result;
}

static PyMethodDef methods[] = {
    {"make_plan", make_plan, METH_VARARGS,
     "make_plan(models, seed, max_abs) -> plan: models as (name, classification, numeric, labels)"},
    {"scan", scan, METH_VARARGS, "scan(messages, plan, outcome, max_bytes, *buffers) -> (ids, vocabularies)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "Native fast path of the event decoder.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__scan(void) {
    init_special();
    return PyModule_Create(&module);
}

/* One pass of NumericSketch.update (monitor/core/sketch.py) over a float64 column: counts and
 * value sums per slot of sorted bin edges, the missing (NaN) count, and the moments of the
 * present values. numpy needs a dozen passes for the same (isnan, searchsorted, two bincounts,
 * mean, squared deviations, min, max); the binary search here is branch-free.
 *
 * Slots as numpy.searchsorted(edges, x, side="right"): slot 0 holds x < edges[0], slot k holds
 * edges[k-1] <= x < edges[k], slot len(edges) holds x > edges[-1]; x == edges[-1] goes to the
 * last bin (slot len(edges) - 1), which is closed.
 *
 * Nothing here fails on a finite value: a value sum or m2 that float64 cannot hold becomes inf
 * (only for values past monitor/core/limits.py's bound, which the decoder keeps out).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

/* update(values, edges, counts, sums) -> (missing, n, mean, m2, min, max)
 * values: float64[n] (any stride); edges: float64[k], sorted; counts: int64[k + 1] and
 * sums: float64[k + 1], added to in place. */
static PyObject *update(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &objs[3])) return NULL;
    static const int flags[4] = {PyBUF_STRIDED_RO | PyBUF_FORMAT, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT,
                                 PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT,
                                 PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT};
    static const char *formats[4] = {"d", "d", "lq", "d"}; /* int64 is "l" or "q" by platform */
    static const char *names[4] = {"values", "edges", "counts", "sums"};
    Py_buffer views[4] = {{0}};
    PyObject *result = NULL;
    for (int i = 0; i < 4; i++) {
        if (PyObject_GetBuffer(objs[i], &views[i], flags[i]) < 0) goto done;
        const char *format = views[i].format;
        char code = format[0] == '<' || format[0] == '=' || format[0] == '@' ? format[1] : format[0];
        if (views[i].ndim != 1 || views[i].itemsize != 8 || !code || !strchr(formats[i], code)) {
            PyErr_Format(PyExc_TypeError, "%s: expected a 1-d array of format %s, got %s", names[i], formats[i], format);
            goto done;
        }
    }
    Py_ssize_t n = views[0].shape[0], stride = views[0].strides[0], k = views[1].shape[0];
    if (k < 1 || views[2].shape[0] != k + 1 || views[3].shape[0] != k + 1) {
        PyErr_SetString(PyExc_ValueError, "need at least one edge, and counts and sums of len(edges) + 1");
        goto done;
    }
    const char *base = views[0].buf;
    const double *edges = views[1].buf;
    int64_t *counts = views[2].buf;
    double *sums = views[3].buf;
    double last = edges[k - 1], total = 0.0, lo = INFINITY, hi = -INFINITY;
    Py_ssize_t missing = 0;
    /* Branch-free search: `at` ends as the number of edges <= x, i.e. searchsorted side="right". */
    Py_ssize_t top = 1;
    while (top * 2 <= k) top *= 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = *(const double *)(base + i * stride);
        if (isnan(x)) {
            missing++;
            continue;
        }
        Py_ssize_t at = 0;
        for (Py_ssize_t step = top; step > 0; step /= 2) {
            Py_ssize_t probe = at + step;
            at = (probe <= k && edges[probe - 1] <= x) ? probe : at;
        }
        if (x == last) at = k - 1;
        counts[at]++;
        sums[at] += x;
        total += x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    Py_ssize_t present = n - missing;
    double mean = present ? total / (double)present : 0.0, m2 = 0.0;
    if (present && !isfinite(total)) {
        /* The sum overflowed (values near the float limit, past the range the decoder admits:
         * monitor/core/limits.py): the mean of the scaled values is finite whatever they are. */
        mean = 0.0;
        for (Py_ssize_t i = 0; i < n; i++) {
            double x = *(const double *)(base + i * stride);
            if (!isnan(x)) mean += x / (double)present;
        }
    }
    for (Py_ssize_t i = 0; present && i < n; i++) {
        double x = *(const double *)(base + i * stride);
        if (!isnan(x)) m2 += (x - mean) * (x - mean);
    }
    result = Py_BuildValue("nndddd", missing, present, mean, m2, lo, hi);
done:
    for (int i = 0; i < 4; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"update", update, METH_VARARGS, "update(values, edges, counts, sums) -> (missing, n, mean, m2, min, max)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_histogram", "One-pass numeric sketch update.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__histogram(void) { return PyModule_Create(&module); }

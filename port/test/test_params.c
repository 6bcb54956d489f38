/*
 * test_params.c - tests of parameter ordering (params.c): lsq_params_order
 * with a fake backend lookup, for lists, bare and prefixed names, and the
 * count, positional, unknown, duplicate, missing and out-of-memory errors.
 */
#include "test_util.h"
#include "errors.h"
#include "params.h"
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

/* lsq_params_order with a statement whose parameters are ?1 = :a, ?2 = @b,
 * ?3 positional, ?4 = $c (what a backend's lookup reports). */
static const char *const k_pnames[] = { NULL, ":a", "@b", NULL, "$c" };

static int fake_index(const void *ctx, const char *name, size_t n)
{
    static const char prefixes[] = ":@$";
    int i, k;

    (void)ctx;
    if (n == 5 && memcmp(name, "nomem", 5) == 0) return -1;
    for (k = 0; k < 3; k++)
        for (i = 1; i <= 4; i++) {
            const char *pn = k_pnames[i];

            if (pn == NULL) continue;
            if (strchr(prefixes, name[0]) != NULL) {
                if (k == 0 && strlen(pn) == n && memcmp(pn, name, n) == 0) return i;
            } else if (pn[0] == prefixes[k] && strlen(pn) == n + 1 && memcmp(pn + 1, name, n) == 0) {
                return i;
            }
        }
    return 0;
}

static const char *fake_name(const void *ctx, int i)
{
    (void)ctx;
    return k_pnames[i];
}

static int order(const lsq_name *names, const lsq_value *vals, size_t n, int count,
                 const lsq_value **out, int *owned, lsq_error *err)
{
    lsq_param_lookup l = { count, fake_index, fake_name, NULL };
    lsq_params p = { n, vals, names };

    memset(err, 0, sizeof *err);
    return lsq_params_order(&l, &p, out, owned, err);
}

static void test_params_order(void)
{
    lsq_value v[5];
    const lsq_value *out;
    int owned, i;
    lsq_error err;

    for (i = 0; i < 5; i++) {
        v[i].type = LSQ_INT;
        v[i].u.i = 10 + i;
    }
    /* a list: exactly count values, used in place */
    CHECK(order(NULL, v, 4, 4, &out, &owned, &err) == 0);
    CHECK(out == v && owned == 0);
    CHECK(order(NULL, v, 3, 4, &out, &owned, &err) == -1);
    CHECK(strcmp(err.code, "bad_argument") == 0);
    CHECK(strstr(err.message, "takes 4 parameters, 3 given") != NULL);
    CHECK(order(NULL, v, 2, 1, &out, &owned, &err) == -1);
    CHECK(strstr(err.message, "takes 1 parameter, 2 given") != NULL);
    CHECK(order(NULL, NULL, 0, 0, &out, &owned, &err) == 0 && owned == 0);
    /* names, bare or prefixed, in any order; the positional one is missing */
    {
        lsq_name n1[] = { { "c", 1 }, { ":a", 2 }, { "b", 1 } };

        CHECK(order(n1, v, 3, 4, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "parameter 3 is positional; pass a list") != NULL);
    }
    {
        lsq_name n2[] = { { "c", 1 }, { ":a", 2 }, { "b", 1 } };

        /* a statement of only the named ones: 1 = :a, 2 = @b; 4 not reached */
        CHECK(order(n2, v, 2, 2, &out, &owned, &err) == -1); /* $c is index 4 > 2 */
        CHECK(strstr(err.message, "unknown parameter c") != NULL);
        CHECK(order(n2 + 1, v + 1, 2, 2, &out, &owned, &err) == 0);
        CHECK(owned == 1 && out[0].u.i == 11 && out[1].u.i == 12);
        free((void *)out);
    }
    /* unknown, duplicate (bare and prefixed are the same one), missing */
    {
        lsq_name unk[] = { { "zz", 2 } }, dup[] = { { "a", 1 }, { ":a", 2 } },
                 miss[] = { { "a", 1 } }, nul[] = { { "a\0b", 3 } }, nm[] = { { "nomem", 5 } },
                 empty[] = { { "", 0 } };

        CHECK(order(unk, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "unknown parameter zz") != NULL);
        CHECK(order(dup, v, 2, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "parameter :a is given more than once") != NULL);
        CHECK(order(miss, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "missing value for parameter @b") != NULL);
        CHECK(order(nul, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strstr(err.message, "unknown parameter") != NULL);
        CHECK(order(empty, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(order(nm, v, 1, 2, &out, &owned, &err) == -1);
        CHECK(strcmp(err.code, "nomem") == 0);
        CHECK(out == NULL && owned == 0);
    }
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_params_order),
};

const test_suite params_suite = SUITE("params", k_tests);

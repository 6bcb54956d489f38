/*
 * test_vector_ddl.c - reading a vector index's CREATE INDEX text
 * (vector_ddl.c): the column, the options, a partial index's WHERE, what
 * is not a vector index, and libSQL's errors for the forms it refuses.
 */
#include "test_util.h"

#include <sqlite3.h>
#include <string.h>

#include "vector_ddl.h"

/* Parses sql; expects rc, and for 1 the column and options joined by '|'. */
static void expect(const char *sql, int rc, const char *column, const char *opts, const char *where)
{
    lsq_vddl d;
    char *err = NULL;
    int got = lsq_vddl_parse(sql, &d, &err), i;
    char joined[256] = "";

    CHECK(got == rc);
    if (got != 1) {
        sqlite3_free(err);
        return;
    }
    CHECK(err == NULL);
    CHECK(strcmp(d.column, column) == 0);
    for (i = 0; i < d.nopts; i++) {
        if (i > 0) strcat(joined, "|");
        strcat(joined, d.opts[i]);
    }
    CHECK(strcmp(joined, opts) == 0);
    CHECK(where == NULL ? d.where == NULL : (d.where != NULL && strcmp(d.where, where) == 0));
    lsq_vddl_free(&d);
}

static void expect_error(const char *sql, const char *message)
{
    lsq_vddl d;
    char *err = NULL;

    CHECK(lsq_vddl_parse(sql, &d, &err) == -1);
    CHECK(err != NULL && strcmp(err, message) == 0);
    sqlite3_free(err);
}

static void test_vector_index_forms(void)
{
    expect("CREATE INDEX i on t(libsql_vector_idx(e))", 1, "e", "", NULL);
    expect("CREATE INDEX i ON t ( LIBSQL_VECTOR_IDX ( emb , 'metric=cos', 'max_neighbors=8' ) )", 1,
           "emb", "metric=cos|max_neighbors=8", NULL);
    expect("CREATE UNIQUE INDEX \"my idx\" ON \"my t\"(libsql_vector_idx(\"a \"\"b\", 'x=''y'''))", 1,
           "a \"b", "x='y'", NULL);
    expect("CREATE INDEX i ON t(libsql_vector_idx([col], 'metric=l2')) WHERE id > 5 ;", 1, "col",
           "metric=l2", "id > 5");
    expect("CREATE INDEX i ON t(/* c ( */ libsql_vector_idx(`e`) -- x\n)", 1, "e", "", NULL);
    expect("CREATE INDEX i ON t(libsql_vector_idx(e) DESC)", 1, "e", "", NULL);
}

static void test_not_vector_indexes(void)
{
    expect("CREATE INDEX i ON t(a, b)", 0, NULL, NULL, NULL);
    expect("CREATE INDEX i ON t(abs(a)) WHERE libsql_vector_idx_x = 1", 0, NULL, NULL, NULL);
    expect("CREATE INDEX i ON t('libsql_vector_idx(e)')", 0, NULL, NULL, NULL);
    expect("CREATE TABLE t(a)", 0, NULL, NULL, NULL);
    expect("", 0, NULL, NULL, NULL);
}

static void test_refused_forms(void)
{
    expect_error("CREATE INDEX i ON t(id, libsql_vector_idx(e))",
                 "vector index: must contain exactly one column wrapped into the libsql_vector_idx function");
    expect_error("CREATE INDEX i ON t(abs(libsql_vector_idx(e)))",
                 "vector index: must contain exactly one column wrapped into the libsql_vector_idx function");
    expect_error("CREATE INDEX i ON t(libsql_vector_idx(e) COLLATE nocase)",
                 "vector index: collation in expression is forbidden");
    expect_error("CREATE INDEX i ON t(libsql_vector_idx())",
                 "vector index: libsql_vector_idx first argument must be a column token");
    expect_error("CREATE INDEX i ON t(libsql_vector_idx('e'))",
                 "vector index: libsql_vector_idx first argument must be a column token");
    expect_error("CREATE INDEX i ON t(libsql_vector_idx(e + 1))",
                 "vector index: libsql_vector_idx first argument must be a column token");
    expect_error("CREATE INDEX i ON t(libsql_vector_idx(e, 1))",
                 "vector index: all arguments after first must be strings");
    expect_error("CREATE INDEX i ON t(libsql_vector_idx(e, 'a' || 'b'))",
                 "vector index: all arguments after first must be strings");
}

static const test_case k_tests[] = {
    TEST(test_vector_index_forms),
    TEST(test_not_vector_indexes),
    TEST(test_refused_forms),
};

const test_suite vector_ddl_suite = SUITE("vector_ddl", k_tests);

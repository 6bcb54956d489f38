/*
 * test_errors.c - tests of the error encoder (errors.c): lsq_error_set and
 * lsq_error_sqlite (codes, extended codes, SQLite's text for a NULL
 * message, truncation of long messages), the SQLite code table, and the
 * error reply reply_error makes of them, decoded with ei (test_util.c).
 */
#include "test_util.h"
#include "errors.h"
#include "protocol.h"
#include "reply.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static void test_error_encode(void)
{
    lsq_error e;
    ei_x_buff x;
    reply r;
    char longmsg[LSQ_ERRMSG_MAX + 500];

    reply_init(&r);
    /* a client error: code and message only */
    lsq_error_set(&e, LSQ_E_BAD_ARGUMENT, "parameter %d: %s", 3, "bad");
    CHECK(e.extended_code == -1 && e.sql == NULL);
    if (ei_x_new(&x) != 0) abort();
    CHECK(reply_error(&x, 77, &e) == REPLY_ERROR);
    CHECK(reply_take(&r, &x) == 0);
    EXPECT_ERROR(&r, 77, "bad_argument");
    CHECK(r.msg_len == strlen("parameter 3: bad") && memcmp(r.msg, "parameter 3: bad", r.msg_len) == 0);
    CHECK(!r.has_ext && !r.has_sql);
    /* a SQLite error with extended code and statement */
    lsq_error_sqlite(&e, SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: t.x");
    e.sql = "INSERT INTO t VALUES (1)";
    e.sql_len = strlen(e.sql);
    if (ei_x_new(&x) != 0) abort();
    CHECK(reply_error(&x, LSQ_REF_MAX, &e) == REPLY_ERROR);
    CHECK(reply_take(&r, &x) == 0);
    EXPECT_ERROR(&r, LSQ_REF_MAX, "constraint");
    CHECK(r.has_ext && r.ext == 2067);
    EXPECT_SQL(&r, "INSERT INTO t VALUES (1)");
    EXPECT_MSG(&r, "UNIQUE constraint failed: t.x");
    /* NULL message: SQLite's text for the code */
    lsq_error_sqlite(&e, SQLITE_BUSY, NULL);
    CHECK(strcmp(e.code, "busy") == 0);
    CHECK(strlen(e.message) > 0);
    CHECK(e.extended_code == SQLITE_BUSY);
    /* messages are truncated, never overflowed */
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    lsq_error_set(&e, LSQ_E_BAD_FRAME, "%s", longmsg);
    CHECK(strlen(e.message) == LSQ_ERRMSG_MAX - 1);
    /* the code table */
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_ERROR), "error") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_READONLY), "readonly") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_CANTOPEN), "cantopen") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_CONSTRAINT_PRIMARYKEY), "constraint") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_INTERRUPT), "interrupted") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_IOERR_READ), "ioerr") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(SQLITE_ROW), "error") == 0);
    CHECK(strcmp(lsq_sqlite_code_atom(-1), "error") == 0);
    reply_free(&r);
}

/* ---- the suite ---------------------------------------------------------- */

static const test_case k_tests[] = {
    TEST(test_error_encode),
};

const test_suite errors_suite = SUITE("errors", k_tests);

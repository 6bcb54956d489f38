/*
 * harness.h - the C tests' harness (harness.c), shared by the two test
 * programs: test_port (test_port.c and the test_*.c modules it runs) and
 * test_remote (test_remote.c). CHECK(cond) records a failure with
 * file:line; each test is a function in a table (a suite); a test fails if
 * any of its CHECKs failed. The last line on stdout is "C tests: N passed,
 * N failed", one such line per program (test/run_all.sh adds these lines
 * up), and the exit status is non-zero if any failed.
 */
#ifndef LSQ_TEST_HARNESS_H
#define LSQ_TEST_HARNESS_H

#include <stddef.h>

extern const char *g_test_name;  /* name of the running test */

/* Records a failed check of the running test (ok == 0) and prints it. */
void check_at(int ok, const char *expr, const char *file, int line);

#define CHECK(cond) check_at((cond) != 0, #cond, __FILE__, __LINE__)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST(f) { #f, f }

/* A table of tests: one per module of a program. */
typedef struct test_suite {
    const char *name;
    const test_case *tests;
    size_t n;
} test_suite;

#define SUITE(name, table) { (name), (table), sizeof (table) / sizeof (table)[0] }

/* Run every test of every suite, in order, then print the one count line;
 * the exit status for main. */
int run_suites(const test_suite *suites, size_t n);

/* run_suites for a program of one table. */
int run_tests(const test_case *tests, size_t n);

#endif

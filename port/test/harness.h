/*
 * harness.h - the C tests' harness, shared by test_port.c and
 * test_remote.c: CHECK(cond) records a failure with file:line; each test
 * is a function in a table; a test fails if any of its CHECKs failed. The
 * last line on stdout is "C tests: N passed, N failed" (test/run_all.sh
 * adds these lines up) and the exit status is non-zero if any failed.
 * Included once per test program.
 */
#ifndef LSQ_TEST_HARNESS_H
#define LSQ_TEST_HARNESS_H

#include <stddef.h>
#include <stdio.h>

static int g_failed_checks;      /* CHECK failures in the running test */
static const char *g_test_name;  /* name of the running test */

static void check_at(int ok, const char *expr, const char *file, int line)
{
    if (ok) return;
    g_failed_checks++;
    fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", file, line, g_test_name, expr);
}

#define CHECK(cond) check_at((cond) != 0, #cond, __FILE__, __LINE__)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST(f) { #f, f }

/* Run every test of the table; the exit status for main. */
static int run_tests(const test_case *tests, size_t n)
{
    size_t i;
    int passed = 0, failed = 0;

    for (i = 0; i < n; i++) {
        g_test_name = tests[i].name;
        g_failed_checks = 0;
        tests[i].fn();
        if (g_failed_checks == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s (%d failed checks)\n", tests[i].name, g_failed_checks);
        }
    }
    printf("C tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif

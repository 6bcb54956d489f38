/*
 * harness.c - the C tests' harness (harness.h): check failures, the test
 * runner and its "C tests: N passed, N failed" line. No tests here.
 */
#include "harness.h"

#include <stdio.h>

const char *g_test_name;         /* name of the running test */
static int g_failed_checks;      /* CHECK failures in the running test */

void check_at(int ok, const char *expr, const char *file, int line)
{
    if (ok) return;
    g_failed_checks++;
    fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", file, line, g_test_name, expr);
}

int run_suites(const test_suite *suites, size_t n)
{
    size_t s, i;
    int passed = 0, failed = 0;

    for (s = 0; s < n; s++) {
        for (i = 0; i < suites[s].n; i++) {
            const test_case *t = &suites[s].tests[i];

            g_test_name = t->name;
            g_failed_checks = 0;
            t->fn();
            if (g_failed_checks == 0) {
                passed++;
            } else {
                failed++;
                fprintf(stderr, "FAIL %s (%d failed checks)\n", t->name, g_failed_checks);
            }
        }
    }
    g_test_name = NULL;
    printf("C tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

int run_tests(const test_case *tests, size_t n)
{
    const test_suite one = { "tests", tests, n };

    return run_suites(&one, 1);
}

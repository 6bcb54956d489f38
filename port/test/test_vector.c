/* test_vector.c - placeholder until the module's tests land. */
#include "test_util.h"

static void test_placeholder(void) { CHECK(1); }

static const test_case k_tests[] = { TEST(test_placeholder) };

const test_suite vector_suite = SUITE("vector", k_tests);

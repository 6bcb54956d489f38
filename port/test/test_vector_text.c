/* test_vector_text.c - placeholder until the module's tests land. */
#include "test_util.h"

static void test_placeholder(void) { CHECK(1); }

static const test_case k_tests[] = { TEST(test_placeholder) };

const test_suite vector_text_suite = SUITE("vector_text", k_tests);

/*
 * A tiny test harness for the firmware core's host tests: each test is a
 * function registered in a table; the program runs one test by name (so
 * pytest can report each separately) or all of them. Output lines:
 *   "PASS name" / "FAIL name: file:line: condition"
 * and a closing "N passed, N failed" line.
 */
#ifndef SURF_TEST_CHECK_H
#define SURF_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed;
static const char *check_current;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            printf("FAIL %s: %s:%d: %s\n", check_current, __FILE__, __LINE__, #cond);    \
            check_failed = 1;                                                           \
            return;                                                                     \
        }                                                                               \
    } while (0)

#define CHECK_EQ(a, b)                                                                  \
    do {                                                                                \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                 \
        if (check_a_ != check_b_) {                                                     \
            printf("FAIL %s: %s:%d: %s == %s (%lld != %lld)\n", check_current, __FILE__, \
                   __LINE__, #a, #b, check_a_, check_b_);                               \
            check_failed = 1;                                                           \
            return;                                                                     \
        }                                                                               \
    } while (0)

struct test_case {
    const char *name;
    void (*fn)(void);
};

/* Run the tests named on the command line, or all; "--list" prints names. */
static inline int run_tests(const struct test_case *tests, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], tests[i].name) == 0)
                wanted = 1;
        if (!wanted)
            continue;
        check_failed = 0;
        check_current = tests[i].name;
        tests[i].fn();
        if (check_failed) {
            failed++;
        } else {
            passed++;
            printf("PASS %s\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 2);
}

#endif

/* Prints argc/argv, the environment and the auxiliary vector as the C library sees
 * them, and checks what Linux guarantees: argv[argc] and the environment end in NULL,
 * AT_PAGESZ is 4096, AT_RANDOM points at 16 bytes, AT_ENTRY is a code address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL show_args: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    check(argv[argc] == NULL, "argv is NULL-terminated");
    int count = 0;
    for (char **env = environ; *env; env++, count++)
        printf("env: %s\n", *env);
    check(count >= 1, "the environment is not empty");
    check(getenv("HOME") != NULL, "HOME is set");

    unsigned long page = getauxval(AT_PAGESZ);
    unsigned long random = getauxval(AT_RANDOM);
    unsigned long entry = getauxval(AT_ENTRY);
    printf("AT_PAGESZ=%lu AT_RANDOM=%#lx AT_ENTRY=%#lx AT_PHNUM=%lu AT_HWCAP=%#lx\n", page, random, entry,
           getauxval(AT_PHNUM), getauxval(AT_HWCAP));
    check(page == 4096, "AT_PAGESZ is 4096");
    check(random != 0, "AT_RANDOM is set");
    check(entry != 0, "AT_ENTRY is set");
    check(getauxval(AT_PHNUM) > 0, "AT_PHNUM is set");
    if (random) {
        unsigned char copy[16];
        memcpy(copy, (void *)random, sizeof copy);
        printf("AT_RANDOM bytes: %02x%02x%02x%02x...\n", copy[0], copy[1], copy[2], copy[3]);
    }
    if (failures == 0)
        printf("PASS show_args\n");
    return failures ? 1 : 0;
}

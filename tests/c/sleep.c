/* nanosleep sleeps at least as long as asked (CLOCK_MONOTONIC before and after), and
 * rejects a request with 10^9 nanoseconds (EINVAL). */
#include <stdio.h>
#include <time.h>
int main(void) {
    struct timespec a, b, req = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (nanosleep(&req, NULL) != 0) { printf("FAIL sleep: nanosleep\n"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    struct timespec bad = {0, 1000000000L};
    int einval = nanosleep(&bad, NULL);
    printf("slept %ld ns (asked 20000000), invalid request -> %d\n", ns, einval);
    if (ns < 20000000 || einval != -1) { printf("FAIL sleep\n"); return 1; }
    printf("PASS sleep\n");
    return 0;
}

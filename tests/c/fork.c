/* fork and waitpid through the C library: the child gets its own copy of memory and its
 * own PID, the parent collects its exit status; getppid in the child is the parent. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int value = 1;

int main(void) {
    pid_t parent = getpid();
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        printf("FAIL fork: fork\n");
        return 1;
    }
    if (child == 0) {
        value = 2;
        _exit(getppid() == parent && getpid() != parent ? 42 : 1);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) {
        printf("FAIL fork: waitpid\n");
        return 1;
    }
    printf("child %d exited with %d, parent's value %d\n", (int)child,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, value);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 42 || value != 1) {
        printf("FAIL fork\n");
        return 1;
    }
    printf("PASS fork\n");
    return 0;
}

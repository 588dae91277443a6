/* POSIX threads as the C library makes them (clone with CLONE_THREAD and TLS, futexes for
 * mutexes, condition variables and joins): workers add into a shared counter under a
 * mutex, hand a token around through a condition variable, and are joined; each thread
 * sees its own thread-local variable and its own TID. */
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WORKERS 4
#define ADDS 1000
#define LAPS 50

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn;
static __thread long mine;
static long tids[WORKERS];

static void *worker(void *argument) {
    long index = (long)argument;
    tids[index] = syscall(SYS_gettid);
    for (int i = 0; i < ADDS; i++) {
        mine++;
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    for (int lap = 0; lap < LAPS; lap++) {
        pthread_mutex_lock(&lock);
        while (turn != index)
            pthread_cond_wait(&turn_changed, &lock);
        turn = (turn + 1) % WORKERS;
        pthread_cond_broadcast(&turn_changed);
        pthread_mutex_unlock(&lock);
    }
    return (void *)mine;
}

int main(void) {
    pthread_t threads[WORKERS];
    for (long i = 0; i < WORKERS; i++) {
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) {
            printf("FAIL threads: pthread_create %ld\n", i);
            return 1;
        }
    }
    for (int i = 0; i < WORKERS; i++) {
        void *result;
        if (pthread_join(threads[i], &result) != 0 || (long)result != ADDS) {
            printf("FAIL threads: join %d returned %ld\n", i, (long)result);
            return 1;
        }
    }
    long self = syscall(SYS_gettid);
    for (int i = 0; i < WORKERS; i++) {
        for (int j = 0; j < i; j++) {
            if (tids[i] == tids[j] || tids[i] == self) {
                printf("FAIL threads: TIDs not distinct\n");
                return 1;
            }
        }
    }
    printf("%d threads: counter %ld (expected %d), %d token laps, thread-local %ld in main\n",
           WORKERS, counter, WORKERS * ADDS, LAPS, mine);
    if (counter != WORKERS * ADDS || mine != 0 || turn != 0) {
        printf("FAIL threads\n");
        return 1;
    }
    printf("PASS threads\n");
    return 0;
}

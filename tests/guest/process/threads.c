/*
 * Threads: pthread_create/join, a mutex-protected counter, distinct thread
 * ids in one process, a thread exiting alone (pthread_exit) while the
 * process goes on, condition variables (futex wait/wake), thread-local
 * storage, and fork from a multi-threaded process.
 */
#include "check.h"
#include <pthread.h>
#include <sys/wait.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int counter, ready;
static __thread int tls_value;

static void *add(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)(syscall(SYS_gettid) != getpid() && getpid() == (pid_t)(long)arg);
}

static void *own_tls(void *arg)
{
    tls_value = (int)(long)arg;
    usleep(10 * 1000);
    return (void *)(long)(tls_value == (int)(long)arg);
}

static void *exits_early(void *arg)
{
    (void)arg;
    pthread_exit((void *)42);
}

static void *signaller(void *arg)
{
    (void)arg;
    usleep(20 * 1000);
    pthread_mutex_lock(&lock);
    ready = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv)
{
    begin(argc, argv);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, add, (void *)(long)getpid());
    long fine = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        fine += (long)r;
    }
    CHECK("mutex_counter_is_exact", counter == 80000);
    CHECK("threads_share_the_pid_with_their_own_tids", fine == 4);

    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, own_tls, (void *)(i + 1));
    fine = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        fine += (long)r;
    }
    CHECK("each_thread_has_its_own_tls", fine == 3);

    void *r;
    pthread_create(&t[0], NULL, exits_early, NULL);
    pthread_join(t[0], &r);
    CHECK("pthread_exit_ends_only_that_thread", r == (void *)42);

    pthread_create(&t[0], NULL, signaller, NULL);
    pthread_mutex_lock(&lock);
    while (!ready)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    pthread_join(t[0], NULL);
    CHECK("condition_variable_wakes_the_waiter", ready == 1);

    pthread_create(&t[0], NULL, signaller, NULL);
    pid_t child = fork();
    if (child == 0)
        _exit(counter == 80000 ? 5 : 1);
    int status;
    waitpid(child, &status, 0);
    pthread_join(t[0], NULL);
    CHECK("fork_from_a_threaded_process", WIFEXITED(status) && WEXITSTATUS(status) == 5);
    return finish();
}

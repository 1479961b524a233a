/* sig.c - catch SIGINT/SIGTERM/SIGHUP for a clean stop; see sig.h.
 * The handler only touches lock-free atomics and _exit(), both
 * async-signal-safe. */
#include "sig.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static atomic_bool stop_flag;
static atomic_int first_signal;

static void on_signal(int sig)
{
    int none = 0;
    if (!atomic_compare_exchange_strong(&first_signal, &none, sig))
        _exit(128 + sig); /* the second signal: leave now */
    atomic_store(&stop_flag, true);
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

const atomic_bool *cli_stop_flag(void)
{
    return &stop_flag;
}

bool cli_stopped(void)
{
    return atomic_load(&stop_flag);
}

int cli_stop_signal(void)
{
    return atomic_load(&first_signal);
}

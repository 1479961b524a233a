/* sig.h - a clean stop on SIGINT, SIGTERM and SIGHUP.
 *
 * cli_signals_install() catches the three signals.  The first one only
 * sets a flag (cli_stop_flag): the bulk scheduler starts no new dump,
 * long scans see the flag through ds_scan_opts.cancel and stop at the
 * next chunk, and the command finishes normally: whole records, output
 * and state flushed, a `summary` with interrupted: true, exit status
 * 128 + the signal number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).  A
 * second signal of any of the three ends the process at once with that
 * status (the output may then end on a torn line, like after SIGKILL;
 * the state file stays valid). */
#ifndef DS_CLI_SIG_H
#define DS_CLI_SIG_H

#include <stdatomic.h>
#include <stdbool.h>

void cli_signals_install(void);
/* The flag the first signal sets; never NULL. */
const atomic_bool *cli_stop_flag(void);
bool cli_stopped(void);
/* Number of the first signal caught, 0 when none. */
int cli_stop_signal(void);

#endif

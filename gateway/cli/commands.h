/* The guardrail subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the process exit status. */
#ifndef GW_CLI_COMMANDS_H
#define GW_CLI_COMMANDS_H

int gw_cmd_check(int argc, char **argv);
int gw_cmd_scan(int argc, char **argv);
int gw_cmd_serve(int argc, char **argv);
int gw_cmd_mock(int argc, char **argv);
int gw_cmd_report(int argc, char **argv);
int gw_cmd_train(int argc, char **argv);
int gw_cmd_eval(int argc, char **argv);
int gw_cmd_try(int argc, char **argv);

/* Prints "guardrail: " and the message to stderr; returns 2 (usage errors). */
int gw_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
